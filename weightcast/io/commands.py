"""``weightcast fit`` and ``weightcast predict``: fit a forecaster on a data file and save it; forecast
with a saved model and write the forecast.

    weightcast fit DATA --model lfd2 --n-input-steps 21 [--m M] [--solver lstsq] --save MODEL
    weightcast predict MODEL DATA --out FILE [--m M]

DATA holds sequences (n_sequences, n_steps, n_params) (or (n_sequences, n_steps)). ``fit`` splits them
into the first n_input_steps and the next m steps; ``predict`` reads the first n_input_steps of each
sequence (as many as the model was fitted on). Files are read and written by suffix (``DATA_READERS``,
``DATA_WRITERS``); every output is written under a temporary name and renamed into place.
"""

import os
from pathlib import Path

import numpy as np

from .atomic import atomic_output
from .hdf5 import DEFAULT_DATASET, open_sequences, write_sequences
from .persistence import load

__all__ = ["register", "read_data", "write_data", "MODELS"]


def _models():
    from .. import LFD2Forecaster, LFLForecaster, LFNForecaster, LFSForecaster, LinearFarcaster
    return {"lfd2": LFD2Forecaster, "lfn": LFNForecaster, "lfs": LFSForecaster, "lfl": LFLForecaster,
            "linear": LinearFarcaster}


MODELS = ("lfd2", "lfn", "lfs", "lfl", "linear")


def _read_npy(path, dataset):
    if dataset is not None:
        raise ValueError(f"--dataset applies to HDF5 files, not to the .npy file {str(path)!r}")
    try:
        # Memory-mapped read-only: large files are not loaded whole and cannot be modified.
        return np.load(path, mmap_mode="r", allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        if isinstance(exc, FileNotFoundError):
            raise
        raise ValueError(f"{str(path)!r} is not a readable .npy array file: {exc}") from None


def _write_npy(path, array):
    with atomic_output(path) as tmp:
        with open(tmp, "wb") as f:
            np.save(f, array, allow_pickle=False)


def _read_hdf5(path, dataset):
    # A lazy view: fit and predict stream it slab by slab (docs/formats.md).
    return open_sequences(path, DEFAULT_DATASET if dataset is None else dataset)


def _write_hdf5(path, array):
    write_sequences(path, array, overwrite=True)


# Suffix -> reader(path, dataset) / writer(path, array).
DATA_READERS = {".npy": _read_npy, ".h5": _read_hdf5, ".hdf5": _read_hdf5}
DATA_WRITERS = {".npy": _write_npy, ".h5": _write_hdf5, ".hdf5": _write_hdf5}


def _suffix(path, table, what):
    suffix = Path(path).suffix.lower()
    if suffix not in table:
        raise ValueError(f"cannot {what} {str(path)!r}: unsupported file type {suffix or '(no suffix)'!r}; "
                         f"supported: {', '.join(sorted(table))}")
    return table[suffix]


def read_data(path, dataset=None):
    """Read a data file of sequences by its suffix (read-only where the format allows)."""
    reader = _suffix(path, DATA_READERS, "read")
    if not os.path.exists(path):
        raise FileNotFoundError(f"no data file at {str(path)!r}")
    if not os.path.isfile(path):
        raise ValueError(f"{str(path)!r} is not a file")
    return reader(Path(path), dataset)


def write_data(path, array):
    """Write ``array`` to ``path`` by its suffix, atomically (temporary name, then rename)."""
    _suffix(path, DATA_WRITERS, "write")(Path(path), array)


def _fit(args):
    from ..datasets import split_sequences
    from .persistence import save

    S = read_data(args.data, args.dataset)
    X, Y = split_sequences(S, args.n_input_steps, args.m)
    params = {"solver": args.solver, "device": args.device, "random_state": args.random_state}
    for name in ("alpha", "beta", "max_epochs"):
        if getattr(args, name) is not None:
            params[name] = getattr(args, name)
    estimator = _models()[args.model](**params).fit(X, Y)
    save(estimator, args.save)
    print(f"saved {type(estimator).__name__} ({X.shape[1]} input steps -> {estimator.horizon_} steps, "
          f"{X.shape[0]} sequences x {X.shape[2]} parameters) to {args.save}")
    return 0


def _predict(args):
    _suffix(args.out, DATA_WRITERS, "write")  # fail before the work, not after
    estimator = load(args.model, device=args.device)
    if not hasattr(estimator, "predict"):
        raise ValueError(f"{args.model!r} holds {type(estimator).__name__}, not a forecaster")
    n_in = getattr(estimator, "n_features_in_", None)
    if n_in is None:
        raise ValueError(f"the model in {args.model!r} is not fitted")
    S = read_data(args.data, args.dataset)
    if np.ndim(S) < 2 or np.shape(S)[1] < n_in:
        raise ValueError(f"{args.data!r} has shape {np.shape(S)}, but the model needs sequences of at least "
                         f"{n_in} input steps (time on axis 1)")
    Y_pred = estimator.predict(S[:, :n_in], m=args.m)
    write_data(args.out, Y_pred)
    print(f"wrote a forecast of shape {Y_pred.shape} to {args.out}")
    return 0


def register(subparsers):
    fit = subparsers.add_parser("fit", help="fit a forecaster on a data file and save it (no pickle)",
                                description="Fit a forecaster on sequences and save it to a model file.")
    fit.add_argument("data", help="sequences (n_sequences, n_steps, n_params): .npy")
    fit.add_argument("--dataset", default=None, help="dataset name inside an HDF5 file")
    fit.add_argument("--model", choices=MODELS, default="lfd2", help="which forecaster (default lfd2)")
    fit.add_argument("--n-input-steps", type=int, required=True, help="input steps w_0 .. w_{n-1} (21 in the paper)")
    fit.add_argument("--m", type=int, default=None, help="target steps after the inputs (default: all)")
    fit.add_argument("--solver", choices=("lstsq", "paper"), default="lstsq")
    fit.add_argument("--alpha", type=float, default=None, help="ridge penalty")
    fit.add_argument("--beta", type=float, default=None, help="gradient penalty (paper solver)")
    fit.add_argument("--max-epochs", type=int, default=None)
    fit.add_argument("--random-state", type=int, default=0)
    fit.add_argument("--device", default="auto")
    fit.add_argument("--save", required=True, metavar="MODEL", help="model file to write")
    fit.set_defaults(func=_fit)

    predict = subparsers.add_parser("predict", help="forecast with a saved model and write the forecast")
    predict.add_argument("model", help="model file written by `weightcast fit` or est.save()")
    predict.add_argument("data", help="sequences; the first n_input_steps of each are the input")
    predict.add_argument("--dataset", default=None, help="dataset name inside an HDF5 file")
    predict.add_argument("--m", type=int, default=None, help="steps to forecast (default: the fitted horizon)")
    predict.add_argument("--device", default=None)
    predict.add_argument("--out", required=True, metavar="FILE", help="forecast file to write (.npy)")
    predict.set_defaults(func=_predict)
