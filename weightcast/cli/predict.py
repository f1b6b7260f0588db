"""``weightcast predict``: forecast with a saved model and write the forecast.

    weightcast predict MODEL DATA -o FILE [--m M]

``predict`` reads the first n_input_steps of each sequence in DATA (as many as the model was fitted on).
An HDF5 forecast is streamed to the file slab by slab.
"""

from ._common import DATA_FILES, HelpFormatter, add_dataset, add_verbose

__all__ = ["register", "run", "load_forecaster"]


def register(subparsers):
    parser = subparsers.add_parser(
        "predict", formatter_class=HelpFormatter, help="forecast with a saved model and write the forecast",
        description="Forecast the steps after the inputs of every sequence in DATA with a saved model.")
    parser.add_argument("model", help="model file written by `weightcast fit` or est.save()")
    parser.add_argument("data", help=f"sequences; the first n_input_steps of each are the input: {DATA_FILES}")
    parser.add_argument("-o", "--out", required=True, metavar="FILE",
                        help="forecast file to write (n_sequences, m, n_params): .npy, or .h5/.hdf5 (streamed "
                             "slab by slab; keeps the parameter names of an HDF5 input)")
    parser.add_argument("--m", type=int, default=None, help="steps to forecast (default: the fitted horizon)")
    add_dataset(parser)
    parser.add_argument("--device", default=None,
                        help="auto, cpu or cuda (default: the model's own device setting)")
    add_verbose(parser, "forecasting")
    parser.set_defaults(func=run)


def load_forecaster(path, device=None, verbose=False):
    """A fitted forecaster from a model file, or a ValueError that says what the file holds instead."""
    from ..io.persistence import load

    estimator = load(path, device=device)
    if not hasattr(estimator, "predict"):
        raise ValueError(f"{str(path)!r} holds {type(estimator).__name__}, not a forecaster")
    if getattr(estimator, "n_features_in_", None) is None:
        raise ValueError(f"the model in {str(path)!r} is not fitted")
    if verbose and "verbose" in estimator.get_params():
        estimator.set_params(verbose=1)
    return estimator


def read_inputs(path, dataset, n_in, what="the model needs"):
    """The data file's sequences, checked to hold at least ``n_in`` steps."""
    import numpy as np
    from ..io.files import read_data

    S = read_data(path, dataset)
    if np.ndim(S) < 2 or np.shape(S)[1] < n_in:
        raise ValueError(f"{str(path)!r} has shape {np.shape(S)}, but {what} sequences of at least {n_in} "
                         "input steps (time on axis 1)")
    return S


def run(args):
    import inspect
    from pathlib import Path

    from ..io.files import check_writable, write_data

    check_writable(args.out)  # fail before the work, not after it
    estimator = load_forecaster(args.model, args.device, args.verbose)
    n_in = estimator.n_features_in_
    S = read_inputs(args.data, args.dataset, n_in)
    streams = Path(args.out).suffix.lower() in (".h5", ".hdf5")
    if streams and "out" in inspect.signature(estimator.predict).parameters:
        Y_pred = estimator.predict(S[:, :n_in], m=args.m, out=args.out)
    else:
        Y_pred = estimator.predict(S[:, :n_in], m=args.m)
        write_data(args.out, Y_pred)
    print(f"wrote a forecast of shape {Y_pred.shape} to {args.out}")
    return 0
