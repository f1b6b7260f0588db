"""What every forecaster shares: input checks (with the 2-D lift), device choice, seeding and the
parameter-slab loop.

A forecaster is channel independent: one small model maps one coordinate's history to its future.
So every dataset of shape (n_sequences, n_steps, n_params) is read as blocks of rows
(sequence, parameter) x (time), one slab of parameters at a time, and memory is bounded by the slab.
"""

import functools
import numbers
import os

import numpy as np
import torch
from sklearn.base import BaseEstimator, RegressorMixin, clone
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_array, check_is_fitted, validate_data
from tqdm.auto import tqdm

from .device import resolve_device  # re-exported: estimators import it from here
from .io.persistence import PersistenceMixin

__all__ = ["BaseForecaster", "resolve_device", "iter_param_slabs", "read_rows", "read_block", "is_lazy",
           "aligned_slab_size", "atomic_fit"]

FLOAT_DTYPES = (np.float32, np.float64)


def iter_param_slabs(n_params, slab_size):
    """Yield slices that cover ``range(n_params)`` in slabs of at most ``slab_size`` parameters."""
    for start in range(0, n_params, slab_size):
        yield slice(start, min(start + slab_size, n_params))


def is_lazy(data):
    """True for lazy datasets, such as :class:`weightcast.io.SequenceView`, that read their own blocks.

    They skip in-memory validation; their blocks are checked for NaN/inf as they are read.
    """
    return hasattr(data, "read_block") and hasattr(data, "shape")


def aligned_slab_size(data, slab_size):
    """``slab_size`` rounded down to whole parameter chunks of lazy ``data`` (at least one chunk)."""
    chunk = getattr(data, "param_chunk", None) if is_lazy(data) else None
    if not chunk or slab_size % chunk == 0:
        return slab_size
    return max(chunk, slab_size // chunk * chunk)


def read_block(data, seqs, steps, params, out=None):
    """Read ``data[seqs][:, steps, params]`` as a numpy array laid out (n_seqs, n_steps, n_params_slab).

    ``seqs`` and ``steps`` are integer index arrays (or ``slice(None)``), ``params`` a slice. Lazy data
    reads only this block (into ``out`` when given: reusing a buffer spares the page faults of a fresh
    one), and raises a ValueError naming its file if the block holds NaN or inf.
    """
    if not is_lazy(data):
        return np.asarray(data[seqs][:, steps, params])
    shape = (len(np.arange(data.shape[0])[seqs]), len(np.arange(data.shape[1])[steps]),
             len(range(*params.indices(data.shape[2]))))
    out = out if out is not None and out.shape == shape else None
    block = data.read_block(seqs, steps, params, out=out)
    if not _all_finite(block):
        start, stop, _ = params.indices(data.shape[2])
        raise ValueError(f"{data.source} holds NaN or inf (in parameters {start}..{stop - 1}); "
                         "weight sequences must be finite")
    return block


def read_rows(data, seqs, steps, params, device, dtype):
    """Read ``data[seqs][:, steps, params]`` as a tensor of rows laid out (n_seqs, n_params_slab, n_steps).

    ``seqs`` and ``steps`` are integer index arrays (or ``slice(None)``), ``params`` a slice.
    """
    block = read_block(data, seqs, steps, params)
    rows = torch.from_numpy(np.ascontiguousarray(block)).to(device=device, dtype=dtype)
    return rows.permute(0, 2, 1)


def atomic_fit(fit):
    """Decorate a ``fit`` method so that if it raises (even ``KeyboardInterrupt``) the estimator keeps the
    state it had before the call: unfitted, or fitted on the previous data, never half of each."""
    @functools.wraps(fit)
    def wrapper(self, *args, **kwargs):
        before = dict(vars(self))
        try:
            return fit(self, *args, **kwargs)
        except BaseException:
            vars(self).clear()
            vars(self).update(before)
            raise
    return wrapper


def _all_finite(block):
    """True when ``block`` holds no NaN or inf; min and max propagate both, without a mask as large as the slab."""
    if block.size == 0:
        return True
    if not block.dtype.isnative:  # torch reads native byte order only
        return bool(np.isfinite(block).all())
    return bool(torch.isfinite(torch.stack(torch.aminmax(torch.from_numpy(block)))).all())


def _check_forecast(block, params, dtype):
    if not _all_finite(block):
        raise ValueError(f"the forecast overflows {np.dtype(dtype)} (in parameters {params.start}.."
                         f"{params.stop - 1}): X is too large for this model's coefficients; rescale X")


def _check_positive_int(value, name, minimum=1, allow_none=False):
    if value is None and allow_none:
        return
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {value!r} ({type(value).__name__})")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")


