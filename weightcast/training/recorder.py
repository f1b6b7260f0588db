"""Record a torch model's weights during training into a weight-sequence file.

A recording is an ordinary weight-sequence file (:mod:`weightcast.io`, docs/formats.md): one sequence per
training run, the step numbers, the model's parameter names and shapes, and per sequence how many steps
are on disk. It is written crash-safe (SWMR) run by run through :class:`weightcast.io.SequenceWriter`, a
whole chunk of snapshots at a time, so a run killed even by SIGKILL leaves a file that
:func:`weightcast.io.open_sequences` opens, naming the runs that stop short.
"""

import warnings
from pathlib import Path

import numpy as np

from ..constraints import Integer
from ..io.hdf5 import SequenceWriter, open_sequences
from .params import ParameterLayout, flatten_parameters

__all__ = ["WeightRecorder", "open_recording"]


class WeightRecorder:
    """Write w_0 and then every ``every``-th training step of a torch model into a weight-sequence file.

    Parameters
    ----------
    path : str or Path
        The file to create.
    model : torch.nn.Module
        The model whose parameters are recorded (its layout fixes the file's parameter names and shapes).
    n_steps : int
        Snapshots per sequence, w_0 included (101 records w_0 .. w_100 with ``every=1``).
    every : int, default=1
        Record after every ``every``-th call; the file numbers its steps 0, every, 2 * every, ...
    n_sequences : int, default=1
        Training runs the file holds; :meth:`start` begins the next one.
    chunk_steps : int, default=16
        Snapshots buffered in memory (``chunk_steps * n_params`` float32 values) and written as one chunk.
    checksum : bool, default=False
        Store a fletcher32 checksum with every chunk, so that damaged bytes are refused when read; it
        halves read throughput (docs/formats.md), so it is off by default.
    overwrite : bool, default=False
        Replace an existing file.

    Examples
    --------
    >>> import tempfile, torch
    >>> from weightcast.io import open_sequences, read_metadata
    >>> model = torch.nn.Linear(3, 1)
    >>> opt = torch.optim.SGD(model.parameters(), lr=0.1)
    >>> path = tempfile.mkdtemp() + "/run.h5"
    >>> with WeightRecorder(path, model, n_steps=6, every=2) as record:    # records w_0 on entering
    ...     for step in range(10):
    ...         opt.zero_grad(); model(torch.ones(1, 3)).sum().backward(); opt.step()
    ...         record()
    >>> open_sequences(path).shape
    (1, 6, 4)
    >>> meta = read_metadata(path)
    >>> meta["steps"].tolist(), meta["param_names"], meta["complete"]
    ([0, 2, 4, 6, 8, 10], ['weight', 'bias'], True)
    """

    def __init__(self, path, model, n_steps, every=1, n_sequences=1, chunk_steps=16, checksum=False,
                 overwrite=False):
        for name, value in (("n_steps", n_steps), ("every", every), ("n_sequences", n_sequences),
                            ("chunk_steps", chunk_steps)):
            Integer(low=1).check(value, name)
        self.layout = ParameterLayout.from_model(model)
        self.model = model
        self.n_steps, self.every, self.n_sequences = int(n_steps), int(every), int(n_sequences)
        self._writer = SequenceWriter(path, self.n_sequences, self.layout.n_params, n_steps=self.n_steps,
                                      chunk_steps=chunk_steps, steps=np.arange(self.n_steps) * self.every,
                                      param_names=self.layout.names, param_shapes=self.layout.shapes,
                                      checksum=checksum, crash_safe=True, overwrite=overwrite)
        self.path = Path(path)
        self.sequence = -1
        self.step = 0
        self._position = 0

    def start(self, model=None):
        """Begin the next sequence (training run) and record its initial weights w_0 as step 0."""
        if model is not None:
            self.layout.check_model(model, what=f"the recording {self.path}")
            self.model = model
        if self.sequence + 1 >= self.n_sequences:
            raise ValueError(f"{self.path} was created for {self.n_sequences} sequence(s); all are started")
        self.sequence += 1
        self.step, self._position = 0, 0
        self._record()

    def __call__(self):
        """Count one training step; record the weights if it is an ``every``-th one."""
        if self.sequence < 0:
            raise ValueError("call start() (or enter the recorder's with-block) before recording steps")
        self.step += 1
        if self.step % self.every == 0:
            if self._position >= self.n_steps:
                raise ValueError(f"sequence {self.sequence} of {self.path} is full: n_steps={self.n_steps} "
                                 f"snapshots were recorded (last at step {self.step - self.every})")
            self._record()

    def _record(self):
        self._writer.append(flatten_parameters(self.model).numpy(), step=self.step, sequence=self.sequence)
        self._position += 1

    def flush(self):
        """Write the buffered snapshots now (a partial chunk) and flush the file."""
        self._writer.flush()

    def close(self):
        """Write the buffered snapshots and close the file (runs not recorded to the end stay incomplete)."""
        self._writer.close()

    def __enter__(self):
        if self.sequence < 0:
            self.start()
        return self

    def __exit__(self, *exc):
        self.close()
        return False


def open_recording(path):
    """Deprecated: a recording is an ordinary weight-sequence file; use :func:`weightcast.io.open_sequences`."""
    warnings.warn("open_recording is deprecated: a recording is an ordinary weight-sequence file; use "
                  "weightcast.io.open_sequences(path) (a lazy view; complete_only=True keeps the finished runs) "
                  "and weightcast.io.read_metadata(path) (steps, parameter names, completeness)",
                  DeprecationWarning, stacklevel=2)
    return open_sequences(path)
