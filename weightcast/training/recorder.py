"""Record a torch model's weights during training into an HDF5 file of weight sequences.

File layout (format ``weightcast-trajectories`` version 1):

* ``/weights``: float32 (n_sequences, n_steps, n_params), chunked (1, chunk_steps, chunk_params), NaN
  where nothing was recorded yet; one sequence per training run, time on axis 1.
* ``/steps``: int64 (n_sequences, n_steps), the training step of each recorded snapshot, -1 where
  none was recorded (step 0 is the initialisation w_0).
* attributes ``format``, ``format_version`` (root) and ``param_layout`` (JSON names and shapes),
  ``param_offsets``, ``every`` (on ``/weights``).

Crash safety: the file is written in SWMR mode (single writer, multiple readers). Snapshots are buffered
in memory and written a whole chunk at a time; after each chunk the weights are flushed first and only then
their step numbers, so a run killed even by SIGKILL leaves a file that opens (read it with
:func:`open_recording`, which uses ``swmr=True``) and holds every snapshot whose step number it shows.

The writer below is deliberately small (append / flush / close) so that it can be replaced by
:mod:`weightcast.io`'s writer without changing :class:`WeightRecorder`.
"""

from pathlib import Path

import h5py
import numpy as np

from .params import ParameterLayout, flatten_parameters

__all__ = ["WeightRecorder", "Recording", "open_recording", "FORMAT_NAME", "FORMAT_VERSION"]

FORMAT_NAME = "weightcast-trajectories"
FORMAT_VERSION = 1
_CHUNK_BYTES = 4 * 2**20


