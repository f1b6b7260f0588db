"""What the Lightning and Hugging Face averaging callbacks share: an EMA of the weights driven by training events.

The framework modules translate their hooks into five events: a run begins (with its model), optimizer steps
were taken, an evaluation starts, it ends, the run ends. The average itself is
:class:`weightcast.training.WeightAverager` (torch's ``AveragedModel`` with ``get_ema_multi_avg_fn``).
"""

from weightcast.constraints import Boolean, Options, Real
from weightcast.training import WeightAverager

__all__ = ["AveragingCallbackBase", "AVERAGING_PARAMETERS"]

AVERAGING_PARAMETERS = """decay : float, default=0.999
        In [0, 1): the weight of the old average at each optimizer step; the average spans about
        ``1 / (1 - decay)`` steps.
    warmup : float or None, default=10
        After ``n`` updates the decay is ``min(decay, (1 + n) / (warmup + n))``, so the average forgets the
        initialisation quickly (early in a run it is a growing-window average); None: the constant ``decay``,
        exactly ``AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(decay))``.
    use_buffers : bool, default=True
        Average the buffers too (BatchNorm running statistics); with False they are copied from the model.
    device : str, torch.device or None, default=None
        Where the average lives (e.g. "cpu" to spare accelerator memory); None: where the model is.
    evaluate : {"average", "weights"}, default="average"
        What the evaluations during training see: the averaged weights, swapped into the model for the
        evaluation and swapped out after it, or the weights being trained.
    keep : bool, default=True
        At the end of training, copy the averaged weights into the model (the model then holds the average);
        with False the model keeps the trained weights and the average stays in ``averaged_model_``."""


class AveragingCallbackBase:
    """The weight-averaging logic of :mod:`weightcast.integrations.lightning` and ``.transformers``."""

    _parameter_constraints = {"decay": Real(low=0, high=1, high_open=True), "warmup": Real(low=1, none=True),
                              "use_buffers": Boolean(), "evaluate": Options("average", "weights"),
                              "keep": Boolean()}

    def __init__(self, decay=0.999, warmup=10, use_buffers=True, device=None, evaluate="average", keep=True):
        # Checked here, not when training starts: a wrong option should not cost a trainer's set-up.
        given = dict(decay=decay, warmup=warmup, use_buffers=use_buffers, evaluate=evaluate, keep=keep)
        for name, rule in self._parameter_constraints.items():
            rule.check(given[name], name)
        self.decay = decay
        self.warmup = warmup
        self.use_buffers = use_buffers
        self.device = device
        self.evaluate = evaluate
        self.keep = keep
        self.averager_ = None
        self._swap = None        # the open WeightAverager.swapped() context during an evaluation
        self._restored = None    # an average restored from a checkpoint, used by the next run

    @property
    def averaged_model_(self):
        """The copy of the model that holds the averaged weights (None before training starts)."""
        return None if self.averager_ is None else self.averager_.averaged_model

    # ------------------------------------------------------------------ events from the framework
    def _begin_run(self, model):
        """A training run starts: a fresh average (or the one restored from a checkpoint) of ``model``."""
        self._end_evaluation()
        self.averager_ = WeightAverager(model, decay=self.decay, warmup=self.warmup, use_buffers=self.use_buffers,
                                        device=self.device)
        if self._restored is not None:
            self.averager_.load_state_dict(self._restored)
            self._restored = None

    def _optimizer_steps(self, count=1):
        """``count`` optimizer steps were taken since the last call: fold the weights into the average."""
        # Only the weights after the last of them are seen (several steps between two hooks happen with manual
        # optimization only): they are folded in once.
        if count and self.averager_ is not None:
            self.averager_.update()

    def _begin_evaluation(self):
        """An evaluation during training starts: with ``evaluate="average"`` the model holds the average."""
        if self.evaluate == "average" and self.averager_ is not None and self._swap is None:
            self._swap = self.averager_.swapped()
            self._swap.__enter__()

    def _end_evaluation(self):
        """The evaluation ended: the model holds the trained weights again."""
        if self._swap is not None:
            swap, self._swap = self._swap, None
            swap.__exit__(None, None, None)

    def _end_run(self):
        """The run finished: with ``keep=True`` the model keeps the averaged weights."""
        self._end_evaluation()
        if self.keep and self.averager_ is not None:
            self.averager_.copy_to()
