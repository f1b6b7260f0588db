"""HDF5 weight-sequence files: the one layout, a whole-chunk writer, and lazy picklable views.

Layout (format ``weightcast-sequences``, version 2; docs/formats.md has the full description):

* root attributes ``weightcast_format`` and ``weightcast_format_version``;
* a float32 or float64 dataset (default name ``weights``) of shape (n_sequences, n_steps, n_params),
  chunked ``(1, chunk_steps, chunk_params)``, growable along the steps, optionally fletcher32-checksummed;
* ``<name>_recorded``: int64 (n_sequences,), how many leading steps of each sequence are in the file,
  updated only after those steps were flushed; ``<name>_closed``: int8 scalar, 1 once the writer closed;
* optionally ``<name>_steps``: int64 (n_steps,), the training step at which each step was recorded;
* optionally, attributes of the dataset that map the flat parameter axis back to a model's tensors:
  ``param_names`` (strings), ``param_shapes`` (JSON list of shapes), ``param_offsets`` (int64, len + 1).

Version-1 files (no ``_recorded`` / ``_closed``) and plain HDF5 files are read too. Every reader checks,
on open, that each chunk holding data the file claims was written and lies inside the file, so a
truncated or damaged file is refused instead of read as zeros.

Views (:class:`SequenceView`) hold a path, a dataset name and index arrays, never an open handle across
a pickle, so joblib workers and DataLoader workers each open the file themselves.
"""

import errno
import json
import numbers
import os
import re

import h5py
import numpy as np

from ..constraints import Integer
from .atomic import atomic_output

__all__ = ["FORMAT_NAME", "FORMAT_VERSION", "DEFAULT_DATASET", "SequenceWriter", "SequenceView",
           "open_sequences", "read_metadata", "write_sequences", "forecast_layout"]

FORMAT_NAME = "weightcast-sequences"
FORMAT_VERSION = 2  # 2 added the required <name>_recorded and <name>_closed datasets
LEGACY_RECORDING_FORMAT = "weightcast-trajectories"  # the old recorder's own layout (see io/legacy.py)
DEFAULT_DATASET = "weights"
STEPS_SUFFIX = "_steps"
RECORDED_SUFFIX = "_recorded"
CLOSED_SUFFIX = "_closed"
CHUNK_BYTES = 4 * 2 ** 20  # 1-4 MiB chunks read and write at disk speed (ECOSYSTEM.md 4.1)
_FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))
_STEP_NUMBER_CHUNK = 1024  # chunk of the growable step-number dataset
# HDF5 errors raised while reading damaged metadata (JSONDecodeError and UnicodeError: damaged attributes)
_DAMAGE = (KeyError, OSError, RuntimeError, IndexError, UnicodeError, json.JSONDecodeError)