class _H5SequenceWriter:
    """Appends snapshots to ``/weights`` sequence by sequence, writing whole chunks of ``chunk_steps``."""

    def __init__(self, path, n_sequences, n_steps, layout, every, chunk_steps=16, overwrite=False):
        path = Path(path)
        if path.exists() and not overwrite:
            raise FileExistsError(f"{path} already exists; pass overwrite=True to replace it")
        n_params = layout.n_params
        self.chunk_steps = max(1, min(chunk_steps, n_steps))
        chunk_params = max(1, min(n_params, _CHUNK_BYTES // (4 * self.chunk_steps)))
        self.path = path
        self.file = h5py.File(path, "w", libver="latest")
        try:
            self._create(n_sequences, n_steps, layout, every, chunk_params)
        except Exception:
            self.file.close()
            path.unlink()  # never leave a half-created file behind
            raise
        self._buffer = np.empty((self.chunk_steps, n_params), dtype=np.float32)
        self._buffer_steps = []
        self._sequence = None
        self._start = 0  # position (along axis 1) of the buffer's first snapshot

    def _create(self, n_sequences, n_steps, layout, every, chunk_params):
        n_params = layout.n_params
        self.file.attrs["format"] = FORMAT_NAME
        self.file.attrs["format_version"] = FORMAT_VERSION
        self.weights = self.file.create_dataset(
            "weights", shape=(n_sequences, n_steps, n_params), dtype="float32",
            chunks=(1, self.chunk_steps, chunk_params), fillvalue=np.nan)
        self.weights.attrs["param_layout"] = layout.to_json()
        self.weights.attrs["param_offsets"] = np.asarray(layout.offsets, dtype=np.int64)
        self.weights.attrs["every"] = every
        self.steps = self.file.create_dataset("steps", shape=(n_sequences, n_steps), dtype="int64",
                                              chunks=(1, n_steps), fillvalue=-1)
        self.file.swmr_mode = True  # every object exists now; from here on only data is written
        self.file.flush()

    def append(self, sequence, position, step, vector):
        if sequence != self._sequence:
            self.flush()
            self._sequence, self._start = sequence, position
        elif position != self._start + len(self._buffer_steps):
            raise ValueError(f"snapshot positions must follow each other: expected "
                             f"{self._start + len(self._buffer_steps)}, got {position}")
        self._buffer[len(self._buffer_steps)] = vector
        self._buffer_steps.append(step)
        if len(self._buffer_steps) == self.chunk_steps or position == self.weights.shape[1] - 1:
            self.flush()

    def flush(self):
        """Write the buffered snapshots, then their step numbers (so a step number implies its data)."""
        n = len(self._buffer_steps)
        if n == 0:
            return
        stop = self._start + n
        self.weights[self._sequence, self._start:stop, :] = self._buffer[:n]
        self.weights.flush()
        self.steps[self._sequence, self._start:stop] = self._buffer_steps
        self.steps.flush()
        self._start, self._buffer_steps = stop, []

    def close(self):
        if self.file:
            try:
                self.flush()
            finally:
                self.file.close()


class WeightRecorder:
    """Write w_0 and then every ``every``-th training step of a torch model into an HDF5 file.

    Parameters
    ----------
    path : str or Path
        The file to create.
    model : torch.nn.Module
        The model whose parameters are recorded (its layout fixes the file's parameter names and shapes).
    n_steps : int
        Snapshots per sequence, w_0 included (101 records w_0 .. w_100 with ``every=1``).
    every : int, default=1
        Record after every ``every``-th call.
    n_sequences : int, default=1
        Training runs the file holds; :meth:`start` begins the next one.
    chunk_steps : int, default=16
        Snapshots buffered in memory and written as one chunk row.
    overwrite : bool, default=False
        Replace an existing file.

    Examples
    --------
    >>> import tempfile, torch
    >>> model = torch.nn.Linear(3, 1)
    >>> opt = torch.optim.SGD(model.parameters(), lr=0.1)
    >>> path = tempfile.mkdtemp() + "/run.h5"
    >>> with WeightRecorder(path, model, n_steps=6, every=2) as record:    # records w_0 on entering
    ...     for step in range(10):
    ...         opt.zero_grad(); model(torch.ones(1, 3)).sum().backward(); opt.step()
    ...         record()
    >>> with open_recording(path) as rec:
    ...     rec.weights.shape, rec.steps[0].tolist()
    ((1, 6, 4), [0, 2, 4, 6, 8, 10])
    """

    def __init__(self, path, model, n_steps, every=1, n_sequences=1, chunk_steps=16, overwrite=False):
        for name, value in (("n_steps", n_steps), ("every", every), ("n_sequences", n_sequences),
                            ("chunk_steps", chunk_steps)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        self.layout = ParameterLayout.from_model(model)
        self.model = model
        self.n_steps, self.every, self.n_sequences = int(n_steps), int(every), int(n_sequences)
        self._writer = _H5SequenceWriter(path, self.n_sequences, self.n_steps, self.layout, self.every,
                                         chunk_steps=chunk_steps, overwrite=overwrite)
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
        self._writer.append(self.sequence, self._position, self.step, flatten_parameters(self.model).numpy())
        self._position += 1

    def flush(self):
        self._writer.flush()

    def close(self):
        self._writer.close()

    def __enter__(self):
        if self.sequence < 0:
            self.start()
        return self

    def __exit__(self, *exc):
        self.close()
        return False


class Recording:
    """A recorded file opened for reading: ``weights`` and ``steps`` are lazy h5py datasets."""

    def __init__(self, path):
        self.path = Path(path)
        if not self.path.exists():
            raise FileNotFoundError(f"no recording at {self.path}")
        try:
            # swmr=True also opens files whose writer was killed (their SWMR flag is still set).
            self.file = h5py.File(self.path, "r", libver="latest", swmr=True)
        except OSError as exc:
            raise ValueError(f"{self.path} is not a readable HDF5 file: {exc}") from None
        if self.file.attrs.get("format") != FORMAT_NAME or "weights" not in self.file or "steps" not in self.file:
            self.file.close()
            raise ValueError(f"{self.path} is not a {FORMAT_NAME} file (no 'format' attribute, or no "
                             "/weights and /steps datasets)")
        self.weights = self.file["weights"]
        self.steps = self.file["steps"]
        self.layout = ParameterLayout.from_json(self.weights.attrs["param_layout"])

    def complete_sequences(self):
        """Indices of the sequences whose every snapshot was recorded."""
        return np.flatnonzero((self.steps[...] >= 0).all(axis=1))

    def n_recorded(self):
        """Snapshots recorded per sequence (a crashed run stops short)."""
        return (self.steps[...] >= 0).sum(axis=1)

    def close(self):
        self.file.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False


def open_recording(path):
    """Open a file written by :class:`WeightRecorder` (also one left by a killed run)."""
    return Recording(path)
