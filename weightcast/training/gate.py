"""A loss gate for weight jumps: accept new weights only if they do not raise the loss on a held-out batch
(or, given a reference such as the moving average that is evaluated, only if they beat it).

A rejected jump leaves the model exactly as it was (its tensors are restored bit for bit) and the optimizer
untouched, so a gated jump can never cost more than the gate's forward passes.
"""

import torch
import torch.nn.functional as F

from ..constraints import Real
from .params import load_flat_parameters

__all__ = ["JumpGate", "batch_loss"]


def batch_loss(inputs, targets, loss=F.nll_loss, grad=False):
    """The loss of a model on one fixed batch, in eval mode: ``loss(model(inputs), targets)``.

    With ``grad=False`` (a gate's loss) it is a float computed without gradients; with ``grad=True`` (the
    objective of a :class:`LossAwareFarcaster`) a scalar tensor to call ``backward`` on. The model's train/eval
    mode is restored afterwards. The returned function carries ``n_samples``, the batch size, for cost counts.

    Examples
    --------
    >>> import torch
    >>> loss_fn = batch_loss(torch.zeros(3, 2), torch.tensor([0, 1, 0]))
    >>> model = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.LogSoftmax(1))
    >>> isinstance(loss_fn(model), float), loss_fn.n_samples
    (True, 3)
    """
    def loss_fn(model):
        was_training = model.training
        model.eval()
        try:
            with torch.set_grad_enabled(grad):
                value = loss(model(inputs), targets)
            return value if grad else float(value)
        finally:
            model.train(was_training)
    loss_fn.n_samples = len(targets)
    return loss_fn


class JumpGate:
    """Accept a jump only if the loss on a held-out batch does not rise.

    Parameters
    ----------
    loss_fn : callable
        ``loss_fn(model) -> float``: the loss of the model as it stands, by forward passes only (see
        :func:`batch_loss`). Each call counts as one gate evaluation.
    tolerance : float, default=0.0
        A jump is accepted when ``loss_after <= loss_before + tolerance``.

    Attributes
    ----------
    history : list of dict
        One per decision: ``loss_before``, ``loss_after``, ``accepted``.
    n_evaluations : int
        Calls of ``loss_fn`` so far (two per decision).

    Examples
    --------
    >>> import torch
    >>> from weightcast.training import flatten_parameters
    >>> g = torch.Generator().manual_seed(0)
    >>> model = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.LogSoftmax(1))
    >>> gate = JumpGate(batch_loss(torch.randn(64, 2, generator=g), torch.randint(0, 2, (64,), generator=g)))
    >>> wild = flatten_parameters(model) + 100 * torch.randn(6, generator=g)
    >>> gate(model, wild)        # a wild jump raises the loss: rejected, the model is left as it was
    False
    >>> gate.history[0]["accepted"], gate.n_evaluations
    (False, 2)
    """

    def __init__(self, loss_fn, tolerance=0.0):
        if not callable(loss_fn):
            raise TypeError(f"loss_fn must be callable (model -> float), got {type(loss_fn).__name__}")
        Real(low=0).check(tolerance, "tolerance")
        self.loss_fn, self.tolerance = loss_fn, tolerance
        self.history = []
        self.n_evaluations = 0

    def _loss(self, model):
        self.n_evaluations += 1
        return float(self.loss_fn(model))

    def __call__(self, model, weights, reference=None):
        """Load the flat ``weights`` into ``model`` if that does not raise the gate loss; return whether it did.

        The loss is compared with the model's own, or with that of the flat ``reference`` weights (e.g. the
        moving average that is actually evaluated): a jump must then beat the reference to be taken.
        """
        saved = [p.detach().clone() for p in model.parameters()]
        if reference is not None:
            load_flat_parameters(model, reference)
        before = self._loss(model)
        load_flat_parameters(model, weights)
        after = self._loss(model)
        # NaN losses compare False: a jump to a NaN loss is rejected, one from a NaN loss too.
        accepted = after <= before + self.tolerance
        if not accepted:
            with torch.no_grad():
                for p, value in zip(model.parameters(), saved):
                    p.copy_(value)
        self.history.append(dict(loss_before=before, loss_after=after, accepted=bool(accepted)))
        return bool(accepted)
