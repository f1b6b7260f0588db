"""Checkpoint MSE, the paper's metric, a scorer for GridSearchCV built on it, and the streaming R^2 of
``BaseForecaster.score``.

"Checkpoint c" is the absolute step w_c counted from w_0: with n_input_steps inputs w_0 .. w_{n_in - 1},
prediction column j is step n_in + j, so checkpoint c is column c - n_input_steps.

Everything here reads its inputs slab by slab (:class:`weightcast.rows.RowReader`): lazy datasets of
any size are scored without holding them, or the forecast, in memory.
"""

import warnings

import numpy as np
import torch
from sklearn.exceptions import UndefinedMetricWarning

from .constraints import Integer, ListOf, Options, Real
from .rows import RowReader, as_source, is_lazy

__all__ = ["checkpoint_mse", "CheckpointScorer", "make_checkpoint_scorer", "PAPER_SCALE", "StreamingR2"]

PAPER_SCALE = 1e4
"""The paper's tables report MSE x 1e4."""

_SLAB = 2 ** 20


def _as_target_array(Y, name):
    """``Y`` lifted to 3-D: lazy datasets and tensors as they are, anything else as a numeric array."""
    Y = as_source(Y)
    if not (is_lazy(Y) or isinstance(Y, torch.Tensor)):
        Y = np.asarray(Y)
        if Y.dtype == object or not (np.issubdtype(Y.dtype, np.number) or Y.dtype == bool):
            raise TypeError(f"{name} must be a numeric array, got dtype {Y.dtype}")
        if np.iscomplexobj(Y):
            raise TypeError(f"{name} must be real, got complex dtype {Y.dtype}")
        if Y.dtype not in (np.float32, np.float64):  # integers, booleans, other byte orders
            Y = Y.astype(np.float64)
    if Y.ndim == 1:
        return Y.reshape(-1, 1, 1)
    if Y.ndim == 2:
        return Y[:, :, None]
    if Y.ndim == 3:
        return Y
    raise ValueError(f"{name} must have shape (n_sequences, m, n_params), got {tuple(Y.shape)}")


class StreamingR2:
    """R^2 per target step over every sequence and parameter, accumulated slab by slab, averaged over steps.

    The mean and the sum of squared deviations of each step are merged slab by slab with Chan et al.'s
    pairwise update (one pass, no cancellation). For one parameter this is scikit-learn's
    ``r2_score(y, y_pred)`` (``multioutput="uniform_average"``, ``force_finite=True``).

    Parameters
    ----------
    m : int
        Target steps.
    weights : array of shape (n_sequences,) or None
        Weight of each sequence.
    """

    def __init__(self, m, weights=None):
        self.weights = None if weights is None else torch.as_tensor(weights, dtype=torch.float64)
        self.count, self.mean, self.m2, self.sse = (torch.zeros(m, dtype=torch.float64) for _ in range(4))

    def add(self, y, forecast):
        """Add one slab: ``y`` and ``forecast`` of shape (n_sequences, m, n_params_slab)."""
        y, forecast = y.to(torch.float64), forecast.to(torch.float64)
        w = None if self.weights is None else self.weights.to(y.device)[:, None, None]
        n = torch.full((y.shape[1],), float(y.shape[0] * y.shape[2]), dtype=torch.float64, device=y.device)
        if w is not None:
            n = n / y.shape[0] * w.sum()
        mean = (y if w is None else w * y).sum(dim=(0, 2)) / n
        deviation = (y - mean[None, :, None]) ** 2
        m2 = (deviation if w is None else w * deviation).sum(dim=(0, 2))
        error = (y - forecast) ** 2
        sse = (error if w is None else w * error).sum(dim=(0, 2))
        n, mean, m2, sse = (v.cpu() for v in (n, mean, m2, sse))
        if not bool((n > 0).all()):
            return
        total = self.count + n
        delta = mean - self.mean
        self.mean = self.mean + delta * n / total
        self.m2 = self.m2 + m2 + delta ** 2 * self.count * n / total
        self.sse = self.sse + sse
        self.count = total

    def score(self):
        """The mean over steps of 1 - SSE / SST (1 where a constant step is forecast exactly, 0 where not)."""
        if self.weights is None and bool((self.count < 2).any()):
            warnings.warn("R^2 score is not well-defined with less than two samples.", UndefinedMetricWarning)
            return float("nan")
        r2 = torch.where(self.m2 > 0, 1 - self.sse / torch.where(self.m2 > 0, self.m2, 1.0),
                         torch.where(self.sse == 0, 1.0, 0.0).to(torch.float64))
        return float(r2.mean())


# The arguments' rules (the same as the estimators' parameters'); where a checkpoint falls is checked
# against the forecast.
_CHECKPOINTS = ListOf(Integer(), "integers")
_SCALE = Real(low=0, low_open=True)
_N_INPUT_STEPS = Integer(low=1)
_AGGREGATE = Options("mean", "max")
_SLAB_SIZE = Integer(low=1)


