"""Hugging Face ``Trainer`` callbacks: record a run's weights, average them, farcast-and-continue.

Install with ``pip install 'weightcast[transformers]'`` (transformers, and accelerate, which the
``Trainer`` needs).

* :class:`WeightRecorderCallback` writes w_0 and every ``every``-th optimizer step of the model's
  parameters into a weight-sequence file (through :class:`weightcast.training.WeightRecorder`).
* :class:`WeightAveragingCallback` keeps an exponential moving average of the weights
  (:class:`weightcast.training.WeightAverager`), evaluates it during training and leaves it in the model at
  the end.
* :class:`FarcastCallback` runs :class:`weightcast.training.FarcastAndContinue` after every optimizer
  step and adds each jump to the trainer's ``state.log_history`` (saved with every checkpoint in
  ``trainer_state.json``) and to the ``weightcast`` logger.

Both act in ``on_step_end``, which the ``Trainer`` calls once per optimizer step (after
``gradient_accumulation_steps`` batches), and both work under DDP: only the world's process zero writes the
file; every process jumps, then takes process zero's weights. FSDP and DeepSpeed are refused: no process
holds the whole model there. Use both in one trainer by listing them in the order they should act: a
recorder listed after the farcast callback records the weights training continues from at a jump, one
listed before it the weights training had reached.
"""

import logging

try:
    import transformers
except ImportError as exc:  # pragma: no cover - exercised in a subprocess by the tests
    if exc.name != "transformers":
        raise  # installed, but broken: its own error says why
    raise ImportError("weightcast.integrations.transformers needs Hugging Face transformers: "
                      "pip install 'weightcast[transformers]'") from exc

from weightcast.integrations._average import AVERAGING_PARAMETERS, AveragingCallbackBase
from weightcast.integrations._farcast import FARCAST_PARAMETERS, FarcastCallbackBase
from weightcast.integrations._record import RECORDER_PARAMETERS, RecorderCallbackBase

__all__ = ["WeightRecorderCallback", "WeightAveragingCallback", "FarcastCallback"]

_log = logging.getLogger("weightcast")


def _check_not_sharded(args, what):
    for option in ("fsdp", "deepspeed"):
        if getattr(args, option, None):
            raise ValueError(f"{what} needs every parameter on each process; training with {option}= shards them "
                             "(use DDP, or a single device)")


class WeightRecorderCallback(RecorderCallbackBase, transformers.TrainerCallback):
    __doc__ = f"""Record the model's weights into a weight-sequence file while a ``Trainer`` trains it.

    w_0 is recorded in ``on_train_begin``, then the weights after every ``every``-th optimizer step
    (``on_step_end``); the file is closed in ``on_train_end``. It is written crash-safe: after an exception
    or a kill the file opens and holds every snapshot of the chunks written so far. The ``Trainer`` tells
    callbacks nothing of exceptions, so the last (fewer than ``chunk_steps``) snapshots of a failed run are
    written when the callback is closed (:meth:`close`), garbage-collected, or the interpreter exits.

    Parameters
    ----------
    {RECORDER_PARAMETERS}

    Attributes
    ----------
    recorder_ : WeightRecorder or None
        The open recorder (on process zero, while the file is open).
    n_steps_ : int
        Snapshots per run of the file.
    sequence_ : int
        The run being recorded, or last recorded.

    Examples
    --------
    >>> import os, tempfile, torch
    >>> from transformers import Trainer, TrainingArguments
    >>> from weightcast.io import open_sequences
    >>> class Tiny(torch.nn.Module):
    ...     def __init__(self):
    ...         super().__init__()
    ...         self.layer = torch.nn.Linear(3, 1)
    ...     def forward(self, x):
    ...         return dict(loss=self.layer(x).pow(2).mean())
    >>> data = [dict(x=torch.randn(3)) for _ in range(8)]
    >>> folder = tempfile.mkdtemp()
    >>> args = TrainingArguments(output_dir=folder, max_steps=6, per_device_train_batch_size=2,
    ...                          report_to=[], use_cpu=True, save_strategy="no")
    >>> path = os.path.join(folder, "run.h5")
    >>> trainer = Trainer(model=Tiny(), args=args, train_dataset=data,
    ...                   callbacks=[WeightRecorderCallback(path, every=2)])
    >>> _ = trainer.train()                              # prints the trainer's final metrics
    {{'train_runtime': ...}}
    >>> open_sequences(path).shape          # w_0, w_2, w_4, w_6 of 4 parameters
    (1, 4, 4)
    """

    def on_train_begin(self, args, state, control, model=None, **kwargs):
        _check_not_sharded(args, "recording the weights")
        self._begin_run(model, state.max_steps - state.global_step, writer=state.is_world_process_zero,
                        start_step=state.global_step)

    def on_step_end(self, args, state, control, **kwargs):
        self._optimizer_steps()

    def on_train_end(self, args, state, control, **kwargs):
        self._end_run()


