"""Scoring training speed-ups: compute counted in backward passes, and the first reach of a target loss.

Units: one training step (forward and backward pass over one training batch) is one backward pass; a
forward-only pass costs a third of that (``FORWARD_COST``). Extra work that a method does besides its training
steps (a forecaster's loss evaluations, a gate's forward passes) is converted with the number of samples it
touches, so a forward pass over a held-out batch four times the training batch costs 4/3.

A run is scored on its validation curve, smoothed by a trailing mean of a few evaluations (the raw curve of
a run at a large learning rate is noisy): its score is the cost at the first evaluation whose smoothed loss
reaches the target.
"""

import numbers

import numpy as np

__all__ = ["FORWARD_COST", "PassCounter", "smoothed", "first_reach", "cost_to_target", "saving"]

FORWARD_COST = 1.0 / 3.0


class PassCounter:
    """Compute spent by a training run, in backward passes of one training batch.

    Parameters
    ----------
    batch_size : int
        Samples of one training batch: the unit of cost.

    Attributes
    ----------
    steps : int
        Training steps taken.
    overhead : float
        Everything else, in backward passes.

    Examples
    --------
    >>> counter = PassCounter(batch_size=128)
    >>> for _ in range(100):
    ...     counter.training_step()
    >>> counter.forward(512)       # a gate's forward pass over 512 held-out samples: 512 / 128 / 3
    >>> counter.backward(256)      # a forward + backward pass over 256 samples: 2
    >>> round(counter.total, 4), round(counter.overhead, 4)
    (103.3333, 3.3333)
    """

    def __init__(self, batch_size):
        if isinstance(batch_size, bool) or not isinstance(batch_size, numbers.Integral) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
        self.batch_size = int(batch_size)
        self.steps = 0
        self.overhead = 0.0

    def training_step(self):
        self.steps += 1

    def _count(self, n_samples, what):
        if isinstance(n_samples, bool) or not isinstance(n_samples, numbers.Integral) or n_samples < 0:
            raise ValueError(f"n_samples of a {what} pass must be a non-negative integer, got {n_samples!r}")
        return n_samples / self.batch_size

    def forward(self, n_samples):
        """Count a forward-only pass over ``n_samples`` samples."""
        self.overhead += FORWARD_COST * self._count(n_samples, "forward")

    def backward(self, n_samples):
        """Count a forward + backward pass over ``n_samples`` samples."""
        self.overhead += self._count(n_samples, "backward")

    @property
    def total(self):
        return self.steps + self.overhead


def smoothed(losses, width=3):
    """Trailing mean of the last ``width`` evaluations (fewer at the start).

    Examples
    --------
    >>> smoothed([3.0, 1.0, 2.0, 0.0], width=2).tolist()
    [3.0, 2.0, 1.5, 1.0]
    """
    losses = np.asarray(losses, dtype=np.float64)
    if losses.ndim != 1:
        raise ValueError(f"losses must be one curve (1-D), got shape {losses.shape}")
    if isinstance(width, bool) or not isinstance(width, numbers.Integral) or width < 1:
        raise ValueError(f"width must be a positive integer, got {width!r}")
    # A window of its own for each evaluation: a NaN spoils only the windows that hold it.
    return np.array([losses[max(0, i - width + 1):i + 1].mean() for i in range(len(losses))])


def first_reach(losses, target, width=3):
    """Index of the first evaluation whose smoothed loss is <= ``target``, or None if none is.

    A NaN loss never reaches a target (and a window holding one does not either).

    Examples
    --------
    >>> first_reach([1.0, 0.5, 0.4, 0.2], target=0.6, width=2)   # smoothed: 1.0, 0.75, 0.45, 0.3
    2
    """
    hits = np.flatnonzero(smoothed(losses, width) <= target)
    return int(hits[0]) if hits.size else None


def cost_to_target(losses, costs, target, width=3):
    """The cost (from ``costs``, one per evaluation) at the first reach of ``target``, or None."""
    costs = np.asarray(costs, dtype=np.float64)
    if costs.shape != np.shape(losses):
        raise ValueError(f"costs {costs.shape} and losses {np.shape(losses)} must have one value per evaluation")
    index = first_reach(losses, target, width)
    return None if index is None else float(costs[index])


def saving(cost, baseline_cost):
    """The fraction of the baseline's cost saved, ``1 - cost / baseline_cost``; None if either never reached."""
    if cost is None or baseline_cost is None:
        return None
    return 1.0 - cost / baseline_cost
