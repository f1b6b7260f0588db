"""Farcast-and-continue: during training, replace the weights by a forecast h steps ahead, then keep training.

:class:`FarcastAndContinue` is called once after every optimizer step (like :class:`WeightRecorder`). It keeps
the last snapshots of the weights (one every ``every`` steps, optionally each the mean of the ``average`` steps
that end there), and every ``period`` steps from ``first_jump`` on it replaces the model's weights with the
forecaster's prediction ``horizon`` snapshots ahead, periodically as WNN and NiNo do.

The forecaster is either fitted beforehand on other runs of the same network (``refit=False``, the paper's
protocol: inputs ``n_input`` snapshots, a fitted weightcast forecaster with ``n_features_in_ == n_input``), or
refitted at each jump on the run's own recent history (``refit=True``: every window of the history is one
training sequence).

Optimizer state at a jump (``optimizer_state``):

* ``"keep"`` (default): Adam's moments are left as they are, as WNN and NiNo do. The second moment is a slow
  running estimate of each coordinate's gradient scale and stays valid after a moderate jump; the first moment
  is a short memory (about 1 / (1 - beta1) = 10 steps) that the next steps overwrite.
* ``"reset"``: the optimizer's state is cleared (moments and step counts), as for a fresh start from the forecast.
"""

import numbers
from collections import deque

import numpy as np
import torch
from sklearn.base import clone

from .params import flatten_parameters, load_flat_parameters

__all__ = ["FarcastAndContinue"]


class FarcastAndContinue:
    """Jump the weights of a model to a forecast, periodically, during training.

    Parameters
    ----------
    model : torch.nn.Module
    optimizer : torch.optim.Optimizer
    forecaster : weightcast forecaster
        Fitted already (``refit=False``) or a template cloned and fitted at each jump (``refit=True``).
    n_input : int
        Snapshots the forecaster reads (the last ``n_input``, oldest first).
    horizon : int
        Forecast column used: the snapshot ``horizon`` snapshots after the last input, i.e.
        ``horizon * every`` training steps ahead.
    every : int, default=1
        Training steps between snapshots.
    period : int, default=100
        Training steps between jumps.
    first_jump : int or None, default=None
        Training step of the first jump; None means as soon as enough snapshots exist.
    average : int, default=1
        Each snapshot is the mean of the weights after the last ``average`` steps (window averaging
        denoises minibatch noise; 1 takes the weights as they are).
    refit : bool, default=False
        Fit a clone of ``forecaster`` on the run's own history at each jump.
    n_windows : int, default=4
        Training windows taken from the own history when ``refit=True``.
    max_jumps : int or None, default=None
    optimizer_state : {"keep", "reset"}, default="keep"

    Attributes
    ----------
    jumps : list of dict
        One per jump: ``step`` and ``distance`` (L2 norm of the change of the weights).
    step : int
        Training steps counted so far (each one a backward pass).

    Examples
    --------
    >>> import numpy as np, torch
    >>> from weightcast import LFD2Forecaster
    >>> runs = np.cumsum(np.ones((4, 6, 3)), axis=1)   # other runs of a 3-parameter model, moving linearly
    >>> forecaster = LFD2Forecaster(solver="lstsq").fit(runs[:, :2], runs[:, 2:])
    >>> model = torch.nn.Linear(2, 1)
    >>> opt = torch.optim.SGD(model.parameters(), lr=0.1)
    >>> jump = FarcastAndContinue(model, opt, forecaster, n_input=2, horizon=4, period=10)
    >>> for step in range(5):
    ...     opt.zero_grad(); model(torch.ones(1, 2)).sum().backward(); opt.step()
    ...     jumped = jump()
    >>> [j["step"] for j in jump.jumps]                # the first jump as soon as 2 snapshots exist
    [2]
    """

    def __init__(self, model, optimizer, forecaster, n_input, horizon, every=1, period=100, first_jump=None,
                 average=1, refit=False, n_windows=4, max_jumps=None, optimizer_state="keep"):
        for name, value in (("n_input", n_input), ("horizon", horizon), ("every", every), ("period", period),
                            ("average", average), ("n_windows", n_windows)):
            if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if optimizer_state not in ("keep", "reset"):
            raise ValueError(f"optimizer_state must be 'keep' or 'reset', got {optimizer_state!r}")
        if period % every or (first_jump is not None and (first_jump < 1 or first_jump % every)):
            raise ValueError(f"period={period} and first_jump={first_jump} must be positive multiples of "
                             f"every={every}: jumps happen at snapshot steps")
        if average > every and n_input > 1:
            raise ValueError(f"average={average} > every={every}: consecutive snapshots would share steps")
        if not refit:
            n_in = getattr(forecaster, "n_features_in_", None)
            if n_in is None:
                raise ValueError("refit=False needs a fitted forecaster (fit it on other runs first)")
            if n_in != n_input:
                raise ValueError(f"the forecaster was fitted on {n_in} input steps, but n_input={n_input}")
            if getattr(forecaster, "horizon_", horizon) < horizon:
                raise ValueError(f"horizon={horizon} is beyond the forecaster's fitted {forecaster.horizon_} steps")
        self.model, self.optimizer, self.forecaster = model, optimizer, forecaster
        self.n_input, self.horizon, self.every, self.period = n_input, horizon, every, period
        self.average, self.refit, self.n_windows = average, refit, n_windows
        self.max_jumps, self.optimizer_state = max_jumps, optimizer_state
        self.first_jump = first_jump
        keep = n_input + (horizon + n_windows - 1 if refit else 0)
        self._snapshots = deque(maxlen=keep)
        self._recent = deque(maxlen=average)
        self.step = 0
        self.jumps = []

    def _snapshots_needed(self):
        return self._snapshots.maxlen

    def __call__(self):
        """Count one training step, take a snapshot if due, jump if due. Returns True after a jump."""
        self.step += 1
        if self.average > 1:
            self._recent.append(flatten_parameters(self.model))
        if self.step % self.every == 0:
            if self.average > 1:
                snapshot = torch.stack(list(self._recent)).mean(0)
            else:
                snapshot = flatten_parameters(self.model)
            self._snapshots.append(snapshot)
        first = self.first_jump if self.first_jump is not None else self.every * self._snapshots_needed()
        due = self.step >= first and (self.step - first) % self.period == 0
        if not due or len(self._snapshots) < self._snapshots_needed() or self.step % self.every:
            return False
        if self.max_jumps is not None and len(self.jumps) >= self.max_jumps:
            return False
        self._jump()
        return True

    def forecast(self):
        """The forecast ``horizon`` snapshots after the last one (a flat float32 tensor)."""
        history = torch.stack(list(self._snapshots)).numpy()        # (n_snapshots, d)
        forecaster = self.forecaster
        if self.refit:
            span = self.n_input + self.horizon
            windows = np.stack([history[i:i + span] for i in range(len(history) - span + 1)])
            forecaster = clone(self.forecaster).fit(windows[:, :self.n_input], windows[:, self.n_input:])
        X = history[None, -self.n_input:]
        return torch.from_numpy(np.asarray(forecaster.predict(X, m=self.horizon))[0, -1].astype(np.float32))

    def _jump(self):
        before = flatten_parameters(self.model)
        after = self.forecast()
        load_flat_parameters(self.model, after)
        if self.optimizer_state == "reset":
            self.optimizer.state.clear()
        # The snapshots before the jump describe another trajectory; start the history afresh.
        self._snapshots.clear()
        self._recent.clear()
        self.jumps.append(dict(step=self.step, distance=float(torch.linalg.vector_norm(after - before))))
