"""Weight averaging: an exponential moving average (EMA) of a model's weights, kept beside training.

:class:`WeightAverager` is a small, framework-agnostic object: call :meth:`~WeightAverager.update` after every
optimizer step, evaluate :attr:`~WeightAverager.averaged_model` (or the model itself inside
:meth:`~WeightAverager.swapped`), and :meth:`~WeightAverager.copy_to` the model to keep the averaged weights.
It is built on :class:`torch.optim.swa_utils.AveragedModel` with :func:`~torch.optim.swa_utils.get_ema_multi_avg_fn`,
so its numbers are torch's.

Averaging costs no backward pass and often saves many: the average of a run at a large constant learning rate
behaves like the same run with a decaying one.
"""

import contextlib

import torch
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from ..constraints import Boolean, InstanceOf, Real
from .params import flatten_parameters, load_flat_parameters

__all__ = ["WeightAverager"]

_MODEL = InstanceOf(torch.nn.Module, "a torch.nn.Module")


class WeightAverager:
    """Exponential moving average of a model's weights.

    After ``n`` updates the average moves towards the weights by ``1 - decay_n`` with
    ``decay_n = min(decay, (1 + n) / (warmup + n))``: early on the average forgets the random initialisation
    quickly, later it averages over about ``1 / (1 - decay)`` steps. With ``warmup=None`` the decay is constant,
    exactly torch's ``AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(decay))``.

    Parameters
    ----------
    model : torch.nn.Module
        The model being trained. The average is a separate copy (same device unless ``device`` is given).
    decay : float, default=0.999
        In [0, 1): the weight of the old average at each update.
    warmup : float or None, default=10
        The ``warmup`` of the decay's warm-up above (>= 1); None for a constant decay.
    use_buffers : bool, default=True
        Average the buffers too (BatchNorm running statistics); with False they are copied from the model.
    device : str, torch.device or None, default=None
        Where the average lives (e.g. "cpu" to spare accelerator memory); None: where the model is.

    Attributes
    ----------
    averaged_model : torch.nn.Module
        The copy holding the averaged weights: evaluate it directly.
    n_updates : int
        Updates so far (the first one copies the weights).

    Examples
    --------
    >>> import torch
    >>> model = torch.nn.Linear(2, 1)
    >>> optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    >>> averager = WeightAverager(model, decay=0.9)
    >>> for _ in range(20):
    ...     optimizer.zero_grad(); model(torch.ones(4, 2)).pow(2).mean().backward(); optimizer.step()
    ...     averager.update()
    >>> averager.n_updates
    20
    >>> with averager.swapped():           # the model holds the averaged weights here
    ...     loss = model(torch.ones(4, 2)).pow(2).mean()
    >>> averager.copy_to(model)            # keep them
    """

    def __init__(self, model, decay=0.999, warmup=10, use_buffers=True, device=None):
        _MODEL.check(model, "model")
        Real(low=0, high=1, high_open=True).check(decay, "decay")
        Real(low=1, none=True).check(warmup, "warmup")
        Boolean().check(use_buffers, "use_buffers")
        self.model, self.decay, self.warmup = model, float(decay), warmup
        self.use_buffers, self.device = use_buffers, device
        self._averaged = AveragedModel(model, device=device, multi_avg_fn=self._ema, use_buffers=use_buffers)

    def _ema(self, averaged, current, n_averaged):
        decay = self.decay
        if self.warmup is not None:
            n = int(n_averaged)
            decay = min(decay, (1.0 + n) / (self.warmup + n))
        get_ema_multi_avg_fn(decay)(averaged, current, n_averaged)

    @property
    def averaged_model(self):
        return self._averaged.module

    @property
    def n_updates(self):
        return int(self._averaged.n_averaged)

    def update(self):
        """Fold the model's current weights into the average (after an optimizer step)."""
        self._averaged.update_parameters(self.model)

    def reset(self):
        """Start the average afresh from the model's current weights (e.g. after the weights jumped)."""
        self._averaged.n_averaged.zero_()
        self.update()

    def flat(self):
        """The averaged parameters as one flat float32 CPU vector (``flatten_parameters`` order)."""
        return flatten_parameters(self.averaged_model)

    def _tensors(self, module):
        return list(module.parameters()) + (list(module.buffers()) if self.use_buffers else [])

    def copy_to(self, model=None):
        """Copy the averaged weights (and averaged buffers) into ``model`` (default: the trained model)."""
        model = self.model if model is None else model
        with torch.no_grad():
            for target, source in zip(self._tensors(model), self._tensors(self.averaged_model), strict=True):
                target.copy_(source.to(target.device))

    @contextlib.contextmanager
    def swapped(self):
        """Within the block the trained model holds the averaged weights; its own come back on exit.

        For code that can only evaluate the model itself (a framework's validation loop).
        """
        saved = [t.detach().clone() for t in self._tensors(self.model)]
        self.copy_to(self.model)
        try:
            yield self.model
        finally:
            with torch.no_grad():
                for target, source in zip(self._tensors(self.model), saved):
                    target.copy_(source)

    def load_flat(self, vector):
        """Replace the averaged parameters by a flat vector (e.g. a forecast); the update count is kept."""
        load_flat_parameters(self.averaged_model, vector)

    def state_dict(self):
        """The averaged weights and the update count, for checkpoints."""
        return self._averaged.state_dict()

    def load_state_dict(self, state):
        self._averaged.load_state_dict(state)
