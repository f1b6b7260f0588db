"""Checkpoint MSE, the paper's metric, and a scorer for GridSearchCV built on it.

"Checkpoint c" is the absolute step w_c counted from w_0: with n_input_steps inputs w_0 .. w_{n_in - 1},
prediction column j is step n_in + j, so checkpoint c is column c - n_input_steps.
"""

import numbers

import numpy as np

__all__ = ["checkpoint_mse", "CheckpointScorer", "make_checkpoint_scorer", "PAPER_SCALE"]

PAPER_SCALE = 1e4
"""The paper's tables report MSE x 1e4."""


def _as_target_array(Y, name):
    Y = np.asarray(Y)
    if Y.dtype == object or not (np.issubdtype(Y.dtype, np.number) or Y.dtype == bool):
        raise TypeError(f"{name} must be a numeric array, got dtype {Y.dtype}")
    if np.iscomplexobj(Y):
        raise TypeError(f"{name} must be real, got complex dtype {Y.dtype}")
    if Y.ndim == 1:
        return Y.reshape(-1, 1, 1)
    if Y.ndim == 2:
        return Y[:, :, None]
    if Y.ndim == 3:
        return Y
    raise ValueError(f"{name} must have shape (n_sequences, m, n_params), got {Y.shape}")


def _check_scale(scale):
    if isinstance(scale, bool) or not isinstance(scale, numbers.Real) or not np.isfinite(scale) or scale <= 0:
        raise ValueError(f"scale must be a finite number > 0, got {scale!r}")


def _check_checkpoints(checkpoints):
    try:
        checkpoints = np.atleast_1d(np.asarray(checkpoints))
    except ValueError:  # ragged nesting
        checkpoints = np.asarray([None])
    if checkpoints.ndim != 1 or checkpoints.size == 0 or not np.issubdtype(checkpoints.dtype, np.integer):
        raise ValueError(f"checkpoints must be a non-empty sequence of integers, got {checkpoints!r}")
    return checkpoints


def checkpoint_mse(Y_true, Y_pred, checkpoints, n_input_steps, scale=1.0):
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
    if Y_true.shape != Y_pred.shape:
        raise ValueError(f"Y_true and Y_pred have different shapes: {Y_true.shape} and {Y_pred.shape}")
    if Y_true.shape[0] == 0 or Y_true.shape[2] == 0:
        raise ValueError(f"Y_true and Y_pred are empty (shape {Y_true.shape}): no sequences or no parameters")
    _check_scale(scale)
    if isinstance(n_input_steps, bool) or not isinstance(n_input_steps, numbers.Integral) or n_input_steps < 1:
        raise ValueError(f"n_input_steps must be a positive integer, got {n_input_steps!r}")
    checkpoints = _check_checkpoints(checkpoints)
    columns = checkpoints - n_input_steps
    m = Y_true.shape[1]
    if np.any((columns < 0) | (columns >= m)):
        raise ValueError(f"checkpoints {checkpoints.tolist()} fall outside the forecast: with {n_input_steps} "
                         f"input steps and m={m} the forecast covers steps {n_input_steps}..{n_input_steps + m - 1}")
    diff = Y_true[:, columns].astype(np.float64) - Y_pred[:, columns].astype(np.float64)
    mse = np.mean(diff ** 2, axis=(0, 2)) * scale
    if not np.all(np.isfinite(mse)):
        raise ValueError("checkpoint MSE is not finite: Y_true or Y_pred holds NaN or inf, or their difference "
                         "overflows float64")
    return mse


class CheckpointScorer:
    """Scorer ``scorer(estimator, X, Y)`` for GridSearchCV: minus the mean checkpoint MSE (greater is better).

    The number of input steps is read from ``X.shape[1]``, and the estimator is asked for
    ``m = Y.shape[1]`` steps.
    """

    def __init__(self, checkpoints=(40, 80, 160, 200), aggregate="mean", scale=1.0):
        if aggregate not in ("mean", "max"):
            raise ValueError(f"aggregate must be 'mean' or 'max', got {aggregate!r}")
        _check_scale(scale)
        self.checkpoints = tuple(int(c) for c in _check_checkpoints(checkpoints))
        self.aggregate = aggregate
        self.scale = scale

    def __call__(self, estimator, X, Y):
        n_targets = 1 if np.ndim(Y) == 1 else np.shape(Y)[1]
        Y_pred = estimator.predict(X, m=n_targets)
        mse = checkpoint_mse(Y, Y_pred, self.checkpoints, n_input_steps=np.shape(X)[1], scale=self.scale)
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