class WeightAveragingCallback(AveragingCallbackBase, transformers.TrainerCallback):
    __doc__ = f"""Keep an exponential moving average (EMA) of the model's weights while a ``Trainer`` trains it.

    The average (a :class:`weightcast.training.WeightAverager`, built on torch's ``AveragedModel``) is created
    in ``on_train_begin`` and takes in the weights after every optimizer step (``on_step_end``; the first update
    copies them). The evaluations the ``Trainer`` runs during training (``eval_strategy``) evaluate the averaged
    weights: they are swapped in at the ``on_step_end`` / ``on_epoch_end`` that asks for an evaluation and
    swapped out in ``on_evaluate``, so training and the checkpoint saved after it keep the trained weights. At
    ``on_train_end`` the model receives the averaged weights (``keep=True``), after the ``Trainer`` loaded any
    best checkpoint (``load_best_model_at_end``: pass ``keep=False`` to keep that one). Save the average with
    ``averager_.state_dict()`` or ``averaged_model_``; the ``Trainer``'s checkpoints do not hold it.

    Parameters
    ----------
    {AVERAGING_PARAMETERS}

    Attributes
    ----------
    averager_ : WeightAverager or None
        The average of the current (or last) ``train``.
    averaged_model_ : torch.nn.Module or None
        The copy of the model that holds the averaged weights.

    Examples
    --------
    >>> import tempfile, torch
    >>> from transformers import Trainer, TrainingArguments
    >>> class Tiny(torch.nn.Module):
    ...     def __init__(self):
    ...         super().__init__()
    ...         self.layer = torch.nn.Linear(3, 1)
    ...     def forward(self, x):
    ...         return dict(loss=self.layer(x).pow(2).mean())
    >>> averaging = WeightAveragingCallback(decay=0.9)
    >>> args = TrainingArguments(output_dir=tempfile.mkdtemp(), max_steps=6, per_device_train_batch_size=2,
    ...                          report_to=[], use_cpu=True, save_strategy="no")
    >>> model = Tiny()
    >>> trainer = Trainer(model=model, args=args, train_dataset=[dict(x=torch.randn(3)) for _ in range(8)],
    ...                   callbacks=[averaging])
    >>> _ = trainer.train()                              # prints the trainer's final metrics
    {{'train_runtime': ...}}
    >>> averaging.averager_.n_updates                     # one update per optimizer step
    6
    >>> bool(torch.equal(model.layer.weight, averaging.averaged_model_.layer.weight))   # keep=True
    True
    """

    def on_train_begin(self, args, state, control, model=None, **kwargs):
        _check_not_sharded(args, "weight averaging")
        self._begin_run(model)

    def on_step_end(self, args, state, control, **kwargs):
        self._optimizer_steps()
        if control.should_evaluate:          # set by the Trainer's flow callback, which acts first
            self._begin_evaluation()

    def on_epoch_end(self, args, state, control, **kwargs):
        if control.should_evaluate:
            self._begin_evaluation()

    def on_evaluate(self, args, state, control, **kwargs):
        self._end_evaluation()

    def on_train_end(self, args, state, control, **kwargs):
        self._end_run()


class FarcastCallback(FarcastCallbackBase, transformers.TrainerCallback):
    __doc__ = f"""Farcast-and-continue in a ``Trainer``: jump the weights to a forecast, periodically.

    A new :class:`weightcast.training.FarcastAndContinue` is built in ``on_train_begin`` for the model and
    the trainer's optimizer, and called in ``on_step_end`` (after every optimizer step, so before that
    step's logging, evaluation and checkpoint). Each jump is appended to ``state.log_history`` as
    ``farcast_jump_distance`` (L2 norm of the change of the weights) and ``farcast_jumps`` (jumps so far)
    with the ``step``, and logged at INFO level to the ``weightcast`` logger.

    Parameters
    ----------
    {FARCAST_PARAMETERS}

    Attributes
    ----------
    farcast_ : FarcastAndContinue
        The jump loop of the current (or last) ``train``.
    jumps_ : list of dict
        One per jump of the current (or last) ``train``: ``step`` (the trainer's ``global_step``) and
        ``distance``.

    Examples
    --------
    >>> import numpy as np, tempfile, torch
    >>> from transformers import Trainer, TrainingArguments
    >>> from weightcast import LFD2Forecaster
    >>> class Tiny(torch.nn.Module):
    ...     def __init__(self):
    ...         super().__init__()
    ...         self.layer = torch.nn.Linear(3, 1)
    ...     def forward(self, x):
    ...         return dict(loss=self.layer(x).pow(2).mean())
    >>> runs = np.cumsum(np.ones((4, 8, 4)), axis=1)    # other runs of this 4-parameter model
    >>> forecaster = LFD2Forecaster(solver="lstsq").fit(runs[:, :2], runs[:, 2:])
    >>> farcast = FarcastCallback(forecaster, n_input=2, horizon=4, period=5)
    >>> args = TrainingArguments(output_dir=tempfile.mkdtemp(), max_steps=6, per_device_train_batch_size=2,
    ...                          report_to=[], use_cpu=True, save_strategy="no")
    >>> trainer = Trainer(model=Tiny(), args=args, train_dataset=[dict(x=torch.randn(3)) for _ in range(8)],
    ...                   callbacks=[farcast])
    >>> _ = trainer.train()                              # prints the trainer's final metrics
    {{'train_runtime': ...}}
    >>> [jump["step"] for jump in farcast.jumps_]       # as soon as 2 snapshots exist, then every 5 steps
    [2]
    """

    def on_train_begin(self, args, state, control, model=None, optimizer=None, **kwargs):
        _check_not_sharded(args, "farcast-and-continue")
        self._begin_run(model, optimizer)

    def on_step_end(self, args, state, control, **kwargs):
        made = self._optimizer_steps(1, state.global_step)
        for number, jump in enumerate(made, start=len(self.jumps_) - len(made) + 1):
            state.log_history.append({"farcast_jump_distance": jump["distance"], "farcast_jumps": number,
                                      "step": jump["step"]})
            _log.info("farcast-and-continue: jump %d at step %d moved the weights by %.4g", number, jump["step"],
                      jump["distance"])
