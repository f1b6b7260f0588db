"""PyTorch Lightning callbacks: record a run's weights, average them, farcast-and-continue
(``pip install 'weightcast[lightning]'``).

* :class:`WeightRecorderCallback` writes w_0 and every ``every``-th optimizer step of the LightningModule's
  parameters into a weight-sequence file (through :class:`weightcast.training.WeightRecorder`).
* :class:`WeightAveragingCallback` keeps an exponential moving average of the weights
  (:class:`weightcast.training.WeightAverager`), evaluates it in validation and leaves it in the model at the end.
* :class:`FarcastCallback` runs :class:`weightcast.training.FarcastAndContinue` after every optimizer
  step and sends each jump to the trainer's loggers (``farcast/jump_distance``, ``farcast/jumps``).

Both count optimizer steps as the trainer's ``global_step`` does (so ``accumulate_grad_batches`` is taken
into account), and both work under DDP: only global rank 0 writes the file; every rank jumps, then takes
rank 0's weights. Sharded strategies (FSDP, DeepSpeed, model parallel) are refused: no process holds the
whole model there. Use both in one trainer by listing them in the order they should act: a recorder listed
after the farcast callback records the weights training continues from at a jump, one listed before it the
weights training had reached.
"""

try:
    import lightning.pytorch as pl
except ImportError as exc:  # pragma: no cover - exercised in a subprocess by the tests
    if exc.name not in ("lightning", "lightning.pytorch"):
        raise  # installed, but broken: its own error says why
    raise ImportError("weightcast.integrations.lightning needs PyTorch Lightning: "
                      "pip install 'weightcast[lightning]'") from exc
from lightning.pytorch.strategies import DeepSpeedStrategy, FSDPStrategy, ModelParallelStrategy
from lightning.pytorch.trainer.states import TrainerFn

from weightcast.integrations._average import AVERAGING_PARAMETERS, AveragingCallbackBase
from weightcast.integrations._farcast import FARCAST_PARAMETERS, FarcastCallbackBase
from weightcast.integrations._record import RECORDER_PARAMETERS, RecorderCallbackBase

__all__ = ["WeightRecorderCallback", "WeightAveragingCallback", "FarcastCallback"]

_SHARDED = (DeepSpeedStrategy, FSDPStrategy, ModelParallelStrategy)


def _check_strategy(trainer, what):
    if isinstance(trainer.strategy, _SHARDED):
        raise ValueError(f"{what} needs every parameter on each process; the {type(trainer.strategy).__name__} "
                         "shards them (use DDP, or a single device)")


class _GlobalStepCounter:
    """Turns ``on_train_batch_end`` calls into the number of optimizer steps taken since the last one."""

    def _count_from(self, trainer):
        self._last_global_step = trainer.global_step

    def _new_steps(self, trainer):
        count, self._last_global_step = trainer.global_step - self._last_global_step, trainer.global_step
        return count


class WeightRecorderCallback(RecorderCallbackBase, _GlobalStepCounter, pl.Callback):
    __doc__ = f"""Record the LightningModule's weights into a weight-sequence file while the trainer fits it.

    w_0 is recorded in ``on_train_start``, then the weights after every ``every``-th optimizer step
    (``on_train_batch_end``, whenever the trainer's ``global_step`` moved). The file is closed in
    ``on_train_end`` and, with every snapshot taken so far, in ``on_exception`` (which Lightning calls for
    exceptions and for Ctrl-C); it is written crash-safe, so even a killed process leaves a file that opens.

    Parameters
    ----------
    {RECORDER_PARAMETERS}

    Attributes
    ----------
    recorder_ : WeightRecorder or None
        The open recorder (on global rank 0, while the file is open).
    n_steps_ : int
        Snapshots per run of the file.
    sequence_ : int
        The run being recorded, or last recorded.

    Examples
    --------
    >>> import os, tempfile, torch
    >>> import lightning.pytorch as pl
    >>> from weightcast.io import open_sequences
    >>> class Tiny(pl.LightningModule):
    ...     def __init__(self):
    ...         super().__init__()
    ...         self.layer = torch.nn.Linear(3, 1)
    ...     def training_step(self, batch, batch_idx):
    ...         return self.layer(batch).pow(2).mean()
    ...     def configure_optimizers(self):
    ...         return torch.optim.SGD(self.parameters(), lr=0.1)
    >>> path = os.path.join(tempfile.mkdtemp(), "run.h5")
    >>> trainer = pl.Trainer(max_steps=6, callbacks=[WeightRecorderCallback(path, every=2)],
    ...                      accelerator="cpu", logger=False, enable_checkpointing=False,
    ...                      enable_progress_bar=False, enable_model_summary=False)
    >>> trainer.fit(Tiny(), torch.utils.data.DataLoader(torch.randn(8, 3), batch_size=2))
    >>> open_sequences(path).shape          # w_0, w_2, w_4, w_6 of 4 parameters
    (1, 4, 4)
    """

    def on_train_start(self, trainer, pl_module):
        _check_strategy(trainer, "recording the weights")
        self._count_from(trainer)
        planned = trainer.estimated_stepping_batches      # -1 or inf where the trainer cannot tell
        remaining = None if planned < 0 else planned - trainer.global_step
        self._begin_run(pl_module, remaining, writer=trainer.is_global_zero, start_step=trainer.global_step)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        self._optimizer_steps(self._new_steps(trainer))

    def on_train_end(self, trainer, pl_module):
        self._end_run()

    def on_exception(self, trainer, pl_module, exception):
        self._fail_run()


