"""Farcast-and-continue: during training, replace the weights by a forecast, then keep training.

:class:`FarcastAndContinue` is called once after every optimizer step (like :class:`WeightRecorder`). Every
``period`` steps from ``first_jump`` on it replaces the model's weights with a forecast, periodically as WNN and
NiNo do. What the forecaster reads (``inputs``):

* ``"snapshots"`` (default): the last ``n_input`` snapshots of the weights, one every ``every`` steps (optionally
  each the mean of the ``average`` steps that end there), oldest first; the forecast is the one ``horizon``
  snapshots after the last. The forecaster is fitted beforehand on other runs of the same network
  (``refit=False``, the paper's protocol; :func:`weightcast.datasets.training_windows` cuts recordings into its
  training windows), or refitted at each jump on the run's own recent history (``refit=True``).
* ``"averages"``: the current weights followed by the averages of the ``averagers`` (moving averages with
  several decays are a denoised, multi-scale summary of the run's recent past).

The forecaster is a fitted weightcast forecaster (``predict(X, m)``), or a :class:`LossAwareFarcaster`, which is
refitted at each jump to minimise ``loss_fn`` at the forecast weights.

A ``gate`` (:class:`JumpGate`) makes a jump conditional: it is taken only if it does not raise the loss on a
held-out batch (or, with ``gate_reference="average"``, only if it beats the moving average that is evaluated),
and a rejected jump changes nothing (it costs the gate's forward passes only).

Optimizer state at a jump (``optimizer_state``):

* ``"keep"`` (default): Adam's moments are left as they are, as WNN and NiNo do. The second moment is a slow
  running estimate of each coordinate's gradient scale and stays valid after a moderate jump; the first moment
  is a short memory (about 1 / (1 - beta1) = 10 steps) that the next steps overwrite.
* ``"reset"``: the optimizer's state is cleared (moments and step counts), as for a fresh start from the forecast.

Moving averages at a jump (``averagers_at_jump``): ``"keep"`` leaves them, ``"shift"`` moves them by the jump's
displacement (they keep averaging the same trajectory, moved), ``"reset"`` restarts them at the new weights.
"""

from collections import deque

import numpy as np
import torch
from sklearn.base import clone

from ..constraints import Boolean, InstanceOf, Integer, Options
from .averaging import WeightAverager
from .gate import JumpGate
from .lossaware import LossAwareFarcaster
from .params import flatten_parameters, load_flat_parameters

__all__ = ["FarcastAndContinue"]


_AVERAGER = InstanceOf(WeightAverager, "a WeightAverager")


