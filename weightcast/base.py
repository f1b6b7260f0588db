"""What every forecaster shares: the one ``fit`` preamble, the one ``predict(X, m, out=)`` and the one ``score``.

A forecaster is channel independent: one small model maps one coordinate's history to its future. So every
dataset of shape (n_sequences, n_steps, n_params) is read as blocks of rows (:mod:`weightcast.rows`), one
slab of parameters at a time, and memory is bounded by the slab. :class:`BaseForecaster` validates the data
(with the 2-D lift), checks the horizon, runs the slab loop, streams forecasts into a file, and scores;
a forecaster declares its constructor parameters' rules in ``_parameter_constraints``
(:mod:`weightcast.constraints`; ``fit`` checks them first) and implements a few hooks:

* ``_fit(X, Y, fit)``: fits on ``X``, ``Y`` (validated, 3-D: arrays, tensors or lazy views), reading them
  through :meth:`BaseForecaster._reader`; ``fit`` is a :class:`FitContext`; sets ``horizon_``;
* ``_slab_forecast(m, device, dtype)``: returns a function from one block of inputs, shaped
  (n_sequences, n_steps_read, n_params_slab) with the steps ``_forecast_steps()``, to its forecast
  (n_sequences, m, n_params_slab);

and may override ``_forecast_steps``, ``_forecast_dtype``, ``_slab_size``, ``_slab_unit`` and
``_score_steps``. Then lazy views, ``predict(out=)``, ``score``, the checks and persistence come for free.
"""

import contextlib
import functools
import os
import warnings
from dataclasses import dataclass

import numpy as np
import torch
from sklearn.base import BaseEstimator, RegressorMixin, clone
from sklearn.utils import check_random_state as _sklearn_check_random_state
from sklearn.utils.validation import check_array, check_is_fitted, validate_data

from .constraints import Device, Integer, Real, Seed, parameter_constraints, validate_params
from .device import resolve_device  # re-exported: estimators import it from here
from .distributed import LocalReducer, collective_fit
from .io.persistence import PersistenceMixin
from .metrics import StreamingR2
from .rows import (FLOAT_DTYPES, BackgroundWriter, RowReader, all_finite, as_source, check_finite,
                   check_sequence_array, is_lazy, tensor_view)

__all__ = ["BaseForecaster", "FitContext", "resolve_device", "atomic_fit", "data_dtype", "check_random_state",
           "check_sequence_array"]  # the last re-exported from weightcast.rows for existing imports

_LIFT_HINT = ("a 2-D X is read as (n_sequences, n_steps), one parameter per sequence (the 2-D lift); if it "
              "holds one run as (n_steps, n_params), pass S[None], of shape (1, n_steps, n_params), instead")


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


def data_dtype(data):
    """The numpy dtype (float32 or float64) of an array, tensor or lazy dataset."""
    if isinstance(data, torch.Tensor):
        return np.dtype(np.float64) if data.dtype == torch.float64 else np.dtype(np.float32)
    return np.dtype(data.dtype).newbyteorder("=")


def check_random_state(random_state):
    """A numpy RandomState from a ``random_state`` (:class:`weightcast.constraints.Seed`): scikit-learn's
    ``check_random_state``, which also takes a numpy Generator (and draws one seed from it)."""
    if isinstance(random_state, np.random.Generator):
        return np.random.RandomState(int(random_state.integers(2 ** 32)))
    return _sklearn_check_random_state(random_state)


def _own_reader(data):
    """Lazy datasets and tensors on accelerators are read by weightcast itself, not by scikit-learn's checks."""
    return is_lazy(data) or isinstance(data, torch.Tensor)


@dataclass
class FitContext:
    """What ``BaseForecaster.fit`` hands to a forecaster's ``_fit`` besides the data."""

    device: torch.device
    reducer: LocalReducer
    validation_data: object = None


