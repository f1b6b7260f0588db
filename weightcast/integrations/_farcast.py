"""What the Lightning and Hugging Face farcast callbacks share: farcast-and-continue driven by training events.

The framework modules translate their hooks into two events (a run begins with its model and optimizer;
optimizer steps were taken) and report each jump to their own logger. The jump logic itself is
:class:`weightcast.training.FarcastAndContinue`, built afresh for every run from the callback's options.
"""

import torch

from weightcast.training import FarcastAndContinue

__all__ = ["FarcastCallbackBase", "FARCAST_PARAMETERS"]

FARCAST_PARAMETERS = """forecaster : weightcast forecaster
        Fitted on other runs of the same network (``refit=False``), or a template fitted at each jump on
        this run's own recent snapshots (``refit=True``).
    n_input : int
        Snapshots the forecaster reads.
    horizon : int
        The forecast jumped to: ``horizon`` snapshots (``horizon * every`` optimizer steps) ahead.
    every : int, default=1
        Optimizer steps between snapshots.
    period : int, default=100
        Optimizer steps between jumps.
    first_jump : int or None, default=None
        Optimizer step of the first jump, counted from the start of this ``fit`` or ``train`` call;
        None: as soon as enough snapshots exist.
    average : int, default=1
        Each snapshot is the mean of the weights after the last ``average`` optimizer steps.
    refit : bool, default=False
    n_windows : int, default=4
        Training windows taken from the run's own history when ``refit=True``.
    max_jumps : int or None, default=None
    optimizer_state : {"keep", "reset"}, default="keep"
        Keep the optimizer's state (Adam's moments) at a jump, or clear it.

    See :class:`weightcast.training.FarcastAndContinue` for the details."""

# The options passed on to FarcastAndContinue as they are (a new one is one more name here and in __init__).
_OPTIONS = ("forecaster", "n_input", "horizon", "every", "period", "first_jump", "average", "refit", "n_windows",
            "max_jumps", "optimizer_state")


class FarcastCallbackBase:
    """The farcast-and-continue logic of :mod:`weightcast.integrations.lightning` and ``.transformers``."""

    def __init__(self, forecaster, n_input, horizon, every=1, period=100, first_jump=None, average=1,
                 refit=False, n_windows=4, max_jumps=None, optimizer_state="keep"):
        self.forecaster = forecaster
        self.n_input = n_input
        self.horizon = horizon
        self.every = every
        self.period = period
        self.first_jump = first_jump
        self.average = average
        self.refit = refit
        self.n_windows = n_windows
        self.max_jumps = max_jumps
        self.optimizer_state = optimizer_state
        self.farcast_ = None
        self.jumps_ = []

    def _begin_run(self, model, optimizer):
        """A training run starts: a fresh :class:`FarcastAndContinue` counts its optimizer steps."""
        self.farcast_ = FarcastAndContinue(model, optimizer, **{name: getattr(self, name) for name in _OPTIONS})
        self._model = model
        self.jumps_ = []

    def _optimizer_steps(self, count, trainer_step):
        """``count`` optimizer steps were taken, the last one the trainer's ``trainer_step``.

        Returns the jumps made, as dicts: ``step`` (the trainer's step) and ``distance``.
        """
        made = []
        for i in range(count):
            if self.farcast_():
                _same_weights_on_every_rank(self._model)
                made.append(dict(step=trainer_step - count + 1 + i, distance=self.farcast_.jumps[-1]["distance"]))
        self.jumps_.extend(made)
        return made


def _same_weights_on_every_rank(model):
    """Every rank jumps at the same step to the same forecast; rank 0's weights settle rounding differences."""
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        with torch.no_grad():
            for p in model.parameters():
                torch.distributed.broadcast(p.data, src=0)