class FarcastAndContinue:
    """Jump the weights of a model to a forecast, periodically, during training.

    Parameters
    ----------
    model : torch.nn.Module
    optimizer : torch.optim.Optimizer
    forecaster : weightcast forecaster or LossAwareFarcaster
        A fitted forecaster (``refit=False``), a template cloned and fitted at each jump (``refit=True``), or a
        :class:`LossAwareFarcaster` (refitted at each jump on ``loss_fn``).
    n_input : int
        Vectors the forecaster reads: snapshots (the last ``n_input``, oldest first), or with
        ``inputs="averages"`` the current weights and the averages, ``1 + len(averagers)`` in all.
    horizon : int, default=1
        Forecast column used: the snapshot ``horizon`` snapshots after the last input, i.e. ``horizon * every``
        training steps ahead (with ``inputs="averages"``: column ``horizon`` of the forecaster's prediction).
        Not used by a loss-aware forecaster.
    every : int, default=1
        Training steps between snapshots.
    period : int, default=100
        Training steps between jumps.
    first_jump : int or None, default=None
        Training step of the first jump; None means as soon as enough snapshots exist (``period`` with
        ``inputs="averages"``).
    average : int, default=1
        Each snapshot is the mean of the weights after the last ``average`` steps (window averaging
        denoises minibatch noise; 1 takes the weights as they are).
    refit : bool, default=False
        Fit a clone of ``forecaster`` on the run's own history at each jump (snapshot inputs only).
    n_windows : int, default=4
        Training windows taken from the own history when ``refit=True``.
    max_jumps : int or None, default=None
    optimizer_state : {"keep", "reset"}, default="keep"
    inputs : {"snapshots", "averages"}, default="snapshots"
    averagers : list of WeightAverager, default=()
        Moving averages of the model (updated by the caller after each step). They are the inputs with
        ``inputs="averages"``, and are kept, shifted or reset at each jump (``averagers_at_jump``).
    averagers_at_jump : {"keep", "shift", "reset"}, default="keep"
    loss_fn : callable, iterator of callables, or None, default=None
        ``loss_fn(model) -> scalar tensor`` with gradients (e.g. ``batch_loss(inputs, targets, grad=True)``),
        minimised by a loss-aware forecaster at each jump. An iterator gives a fresh one (a fresh training batch)
        to each jump.
    gate : JumpGate or None, default=None
        Take a jump only if the gate accepts it.
    gate_reference : {"weights", "average"}, default="weights"
        What a jump must not be worse than on the gate's batch: the current weights, or the first of
        ``averagers`` (when that average is the model you evaluate, a jump must beat it).

    Attributes
    ----------
    jumps : list of dict
        One per jump tried: ``step``, ``accepted``, ``distance`` (L2 norm of the proposed change of the weights),
        with a gate ``loss_before`` / ``loss_after``, with a loss-aware forecaster ``fit_loss_start`` /
        ``fit_loss``, ``fit_evaluations`` and ``coef``.
    step : int
        Training steps counted so far (each one a backward pass).
    n_fit_evaluations : int
        Loss evaluations (forward + backward passes of ``loss_fn``) spent by loss-aware fits.

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

    _parameter_constraints = {
        "model": InstanceOf(torch.nn.Module, "a torch.nn.Module"),
        "optimizer": InstanceOf(torch.optim.Optimizer, "a torch.optim.Optimizer"),
        "n_input": Integer(low=1), "horizon": Integer(low=1), "every": Integer(low=1), "period": Integer(low=1),
        "first_jump": Integer(low=1, none=True), "average": Integer(low=1), "refit": Boolean(),
        "n_windows": Integer(low=1), "max_jumps": Integer(low=0, none=True),
        "optimizer_state": Options("keep", "reset"), "inputs": Options("snapshots", "averages"),
        "averagers": InstanceOf((list, tuple), "a list of WeightAverager objects"),
        "averagers_at_jump": Options("keep", "shift", "reset"),
        "gate": InstanceOf(JumpGate, "a JumpGate", none=True),
        "gate_reference": Options("weights", "average"),
    }

    def __init__(self, model, optimizer, forecaster, n_input, horizon=1, every=1, period=100, first_jump=None,
                 average=1, refit=False, n_windows=4, max_jumps=None, optimizer_state="keep", inputs="snapshots",
                 averagers=(), averagers_at_jump="keep", loss_fn=None, gate=None, gate_reference="weights"):
        given = dict(model=model, optimizer=optimizer, n_input=n_input, horizon=horizon, every=every,
                     period=period, first_jump=first_jump, average=average, refit=refit, n_windows=n_windows,
                     max_jumps=max_jumps, optimizer_state=optimizer_state, inputs=inputs, averagers=averagers,
                     averagers_at_jump=averagers_at_jump, gate=gate, gate_reference=gate_reference)
        for name, rule in self._parameter_constraints.items():
            rule.check(given[name], name)
        averagers = list(averagers)
        for i, averager in enumerate(averagers):
            _AVERAGER.check(averager, f"averagers[{i}]")
        if gate_reference == "average" and not (averagers and gate is not None):
            raise ValueError("gate_reference='average' needs a gate and averagers (the first one is the reference)")
        loss_aware = isinstance(forecaster, LossAwareFarcaster)
        if not (loss_aware or hasattr(forecaster, "predict")):
            raise TypeError(f"forecaster must be a weightcast forecaster (with fit and predict) or a "
                            f"LossAwareFarcaster, got {forecaster!r}")
        if loss_aware and not (callable(loss_fn) or hasattr(loss_fn, "__next__")):
            raise ValueError("a LossAwareFarcaster needs loss_fn (model -> scalar loss tensor, or an iterator of "
                             "such functions) to fit at each jump")
        if inputs == "averages":
            if not averagers:
                raise ValueError("inputs='averages' needs averagers (WeightAverager objects of the model)")
            if n_input != 1 + len(averagers):
                raise ValueError(f"inputs='averages' gives the forecaster the weights and {len(averagers)} "
                                 f"averages, {1 + len(averagers)} vectors, but n_input={n_input}")
            if refit:
                raise ValueError("refit=True fits on the snapshot history; it needs inputs='snapshots'")
        if period % every or (first_jump is not None and first_jump % every):
            raise ValueError(f"period={period} and first_jump={first_jump} must be multiples of "
                             f"every={every}: jumps happen at snapshot steps")
        if average > every and n_input > 1 and inputs == "snapshots":
            raise ValueError(f"average={average} > every={every}: consecutive snapshots would share steps")
        if not refit and not loss_aware:
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
        self.first_jump, self.inputs = first_jump, inputs
        self.averagers, self.averagers_at_jump = averagers, averagers_at_jump
        self.loss_fn, self.gate, self.gate_reference = loss_fn, gate, gate_reference
        keep = n_input + (horizon + n_windows - 1 if refit else 0)
        self._snapshots = deque(maxlen=keep)
        self._recent = deque(maxlen=average)
        self.step = 0
        self.jumps = []
        self.n_fit_evaluations = 0

    def _snapshots_needed(self):
        return self._snapshots.maxlen

    def _ready(self):
        if self.inputs == "averages":
            first = self.period if self.first_jump is None else self.first_jump
            return self.step >= first and (self.step - first) % self.period == 0
        first = self.first_jump if self.first_jump is not None else self.every * self._snapshots_needed()
        due = self.step >= first and (self.step - first) % self.period == 0
        return due and len(self._snapshots) >= self._snapshots_needed() and self.step % self.every == 0

    def __call__(self):
        """Count one training step, take a snapshot if due, jump if due. Returns True after a jump taken."""
        self.step += 1
        if self.inputs == "snapshots":
            if self.average > 1:
                self._recent.append(flatten_parameters(self.model))
            if self.step % self.every == 0:
                if self.average > 1:
                    snapshot = torch.stack(list(self._recent)).mean(0)
                else:
                    snapshot = flatten_parameters(self.model)
                self._snapshots.append(snapshot)
        if not self._ready():
            return False
        if self.max_jumps is not None and len(self.jumps) >= self.max_jumps:
            return False
        return self._jump()

    def _input_vectors(self):
        """The forecaster's inputs as a (n_input, n_params) array, oldest first."""
        if self.inputs == "averages":
            return torch.stack([flatten_parameters(self.model)] + [a.flat() for a in self.averagers])
        return torch.stack(list(self._snapshots)[-self.n_input:])

    def forecast(self):
        """The forecast weights (a flat float32 tensor); a loss-aware forecaster is fitted first."""
        if isinstance(self.forecaster, LossAwareFarcaster):
            V = self._input_vectors()
            loss_fn = self.loss_fn if callable(self.loss_fn) else next(self.loss_fn)
            self.forecaster.fit(self.model, V, loss_fn)
            self.n_fit_evaluations += self.forecaster.n_evaluations_
            return self.forecaster.predict(V)
        forecaster = self.forecaster
        if self.refit:
            history = torch.stack(list(self._snapshots)).numpy()        # (n_snapshots, d)
            span = self.n_input + self.horizon
            windows = np.stack([history[i:i + span] for i in range(len(history) - span + 1)])
            forecaster = clone(self.forecaster).fit(windows[:, :self.n_input], windows[:, self.n_input:])
        X = self._input_vectors().numpy()[None]
        prediction = np.asarray(forecaster.predict(X, m=self.horizon))
        return torch.from_numpy(prediction[0, self.horizon - 1].astype(np.float32))

    def _jump(self):
        before = flatten_parameters(self.model)
        after = self.forecast()
        record = dict(step=self.step, distance=float(torch.linalg.vector_norm(after - before)))
        if isinstance(self.forecaster, LossAwareFarcaster):
            record.update(fit_loss_start=self.forecaster.loss_start_, fit_loss=self.forecaster.loss_,
                          fit_evaluations=self.forecaster.n_evaluations_, coef=self.forecaster.coef_.tolist())
        if self.gate is not None:
            reference = self.averagers[0].flat() if self.gate_reference == "average" else None
            accepted = self.gate(self.model, after, reference=reference)
            record.update(loss_before=self.gate.history[-1]["loss_before"],
                          loss_after=self.gate.history[-1]["loss_after"])
        else:
            load_flat_parameters(self.model, after)
            accepted = True
        record["accepted"] = accepted
        self.jumps.append(record)
        if not accepted:
            return False
        if self.optimizer_state == "reset":
            self.optimizer.state.clear()
        for averager in self.averagers:
            if self.averagers_at_jump == "shift":
                averager.load_flat(averager.flat() + (after - before))
            elif self.averagers_at_jump == "reset":
                averager.reset()
        # The snapshots before the jump describe another trajectory; start the history afresh.
        self._snapshots.clear()
        self._recent.clear()
        return True
