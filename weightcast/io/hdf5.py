"""HDF5 weight-sequence files: the layout, a buffered whole-chunk writer, and lazy picklable views.

Layout (format ``weightcast-sequences``, version 1; docs/formats.md has the full description):

* root attributes ``weightcast_format`` and ``weightcast_format_version``;
* a float32 or float64 dataset (default name ``weights``) of shape (n_sequences, n_steps, n_params),
  chunked ``(1, chunk_steps, chunk_params)``, growable along the steps;
* optionally ``<name>_steps``: int64 (n_steps,), the training step at which each step was recorded;
* optionally, attributes of the dataset that map the flat parameter axis back to a model's tensors:
  ``param_names`` (strings), ``param_shapes`` (JSON list of shapes), ``param_offsets`` (int64, len + 1).

Views (:class:`SequenceView`) hold a path, a dataset name and index arrays, never an open handle across
a pickle, so joblib workers and DataLoader workers each open the file themselves.
"""

import json
import numbers
import os

import h5py
import numpy as np

from .atomic import atomic_output

__all__ = ["FORMAT_NAME", "FORMAT_VERSION", "DEFAULT_DATASET", "SequenceWriter", "SequenceView",
           "open_sequences", "read_metadata", "write_sequences"]

FORMAT_NAME = "weightcast-sequences"
FORMAT_VERSION = 1
DEFAULT_DATASET = "weights"
STEPS_SUFFIX = "_steps"
CHUNK_BYTES = 4 * 2 ** 20  # 1-4 MiB chunks read and write at disk speed (ECOSYSTEM.md 4.1)
_FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def default_chunks(n_params, chunk_steps, dtype):
    """``(1, chunk_steps, chunk_params)`` with chunk_params the largest power of two giving <= 4 MiB."""
    per_step = max(1, CHUNK_BYTES // (chunk_steps * np.dtype(dtype).itemsize))
    chunk_params = 1 << (per_step.bit_length() - 1)
    return (1, chunk_steps, max(1, min(chunk_params, n_params)))


# ---------------------------------------------------------------------------------------------- reading
def _open_file(path):
    """Open ``path`` read-only, with errors that name the file."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"no weight-sequence file at {path!r}")
    if not h5py.is_hdf5(path):
        raise ValueError(f"{path!r} is not an HDF5 file")
    try:
        return h5py.File(path, "r")
    except OSError as exc:
        first_error = exc
    # A crash-safe (SWMR) recording whose writer died or still runs opens only in SWMR mode (which
    # skips some checks, so it is tried only for that reason).
    signs = ("h5clear", "already open", "unable to lock", "file locking")
    if any(sign in str(first_error) for sign in signs):
        try:
            return h5py.File(path, "r", libver="latest", swmr=True)
        except OSError:
            pass
    raise ValueError(f"cannot open {path!r} as HDF5 (truncated or corrupted file?): {first_error}") from None


def _dataset(f, path, name):
    """The weight-sequence dataset ``name`` of the open file ``f``, checked."""
    try:
        return _checked_dataset(f, path, name)
    except (KeyError, OSError, RuntimeError) as exc:  # HDF5's own errors: damaged metadata
        raise ValueError(f"cannot read dataset {name!r} of {path!r} (corrupted file?): {exc}") from None


def _checked_dataset(f, path, name):
    version = f.attrs.get("weightcast_format_version")
    if version is not None and int(version) > FORMAT_VERSION:
        raise ValueError(f"{path!r} uses weight-sequence format version {int(version)}, newer than this "
                         f"weightcast reads ({FORMAT_VERSION}); upgrade weightcast")
    try:
        ds = f[name]
    except (KeyError, OSError, RuntimeError, ValueError) as exc:
        names = []
        f.visititems(lambda key, obj: names.append(key) if isinstance(obj, h5py.Dataset) else None)
        raise ValueError(f"{path!r} has no readable dataset {name!r} (datasets: {names}): {exc}") from None
    if not isinstance(ds, h5py.Dataset):
        raise ValueError(f"{name!r} in {path!r} is a group, not a dataset")
    if ds.ndim != 3:
        raise ValueError(f"dataset {name!r} in {path!r} has shape {ds.shape}; weight sequences must have "
                         "shape (n_sequences, n_steps, n_params)")
    if ds.dtype not in _FLOAT_DTYPES:
        raise TypeError(f"dataset {name!r} in {path!r} has dtype {ds.dtype}; weight sequences must be "
                        "float32 or float64")
    return ds


def read_metadata(path, dataset=DEFAULT_DATASET):
    """The layout of one weight-sequence dataset, as a dict.

    Keys: ``format``, ``format_version`` (None for plain HDF5 files), ``shape``, ``dtype``, ``chunks``,
    ``steps`` (int64 array or None), ``param_names``, ``param_shapes``, ``param_offsets`` (None when absent).
    """
    with _open_file(path) as f:
        ds = _dataset(f, path, dataset)
        try:
            return _layout(f, ds, dataset)
        except (KeyError, OSError, RuntimeError, ValueError) as exc:
            raise ValueError(f"cannot read the layout of {dataset!r} in {path!r} (corrupted file?): "
                             f"{exc}") from None


def _layout(f, ds, dataset):
    """The layout dict of ``read_metadata``."""
    steps_name = dataset + STEPS_SUFFIX
    steps = None
    if steps_name in f:
        steps = np.asarray(f[steps_name][:ds.shape[1]], dtype=np.int64)
    attrs = ds.attrs
    names = attrs.get("param_names")
    return {
        "format": _as_str(f.attrs.get("weightcast_format")),
        "format_version": None if "weightcast_format_version" not in f.attrs
        else int(f.attrs["weightcast_format_version"]),
        "shape": tuple(ds.shape),
        "dtype": ds.dtype,
        "chunks": ds.chunks,
        "steps": steps,
        "param_names": None if names is None else [_as_str(name) for name in names],
        "param_shapes": None if "param_shapes" not in attrs
        else [tuple(shape) for shape in json.loads(_as_str(attrs["param_shapes"]))],
        "param_offsets": None if "param_offsets" not in attrs else np.asarray(attrs["param_offsets"]),
    }


def _as_str(value):
    return value.decode() if isinstance(value, bytes) else (None if value is None else str(value))


def _index(key, n, axis_name):
    """Normalise a slice / integer array / boolean mask into an int64 index array over ``range(n)``."""
    base = np.arange(n, dtype=np.int64)
    if isinstance(key, slice):
        return base[key]
    key = np.asarray(key)
    if key.dtype == bool:
        if key.shape != (n,):
            raise IndexError(f"boolean index of shape {key.shape} does not match {n} {axis_name}")
        return base[key]
    if key.ndim != 1 or not (np.issubdtype(key.dtype, np.integer) or key.size == 0):
        raise IndexError(f"{axis_name} must be indexed by a slice, a 1-D integer array or a boolean mask, "
                         f"got {key!r}")
    return base[key.astype(np.int64)]  # bounds-checked by numpy (IndexError)


def _runs(index):
    """Split a strictly increasing index array into (start, stop, position) runs of consecutive values."""
    breaks = np.flatnonzero(np.diff(index) != 1) + 1
    starts = np.concatenate([[0], breaks])
    stops = np.concatenate([breaks, [len(index)]])
    return [(int(index[a]), int(index[b - 1]) + 1, int(a)) for a, b in zip(starts, stops)]


class SequenceView:
    """A lazy, picklable view of a weight-sequence dataset in an HDF5 file.

    Behaves like a read-only array of shape (n_sequences, n_steps, n_params) wherever weightcast takes
    one (``fit``, ``predict``, ``split_sequences``, scorers, ``GridSearchCV`` with any splitter and
    ``n_jobs``): indexing sequences (axis 0) or steps (axis 1) with slices, integer arrays or boolean
    masks gives another view and reads nothing; ``np.asarray(view)`` or an integer / parameter index
    reads the data. Forecasters read views in chunk-aligned parameter slabs with :meth:`read_block`.
    The file is opened lazily, once per process, and never pickled.

    Parameters
    ----------
    path : str or path-like
    dataset : str, default="weights"
    sequences, steps : slice, integer array, boolean mask or None
        The sequences and steps of the file the view covers (None: all).

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np
    >>> from weightcast.io import write_sequences
    >>> path = os.path.join(tempfile.mkdtemp(), "runs.h5")
    >>> view = write_sequences(path, np.arange(24.0).reshape(2, 4, 3))
    >>> view[:, 1:3].shape
    (2, 2, 3)
    >>> np.asarray(view[[1, 0], 2:])[0, 0]
    array([18., 19., 20.])
    """

    ndim = 3

    def __init__(self, path, dataset=DEFAULT_DATASET, sequences=None, steps=None):
        self.path = os.path.abspath(os.fspath(path))
        self.dataset = dataset
        with _open_file(self.path) as f:
            ds = _dataset(f, self.path, dataset)
            self._file_shape, self.dtype, self.chunks = tuple(ds.shape), ds.dtype, ds.chunks
        self._seqs = _index(slice(None) if sequences is None else sequences, self._file_shape[0], "sequences")
        self._steps = _index(slice(None) if steps is None else steps, self._file_shape[1], "steps")
        self._handle = None

    # -------------------------------------------------------------- array protocol
    @property
    def shape(self):
        return (len(self._seqs), len(self._steps), self._file_shape[2])

    @property
    def size(self):
        return int(np.prod(self.shape))

    @property
    def param_chunk(self):
        """Chunk length along the parameters (slabs aligned to it read whole chunks), or None."""
        return None if self.chunks is None else self.chunks[2]

    @property
    def source(self):
        """Where the data lives, for messages: the file and the dataset."""
        return f"{self.path!r} (dataset {self.dataset!r})"

    def __len__(self):
        return len(self._seqs)

    def __repr__(self):
        return f"SequenceView({self.path!r}, {self.dataset!r}, shape={self.shape}, dtype={self.dtype})"

    def __array__(self, dtype=None, copy=None):
        if copy is False:
            raise ValueError("a SequenceView cannot be turned into an array without reading (copying) it")
        return self.read_block(dtype=dtype)

    def __getitem__(self, key):
        key = key if isinstance(key, tuple) else (key,)
        if any(k is Ellipsis for k in key):
            at = next(i for i, k in enumerate(key) if k is Ellipsis)
            key = key[:at] + (slice(None),) * (4 - len(key)) + key[at + 1:]
        if len(key) > 3:
            raise IndexError(f"too many indices for a 3-D SequenceView: {key!r}")
        key = key + (slice(None),) * (3 - len(key))
        scalar = [isinstance(k, (numbers.Integral, np.integer)) and not isinstance(k, bool) for k in key[:2]]
        k0, k1 = ([key[0]] if scalar[0] else key[0]), ([key[1]] if scalar[1] else key[1])
        view = self._derive(self._seqs[_index(k0, len(self._seqs), "sequences")],
                            self._steps[_index(k1, len(self._steps), "steps")])
        if not (any(scalar) or key[2] != slice(None)):
            return view
        data = view.read_block()
        return data[(0 if scalar[0] else slice(None), 0 if scalar[1] else slice(None), key[2])]

    def _derive(self, seqs, steps):
        view = object.__new__(type(self))
        view.__dict__.update(self.__getstate__())
        view._seqs, view._steps = np.asarray(seqs, dtype=np.int64), np.asarray(steps, dtype=np.int64)
        return view

    # -------------------------------------------------------------- pickling: no handle travels
    def __getstate__(self):
        state = dict(self.__dict__)
        state["_handle"] = None
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._handle = None

    def _ds(self):
        pid = os.getpid()
        if self._handle is None or self._handle[0] != pid:  # a forked child opens its own handle
            f = _open_file(self.path)
            self._handle = (pid, f, _dataset(f, self.path, self.dataset))
        return self._handle[2]

    def close(self):
        """Close this process's handle (it reopens on the next read)."""
        if self._handle is not None and self._handle[0] == os.getpid():
            self._handle[1].close()
        self._handle = None

    # -------------------------------------------------------------- reading
    def position(self, seq, step):
        """The file's (sequence, step) indices of this view's sequence ``seq`` and step ``step`` (for messages)."""
        return int(self._seqs[seq]), int(self._steps[step])

    def file_index(self):
        """The file's sequence and step indices this view covers (so that readers can join two views of one
        dataset into one read)."""
        return self._seqs.copy(), self._steps.copy()

    def read_block(self, seqs=None, steps=None, params=slice(None), dtype=None, out=None):
        """Read ``self[seqs][:, steps, params]`` into a new (or the given) array.

        Parameters
        ----------
        seqs, steps : index arrays or slices into this view, or None for all
        params : slice with step 1
        dtype : numpy dtype of the result (the file's by default; HDF5 converts while reading)
        out : ndarray of shape (n_seqs, n_steps, n_params_slab), optional, filled in place

        Returns
        -------
        block : ndarray of shape (n_seqs, n_steps, n_params_slab)
        """
        gs = self._seqs if seqs is None else self._seqs[seqs]
        gt = self._steps if steps is None else self._steps[steps]
        gs, gt = np.atleast_1d(gs), np.atleast_1d(gt)
        p0, p1, stride = params.indices(self._file_shape[2])
        if stride != 1:
            raise ValueError(f"parameter slabs must be contiguous (step 1), got {params!r}")
        shape = (len(gs), len(gt), max(0, p1 - p0))
        if out is None:
            out = np.empty(shape, dtype=self.dtype if dtype is None else dtype)
        elif out.shape != shape:
            raise ValueError(f"out has shape {out.shape}, expected {shape}")
        if out.size == 0:
            return out
        increasing = bool(np.all(np.diff(gt) > 0))
        wanted = gt if increasing else np.unique(gt)
        runs = _runs(wanted)
        target = out if increasing else np.empty((len(gs), len(wanted), shape[2]), dtype=out.dtype)
        try:
            ds = self._ds()
            for i, seq in enumerate(gs):  # chunks are (1, T_c, P_c): per-sequence reads are chunk reads
                for start, stop, at in runs:
                    ds.read_direct(target, np.s_[int(seq), start:stop, p0:p1],
                                   np.s_[i, at:at + stop - start, :])
        except (OSError, RuntimeError) as exc:
            raise ValueError(f"reading {self.source} failed (truncated or corrupted file?): {exc}") from exc
        if not increasing:
            np.take(target, np.searchsorted(wanted, gt), axis=1, out=out)
        return out


def open_sequences(path, dataset=DEFAULT_DATASET):
    """Open a weight-sequence dataset lazily: a :class:`SequenceView` over all of it.

    Any HDF5 file with a 3-D float dataset works; files written by weightcast also carry the format
    attributes, step numbers and parameter names (see :func:`read_metadata`).
    """
    return SequenceView(path, dataset)


# ---------------------------------------------------------------------------------------------- writing
class SequenceWriter:
    """Write a weight-sequence dataset in whole chunks.

    Two ways to fill it, not to be mixed in one writer:

    * :meth:`append`: one step of every parameter (or a block of steps) at a time, as a training
      recorder does. Steps are buffered in memory (``n_sequences * chunk_steps * n_params`` values) and
      written as whole chunk rows, so no chunk is ever read back or rewritten.
    * :meth:`write_slab`: every step of a slab of parameters (``n_steps`` must be given), as a
      forecaster streaming its prediction does.

    Two modes of safety:

    * default (``crash_safe=False``): the file is written under a temporary name in the same
      directory and atomically renamed to ``path`` by :meth:`close` (after an fsync; see
      :func:`weightcast.io.atomic_output`), so ``path`` either
      holds a complete file or is untouched. An exception inside a ``with`` block removes the
      temporary file. Use it for finished outputs (forecasts, converted files).
    * ``crash_safe=True``: a live recording. ``path`` is written in place in HDF5's single-writer /
      multiple-reader (SWMR) mode and flushed after every chunk row, so if the writer is killed, readers
      (:func:`open_sequences`, or h5py with ``swmr=True``) still open the file and see every flushed
      step; readers may also follow the file while it is written. To append to such a file again
      after a crash, clear its flags first with ``h5clear -s`` (HDF5 tools).

    Parameters
    ----------
    path : str or path-like
    n_sequences, n_params : int
    n_steps : int or None, default=None
        Fixed number of steps (required by :meth:`write_slab`); None lets :meth:`append` grow the dataset.
    dataset : str, default="weights"
    dtype : {"float32", "float64"}, default="float32"
    chunk_steps : int, default=16
        Steps per chunk, i.e. steps buffered between writes by :meth:`append`.
    chunk_params : int or None
        Parameters per chunk; None picks a power of two giving chunks of at most 4 MiB.
    steps : array of int or None
        Step numbers of the ``n_steps`` steps (with ``write_slab``). ``append`` records its own.
    param_names, param_shapes : sequences or None
        Names and shapes of the model's tensors, in the order they are flattened into the parameter axis.
    crash_safe : bool, default=False
    overwrite : bool, default=False
        Replace an existing file at ``path``.

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np
    >>> from weightcast.io import SequenceWriter, open_sequences
    >>> path = os.path.join(tempfile.mkdtemp(), "run.h5")
    >>> with SequenceWriter(path, n_sequences=1, n_params=3, chunk_steps=2) as writer:
    ...     for step in range(5):
    ...         writer.append(np.full((1, 3), float(step)), step=10 * step)
    >>> open_sequences(path).shape
    (1, 5, 3)
    """

    def __init__(self, path, n_sequences, n_params, *, n_steps=None, dataset=DEFAULT_DATASET, dtype="float32",
                 chunk_steps=16, chunk_params=None, steps=None, param_names=None, param_shapes=None,
                 crash_safe=False, overwrite=False):
        for name, value, minimum in (("n_sequences", n_sequences, 1), ("n_params", n_params, 1),
                                     ("chunk_steps", chunk_steps, 1), ("n_steps", n_steps, 0),
                                     ("chunk_params", chunk_params, 1)):
            if value is None and name in ("n_steps", "chunk_params"):
                continue
            if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
                raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
        self.dtype = np.dtype(dtype)
        if self.dtype not in _FLOAT_DTYPES:
            raise TypeError(f"dtype must be float32 or float64, got {self.dtype}")
        self.path = os.path.abspath(os.fspath(path))
        if os.path.exists(self.path) and not overwrite:
            raise FileExistsError(f"{self.path!r} exists; pass overwrite=True to replace it")
        self.n_sequences, self.n_params, self.n_steps = int(n_sequences), int(n_params), n_steps
        self.dataset, self.crash_safe = dataset, bool(crash_safe)
        chunk_steps = int(chunk_steps) if n_steps is None else max(1, min(int(chunk_steps), int(n_steps)))
        chunks = default_chunks(self.n_params, chunk_steps, self.dtype)
        if chunk_params is not None:
            chunks = (1, chunk_steps, min(int(chunk_params), self.n_params))
        self.chunks = chunks
        attrs = _param_attrs(param_names, param_shapes, self.n_params)

        if self.crash_safe:
            self._tmp = None
            if overwrite and os.path.exists(self.path):
                os.remove(self.path)
            self._file = h5py.File(self.path, "x", libver="latest")
        else:
            self._atomic = atomic_output(self.path)  # a temporary name beside path, renamed on close
            self._tmp = self._atomic.__enter__()
            self._file = h5py.File(self._tmp, "w", libver="latest")
        try:
            self._file.attrs["weightcast_format"] = FORMAT_NAME
            self._file.attrs["weightcast_format_version"] = FORMAT_VERSION
            initial = 0 if n_steps is None else int(n_steps)
            self._ds = self._file.create_dataset(dataset, shape=(self.n_sequences, initial, self.n_params),
                                                 maxshape=(self.n_sequences, None, self.n_params),
                                                 chunks=chunks, dtype=self.dtype)
            for key, value in attrs.items():
                self._ds.attrs[key] = value
            self._steps_ds = None
            if n_steps is None or steps is not None:
                steps = np.zeros(0, np.int64) if steps is None else np.asarray(steps, dtype=np.int64)
                if n_steps is not None and steps.shape != (n_steps,):
                    raise ValueError(f"steps must hold n_steps={n_steps} step numbers, got shape {steps.shape}")
                self._steps_ds = self._file.create_dataset(dataset + STEPS_SUFFIX, data=steps,
                                                           maxshape=(None,), chunks=(max(1, chunk_steps),))
            if self.crash_safe:
                self._file.swmr_mode = True
        except BaseException:
            self.abort()
            raise
        self._buffer = None
        self._n_buffered = 0
        self._buffered_steps = []
        self._n_written = 0
        self._params_written = 0
        self._closed = False

    @property
    def n_steps_written(self):
        """Steps appended so far (flushed or buffered)."""
        return self._n_written + self._n_buffered

    def append(self, values, step=None):
        """Append one step ``values`` of shape (n_sequences, n_params), or a block (n_sequences, k, n_params).

        ``step`` is the training step number (an int, or k ints for a block); by default the count of
        steps appended so far.
        """
        self._check_open()
        if self._params_written:
            raise ValueError("append() cannot be mixed with write_slab() in one writer")
        values = np.asarray(values)
        if values.ndim == 2:
            values = values[:, None]
        if values.ndim != 3 or values.shape[0] != self.n_sequences or values.shape[2] != self.n_params:
            raise ValueError(f"append expects shape ({self.n_sequences}, {self.n_params}) or "
                             f"({self.n_sequences}, k, {self.n_params}) for {self.path!r}, got {values.shape}")
        k = values.shape[1]
        first = self.n_steps_written
        if self.n_steps is not None and first + k > self.n_steps:
            raise ValueError(f"{self.path!r} was created for {self.n_steps} steps; appending {k} more after "
                             f"{first} exceeds it")
        steps = np.arange(first, first + k) if step is None else np.atleast_1d(np.asarray(step, dtype=np.int64))
        if steps.shape != (k,):
            raise ValueError(f"step must give {k} step number(s), got {step!r}")
        if self._buffer is None:
            self._buffer = np.empty((self.n_sequences, self.chunks[1], self.n_params), dtype=self.dtype)
        done = 0
        while done < k:
            take = min(k - done, self.chunks[1] - self._n_buffered)
            self._buffer[:, self._n_buffered:self._n_buffered + take] = values[:, done:done + take]
            self._buffered_steps.extend(steps[done:done + take].tolist())
            self._n_buffered += take
            done += take
            if self._n_buffered == self.chunks[1]:
                self.flush()

    def flush(self):
        """Write the buffered steps (a whole chunk row unless closing) and flush the file."""
        self._check_open()
        k = self._n_buffered
        if k:
            t0 = self._n_written
            if self.n_steps is None:
                self._ds.resize(t0 + k, axis=1)
            self._ds[:, t0:t0 + k, :] = self._buffer[:, :k]
            if self._steps_ds is not None:
                self._steps_ds.resize((t0 + k,))
                self._steps_ds[t0:t0 + k] = self._buffered_steps
            self._n_written += k
            self._n_buffered = 0
            self._buffered_steps = []
        self._file.flush()

    def write_slab(self, params, values):
        """Write every step of the parameters ``params`` (a slice): ``values`` (n_sequences, n_steps, slab)."""
        self._check_open()
        if self.n_steps is None:
            raise ValueError("write_slab() needs a writer created with n_steps")
        if self.n_steps_written:
            raise ValueError("write_slab() cannot be mixed with append() in one writer")
        p0, p1, stride = params.indices(self.n_params)
        values = np.asarray(values)
        expected = (self.n_sequences, self.n_steps, p1 - p0)
        if stride != 1 or values.shape != expected:
            raise ValueError(f"write_slab for {self.path!r} expects a contiguous slice and values of shape "
                             f"{expected}, got {params!r} and {values.shape}")
        self._ds.write_direct(np.ascontiguousarray(values, dtype=self.dtype), None, np.s_[:, :, p0:p1])
        self._params_written += p1 - p0
        if self.crash_safe:
            self._file.flush()

    def close(self):
        """Write what is buffered, check a fixed-size file is complete, and publish it."""
        if self._closed:
            return
        try:
            self.flush()
            complete = (self.n_steps is None or self._n_written == self.n_steps
                        or self._params_written >= self.n_params)
            if not complete and not self.crash_safe:
                raise ValueError(f"{self.path!r} is incomplete: {self._n_written} of {self.n_steps} steps and "
                                 f"{self._params_written} of {self.n_params} parameters were written")
            self._file.close()
            self._closed = True
            if self._tmp is not None:
                self._tmp = None
                self._atomic.__exit__(None, None, None)  # fsync, then rename onto path
        except BaseException:
            self.abort()
            raise

    def abort(self):
        """Stop writing; an atomic writer removes its temporary file (``path`` is left untouched)."""
        self._closed = True
        try:
            self._file.close()
        except Exception:  # already closed or never opened: nothing left to release
            pass
        if getattr(self, "_tmp", None) is not None:
            self._tmp = None
            stop = RuntimeError("writer aborted")
            self._atomic.__exit__(type(stop), stop, None)  # removes the temporary file

    def _check_open(self):
        if self._closed:
            raise ValueError(f"the writer of {self.path!r} is closed")

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is not None and not self.crash_safe:
            self.abort()
        else:
            self.close()
        return False


def _param_attrs(names, shapes, n_params):
    if names is None and shapes is None:
        return {}
    if names is None or shapes is None or len(names) != len(shapes):
        raise ValueError("param_names and param_shapes must be given together, one shape per name")
    shapes = [tuple(int(d) for d in np.atleast_1d(shape)) if np.ndim(shape) else () for shape in shapes]
    offsets = np.concatenate([[0], np.cumsum([int(np.prod(shape)) for shape in shapes])]).astype(np.int64)
    if offsets[-1] != n_params:
        raise ValueError(f"param_shapes cover {offsets[-1]} parameters but the file has n_params={n_params}")
    return {"param_names": np.asarray([str(name) for name in names], dtype=h5py.string_dtype()),
            "param_shapes": json.dumps([list(shape) for shape in shapes]),
            "param_offsets": offsets}


def write_sequences(path, S, dataset=DEFAULT_DATASET, *, steps=None, param_names=None, param_shapes=None,
                    chunk_steps=16, chunk_params=None, overwrite=False, slab_size=2 ** 20):
    """Write an array (or a view) of shape (n_sequences, n_steps, n_params) atomically; return a view of it.

    The data is copied a slab of parameters at a time, so ``S`` may itself be a larger-than-memory view.
    """
    if not hasattr(S, "read_block"):
        S = np.asarray(S)
        if S.dtype not in _FLOAT_DTYPES:
            S = S.astype(np.float64 if S.dtype.itemsize > 4 else np.float32)
    if len(S.shape) != 3:
        raise ValueError(f"S must have shape (n_sequences, n_steps, n_params), got {S.shape}")
    n_seq, n_steps, n_params = S.shape
    with SequenceWriter(path, n_seq, n_params, n_steps=n_steps, dataset=dataset, dtype=S.dtype,
                        chunk_steps=chunk_steps, chunk_params=chunk_params, steps=steps,
                        param_names=param_names, param_shapes=param_shapes, overwrite=overwrite) as writer:
        slab = max(writer.chunks[2], slab_size // writer.chunks[2] * writer.chunks[2])
        for p0 in range(0, n_params, slab):
            params = slice(p0, min(p0 + slab, n_params))
            block = S.read_block(params=params) if hasattr(S, "read_block") else S[:, :, params]
            writer.write_slab(params, block)
    return SequenceView(path, dataset)