class BaseForecaster(PersistenceMixin, RegressorMixin, BaseEstimator):
    """Shared machinery of weightcast forecasters (not used directly).

    Conventions: ``X`` has shape (n_sequences, n_input_steps, n_params) and ``Y`` (n_sequences, m,
    n_params); time is axis 1. A 2-D ``X`` (n_sequences, n_steps) is the case n_params = 1 and a 1-D
    ``Y`` is one target step (the "2-D lift"); predictions then come back in the same lifted shape.
    Subclasses store ``m``, ``slab_size``, ``device``, ``random_state`` and ``verbose`` in ``__init__``.
    """

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = True
        tags.input_tags.three_d_array = True
        tags.target_tags.required = True
        tags.target_tags.multi_output = True
        tags.non_deterministic = getattr(self, "device", "cpu") != "cpu"
        return tags

    # ------------------------------------------------------------------ input handling
    def _validate_fit_data(self, X, Y):
        """Check and lift ``X``, ``Y`` to 3-D float arrays; record what predict must match."""
        if Y is None:
            raise ValueError(f"{type(self).__name__} requires y to be passed, but the target y is None: "
                             "fit needs Y, the target steps")
        X_opts = dict(allow_nd=True, dtype=FLOAT_DTYPES)
        Y_opts = dict(allow_nd=True, ensure_2d=False, dtype=FLOAT_DTYPES)
        if is_lazy(X) or is_lazy(Y):
            # A lazy dataset is checked for shape and dtype here and for NaN/inf slab by slab as it is read.
            X = X if is_lazy(X) else check_array(X, input_name="X", **X_opts)
            Y = Y if is_lazy(Y) else check_array(Y, input_name="y", **Y_opts)
            validate_data(self, X, Y, skip_check_array=True, reset=True)
        else:
            X, Y = validate_data(self, X, Y, validate_separately=(X_opts, Y_opts), reset=True)
        X3 = self._lift_X(X)
        if Y.ndim not in (1, 2, 3):
            raise ValueError(f"Y must have shape (n_sequences, m, n_params), (n_sequences, m) or "
                             f"(n_sequences,), got an array of shape {Y.shape}")
        Y3 = Y.reshape(Y.shape[0], 1, 1) if Y.ndim == 1 else (Y[:, :, None] if Y.ndim == 2 else Y)
        if X3.shape[0] != Y3.shape[0]:
            raise ValueError(f"X and Y disagree on the number of sequences: X has {X3.shape[0]}, "
                             f"Y has {Y3.shape[0]} (shapes {X.shape} and {Y.shape})")
        if X3.shape[2] != Y3.shape[2]:
            raise ValueError(f"X and Y disagree on the number of parameters: X has {X3.shape[2]}, "
                             f"Y has {Y3.shape[2]} (shapes {X.shape} and {Y.shape})")
        if X3.shape[2] == 0:
            raise ValueError(f"X has no parameters (shape {X.shape}): each step needs at least one")
        if Y3.shape[1] < 1:
            raise ValueError(f"Y has no target steps (shape {Y.shape})")
        if X3.shape[2] < 1:
            raise ValueError(f"X has no parameters (shape {X.shape}): nothing to fit")
        self.n_params_in_ = X3.shape[2]
        self._y_ndim = Y.ndim
        self._X_ndim = X.ndim
        if is_lazy(X3) or is_lazy(Y3):
            return X3, Y3  # blocks are cast to the solver's dtype as they are read
        dtype = np.result_type(X3.dtype, Y3.dtype)
        return X3.astype(dtype, copy=False), Y3.astype(dtype, copy=False)

    def _validate_predict_data(self, X):
        check_is_fitted(self)
        try:
            if is_lazy(X):
                validate_data(self, X, reset=False, skip_check_array=True)
            else:
                X = validate_data(self, X, reset=False, allow_nd=True, dtype=FLOAT_DTYPES)
        except ValueError as exc:
            if "features" in str(exc) and "expecting" in str(exc):
                raise ValueError(f"{exc} (here features are input time steps: predict needs as many "
                                 "input steps as fit saw)") from None
            raise
        X3 = self._lift_X(X)
        if X3.shape[2] != self.n_params_in_:
            raise ValueError(f"X has {X3.shape[2]} parameters per step, but {type(self).__name__} "
                             f"was fitted on {self.n_params_in_}")
        return X3, X.ndim

    @staticmethod
    def _lift_X(X):
        if X.ndim == 2:
            return X[:, :, None]
        if X.ndim == 3:
            return X
        raise ValueError(f"X must have shape (n_sequences, n_steps, n_params) or (n_sequences, n_steps), "
                         f"got an array of shape {X.shape}")

    def _target_horizon(self, n_target_steps):
        """The horizon to fit: the constructor's ``m``, or every target step given."""
        _check_positive_int(self.m, "m", allow_none=True)
        if self.m is None:
            return n_target_steps
        if self.m > n_target_steps:
            raise ValueError(f"m={self.m} target steps were asked for but Y holds only {n_target_steps}")
        return self.m

    def _predict_horizon(self, m):
        m = self.m if m is None else m
        if m is None:
            return self.horizon_
        _check_positive_int(m, "m")
        if m > self.horizon_:
            raise ValueError(f"m={m} is beyond the fitted horizon of {self.horizon_} steps: this "
                             "forecaster predicts directly and does not extrapolate; refit with a longer Y")
        return m

    def _format_prediction(self, Yhat, X_ndim):
        """Undo the 2-D lift: 3-D in, 3-D out; 2-D in, 2-D out (1-D when fitted on a 1-D target)."""
        if X_ndim == 3:
            return Yhat
        Yhat = Yhat[:, :, 0]
        if self._y_ndim == 1 and Yhat.shape[1] == 1:
            return Yhat[:, 0]
        return Yhat

    def _predict_slabs(self, X, m, forecast, out=None):
        """Run ``forecast(params) -> (n_sequences, m, n_params_slab)`` over parameter slabs of ``X``.

        Fills an array, or with ``out`` streams the slabs into a new HDF5 weight-sequence file (atomic:
        written under a temporary name, renamed when complete) and returns a lazy view of it.
        """
        n_seq, _, n_params = X.shape
        slabs = list(iter_param_slabs(n_params, aligned_slab_size(X, self.slab_size)))
        slabs = tqdm(slabs, desc="predict", disable=self.verbose == 0 or len(slabs) < 2, leave=False)
        if out is None:
            Y_pred = np.empty((n_seq, m, n_params), dtype=X.dtype)
            for params in slabs:
                with np.errstate(over="ignore"):  # an overflowing cast is reported just below
                    Y_pred[:, :, params] = forecast(params)
                _check_forecast(Y_pred[:, :, params], params, X.dtype)
            return Y_pred
        from .io.hdf5 import SequenceView, SequenceWriter, read_metadata

        out = os.path.abspath(os.fspath(out))
        names = {}
        if is_lazy(X) and getattr(X, "path", None) is not None:
            if os.path.exists(out) and os.path.samefile(out, X.path):
                raise ValueError(f"out={out!r} is the file X is read from; write the forecast elsewhere")
            layout = read_metadata(X.path, X.dataset)
            if layout["param_names"] is not None:  # so the forecast loads back into the model
                names = {"param_names": layout["param_names"], "param_shapes": layout["param_shapes"]}
        with SequenceWriter(out, n_seq, n_params, n_steps=m, dtype=X.dtype, chunk_steps=min(m, 64),
                            overwrite=True, **names) as writer:
            staging = None  # the slabs in the file's dtype, in one reused buffer
            for params in slabs:
                block = forecast(params)
                if staging is None:
                    staging = np.empty(block.shape, dtype=X.dtype)
                with np.errstate(over="ignore"):
                    np.copyto(staging[:, :, :block.shape[2]], block, casting="same_kind")
                _check_forecast(staging[:, :, :block.shape[2]], params, X.dtype)
                writer.write_slab(params, staging[:, :, :block.shape[2]])
        return SequenceView(out)

    # ------------------------------------------------------------------ validation sequences
    def _split_validation(self, n_sequences, generator):
        """Hold out ``validation_fraction`` of the sequences (seeded); with too few, monitor them all."""
        n_val = int(round(self.validation_fraction * n_sequences))
        if n_sequences < 2 or n_val == 0:
            everything = np.arange(n_sequences)
            return everything, everything
        n_val = min(n_val, n_sequences - 1)
        order = torch.randperm(n_sequences, generator=generator).numpy()
        return np.sort(order[n_val:]), np.sort(order[:n_val])

    def _check_validation_data(self, validation_data, X, Y):
        """Validate ``fit``'s ``validation_data=(X_val, Y_val)`` against the training X and Y; Y_val is cut
        to Y's horizon."""
        if not (isinstance(validation_data, (tuple, list)) and len(validation_data) == 2):
            raise TypeError("validation_data must be a tuple (X_val, Y_val)")
        X_val, Y_val = clone(self)._validate_fit_data(*validation_data)
        if X_val.shape[1:] != X.shape[1:] or Y_val.shape[2] != Y.shape[2] or Y_val.shape[1] < Y.shape[1]:
            raise ValueError(f"validation_data must match the training data's steps and parameters: X_val "
                             f"{X_val.shape} vs X {X.shape}, Y_val {Y_val.shape} vs Y {Y.shape}")
        return X_val, Y_val[:, :Y.shape[1]]

    # ------------------------------------------------------------------ runtime
    def _check_runtime_params(self):
        _check_positive_int(self.slab_size, "slab_size")
        _check_positive_int(self.verbose, "verbose", minimum=0)
        return resolve_device(self.device)

    def _torch_generator(self, device):
        """A torch generator seeded from ``random_state`` (so repeated fits agree)."""
        seed = check_random_state(self.random_state).randint(np.iinfo(np.int32).max)
        generator = torch.Generator(device="cpu")
        generator.manual_seed(int(seed))
        return generator


def check_sequence_array(S, name="S"):
    """Validate a dataset of sequences and lift a 2-D one to (n_sequences, n_steps, 1).

    Lazy datasets are always 3-D float and are checked for NaN/inf when a forecaster reads them.
    """
    if is_lazy(S):
        return S
    S = check_array(S, allow_nd=True, ensure_2d=False, dtype=FLOAT_DTYPES, input_name=name)
    if S.ndim == 2:
        return S[:, :, None]
    if S.ndim != 3:
        raise ValueError(f"{name} must have shape (n_sequences, n_steps, n_params) or (n_sequences, n_steps), "
                         f"got an array of shape {S.shape}")
    if S.shape[2] < 1:
        raise ValueError(f"{name} has no parameters (shape {S.shape})")
    return S