def checkpoint_mse(Y_true, Y_pred, checkpoints, n_input_steps, scale=1.0, slab_size=_SLAB):
    """MSE at each checkpoint: the mean over sequences and parameters of (what_c - w_c)^2.

    Parameters
    ----------
    Y_true, Y_pred : arrays of shape (n_sequences, m, n_params) (or the 2-D/1-D lift)
    checkpoints : sequence of int
        Absolute steps c with n_input_steps <= c < n_input_steps + m.
    n_input_steps : int
        Number of input steps before the first target (21 for inputs w_0 .. w_20).
    scale : float, default=1.0
        Multiplies the result; ``PAPER_SCALE`` (1e4) gives the paper's tables.
    slab_size : int, default=2**20
        Parameters read at a time (memory is bounded by it; lazy datasets are read in whole chunks).

    Returns
    -------
    mse : ndarray of shape (len(checkpoints),), float64

    Examples
    --------
    >>> import numpy as np
    >>> Y = np.zeros((2, 5, 3)); Y_pred = Y + 0.01
    >>> checkpoint_mse(Y, Y_pred, checkpoints=(21, 25), n_input_steps=21, scale=1e4)
    array([1., 1.])
    """
    Y_true, Y_pred = _as_target_array(Y_true, "Y_true"), _as_target_array(Y_pred, "Y_pred")
    if tuple(Y_true.shape) != tuple(Y_pred.shape):
        raise ValueError(f"Y_true and Y_pred have different shapes: {tuple(Y_true.shape)} and {tuple(Y_pred.shape)}")
    if Y_true.shape[0] == 0 or Y_true.shape[2] == 0:
        raise ValueError(f"Y_true and Y_pred are empty (shape {tuple(Y_true.shape)}): no sequences or no parameters")
    _SCALE.check(scale, "scale")
    _SLAB_SIZE.check(slab_size, "slab_size")
    columns = _checkpoint_columns(checkpoints, n_input_steps, Y_true.shape[1])
    reader = RowReader(Y_true, Y_pred, steps=columns, target_steps=columns, slab_size=slab_size, dtype=torch.float64,
                       names=("Y_true", "Y_pred"))
    sse = torch.zeros(len(columns), dtype=torch.float64)
    for _, y_true, y_pred in reader.blocks():
        sse += ((y_true - y_pred) ** 2).sum(dim=(0, 2))
    return _mean_squared(sse, Y_true.shape[0] * Y_true.shape[2], scale)


def _checkpoint_columns(checkpoints, n_input_steps, m):
    """The forecast columns of the absolute ``checkpoints``, checked against a forecast of ``m`` steps."""
    _N_INPUT_STEPS.check(n_input_steps, "n_input_steps")
    checkpoints = [int(c) for c in _CHECKPOINTS.check(checkpoints, "checkpoints")]
    if not all(n_input_steps <= c < n_input_steps + m for c in checkpoints):
        raise ValueError(f"checkpoints {checkpoints} fall outside the forecast: with {n_input_steps} "
                         f"input steps and m={m} the forecast covers steps {n_input_steps}..{n_input_steps + m - 1}")
    return np.asarray(checkpoints, dtype=np.intp) - n_input_steps


def _mean_squared(sse, count, scale):
    mse = sse.numpy() / count * scale
    if not np.all(np.isfinite(mse)):
        raise ValueError("checkpoint MSE is not finite: the difference of Y_true and Y_pred overflows float64")
    return mse


class CheckpointScorer:
    """Scorer ``scorer(estimator, X, Y)`` for GridSearchCV: minus the mean checkpoint MSE (greater is better).

    The number of input steps is read from ``X.shape[1]``, and the estimator is asked for
    ``m = Y.shape[1]`` steps.
    """

    def __init__(self, checkpoints=(40, 80, 160, 200), aggregate="mean", scale=1.0):
        _AGGREGATE.check(aggregate, "aggregate")
        _SCALE.check(scale, "scale")
        self.checkpoints = tuple(int(c) for c in _CHECKPOINTS.check(checkpoints, "checkpoints"))
        self.aggregate = aggregate
        self.scale = scale

    def __call__(self, estimator, X, Y):
        n_targets = 1 if len(np.shape(Y)) == 1 else np.shape(Y)[1]
        n_input_steps = np.shape(X)[1]
        paired = getattr(estimator, "_paired_blocks", None)
        if paired is None:  # any other estimator: its whole forecast
            Y_pred = estimator.predict(X, m=n_targets)
            mse = checkpoint_mse(Y, Y_pred, self.checkpoints, n_input_steps=n_input_steps, scale=self.scale)
        else:  # a weightcast forecaster: slab by slab, the checkpoint columns only
            columns = _checkpoint_columns(self.checkpoints, n_input_steps, n_targets)
            sse, count = torch.zeros(len(columns), dtype=torch.float64), 0
            for forecast, y in paired(X, Y, target_steps=columns, m=n_targets):
                error = y.to(torch.float64) - forecast[:, torch.as_tensor(columns)].to(torch.float64)
                sse += (error ** 2).sum(dim=(0, 2)).cpu()
                count += y.shape[0] * y.shape[2]
            mse = _mean_squared(sse, count, self.scale)
        return -float(mse.mean() if self.aggregate == "mean" else mse.max())

    def __repr__(self):
        return f"CheckpointScorer(checkpoints={self.checkpoints}, aggregate={self.aggregate!r}, scale={self.scale})"


def make_checkpoint_scorer(checkpoints=(40, 80, 160, 200), aggregate="mean", scale=1.0):
    """A GridSearchCV scorer: minus the mean (or max) MSE at the given absolute checkpoints.

    Examples
    --------
    >>> from sklearn.model_selection import GridSearchCV
    >>> from weightcast import LFD2Forecaster
    >>> search = GridSearchCV(LFD2Forecaster(), {"beta": [0, 1e-6]},
    ...                       scoring=make_checkpoint_scorer(checkpoints=(40, 80, 160, 200)))
    """
    return CheckpointScorer(checkpoints=checkpoints, aggregate=aggregate, scale=scale)
