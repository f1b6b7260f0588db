"""What every forecaster shares: input checks (with the 2-D lift), device choice, seeding and the
parameter-slab loop.

A forecaster is channel independent: one small model maps one coordinate's history to its future.
So every dataset of shape (n_sequences, n_steps, n_params) is read as blocks of rows
(sequence, parameter) x (time), one slab of parameters at a time, and memory is bounded by the slab.
"""

import functools
import numbers

import numpy as np
import torch
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_array, check_is_fitted, validate_data

from .io.persistence import PersistenceMixin

__all__ = ["BaseForecaster", "resolve_device", "iter_param_slabs", "read_rows", "atomic_fit"]

FLOAT_DTYPES = (np.float32, np.float64)


def resolve_device(device):
    """Turn ``"auto" | "cpu" | "cuda" | "cuda:N"`` into a :class:`torch.device`."""
    if not isinstance(device, str):
        raise TypeError(f"device must be a string such as 'auto', 'cpu' or 'cuda', got {device!r}")
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except RuntimeError as exc:
        raise ValueError(f"unknown device {device!r}: use 'auto', 'cpu' or 'cuda'") from exc
    if resolved.type not in ("cpu", "cuda"):
        raise ValueError(f"unsupported device {device!r}: use 'auto', 'cpu' or 'cuda'")
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device={device!r} was asked for but CUDA is not available here; "
                         "use device='auto' or 'cpu'")
    return resolved


def iter_param_slabs(n_params, slab_size):
    """Yield slices that cover ``range(n_params)`` in slabs of at most ``slab_size`` parameters."""
    for start in range(0, n_params, slab_size):
        yield slice(start, min(start + slab_size, n_params))


def read_rows(data, seqs, steps, params, device, dtype):
    """Read ``data[seqs][:, steps, params]`` as a tensor of rows laid out (n_seqs, n_params_slab, n_steps).

    ``seqs`` and ``steps`` are integer index arrays (or ``slice(None)``), ``params`` a slice.
    """
    block = np.asarray(data[seqs][:, steps, params])
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
        dtype = np.result_type(X3.dtype, Y3.dtype)
        return X3.astype(dtype, copy=False), Y3.astype(dtype, copy=False)

    def _validate_predict_data(self, X):
        check_is_fitted(self)
        try:
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
    """Validate a dataset of sequences and lift a 2-D one to (n_sequences, n_steps, 1)."""
    S = check_array(S, allow_nd=True, ensure_2d=False, dtype=FLOAT_DTYPES, input_name=name)
    if S.ndim == 2:
        return S[:, :, None]
    if S.ndim != 3:
        raise ValueError(f"{name} must have shape (n_sequences, n_steps, n_params) or (n_sequences, n_steps), "
                         f"got an array of shape {S.shape}")
    if S.shape[2] < 1:
        raise ValueError(f"{name} has no parameters (shape {S.shape})")
    return S