def default_chunks(n_params, chunk_steps, dtype):
    """``(1, chunk_steps, chunk_params)`` with chunk_params the largest power of two giving <= 4 MiB."""
    per_step = max(1, CHUNK_BYTES // (chunk_steps * np.dtype(dtype).itemsize))
    chunk_params = 1 << (per_step.bit_length() - 1)
    return (1, chunk_steps, max(1, min(chunk_params, n_params)))


# ---------------------------------------------------------------------------------------------- opening
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
    # A crash-safe (SWMR) recording whose writer died or still runs opens only in SWMR mode. SWMR skips
    # HDF5's end-of-file check, so it is tried only for that reason, and _inspect checks the chunks itself.
    signs = ("h5clear", "already open", "unable to lock", "file locking")
    if any(sign in str(first_error) for sign in signs):
        try:
            return h5py.File(path, "r", libver="latest", swmr=True)
        except OSError:
            pass
    cut = re.search(r"truncated file: eof = (\d+).*stored_eof = (\d+)", str(first_error))
    if cut:
        raise ValueError(f"{path!r} is truncated: it holds {int(cut[1]):,} of the {int(cut[2]):,} bytes it was "
                         "written with (an interrupted copy or download, or a full disk?); restore it from its "
                         "source") from None
    raise ValueError(f"cannot open {path!r} as HDF5 (truncated or corrupted file?): {first_error}") from None


def _dataset(f, path, name):
    """The weight-sequence dataset ``name`` of the open file ``f``, checked."""
    try:
        return _checked_dataset(f, path, name)
    except _DAMAGE as exc:  # HDF5's own errors: damaged metadata
        raise ValueError(f"cannot read dataset {name!r} of {path!r} (corrupted file?): {exc}") from None


def _checked_dataset(f, path, name):
    if _as_str(f.attrs.get("format")) == LEGACY_RECORDING_FORMAT:
        raise ValueError(f"{path!r} is a recording in the old {LEGACY_RECORDING_FORMAT!r} layout, which weightcast "
                         "no longer reads; convert it once with weightcast.io.convert_recording(old_path, "
                         "new_path) (it keeps the steps, parameter names and completeness)")
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


def _open_checked(path, dataset):
    """Open ``path`` and check ``dataset`` and its completeness: ``(file, dataset, layout)``."""
    f = _open_file(path)
    try:
        ds = _dataset(f, path, dataset)
        try:
            layout = _inspect(f, ds, path, dataset)
        except _DAMAGE as exc:
            raise ValueError(f"cannot read the layout of {dataset!r} in {path!r} (corrupted file?): "
                             f"{exc}") from None
    except BaseException:
        f.close()
        raise
    return f, ds, layout


def _stamp(path):
    """What changes when a file is written, truncated or replaced (a view re-checks its file then)."""
    st = os.stat(path)
    return (st.st_ino, st.st_size, st.st_mtime_ns)


# ---------------------------------------------------------------------------------------------- integrity
def _storage_ends(ds, path, size):
    """End byte of each chunk of ``ds`` on its chunk grid (-1: never written), and the chunk shape.

    A contiguous dataset is one chunk; compact, virtual and external storage count as written and inside
    the file (HDF5 checks those itself when it reads them).
    """
    layout = ds.id.get_create_plist().get_layout()
    if layout == h5py.h5d.CHUNKED:
        chunks = ds.chunks
        grid = tuple(-(-n // c) for n, c in zip(ds.shape, chunks))
        ends = np.full(grid, -1, dtype=np.int64)
        found = []

        def visit(info):
            found.append((info.chunk_offset, info.byte_offset + info.size))

        ds.id.chunk_iter(visit)
        growable = [axis for axis, n in enumerate(ds.maxshape) if n is None]
        if len(growable) == 1 and growable[0] > 0:
            # One growable axis that is not the first: HDF5 indexes the chunks with an "extensible array",
            # whose chunk queries (H5Dchunk_iter, H5Dget_chunk_info) report wrong coordinates in HDF5 2.0.
            # Only whole files can be checked then: every chunk written, and inside the file.
            stored = np.array([end for _, end in found], dtype=np.int64)
            if len(stored) < ends.size or np.any(stored > size):
                raise ValueError(f"{path!r} is incomplete, truncated or damaged: {int(np.sum(stored <= size))} of "
                                 f"the {ends.size} chunks of {ds.name.lstrip('/')!r} are in the file, and its chunk "
                                 "index (one growable axis that is not the first) cannot tell which steps the "
                                 "others hold, so no part of it is read")
            ends[...] = 0
            return ends, chunks
        for offset, end in found:
            index = tuple(o // c for o, c in zip(offset, chunks))
            if all(i < g for i, g in zip(index, grid)):  # chunks left beyond a shrunk extent do not count
                ends[index] = end
        return ends, chunks
    chunks = tuple(max(1, n) for n in ds.shape)
    ends = np.zeros((1,) * ds.ndim, dtype=np.int64)
    if layout == h5py.h5d.CONTIGUOUS:
        offset = ds.id.get_offset()
        if offset is not None:
            ends[...] = offset + ds.id.get_storage_size()
        elif ds.id.get_storage_size() == 0 and ds.size:
            ends[...] = -1  # never written
    return ends, chunks


def _held_steps(ends, shape, chunks):
    """Leading steps of each sequence whose every chunk was written (for files that do not say)."""
    rows = (ends >= 0).all(axis=2)  # (sequence chunks, step chunks): the whole row of parameters written
    if rows.shape[1] == 0:
        lead = np.zeros(rows.shape[0], dtype=np.int64)
    else:
        lead = np.where(rows.all(axis=1), rows.shape[1], rows.argmin(axis=1))
    held = np.minimum(lead * chunks[1], shape[1])
    return np.repeat(held, chunks[0])[:shape[0]].astype(np.int64)


def _check_claimed(ends, chunks, shape, recorded, size, path, name):
    """Refuse a file in which a chunk of claimed data was never written or lies beyond its end."""
    n_seq_chunks, n_step_chunks, _ = ends.shape
    claimed_steps = np.zeros(n_seq_chunks, dtype=np.int64)
    np.maximum.at(claimed_steps, np.arange(len(recorded)) // chunks[0], recorded)
    claimed = (np.arange(n_step_chunks)[None, :] < -(-claimed_steps // chunks[1])[:, None])[:, :, None]
    for bad, what in ((claimed & (ends < 0), "was never written"), (claimed & (ends > size), "lies beyond")):
        if not bad.any():
            continue
        a, b, c = (int(i) for i in np.argwhere(bad)[0])
        last_step, last_param = (min((i + 1) * chunks[k], shape[k]) - 1 for i, k in ((b, 1), (c, 2)))
        where = (f"sequence {a * chunks[0]}, steps {b * chunks[1]}-{last_step}, parameters "
                 f"{c * chunks[2]}-{last_param} of {name!r}")
        count = f"{int(bad.sum())} of {int(claimed.sum() * ends.shape[2])} chunks holding recorded data"
        if what == "lies beyond":
            raise ValueError(f"{path!r} is truncated: it is {size:,} bytes long, but the chunk of {where} ends at "
                             f"byte {int(ends[a, b, c]):,} ({count} lie beyond the end of the file; an interrupted "
                             "copy, or a full disk?); restore the file from its source")
        raise ValueError(f"{path!r} is damaged: the chunk of {where} {what}, although the file records those "
                         f"steps as written ({count} are missing)")


def _check_inside(ds, path, size, upto=None):
    """Refuse an auxiliary dataset whose stored bytes (its first ``upto`` values) are missing or cut off."""
    ends, chunks = _storage_ends(ds, path, size)
    ends = ends.reshape(-1) if ds.ndim else ends.reshape(1)
    n = ends.size if upto is None or not ds.ndim else -(-int(upto) // chunks[0])
    if np.any(ends[:n] < 0) or np.any(ends[:n] > size):
        raise ValueError(f"{path!r} is truncated or damaged: the stored values of {ds.name.lstrip('/')!r} are missing "
                         f"or lie beyond the end of the file ({size:,} bytes)")


def _inspect(f, ds, path, name):
    """The layout of ``ds`` (the dict of :func:`read_metadata`), after checking the file really holds the
    data it claims: every chunk of every recorded step written and inside the file."""
    n_seq, n_steps, n_params = ds.shape
    size = os.path.getsize(path)
    version = f.attrs.get("weightcast_format_version")
    version = None if version is None else int(version)
    ends, chunks = _storage_ends(ds, path, size)
    recorded_ds, closed_ds = f.get(name + RECORDED_SUFFIX), f.get(name + CLOSED_SUFFIX)
    if recorded_ds is None or closed_ds is None:
        if version is not None and version >= 2:
            raise ValueError(f"{path!r} is damaged: a version-{version} weight-sequence file must hold "
                             f"{name + RECORDED_SUFFIX!r} and {name + CLOSED_SUFFIX!r}")
        recorded, closed = _held_steps(ends, ds.shape, chunks), None  # older files: what was written
    else:
        _check_inside(recorded_ds, path, size)
        _check_inside(closed_ds, path, size)
        recorded, closed = np.asarray(recorded_ds[()], dtype=np.int64), bool(closed_ds[()])
        if recorded.shape != (n_seq,) or recorded.min(initial=0) < 0 or recorded.max(initial=0) > n_steps:
            raise ValueError(f"{path!r} is damaged: {name + RECORDED_SUFFIX!r} holds {recorded!r}, not a step count "
                             f"in 0..{n_steps} for each of the {n_seq} sequences")
    _check_claimed(ends, chunks, ds.shape, recorded, size, path, name)
    if closed is False and ds.maxshape[1] is None:
        n_steps = int(recorded.max(initial=0))  # a live or killed growing file ends at its last flushed step

    steps = None
    steps_ds = f.get(name + STEPS_SUFFIX)
    if steps_ds is not None:
        known = min(steps_ds.shape[0], n_steps)
        if closed is False and steps_ds.maxshape[0] is None:  # appended step numbers: trust the flushed ones
            known = min(known, int(recorded.max(initial=0)))
        _check_inside(steps_ds, path, size, upto=known)
        steps = np.asarray(steps_ds[:known], dtype=np.int64) if known else None
    attrs = ds.attrs
    names = attrs.get("param_names")
    incomplete = np.flatnonzero(recorded < n_steps)
    return {
        "format": _as_str(f.attrs.get("weightcast_format")),
        "format_version": version,
        "shape": (n_seq, n_steps, n_params),
        "dtype": ds.dtype,
        "chunks": ds.chunks,
        "checksum": bool(ds.fletcher32),
        "steps": steps,
        "param_names": None if names is None else [_as_str(n) for n in names],
        "param_shapes": None if "param_shapes" not in attrs
        else [tuple(shape) for shape in json.loads(_as_str(attrs["param_shapes"]))],
        "param_offsets": None if "param_offsets" not in attrs else np.asarray(attrs["param_offsets"]),
        "recorded": recorded,
        "closed": closed,
        "complete": closed is not False and incomplete.size == 0,
        "incomplete_sequences": [int(i) for i in incomplete],
    }


def _as_str(value):
    return value.decode() if isinstance(value, bytes) else (None if value is None else str(value))


# ---------------------------------------------------------------------------------------------- reading
def read_metadata(path, dataset=DEFAULT_DATASET):
    """The layout and completeness of one weight-sequence dataset, as a dict.

    The file is checked first: a truncated or damaged file raises ``ValueError`` naming it.

    Returns
    -------
    metadata : dict
        ``format``, ``format_version`` (None for plain HDF5 files), ``shape``, ``dtype``, ``chunks``,
        ``checksum`` (whether chunks carry fletcher32 checksums), ``steps`` (int64 training step of each
        step, or None), ``param_names``, ``param_shapes``, ``param_offsets`` (None when absent), and the
        completeness: ``recorded`` (int64, leading steps of each sequence in the file), ``closed`` (the
        writer closed cleanly; False for a killed or still running recording, None when the file does not
        say), ``complete`` (every sequence holds every step and the writer closed) and
        ``incomplete_sequences`` (the sequences that stop short).
    """
    path = os.fspath(path)
    f, _, layout = _open_checked(path, dataset)
    f.close()
    return layout


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


class LazyView:
    """``len``, ``np.asarray`` and numpy-style indexing for a lazy (n_sequences, n_steps, n_params) view.

    Indexing only the first two axes derives a view (``_select(seqs, steps)``, which subclasses define);
    an integer there or any parameter index reads (``read_block``). ``np.asarray(view)`` reads the whole view.
    """

    def __len__(self):
        return self.shape[0]

    def __array__(self, dtype=None, copy=None):
        if copy is False:
            raise ValueError(f"a {type(self).__name__} cannot be turned into an array without reading (copying) it")
        return self.read_block(dtype=dtype)

    def __getitem__(self, key):
        key = key if isinstance(key, tuple) else (key,)
        if any(k is Ellipsis for k in key):
            at = next(i for i, k in enumerate(key) if k is Ellipsis)
            key = key[:at] + (slice(None),) * (4 - len(key)) + key[at + 1:]
        if len(key) > 3:
            raise IndexError(f"too many indices for a 3-D {type(self).__name__}: {key!r}")
        key = key + (slice(None),) * (3 - len(key))
        scalar = [isinstance(k, (numbers.Integral, np.integer)) and not isinstance(k, bool) for k in key[:2]]
        view = self._select(*([k] if one else k for k, one in zip(key[:2], scalar)))
        if not (any(scalar) or key[2] != slice(None)):
            return view
        data = view.read_block()
        return data[(0 if scalar[0] else slice(None), 0 if scalar[1] else slice(None), key[2])]


class SequenceView(LazyView):
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
        f, _, layout = _open_checked(self.path, dataset)
        f.close()
        self._file_shape, self.dtype, self.chunks = layout["shape"], layout["dtype"], layout["chunks"]
        self._recorded, self._closed = layout["recorded"], layout["closed"]
        self._step_numbers = layout["steps"]
        self._params = (layout["param_names"], layout["param_shapes"])
        self._stamp = _stamp(self.path)
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
    def step_numbers(self):
        """The training step of each of this view's steps (int64 array), or None when the file has none."""
        numbers = self._step_numbers
        if numbers is None or (len(self._steps) and self._steps.max() >= len(numbers)):
            return None
        return numbers[self._steps]

    @property
    def param_names(self):
        """Names of the model's tensors along the parameter axis (list of str), or None."""
        return self._params[0]

    @property
    def param_shapes(self):
        """Shapes of the model's tensors along the parameter axis (list of tuples), or None."""
        return self._params[1]

    @property
    def incomplete_sequences(self):
        """Positions (in this view) of the sequences that lack some of its steps: runs whose recording
        stopped early (killed, or still running). Their missing steps cannot be read."""
        return np.flatnonzero(~self._holds_all_steps())

    def complete(self):
        """A view of only the sequences that hold every step of this view (reads nothing).

        Examples
        --------
        >>> import os, tempfile
        >>> import numpy as np
        >>> from weightcast.io import SequenceWriter, open_sequences
        >>> path = os.path.join(tempfile.mkdtemp(), "runs.h5")
        >>> with SequenceWriter(path, 3, 2, n_steps=4, crash_safe=True) as writer:
        ...     for run in range(2):                   # the third run never happened
        ...         writer.append(np.ones((4, 2)), sequence=run)
        >>> view = open_sequences(path)
        >>> view.incomplete_sequences, view.complete().shape, view[:, :0].complete().shape
        (array([2]), (2, 4, 2), (3, 0, 2))
        """
        return self._derive(self._seqs[self._holds_all_steps()], self._steps)

    def _holds_all_steps(self):
        needed = int(self._steps.max()) + 1 if len(self._steps) else 0
        return self._recorded[self._seqs] >= needed

    def _check_extent(self, seqs, steps):
        """Refuse to read steps that a sequence does not hold (``seqs``, ``steps``: file indices)."""
        if not (len(seqs) and len(steps)):
            return
        last = int(steps.max())
        short = np.unique(seqs[self._recorded[seqs] <= last])
        if len(short):
            held = self._recorded[short]
            which = (f"sequence {int(short[0])} of {self.source} holds only {int(held[0])}" if len(short) == 1 else
                     f"sequences {short[:10].tolist()} of {self.source} hold only {held[:10].tolist()}")
            why = {False: "its writer was killed, or is still running", True: "its writer was closed early",
                   None: "the rest was never written"}[self._closed]
            raise ValueError(f"{which} of {self._file_shape[1]} steps ({why}), so step {last} cannot be read; select "
                             "the complete sequences with open_sequences(path, complete_only=True) or view.complete()")

    @property
    def source(self):
        """Where the data lives, for messages: the file and the dataset."""
        return f"{self.path!r} (dataset {self.dataset!r})"

    def __repr__(self):
        return f"SequenceView({self.path!r}, {self.dataset!r}, shape={self.shape}, dtype={self.dtype})"

    def _select(self, seqs, steps):
        return self._derive(self._seqs[_index(seqs, len(self._seqs), "sequences")],
                            self._steps[_index(steps, len(self._steps), "steps")])

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
            stamp = _stamp(self.path) if os.path.exists(self.path) else None
            if stamp == self._stamp:
                f = _open_file(self.path)
                try:
                    ds = _dataset(f, self.path, self.dataset)
                except BaseException:
                    f.close()
                    raise
            else:  # written, cut or replaced since the view was made: check it again
                f, ds, layout = _open_checked(self.path, self.dataset)
                if layout["shape"][::2] != self._file_shape[::2] or np.any(layout["recorded"] < self._recorded):
                    f.close()
                    raise ValueError(f"{self.source} changed since this view was opened: it now holds "
                                     f"{layout['shape']} with {layout['recorded'].tolist()} steps recorded per "
                                     f"sequence, not {self._file_shape} with {self._recorded.tolist()}; open it again")
                self._stamp = stamp
            self._handle = (pid, f, ds)
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
        self._check_extent(gs, gt)
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


def open_sequences(path, dataset=DEFAULT_DATASET, complete_only=False):
    """Open a weight-sequence dataset lazily: a :class:`SequenceView` over all of it.

    Any HDF5 file with a 3-D float dataset works; files written by weightcast also carry the format
    attributes, step numbers, parameter names and completeness (see :func:`read_metadata`). The file is
    checked first: a truncated or damaged one raises ``ValueError`` naming it.

    Parameters
    ----------
    path : str or path-like
    dataset : str, default="weights"
    complete_only : bool, default=False
        Keep only the sequences that hold every step (:meth:`SequenceView.complete`): the finished runs of
        a recording that was killed or is still running. By default all sequences are in the view, and
        reading a step that a sequence lacks raises ``ValueError`` naming the sequence.
    """
    view = SequenceView(path, dataset)
    return view.complete() if complete_only else view


def forecast_layout(X, m):
    """The :class:`SequenceWriter` keyword arguments a forecast of the ``m`` steps after ``X`` should carry.

    For a :class:`SequenceView`: its parameter names and shapes (so each forecast step loads back into the
    model) and, when its step numbers are evenly spaced (at least two, increasing), their continuation
    ``last + gap * (1 .. m)``; otherwise no step numbers. Anything else (arrays, tensors) gives ``{}``.

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np
    >>> from weightcast.io import write_sequences
    >>> path = os.path.join(tempfile.mkdtemp(), "runs.h5")
    >>> view = write_sequences(path, np.zeros((1, 6, 3)), steps=[0, 10, 20, 30, 40, 50],
    ...                        param_names=["w"], param_shapes=[(3,)])
    >>> layout = forecast_layout(view[:, :4], m=2)
    >>> layout["steps"].tolist(), layout["param_names"]
    ([40, 50], ['w'])
    """
    if not isinstance(X, SequenceView):
        return {}
    layout = {}
    if X.param_names is not None and X.param_shapes is not None:
        layout.update(param_names=list(X.param_names), param_shapes=list(X.param_shapes))
    numbers = X.step_numbers
    if numbers is not None and len(numbers) >= 2:
        gaps = np.diff(numbers)
        if gaps[0] > 0 and np.all(gaps == gaps[0]):
            layout["steps"] = numbers[-1] + gaps[0] * np.arange(1, int(m) + 1, dtype=np.int64)
    return layout


# ---------------------------------------------------------------------------------------------- writing
class SequenceWriter:
    """Write a weight-sequence dataset in whole chunks.

    Three ways to fill it, one per writer:

    * :meth:`append` ``(values)``: one step of every sequence (or a block of steps) at a time, as a
      recorder of several runs trained side by side does. Steps are buffered
      (``n_sequences * chunk_steps * n_params`` values) and written as whole chunk rows.
    * :meth:`append` ``(values, sequence=i)``: steps of ONE sequence at a time, as a recorder of runs
      trained one after the other does (sequence 0 all its steps, then sequence 1, ...). Its steps are
      buffered (``chunk_steps * n_params`` values) and written a whole chunk at a time; a sequence
      that reaches ``n_steps`` is written out at once. Appending to another sequence writes what the
      previous one buffered.
    * :meth:`write_slab`: every step of a slab of parameters (``n_steps`` must be given), as a
      forecaster streaming its prediction does.

    All sequences share one axis of step numbers (``<name>_steps``): given up front (``steps``) or by the
    first append that reaches a step; an append that gives another number for a step already numbered
    raises ``ValueError``.

    The file records how many steps of each sequence it holds (``<name>_recorded``), always updated
    after the data it counts was written (and, when crash-safe, flushed), and whether the writer closed.

    Two modes of safety:

    * default (``crash_safe=False``): the file is written under a temporary name in the same
      directory and atomically renamed to ``path`` by :meth:`close` (after an fsync; see
      :func:`weightcast.io.atomic_output`), so ``path`` either holds a complete file or is untouched.
      An exception inside a ``with`` block, or closing a file that is not complete, removes the
      temporary file. Use it for finished outputs (forecasts, converted files).
    * ``crash_safe=True``: a live recording. ``path`` is written in place in HDF5's single-writer /
      multiple-reader (SWMR) mode and flushed after every chunk, so if the writer is killed, readers
      (:func:`open_sequences`) still open the file, name its incomplete sequences and read every
      flushed step; readers may also follow the file while it is written.

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
        Step numbers of the ``n_steps`` steps (requires ``n_steps``); appends are checked against them.
    param_names, param_shapes : sequences or None
        Names and shapes of the model's tensors, in the order they are flattened into the parameter axis.
    recorded : array of int or None
        With :meth:`write_slab`: how many leading steps of each sequence the slabs hold (the rest is not
        written), for copies of files whose runs stopped early. Default: every step.
    checksum : bool, default=False
        Store a fletcher32 checksum with every chunk, so that damaged bytes raise an error when read
        instead of reading wrong values; it halves read throughput (docs/formats.md).
    crash_safe : bool, default=False
    overwrite : bool, default=False
        Replace an existing file at ``path``.

    Attributes
    ----------
    recorded : ndarray of int64, shape (n_sequences,)
        Steps of each sequence written to the file (flushed, when crash-safe): what a reader sees.

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
                 recorded=None, checksum=False, crash_safe=False, overwrite=False):
        size, count = Integer(low=1), Integer(low=0, none=True)
        for name, value, rule in (("n_sequences", n_sequences, size), ("n_params", n_params, size),
                                  ("chunk_steps", chunk_steps, size), ("n_steps", n_steps, count),
                                  ("chunk_params", chunk_params, size.or_none())):
            rule.check(value, name)
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
        if steps is not None:
            if n_steps is None:
                raise ValueError("steps= numbers a fixed number of steps: give n_steps too")
            steps = np.asarray(steps, dtype=np.int64)
            if steps.shape != (n_steps,):
                raise ValueError(f"steps must hold n_steps={n_steps} step numbers, got shape {steps.shape}")
        self._declared = None
        if recorded is not None:
            if n_steps is None:
                raise ValueError("recorded= is for write_slab(), which needs n_steps")
            self._declared = np.asarray(recorded, dtype=np.int64)
            if self._declared.shape != (self.n_sequences,) or np.any(self._declared < 0) \
                    or np.any(self._declared > n_steps):
                raise ValueError(f"recorded must give 0..{n_steps} steps for each of the {n_sequences} sequences, "
                                 f"got {recorded!r}")

        # The file is made under a temporary name beside path (see atomic_output) and renamed onto path when
        # complete (close) or, crash-safe, as soon as its layout is on disk: path never holds half a file.
        self._atomic = atomic_output(self.path)
        self._tmp = self._atomic.__enter__()
        self._chunk_offsets, self._raw_fd, self._padding = None, None, None  # see _write_chunks
        self._file = h5py.File(self._tmp, "w", libver="latest")
        try:
            # Every object exists before SWMR starts; from then on only data is written.
            self._file.attrs["weightcast_format"] = _fixed_strings(FORMAT_NAME)
            self._file.attrs["weightcast_format_version"] = FORMAT_VERSION
            # A fixed number of steps gives a fixed-size dataset; a growing one gets two growable axes, so
            # that HDF5 indexes its chunks with a v2 B-tree, whose chunk queries are exact (readers check every
            # chunk with them; with one growable axis they are not, see _storage_ends). The parameters never grow.
            initial = 0 if n_steps is None else int(n_steps)
            # A finished output of fixed size gets its chunks allocated up front, so that write_slab can write
            # whole chunks straight to their place in the file (see _write_chunks).
            raw = (n_steps is not None and initial > 0 and not self.crash_safe and not checksum
                   and recorded is None and hasattr(os, "pwritev"))
            placement = {}
            if raw:
                dcpl = h5py.h5p.create(h5py.h5p.DATASET_CREATE)
                dcpl.set_alloc_time(h5py.h5d.ALLOC_TIME_EARLY)
                dcpl.set_fill_time(h5py.h5d.FILL_TIME_NEVER)  # every chunk is written before the file is published
                placement = {"dcpl": dcpl, "rdcc_nbytes": 0}  # no chunk cache that could hold a stale chunk
            self._ds = self._file.create_dataset(dataset, shape=(self.n_sequences, initial, self.n_params),
                                                 maxshape=(self.n_sequences, None, None) if n_steps is None else None,
                                                 chunks=chunks, dtype=self.dtype, fletcher32=bool(checksum),
                                                 **placement)
            self._chunk_offsets = self._allocated_chunks() if raw else None  # None: writes go through HDF5
            for key, value in attrs.items():
                self._ds.attrs[key] = value
            if steps is not None:
                self._steps_ds = self._file.create_dataset(dataset + STEPS_SUFFIX, data=steps)
            else:
                self._steps_ds = self._file.create_dataset(dataset + STEPS_SUFFIX, shape=(0,), maxshape=(None,),
                                                           chunks=(_STEP_NUMBER_CHUNK,), dtype=np.int64)
            self._recorded_ds = self._file.create_dataset(dataset + RECORDED_SUFFIX,
                                                          data=np.zeros(self.n_sequences, np.int64))
            self._closed_ds = self._file.create_dataset(dataset + CLOSED_SUFFIX, data=np.int8(0))
            if self.crash_safe:
                self._file.swmr_mode = True
                self._file.flush()
                self._publish_file()
        except BaseException:
            self.abort()
            raise
        self._known_steps = np.zeros(0, np.int64) if steps is None else steps  # numbers of steps 0, 1, ...
        self._steps_stored = len(self._known_steps)  # how many of them are in the file
        self._mode = None  # "all", "one" or "slab": the way this writer is filled
        self._appended = np.zeros(self.n_sequences, np.int64)  # per sequence, buffered or written
        self._written = np.zeros(self.n_sequences, np.int64)  # per sequence, written to the file
        self.recorded = np.zeros(self.n_sequences, np.int64)  # per sequence, what <name>_recorded says
        self._buffer = None
        self._buffer_rows = None  # slice(None) (all sequences) or the one sequence buffered
        self._buffer_start = 0  # step of the buffer's first column
        self._n_buffered = 0
        self._params_written = 0
        self._closed = False

    @property
    def n_steps_written(self):
        """Steps appended so far (flushed or buffered); with one-sequence appends, the longest sequence's."""
        return int(self._appended.max(initial=0))

    # -------------------------------------------------------------- appending
    def append(self, values, step=None, *, sequence=None):
        """Append steps to every sequence, or with ``sequence=i`` to that one sequence only.

        Parameters
        ----------
        values : array
            One step, shape (n_sequences, n_params), or a block (n_sequences, k, n_params); with
            ``sequence``, shape (n_params,) or (k, n_params).
        step : int, k ints or None
            The training step number(s). By default the number the file already has for those steps
            (from ``steps=`` or an earlier sequence), else the step's position.
        sequence : int or None
        """
        self._check_open()
        values = np.asarray(values)
        given = values.shape
        if sequence is None:
            self._set_mode("all")
            rows, expected = slice(None), f"({self.n_sequences}, {self.n_params}) or ({self.n_sequences}, k, " \
                                          f"{self.n_params})"
            values = values[:, None] if values.ndim == 2 else values
            ok = values.ndim == 3 and values.shape[0] == self.n_sequences and values.shape[2] == self.n_params
            first, what = int(self._appended[0]), ""
        else:
            Integer(low=0, high=self.n_sequences - 1).check(sequence, "sequence")
            self._set_mode("one")
            rows, expected = int(sequence), f"({self.n_params},) or (k, {self.n_params})"
            values = values[None, None] if values.ndim == 1 else values[None]
            ok = values.ndim == 3 and values.shape[2] == self.n_params
            first, what = int(self._appended[rows]), f" of sequence {rows}"
        if not ok:
            raise ValueError(f"append expects shape {expected} for {self.path!r}, got {given}")
        k = values.shape[1]
        if self.n_steps is not None and first + k > self.n_steps:
            raise ValueError(f"{self.path!r} was created for {self.n_steps} steps; appending {k} more{what} after "
                             f"{first} exceeds it")
        step_numbers = self._number_steps(first, k, step, what)
        if self._n_buffered and rows != self._buffer_rows:
            self._write_buffer()  # another sequence begins: write what the previous one buffered
        if self._buffer is None:
            n_rows = self.n_sequences if sequence is None else 1
            self._buffer = np.empty((n_rows, self.chunks[1], self.n_params), dtype=self.dtype)
        if not self._n_buffered:
            self._buffer_rows, self._buffer_start = rows, first
        if len(step_numbers) > len(self._known_steps) - first:
            self._known_steps = np.concatenate([self._known_steps, step_numbers[len(self._known_steps) - first:]])
        self._appended[rows] = first + k
        done = 0
        while done < k:
            # fill up to the next chunk boundary, so every write but a sequence's last is a whole chunk
            room = self.chunks[1] - self._buffer_start % self.chunks[1]
            take = min(k - done, room - self._n_buffered)
            self._buffer[:, self._n_buffered:self._n_buffered + take] = values[:, done:done + take]
            self._n_buffered += take
            done += take
            end = self._buffer_start + self._n_buffered
            if self._n_buffered == room or end == self.n_steps:
                self.flush()

    def _number_steps(self, first, k, step, what):
        """The step numbers of steps first .. first + k - 1, checked against those the file has."""
        known = self._known_steps[first:first + k]
        if step is None:
            numbered = np.arange(first, first + k, dtype=np.int64)
            numbered[:len(known)] = known
            return numbered
        numbered = np.atleast_1d(np.asarray(step, dtype=np.int64))
        if numbered.shape != (k,):
            raise ValueError(f"step must give {k} step number(s), got {step!r}")
        differ = np.flatnonzero(numbered[:len(known)] != known)
        if len(differ):
            j = int(differ[0])
            raise ValueError(f"step {first + j}{what} is training step {int(numbered[j])}, but {self.path!r} numbers "
                             f"that step {int(known[j])}: all sequences of a file share one axis of step numbers "
                             "(record runs with different step numbers into separate files)")
        return numbered

    def flush(self):
        """Write the buffered steps (a whole chunk unless closing or switching sequence) and flush the file."""
        self._check_open()
        self._write_buffer()
        self._publish()

    def _write_buffer(self):
        k = self._n_buffered
        if not k:
            return
        t0, rows = self._buffer_start, self._buffer_rows
        if t0 + k > self._ds.shape[1]:
            self._ds.resize(t0 + k, axis=1)
        if rows == slice(None):
            self._ds[:, t0:t0 + k, :] = self._buffer[:, :k]
        else:
            self._ds[rows, t0:t0 + k, :] = self._buffer[0, :k]
        self._written[rows] = t0 + k
        self._buffer_start, self._n_buffered = t0 + k, 0

    def _publish(self):
        """Make the written steps count: flush their data and step numbers, then record how many there are."""
        stored, needed = self._steps_stored, min(int(self._written.max(initial=0)), len(self._known_steps))
        if needed > stored:
            self._steps_ds.resize((needed,))
            self._steps_ds[stored:needed] = self._known_steps[stored:needed]
            self._steps_stored = needed
        if self.crash_safe:
            self._file.flush()
        if np.any(self._written != self.recorded):
            self._recorded_ds[:] = self._written
            self.recorded = self._written.copy()
            if self.crash_safe:
                self._file.flush()

    # -------------------------------------------------------------- slabs
    def write_slab(self, params, values):
        """Write every step of the parameters ``params`` (a slice): ``values`` (n_sequences, n_steps, slab).

        With ``recorded=`` given to the writer, only the recorded steps of each sequence are written.
        """
        self._check_open()
        if self.n_steps is None:
            raise ValueError("write_slab() needs a writer created with n_steps")
        self._set_mode("slab")
        p0, p1, stride = params.indices(self.n_params)
        values = np.asarray(values)
        expected = (self.n_sequences, self.n_steps, p1 - p0)
        if stride != 1 or values.shape != expected:
            raise ValueError(f"write_slab for {self.path!r} expects a contiguous slice and values of shape "
                             f"{expected}, got {params!r} and {values.shape}")
        values = np.ascontiguousarray(values, dtype=self.dtype)
        cp = self.chunks[2]
        if self._chunk_offsets is not None and p0 % cp == 0 and (p1 % cp == 0 or p1 == self.n_params):
            self._write_chunks(p0, p1, values)
        elif self._declared is None:
            self._ds.write_direct(values, None, np.s_[:, :, p0:p1])
        else:
            for i, n in enumerate(self._declared.tolist()):
                if n:
                    self._ds.write_direct(values, np.s_[i, :n, :], np.s_[i, :n, p0:p1])
        self._params_written += p1 - p0
        if self._params_written >= self.n_params:
            self._written[:] = self.n_steps if self._declared is None else self._declared
            self._publish()
        elif self.crash_safe:
            self._file.flush()

    def _allocated_chunks(self):
        """The byte offset in the file of every chunk, indexed by chunk (sequence, step chunk, parameter
        chunk), looked up once: when HDF5 allocated them all, uncompressed, at creation; else None."""
        if self._ds.dtype != self.dtype or not hasattr(self._ds.id, "chunk_iter"):
            return None
        chunks = self._ds.chunks
        chunk_bytes = int(np.prod(chunks)) * self.dtype.itemsize
        offsets = np.full([-(-n // c) for n, c in zip(self._ds.shape, chunks)], -1, np.int64)

        def place(info):
            if info.size == chunk_bytes:
                offsets[tuple(o // c for o, c in zip(info.chunk_offset, chunks))] = info.byte_offset

        self._ds.id.chunk_iter(place)
        return offsets if np.all(offsets >= 0) else None

    def _write_chunks(self, p0, p1, values):
        """Write the whole chunks of the parameters p0:p1 with ``os.pwritev`` at their allocated offsets,
        gathering each chunk's rows straight from ``values``.

        h5py runs every HDF5 call, on any thread, under one lock, so a forecast's background writes through
        HDF5 would hold up the reads of its next slab; these writes never take it (the offsets were looked
        up when the file was made).
        """
        n_rows, n_columns = self.chunks[1], self.chunks[2]
        itemsize = self.dtype.itemsize
        if self._raw_fd is None:
            self._raw_fd = os.open(self._tmp, os.O_WRONLY)
            self._padding = memoryview(bytes(n_rows * n_columns * itemsize))  # an edge chunk's padding: zeros
        for s in range(self.n_sequences):
            for t0 in range(0, self.n_steps, n_rows):
                rows = min(n_rows, self.n_steps - t0)
                for c0 in range(p0, p1, n_columns):
                    columns = min(n_columns, p1 - c0)
                    parts = []
                    for row in values[s, t0:t0 + rows, c0 - p0:c0 - p0 + columns]:
                        parts.append(memoryview(row).cast("B"))
                        if columns < n_columns:
                            parts.append(self._padding[:(n_columns - columns) * itemsize])
                    if rows < n_rows:
                        parts.append(self._padding[:(n_rows - rows) * n_columns * itemsize])
                    where = int(self._chunk_offsets[s, t0 // n_rows, c0 // n_columns])
                    try:
                        _pwrite_all(self._raw_fd, parts, where)
                    except OSError as error:
                        raise OSError(error.errno, f"writing parameters {c0}-{c0 + columns - 1} of sequence {s} "
                                                   f"to {self.path!r} failed: {error.strerror or error}") from error

    def _close_raw(self):
        if self._raw_fd is not None:
            fd, self._raw_fd = self._raw_fd, None
            os.close(fd)

    def _set_mode(self, mode):
        if self._mode not in (None, mode):
            ways = {"all": "append(values)", "one": "append(values, sequence=i)", "slab": "write_slab()"}
            raise ValueError(f"{ways[mode]} cannot be mixed with {ways[self._mode]} in one writer ({self.path!r})")
        if mode != "slab" and self._declared is not None:
            raise ValueError("recorded= is for write_slab(); appends record their own steps")
        self._mode = mode

    # -------------------------------------------------------------- closing
    def _incomplete(self):
        """Why the file is not complete, or None."""
        if self._mode == "slab" or (self._mode is None and self._declared is not None):
            if self._params_written < self.n_params:
                return f"{self._params_written} of {self.n_params} parameters were written"
            return None
        target = self.n_steps if self.n_steps is not None else int(self._written.max(initial=0))
        short = np.flatnonzero(self._written < target)
        if len(short):
            return f"sequence(s) {short.tolist()[:10]} hold {self._written[short].tolist()[:10]} of {target} steps"
        return None

    def close(self):
        """Write what is buffered, check an atomic file is complete, mark the file closed and publish it."""
        if self._closed:
            return
        try:
            self._write_buffer()
            self._publish()
            incomplete = self._incomplete()
            if incomplete and not self.crash_safe:
                raise ValueError(f"{self.path!r} is incomplete: {incomplete}")
            self._closed_ds[()] = 1
            self._close_raw()
            self._file.close()
            self._closed = True
            if self._tmp is not None:
                self._publish_file()
        except BaseException:
            self.abort()
            raise

    def _publish_file(self):
        """fsync the file and rename it from its temporary name onto ``path``."""
        self._tmp = None
        self._atomic.__exit__(None, None, None)

    def abort(self):
        """Stop writing: an atomic writer removes its temporary file (``path`` is left untouched); a
        crash-safe file keeps what was flushed and stays marked as not closed."""
        self._closed = True
        try:
            self._close_raw()
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


def _pwrite_all(fd, parts, offset):
    """Write the byte buffers ``parts`` one after the other at ``offset`` in ``fd``, continuing after short
    writes; at most IOV_MAX buffers go to one call."""
    parts = list(parts)
    while parts:
        written = os.pwritev(fd, parts[:_IOV_MAX], offset)
        if written == 0:
            raise OSError(errno.EIO, f"no bytes written at offset {offset}")
        offset += written
        while parts and written >= len(parts[0]):
            written -= len(parts.pop(0))
        if written:
            parts[0] = parts[0][written:]


_IOV_MAX = 1024
"""The most buffers one pwritev call takes on Linux and macOS (IOV_MAX)."""


def _fixed_strings(text):
    """``text`` (a str or a list of them) as fixed-length UTF-8 strings, for an attribute.

    Variable-length strings live in HDF5's global heap, which has no checksum: a few damaged bytes there made
    HDF5 loop forever reading the attribute. Fixed-length ones live in the object header, whose checksum
    turns such damage into an error.
    """
    encoded = np.char.encode(np.asarray(text, dtype=str), "utf-8")
    return encoded.astype(h5py.string_dtype("utf-8", max(1, encoded.dtype.itemsize)))


def _param_attrs(names, shapes, n_params):
    if names is None and shapes is None:
        return {}
    if names is None or shapes is None or len(names) != len(shapes):
        raise ValueError("param_names and param_shapes must be given together, one shape per name")
    shapes = [tuple(int(d) for d in np.atleast_1d(shape)) if np.ndim(shape) else () for shape in shapes]
    offsets = np.concatenate([[0], np.cumsum([int(np.prod(shape)) for shape in shapes])]).astype(np.int64)
    if offsets[-1] != n_params:
        raise ValueError(f"param_shapes cover {offsets[-1]} parameters but the file has n_params={n_params}")
    return {"param_names": _fixed_strings([str(name) for name in names]),
            "param_shapes": _fixed_strings(json.dumps([list(shape) for shape in shapes])),
            "param_offsets": offsets}


def write_sequences(path, S, dataset=DEFAULT_DATASET, *, steps=None, param_names=None, param_shapes=None,
                    chunk_steps=16, chunk_params=None, checksum=False, overwrite=False, slab_size=2 ** 20):
    """Write an array (or a view) of shape (n_sequences, n_steps, n_params) atomically; return a view of it.

    The data is copied a slab of parameters at a time, so ``S`` may itself be a larger-than-memory view.
    """
    Integer(low=1).check(slab_size, "slab_size")
    if not hasattr(S, "read_block"):
        S = np.asarray(S)
        if S.dtype not in _FLOAT_DTYPES:
            S = S.astype(np.float64 if S.dtype.itemsize > 4 else np.float32)
    if len(S.shape) != 3:
        raise ValueError(f"S must have shape (n_sequences, n_steps, n_params), got {S.shape}")
    n_seq, n_steps, n_params = S.shape
    with SequenceWriter(path, n_seq, n_params, n_steps=n_steps, dataset=dataset, dtype=S.dtype,
                        chunk_steps=chunk_steps, chunk_params=chunk_params, steps=steps,
                        param_names=param_names, param_shapes=param_shapes, checksum=checksum,
                        overwrite=overwrite) as writer:
        slab = max(writer.chunks[2], slab_size // writer.chunks[2] * writer.chunks[2])
        # a plain copy, no check or cast: io sits below weightcast.rows in the import layers, so it cannot use RowReader
        for p0 in range(0, n_params, slab):
            params = slice(p0, min(p0 + slab, n_params))
            block = S.read_block(params=params) if hasattr(S, "read_block") else S[:, :, params]
            writer.write_slab(params, block)
    return SequenceView(path, dataset)