class BaseForecaster(PersistenceMixin, RegressorMixin, BaseEstimator):
    """Shared machinery of weightcast forecasters (not used directly).

    Conventions: ``X`` has shape (n_sequences, n_input_steps, n_params) and ``Y`` (n_sequences, m,
    n_params); time is axis 1. A 2-D ``X`` (n_sequences, n_steps) is the case n_params = 1 and a 1-D
    ``Y`` is one target step (the "2-D lift"); predictions then come back in the same lifted shape.
    Inputs may be numpy arrays, torch tensors or lazy datasets such as :class:`weightcast.io.SequenceView`.
    Subclasses store ``m``, ``slab_size``, ``device``, ``random_state`` and ``verbose`` in ``__init__``, and
    declare the rules of their other parameters in ``_parameter_constraints``.
    """

    _parameter_constraints = {
        "m": Integer(low=1, none=True),
        "slab_size": Integer(low=1),
        "device": Device(),
        "random_state": Seed(),
        "verbose": Integer(low=0),
        # The training settings of the iteratively fitted forecasters (paper solver, neural baselines).
        "lr": Real(low=0, high=1e30, low_open=True),  # Adam's float32 step overflows far below float64's range
        "batch_size": Integer(low=1),
        "max_epochs": Integer(low=0),
        "patience": Integer(low=1),
        "validation_fraction": Real(low=0, high=1, high_open=True),
    }

    _collective = False
    """True for forecasters whose fit combines the ranks of a torch.distributed job (the ``reducer``)."""

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = True
        tags.input_tags.three_d_array = True
        tags.target_tags.required = True
        tags.target_tags.multi_output = True
        tags.non_deterministic = getattr(self, "device", "cpu") != "cpu"
        return tags

    # ------------------------------------------------------------------ hooks
    def _fit(self, X, Y, fit):
        raise NotImplementedError

    def _slab_forecast(self, m, device, dtype):
        raise NotImplementedError

    def _forecast_steps(self):
        """The input steps a forecast reads (indices into the window), or None for all."""
        return None

    def _forecast_dtype(self, dtype):
        """The torch dtype the forecast is computed in, for data of the numpy ``dtype``."""
        return torch.float64 if dtype == np.float64 else torch.float32

    def _slab_size(self, n_params):
        """Parameters per slab (a model that mixes coordinates needs them all at once)."""
        return self.slab_size

    def _slab_unit(self):
        """Slabs hold multiples of this many parameters."""
        return 1

    def _mixes_coordinates(self):
        """True for a model whose forecast of a coordinate depends on other coordinates (a slab is all of them)."""
        return False

    def _score_steps(self, n_target_steps):
        """The target steps ``score`` compares with the forecast's steps (default: the first ones, all of Y)."""
        return np.arange(n_target_steps)

    # ------------------------------------------------------------------ fit
    @atomic_fit
    @collective_fit
    def fit(self, X, Y, validation_data=None, *, reducer=None):
        """Fit the forecaster on the input windows ``X`` and the target steps ``Y``.

        Parameters
        ----------
        X : array, tensor or lazy dataset of shape (n_sequences, n_input_steps, n_params), or
            (n_sequences, n_input_steps) for one parameter
            A :class:`weightcast.io.SequenceView` is read slab by slab: memory is bounded by ``slab_size``.
        Y : same kinds, of shape (n_sequences, m, n_params), (n_sequences, m) or (n_sequences,)
        validation_data : tuple (X_val, Y_val) or None
            Sequences for early stopping, for forecasters trained iteratively; None holds out
            ``validation_fraction`` of the sequences. Closed-form fits ignore it.
        reducer : None, LocalReducer or TorchDistributedReducer (:mod:`weightcast.distributed`)
            Fit across the ranks of a torch.distributed job, each holding its own parameters of the same
            sequences (linear farcasters only; see docs/distributed.md). None: one process.

        Returns
        -------
        self
        """
        validate_params(self)
        if not (self._collective or type(reducer) is LocalReducer):
            raise TypeError(f"{type(self).__name__} fits in one process: reducer must be None, got {reducer!r}")
        device = resolve_device(self.device)
        X, Y = self._validate_fit_data(X, Y)
        self.device_ = device
        self._fit(X, Y, FitContext(device=device, reducer=reducer, validation_data=validation_data))
        return self

    # ------------------------------------------------------------------ predict
    def predict(self, X, m=None, out=None):
        """Forecast the next ``m`` steps of each sequence.

        Parameters
        ----------
        X : array, tensor or lazy dataset of shape (n_sequences, n_input_steps, n_params), or
            (n_sequences, n_input_steps)
            The same number of input steps and parameters as in ``fit``; a lazy
            :class:`weightcast.io.SequenceView` is read slab by slab.
        m : int or None, default=None
            Steps to forecast, at most the fitted horizon; None uses the constructor's ``m`` or the
            fitted horizon.
        out : str, path-like, ndarray or None, default=None
            A path: stream the forecast into a new HDF5 weight-sequence file there (written under a
            temporary name and renamed when complete) instead of returning it in memory. An array of shape
            (n_sequences, m, n_params) and X's dtype: fill it (repeated forecasts then reuse its memory).

        Returns
        -------
        Y_pred : ndarray of shape (n_sequences, m, n_params), or lifted like the ``X``/``Y`` of fit (``out``
            itself when it is an array); with a path, a :class:`weightcast.io.SequenceView` (always 3-D) of
            the written file.
        """
        X, X_ndim = self._validate_predict_data(X)
        m = self._predict_horizon(m)
        device = self._check_runtime_params()
        dtype = data_dtype(X)
        n_seq, _, n_params = X.shape
        if isinstance(out, np.ndarray):
            if out.shape != (n_seq, m, n_params) or out.dtype != dtype or not out.flags.writeable:
                raise ValueError(f"out must be a writeable array of shape {(n_seq, m, n_params)} and dtype {dtype} "
                                 f"(X's), got shape {out.shape} and dtype {out.dtype}")
        with contextlib.closing(self._forecast_blocks(X, m, device)) as blocks:
            if out is not None and not isinstance(out, np.ndarray):
                return self._predict_to_file(X, m, blocks, out, dtype)
            Y_pred = np.empty((n_seq, m, n_params), dtype=dtype) if out is None else out
            target = tensor_view(Y_pred)
            for slab, pieces in blocks:
                _fill(target[:, :, slab.slice], slab, pieces, dtype)
        return Y_pred if out is not None else self._format_prediction(Y_pred, X_ndim)

    def _predict_to_file(self, X, m, blocks, out, dtype):
        """Stream the forecast into a new weight-sequence file (atomic); the writes overlap the next slab."""
        from .io.hdf5 import SequenceView, SequenceWriter, forecast_layout

        out = os.path.abspath(os.fspath(out))
        if is_lazy(X) and getattr(X, "path", None) is not None:
            if os.path.exists(out) and os.path.samefile(out, X.path):
                raise ValueError(f"out={out!r} is the file X is read from; write the forecast elsewhere")
        layout = forecast_layout(X, m)  # parameter names (the forecast loads back into the model), step numbers
        n_seq, _, n_params = X.shape
        with SequenceWriter(out, n_seq, n_params, n_steps=m, dtype=dtype, chunk_steps=min(m, 64),
                            overwrite=True, **layout) as writer, BackgroundWriter(writer.write_slab) as background:
            for slab, pieces in blocks:
                staging = background.buffer((n_seq, m, slab.size), dtype)
                _fill(tensor_view(staging), slab, pieces, dtype)
                background.submit(slab.slice, staging)
        return SequenceView(out)

    def _forecast_blocks(self, X, m, device, Y=None, target_steps=None):
        """Yield ``(slab, pieces)`` over the parameter slabs of ``X``; ``pieces`` yields ``(columns, forecast,
        y)`` for parts of the slab: ``columns`` a slice into it, ``forecast`` (n_sequences, m, n_columns) on
        ``device``, ``y`` the same part of ``Y`` (None without ``Y``). On the CPU a part is sized to stay in
        cache (the forecast's float64 intermediates never go to memory); elsewhere it is the whole slab."""
        dtype = self._forecast_dtype(data_dtype(X))
        forecast = self._slab_forecast(m, device, dtype)
        reader = self._reader(X, Y, device=device, dtype=dtype, steps=self._forecast_steps(),
                              target_steps=target_steps, progress="predict" if self.verbose else None)
        unit = self._slab_unit()
        piece = max(unit, _PIECE // max(1, X.shape[0] * m) // unit * unit)
        whole = device.type != "cpu" or self._mixes_coordinates()

        def pieces(x, y):
            for start in range(0, x.shape[2], x.shape[2] if whole else piece):
                columns = slice(start, min(start + (x.shape[2] if whole else piece), x.shape[2]))
                yield columns, forecast(x[:, :, columns]), None if y is None else y[:, :, columns]

        for slab, x, y in reader.blocks():
            yield slab, pieces(x, y)

    # ------------------------------------------------------------------ score
    def score(self, X, y, sample_weight=None):
        """R^2 of the forecast: per forecast step over every sequence and parameter, averaged over the steps.

        For each target step k, ``1 - sum (Y_k - Y_pred_k)^2 / sum (Y_k - mean(Y_k))^2`` with the sums and
        the mean over all sequences and parameters; the result is the mean over the steps (1 is perfect,
        higher is better; a constant step scores 1 when forecast exactly, else 0). For 2-D and 1-D targets
        (one parameter) this is scikit-learn's ``r2_score(Y, predict(X))``, so ``cross_val_score`` and
        ``GridSearchCV`` rank forecasters by it without ``scoring=``. Computed slab by slab: lazy ``X`` and
        ``Y`` are never held in memory.

        Parameters
        ----------
        X : array, tensor or lazy dataset, as in :meth:`predict`
        y : array, tensor or lazy dataset of shape (n_sequences, m, n_params) (or the 2-D/1-D lift)
            The true next ``m`` steps (the ``Y`` of fit), with ``m`` at most the fitted horizon.
        sample_weight : array of shape (n_sequences,) or None
            Weight of each sequence.

        Returns
        -------
        score : float
        """
        weights = None
        if sample_weight is not None:
            weights = check_array(sample_weight, ensure_2d=False, dtype=np.float64, input_name="sample_weight")
            if weights.shape != (np.shape(X)[0],):
                raise ValueError(f"sample_weight must have shape ({np.shape(X)[0]},), one weight per sequence, "
                                 f"got {weights.shape}")
        r2 = None
        for forecast, target in self._paired_blocks(X, y):
            r2 = StreamingR2(target.shape[1], weights) if r2 is None else r2
            r2.add(target, forecast)
        return r2.score()

    def _paired_blocks(self, X, Y, target_steps=None, m=None):
        """Validate ``X`` and ``Y``; yield ``(forecast, y)`` slab by slab: the forecast of ``m`` steps (default:
        one per target step) and the slab of ``Y[:, target_steps]`` (default: ``_score_steps``)."""
        X, _ = self._validate_predict_data(X)
        Y = self._validate_targets(Y, X.shape)
        target_steps = self._score_steps(Y.shape[1]) if target_steps is None else target_steps
        m = self._predict_horizon(len(target_steps) if m is None else m)
        device = self._check_runtime_params()
        with contextlib.closing(self._forecast_blocks(X, m, device, Y=Y, target_steps=target_steps)) as blocks:
            for _, pieces in blocks:
                for _, forecast, y in pieces:
                    yield forecast, y

    # ------------------------------------------------------------------ input handling
    def _reader(self, X, Y=None, *, device, dtype=None, check_y=True, slab_size=None, **options):
        """A :class:`weightcast.rows.RowReader` of validated data: in-memory X was checked whole, so only
        lazy X is checked as it is read; Y is checked as it is read unless ``check_y`` is False."""
        return RowReader(X, Y, device=device, dtype=dtype, check=(is_lazy(X), check_y),
                         slab_size=self._slab_size(X.shape[2]) if slab_size is None else slab_size,
                         unit=self._slab_unit(), **options)

    def _validate_fit_data(self, X, Y, names=("X", "Y")):
        """Check and lift ``X``, ``Y`` to 3-D; record what predict must match.

        In-memory X is checked for NaN/inf here, whole (as scikit-learn does); Y and lazy datasets as
        they are read.
        """
        if Y is None:
            raise ValueError(f"{type(self).__name__} requires y to be passed, but the target y is None: "
                             "fit needs Y, the target steps")
        X, Y = as_source(X), as_source(Y)
        X_opts = dict(allow_nd=True, dtype=FLOAT_DTYPES, ensure_all_finite=False)
        Y_opts = dict(allow_nd=True, ensure_2d=False, dtype=FLOAT_DTYPES, ensure_all_finite=False)
        if _own_reader(X) or _own_reader(Y):
            X = X if _own_reader(X) else check_array(X, input_name="X", **X_opts)
            Y = Y if _own_reader(Y) else check_array(Y, input_name="y", **Y_opts)
            _check_float_tensor(X, names[0])
            _check_float_tensor(Y, names[1])
            validate_data(self, X, Y, skip_check_array=True, reset=True)
        else:
            X, Y = validate_data(self, X, Y, validate_separately=(X_opts, Y_opts), reset=True)
        X3 = self._lift_X(X)
        if len(Y.shape) not in (1, 2, 3):
            raise ValueError(f"Y must have shape (n_sequences, m, n_params), (n_sequences, m) or "
                             f"(n_sequences,), got an array of shape {tuple(Y.shape)}")
        Y3 = Y.reshape(Y.shape[0], 1, 1) if len(Y.shape) == 1 else (Y[:, :, None] if len(Y.shape) == 2 else Y)
        if X3.shape[0] != Y3.shape[0]:
            hint = f"; {_LIFT_HINT} and Y[None]" if len(X.shape) == 2 else ""
            raise ValueError(f"X and Y disagree on the number of sequences: X has {X3.shape[0]}, "
                             f"Y has {Y3.shape[0]} (shapes {tuple(X.shape)} and {tuple(Y.shape)}){hint}")
        if X3.shape[2] != Y3.shape[2]:
            raise ValueError(f"X and Y disagree on the number of parameters: X has {X3.shape[2]}, "
                             f"Y has {Y3.shape[2]} (shapes {tuple(X.shape)} and {tuple(Y.shape)})")
        if X3.shape[2] == 0:
            raise ValueError(f"X has no parameters (shape {tuple(X.shape)}): each step needs at least one")
        if Y3.shape[1] < 1:
            raise ValueError(f"Y has no target steps (shape {tuple(Y.shape)})")
        _warn_if_one_run(X)
        if not is_lazy(X3):
            check_finite(X3, names[0])
        self.n_params_in_ = X3.shape[2]
        self._y_ndim = len(Y.shape)
        self._X_ndim = len(X.shape)
        if _own_reader(X3) or _own_reader(Y3):
            return X3, Y3  # blocks are cast to the solver's dtype as they are read
        dtype = np.result_type(X3.dtype, Y3.dtype)
        return X3.astype(dtype, copy=False), Y3.astype(dtype, copy=False)

    def _validate_predict_data(self, X, name="X"):
        check_is_fitted(self)
        X = as_source(X)
        try:
            if _own_reader(X):
                _check_float_tensor(X, name)
                validate_data(self, X, reset=False, skip_check_array=True)
            else:
                X = validate_data(self, X, reset=False, allow_nd=True, dtype=FLOAT_DTYPES, ensure_all_finite=False)
        except ValueError as exc:
            if "features" in str(exc) and "expecting" in str(exc):
                hint = f"; {_LIFT_HINT}" if len(X.shape) == 2 and getattr(self, "_X_ndim", 2) == 3 else ""
                raise ValueError(f"{exc} (here features are input time steps: predict needs as many "
                                 f"input steps as fit saw){hint}") from None
            raise
        X3 = self._lift_X(X)
        if X3.shape[2] != self.n_params_in_:
            raise ValueError(f"X has {X3.shape[2]} parameters per step, but {type(self).__name__} "
                             f"was fitted on {self.n_params_in_}")
        if not is_lazy(X3):
            check_finite(X3, name)
        return X3, len(X.shape)

    def _validate_targets(self, Y, shape):
        """Targets to score against inputs of ``shape``: lifted to 3-D, checked as they are read."""
        Y = as_source(Y)
        if not _own_reader(Y):
            Y = check_array(Y, allow_nd=True, ensure_2d=False, dtype=FLOAT_DTYPES, ensure_all_finite=False,
                            input_name="y")
        _check_float_tensor(Y, "Y")
        if len(Y.shape) not in (1, 2, 3):
            raise ValueError(f"Y must have shape (n_sequences, m, n_params), (n_sequences, m) or "
                             f"(n_sequences,), got an array of shape {tuple(Y.shape)}")
        Y3 = Y.reshape(Y.shape[0], 1, 1) if len(Y.shape) == 1 else (Y[:, :, None] if len(Y.shape) == 2 else Y)
        if Y3.shape[0] != shape[0] or Y3.shape[2] != shape[2]:
            raise ValueError(f"Y of shape {tuple(Y.shape)} does not match X: {shape[0]} sequences of "
                             f"{shape[2]} parameters")
        if Y3.shape[1] < 1:
            raise ValueError(f"Y has no target steps (shape {tuple(Y.shape)})")
        return Y3

    @staticmethod
    def _lift_X(X):
        if len(X.shape) == 2:
            return X[:, :, None]
        if len(X.shape) == 3:
            return X
        raise ValueError(f"X must have shape (n_sequences, n_steps, n_params) or (n_sequences, n_steps), "
                         f"got an array of shape {tuple(X.shape)}")

    def _target_horizon(self, n_target_steps):
        """The horizon to fit: the constructor's ``m``, or every target step given."""
        if self.m is None:
            return n_target_steps
        if self.m > n_target_steps:
            raise ValueError(f"m={self.m} target steps were asked for but Y holds only {n_target_steps}")
        return self.m

    def _predict_horizon(self, m):
        m = self.m if m is None else m
        if m is None:
            return self.horizon_
        parameter_constraints(type(self))["m"].check(m, "m")  # the constructor's rule
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
        X_val, Y_val = clone(self)._validate_fit_data(*validation_data, names=("validation X", "validation Y"))
        if X_val.shape[1:] != X.shape[1:] or Y_val.shape[2] != Y.shape[2] or Y_val.shape[1] < Y.shape[1]:
            raise ValueError(f"validation_data must match the training data's steps and parameters: X_val "
                             f"{tuple(X_val.shape)} vs X {tuple(X.shape)}, Y_val {tuple(Y_val.shape)} vs "
                             f"Y {tuple(Y.shape)}")
        return X_val, Y_val[:, :Y.shape[1]]

    # ------------------------------------------------------------------ runtime
    def _check_runtime_params(self):
        """Check the parameters that predict and score read (set_params may have changed them since fit)
        and return the device."""
        validate_params(self, ("slab_size", "verbose", "device"))
        return resolve_device(self.device)

    def _torch_generator(self, device):
        """A torch generator seeded from ``random_state`` (so repeated fits agree)."""
        seed = check_random_state(self.random_state).randint(np.iinfo(np.int32).max)
        generator = torch.Generator(device="cpu")
        generator.manual_seed(int(seed))
        return generator


_PIECE = 2 ** 18
"""Forecast values computed at a time on the CPU (about 2 MB of float64: they stay in cache)."""


def _fill(target, slab, pieces, dtype):
    """Copy the forecast pieces of ``slab`` into ``target`` (n_sequences, m, slab.size), cast to ``dtype``
    and checked: a value that overflows the cast is an error naming its parameters."""
    for columns, forecast, _ in pieces:
        part = target[:, :, columns]
        part.copy_(forecast)
        if not all_finite(part):
            first = slab.slice.start + columns.start
            raise ValueError(f"the forecast overflows {np.dtype(dtype)} (in parameters {first}.."
                             f"{first + part.shape[2] - 1}): X is too large for this model's coefficients; "
                             "rescale X")


def _check_float_tensor(data, name):
    if isinstance(data, torch.Tensor) and not data.dtype.is_floating_point:
        raise TypeError(f"{name} must be a float tensor, got dtype {data.dtype}")


def _warn_if_one_run(X):
    """A wide 2-D X is more likely one run (steps x params) than many sequences of one parameter."""
    if len(X.shape) == 2 and X.shape[1] > max(1000, 10 * X.shape[0]):
        warnings.warn(f"X has shape {tuple(X.shape)}, read as {X.shape[0]} sequences of {X.shape[1]} steps: "
                      f"{_LIFT_HINT}", UserWarning, stacklevel=4)