class WeightAveragingCallback(AveragingCallbackBase, _GlobalStepCounter, pl.Callback):
    __doc__ = f"""Keep an exponential moving average (EMA) of the LightningModule's weights while the trainer fits it.

    The average (a :class:`weightcast.training.WeightAverager`, built on torch's ``AveragedModel``) is created
    in ``on_train_start`` and takes in the weights after every optimizer step (``on_train_batch_end``, whenever
    the trainer's ``global_step`` moved; the first update copies them). Validation during ``fit``
    evaluates the averaged weights (swapped in at ``on_validation_epoch_start``, out at
    ``on_validation_epoch_end``, so checkpoints and training keep the trained weights), and at
    ``on_train_end`` the model receives the averaged weights. The callback's checkpoint state holds the
    average, so a resumed ``fit`` continues it.

    Parameters
    ----------
    {AVERAGING_PARAMETERS}

    Attributes
    ----------
    averager_ : WeightAverager or None
        The average of the current (or last) ``fit``.
    averaged_model_ : torch.nn.Module or None
        The copy of the LightningModule that holds the averaged weights.

    Examples
    --------
    >>> import torch
    >>> import lightning.pytorch as pl
    >>> class Tiny(pl.LightningModule):
    ...     def __init__(self):
    ...         super().__init__()
    ...         self.layer = torch.nn.Linear(3, 1)
    ...     def training_step(self, batch, batch_idx):
    ...         return self.layer(batch).pow(2).mean()
    ...     def configure_optimizers(self):
    ...         return torch.optim.SGD(self.parameters(), lr=0.1)
    >>> averaging = WeightAveragingCallback(decay=0.9)
    >>> trainer = pl.Trainer(max_steps=6, callbacks=[averaging], accelerator="cpu", logger=False,
    ...                      enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False)
    >>> module = Tiny()
    >>> trainer.fit(module, torch.utils.data.DataLoader(torch.randn(8, 3), batch_size=2))
    >>> averaging.averager_.n_updates                     # one update per optimizer step
    6
    >>> bool(torch.equal(module.layer.weight, averaging.averaged_model_.layer.weight))   # keep=True
    True
    """

    def on_train_start(self, trainer, pl_module):
        _check_strategy(trainer, "weight averaging")
        self._count_from(trainer)
        self._begin_run(pl_module)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        self._optimizer_steps(self._new_steps(trainer))

    def on_validation_epoch_start(self, trainer, pl_module):
        if trainer.state.fn == TrainerFn.FITTING:     # not a later trainer.validate()
            self._begin_evaluation()

    def on_validation_epoch_end(self, trainer, pl_module):
        self._end_evaluation()

    def on_train_end(self, trainer, pl_module):
        self._end_run()

    def on_exception(self, trainer, pl_module, exception):
        self._end_evaluation()

    def state_dict(self):
        return {} if self.averager_ is None else {"average": self.averager_.state_dict()}

    def load_state_dict(self, state_dict):
        self._restored = state_dict.get("average")


class FarcastCallback(FarcastCallbackBase, _GlobalStepCounter, pl.Callback):
    __doc__ = f"""Farcast-and-continue in a Lightning trainer: jump the weights to a forecast, periodically.

    A new :class:`weightcast.training.FarcastAndContinue` is built in ``on_train_start`` for the
    LightningModule and the trainer's optimizer, and called after every optimizer step
    (``on_train_batch_end``, whenever the trainer's ``global_step`` moved). Each jump is sent to every
    logger of the trainer as ``farcast/jump_distance`` (L2 norm of the change of the weights) and
    ``farcast/jumps`` (jumps so far), at the trainer's step.

    Parameters
    ----------
    {FARCAST_PARAMETERS}

    Attributes
    ----------
    farcast_ : FarcastAndContinue
        The jump loop of the current (or last) ``fit``.
    jumps_ : list of dict
        One per jump of the current (or last) ``fit``: ``step`` (the trainer's ``global_step``) and
        ``distance``.

    Examples
    --------
    >>> import numpy as np, torch
    >>> import lightning.pytorch as pl
    >>> from weightcast import LFD2Forecaster
    >>> class Tiny(pl.LightningModule):
    ...     def __init__(self):
    ...         super().__init__()
    ...         self.layer = torch.nn.Linear(3, 1)
    ...     def training_step(self, batch, batch_idx):
    ...         return self.layer(batch).pow(2).mean()
    ...     def configure_optimizers(self):
    ...         return torch.optim.SGD(self.parameters(), lr=0.1)
    >>> runs = np.cumsum(np.ones((4, 8, 4)), axis=1)    # other runs of this 4-parameter model
    >>> forecaster = LFD2Forecaster(solver="lstsq").fit(runs[:, :2], runs[:, 2:])
    >>> farcast = FarcastCallback(forecaster, n_input=2, horizon=4, period=5)
    >>> trainer = pl.Trainer(max_steps=6, callbacks=[farcast], accelerator="cpu", logger=False,
    ...                      enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False)
    >>> trainer.fit(Tiny(), torch.utils.data.DataLoader(torch.randn(8, 3), batch_size=2))
    >>> [jump["step"] for jump in farcast.jumps_]       # as soon as 2 snapshots exist, then every 5 steps
    [2]
    """

    def on_train_start(self, trainer, pl_module):
        _check_strategy(trainer, "farcast-and-continue")
        if len(trainer.optimizers) != 1:
            raise ValueError(f"FarcastCallback works with one optimizer; the LightningModule configured "
                             f"{len(trainer.optimizers)}")
        self._count_from(trainer)
        self._begin_run(pl_module, trainer.optimizers[0])

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        made = self._optimizer_steps(self._new_steps(trainer), trainer.global_step)
        for number, jump in enumerate(made, start=len(self.jumps_) - len(made) + 1):
            metrics = {"farcast/jump_distance": jump["distance"], "farcast/jumps": float(number)}
            for logger in trainer.loggers:
                logger.log_metrics(metrics, step=jump["step"])
