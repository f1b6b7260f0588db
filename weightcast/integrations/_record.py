"""What the Lightning and Hugging Face recorder callbacks share: one recording driven by training events.

The framework modules translate their hooks into four events: a run begins (with its model, the optimizer
steps it plans and whether this process writes), optimizer steps were taken, the run ended, the run failed.
Everything else (the file, ``every``, the number of snapshots, a full file, runs that never ended, closing on
errors and at interpreter exit) lives here, once, on top of :class:`weightcast.training.WeightRecorder`.
"""

import math
import warnings
import weakref

from weightcast.constraints import Integer
from weightcast.training import WeightRecorder

__all__ = ["RecorderCallbackBase", "RECORDER_PARAMETERS"]

RECORDER_PARAMETERS = """path : str or path-like
        The HDF5 file to create (one weight sequence per training run).
    every : int, default=1
        Record the weights after every ``every``-th optimizer step (w_0 is recorded when training starts).
        Optimizer steps, not batches: with gradient accumulation over 4 batches, ``every=1`` records once
        per 4 batches.
    n_steps : int or None, default=None
        Snapshots per run, w_0 included. None: ``1 + total // every``, with ``total`` the optimizer steps
        the trainer plans (its ``max_steps``, or epochs times steps per epoch). A run that stops early
        leaves the rest unrecorded (the file names it among its incomplete sequences); one that goes on
        longer is recorded up to ``n_steps`` snapshots, with a warning.
    n_sequences : int, default=1
        Training runs the file holds: pass the same callback to that many ``fit`` / ``train`` calls (for
        example one per seed). The file is closed after the last one.
    chunk_steps : int, default=16
        Snapshots buffered in memory and written as one chunk.
    overwrite : bool, default=False
        Replace an existing file."""


def _close_quietly(recorder):
    try:
        recorder.close()
    except Exception:  # at interpreter exit there is no one left to tell
        pass


class RecorderCallbackBase:
    """The recording logic of :mod:`weightcast.integrations.lightning` and ``.transformers``."""

    def __init__(self, path, every=1, n_steps=None, n_sequences=1, chunk_steps=16, overwrite=False):
        self.path = path
        self.every = every
        self.n_steps = n_steps
        self.n_sequences = n_sequences
        self.chunk_steps = chunk_steps
        self.overwrite = overwrite
        self.recorder_ = None       # the open WeightRecorder (on the writing process), else None
        self.sequence_ = -1         # the sequence (run) being recorded or last recorded
        self._run_open = False      # a run began and has neither ended nor failed
        self._failed = False        # the file was closed after a run failed
        self._finalizer = None

    # ------------------------------------------------------------------ events from the framework
    def _begin_run(self, model, planned_steps, writer, start_step=0):
        """A training run starts: record its w_0 (only where ``writer``, i.e. on global rank 0)."""
        self._steps, self._recorded, self._full = 0, 1, False
        if not writer:
            return
        if self._run_open:
            # The last run never ended: an exception the framework does not report, or a retry such as
            # Hugging Face's auto_find_batch_size.
            if self.sequence_ == 0:
                self.close()            # our own file, holding only that run: record this run afresh
                self._create(model, planned_steps, overwrite=True)
            else:
                warnings.warn(f"run {self.sequence_} in {self.path} did not end; it stays incomplete and this run "
                              f"is recorded as run {self.sequence_ + 1}", stacklevel=3)
        elif self._failed:
            if self.sequence_ > 0:
                raise RuntimeError(f"the recording {self.path} was closed when run {self.sequence_} failed; pass a "
                                   "new path to record more runs")
            self._create(model, planned_steps, overwrite=True)  # our own file, holding only the failed run
        elif self.recorder_ is None:
            self._create(model, planned_steps, overwrite=self.overwrite)
        if start_step:
            warnings.warn(f"training resumes at optimizer step {start_step}: the recording in {self.path} starts "
                          f"there (its step 0 is step {start_step} of the run)", stacklevel=3)
        self.recorder_.start(model)
        self.sequence_ += 1
        self._run_open = True

    def _optimizer_steps(self, count=1):
        """``count`` optimizer steps were taken since the last call (usually 1)."""
        for _ in range(count):
            self._steps += 1
            if self.recorder_ is None or self._full:
                continue
            due = self._steps % self.every == 0
            if due and self._recorded == self.n_steps_:
                self._full = True
                warnings.warn(f"{self.path} holds {self.n_steps_} snapshots per run and is full at optimizer step "
                              f"{self._steps}; later steps are not recorded (pass a larger n_steps)", stacklevel=3)
                continue
            self.recorder_()
            self._recorded += due

    def _end_run(self):
        """The run finished: write what is buffered; close the file after its last run."""
        if self.recorder_ is None:
            return
        self._run_open = False
        if self.sequence_ + 1 >= self.n_sequences:
            self.close()
        else:
            self.recorder_.flush()

    def _fail_run(self):
        """The run raised or was interrupted: keep every snapshot taken so far and close the file."""
        if self.recorder_ is not None:
            self.close()
            self._run_open, self._failed = False, True

    # ------------------------------------------------------------------ the file
    def _create(self, model, planned_steps, overwrite):
        n_steps = self.n_steps
        if n_steps is None:
            Integer(low=1).check(self.every, "every")
            if planned_steps is None or not math.isfinite(planned_steps) or planned_steps < 0:
                raise ValueError("the trainer cannot tell how many optimizer steps it will take (no max_steps and "
                                 "a dataset without a length?); pass n_steps= to the recorder callback")
            n_steps = 1 + int(planned_steps) // self.every
        self.recorder_ = WeightRecorder(self.path, model, n_steps=n_steps, every=self.every,
                                        n_sequences=self.n_sequences, chunk_steps=self.chunk_steps,
                                        overwrite=overwrite)
        self.n_steps_ = n_steps
        self.sequence_, self._failed = -1, False
        # A script that dies of an exception the framework does not report still writes the buffered steps.
        self._finalizer = weakref.finalize(self, _close_quietly, self.recorder_)

    def close(self):
        """Write the buffered snapshots and close the file (done by itself after the last run).

        Call it after an exception in a framework that does not report exceptions to callbacks (the
        Hugging Face ``Trainer``), to have the last snapshots written before the process exits; the
        snapshots of every full chunk are in the file already.
        """
        if self.recorder_ is not None:
            recorder, self.recorder_ = self.recorder_, None
            self._finalizer.detach()
            recorder.close()
