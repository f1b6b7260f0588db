"""Rows: the one place where any input becomes blocks of rows.

Every dataset of weight sequences, shaped (n_sequences, n_steps, n_params), is a stack of rows
(sequence, parameter) x (time), and every forecaster reads it one slab of parameters at a time. A
:class:`RowReader` turns a numpy array, a torch tensor (on any device), a lazy dataset (anything with
``read_block`` and ``shape``, such as :class:`weightcast.io.SequenceView`) or one rank's shard of any of
these into blocks laid out as the data are, (n_sequences_read, n_steps_read, n_params_slab): on the
computing device, in the computing dtype, checked for NaN/inf with an error that names the file, the
sequence, the step and the parameter of the first bad value.

Memory is bounded by the slab: an in-memory array is indexed one slab at a time (a view when no
sequence or step is dropped, else a copy of that slab only); a lazy dataset is read a chunk-aligned
slab at a time into reused buffers, the next slab in a background thread while the current one is used
(h5py releases the GIL while it reads). A yielded block is valid until the next one is requested.
"""

import math
import queue
import threading
import time
import warnings

import numpy as np
import torch
from sklearn.utils.validation import check_array

__all__ = ["FLOAT_DTYPES", "RowReader", "Slab", "BackgroundWriter", "is_lazy", "as_source", "aligned_slab_size",
           "plan_slabs", "check_sequence_array", "check_finite", "all_finite", "tensor_view"]

FLOAT_DTYPES = (np.float32, np.float64)
_BUFFERS = 2  # slabs in flight with prefetching: the one being used and the one being read


# ---------------------------------------------------------------------------------------------- sources
def is_lazy(data):
    """True for lazy datasets, such as :class:`weightcast.io.SequenceView`, that read their own blocks."""
    return hasattr(data, "read_block") and hasattr(data, "shape")


def as_source(data):
    """A real CPU tensor becomes a numpy view of it (no copy; half and bfloat16 become float32); other
    tensors (on an accelerator, complex) stay tensors, and anything else is returned unchanged."""
    if isinstance(data, torch.Tensor):
        data = data.detach()
        if data.device.type == "cpu" and not data.is_complex():
            if data.dtype.is_floating_point and data.dtype not in (torch.float32, torch.float64):
                data = data.float()
            return data.numpy()
    return data


def _numpy_dtype(data):
    """The numpy dtype of a source's values (float32 or float64 for tensors)."""
    if isinstance(data, torch.Tensor):
        return np.dtype(np.float64) if data.dtype == torch.float64 else np.dtype(np.float32)
    return np.dtype(data.dtype).newbyteorder("=")


# ---------------------------------------------------------------------------------------------- slabs
def aligned_slab_size(data, slab_size, unit=1):
    """``slab_size`` rounded down to a multiple of ``unit`` and of the parameter chunks of lazy ``data``.

    A slab of whole chunks (at least one) reads each chunk once. ``unit`` (a forecaster's block of
    parameters) always holds; the chunks too unless a multiple of both exceeds the slab and the chunk.
    """
    chunk = getattr(data, "param_chunk", None) if is_lazy(data) else None
    if chunk:
        both = int(np.lcm(int(chunk), int(unit)))
        if both <= max(slab_size, chunk):
            unit = both
    return max(unit, slab_size // unit * unit)


class Slab:
    """The parameters read together: one or more increasing, disjoint ranges (slices with step 1)."""

    __slots__ = ("ranges", "size")

    def __init__(self, ranges):
        self.ranges = tuple(ranges)
        self.size = sum(r.stop - r.start for r in self.ranges)

    @property
    def slice(self):
        """The parameters as one slice (slabs of a single range)."""
        if len(self.ranges) != 1:
            raise ValueError(f"{self!r} is not one contiguous range of parameters")
        return self.ranges[0]

    def index(self):
        """The parameters as an integer array."""
        return np.concatenate([np.arange(r.start, r.stop) for r in self.ranges])

    def parameter(self, j):
        """The parameter at position ``j`` of the slab."""
        for r in self.ranges:
            if j < r.stop - r.start:
                return r.start + j
            j -= r.stop - r.start
        raise IndexError(j)

    def __repr__(self):
        return "Slab(" + ", ".join(f"{r.start}..{r.stop - 1}" for r in self.ranges) + ")"


def plan_slabs(n_params, slab_size, ranges=None):
    """Cut ``ranges`` (default: all parameters) into slabs of at most ``slab_size`` parameters.

    A slab may join several short ranges; a long range is cut where a slab is full (at multiples of
    ``slab_size`` from the range's start, so aligned ranges give aligned slabs).
    """
    ranges = [slice(0, n_params)] if ranges is None else ranges
    slabs, current, size = [], [], 0
    for r in ranges:
        start = r.start
        while start < r.stop:
            take = min(r.stop - start, slab_size - size)
            current.append(slice(start, start + take))
            size += take
            start += take
            if size == slab_size:
                slabs.append(Slab(current))
                current, size = [], 0
    if current:
        slabs.append(Slab(current))
    return slabs


# ---------------------------------------------------------------------------------------------- checks
def check_sequence_array(S, name="S"):
    """Validate a dataset of sequences and lift a 2-D one to (n_sequences, n_steps, 1).

    Lazy datasets and tensors on an accelerator are returned as they are; forecasters check their
    values as they read them.
    """
    S = as_source(S)
    if is_lazy(S) or isinstance(S, torch.Tensor):
        if len(S.shape) != 3:
            raise ValueError(f"{name} must have shape (n_sequences, n_steps, n_params), got {tuple(S.shape)}")
        return S
    S = check_array(S, allow_nd=True, ensure_2d=False, dtype=FLOAT_DTYPES, input_name=name,
                    ensure_all_finite=False)
    if S.ndim == 2:
        S = S[:, :, None]
    elif S.ndim != 3:
        raise ValueError(f"{name} must have shape (n_sequences, n_steps, n_params) or (n_sequences, n_steps), "
                         f"got an array of shape {S.shape}")
    if S.shape[2] < 1:
        raise ValueError(f"{name} has no parameters (shape {S.shape})")
    check_finite(S, name)
    return S


def all_finite(values):
    """True when the tensor or array ``values`` holds no NaN or inf.

    A sum propagates both, so a finite sum proves every value finite at the cost of one streaming pass (no
    mask as large as the data; torch's min/max reductions are many times slower on strided slabs). A sum
    that is not finite is either a bad value or an overflow of large values: the exact check decides.
    """
    if isinstance(values, np.ndarray):
        if values.size == 0:
            return True
        if not values.dtype.isnative:  # torch reads native byte order only
            return bool(np.isfinite(values).all())
        values = tensor_view(values)
    if values.numel() == 0:
        return True
    if math.isfinite(float(values.sum())):
        return True
    return bool(torch.isfinite(values).all())


def check_finite(data, name, slab_size=2 ** 20):
    """Raise a ValueError naming the first NaN/inf of the in-memory array or tensor ``data`` (3-D)."""
    whole = data if isinstance(data, torch.Tensor) else tensor_view(data)
    if all_finite(whole):
        return
    for slab in plan_slabs(data.shape[2], slab_size):
        block = whole[:, :, slab.slice]
        if not all_finite(block):
            raise _non_finite_error(block, name, data, None, None, slab)


def _non_finite_error(block, name, data, seqs, steps, slab):
    """The error for the first NaN/inf of ``block`` = data[seqs][:, steps, slab] (a torch tensor)."""
    i, j, k = (int(v) for v in torch.nonzero(~torch.isfinite(block))[0])
    value = float(block[i, j, k])
    kind = "NaN" if value != value else ("inf" if value > 0 else "-inf")
    seq = i if seqs is None else int(np.arange(data.shape[0])[seqs][i])
    step = j if steps is None else int(np.arange(data.shape[1])[steps][j])
    where = ""
    if is_lazy(data):
        position = getattr(data, "position", None)
        if position is not None:
            seq, step = position(seq, step)
        where = f" of {data.source}" if hasattr(data, "source") else ""
    return ValueError(f"{name} holds {kind} at sequence {seq}, step {step}, parameter {slab.parameter(k)}{where}; "
                      "weight sequences must be finite")


def tensor_view(array):
    """A torch tensor sharing the memory of the numpy ``array``; a read-only one (a memory map) without torch's
    warning, since weightcast never writes through the blocks it reads."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
        return torch.from_numpy(array)


# ---------------------------------------------------------------------------------------------- reading
def _as_index(key, n):
    """``key`` (None, a slice or integers) as a slice when it picks evenly spaced increasing indices (then
    in-memory blocks are views: LFD-2's first and last steps, a run of steps), else an array."""
    if key is None:
        return slice(None)
    if isinstance(key, slice):
        return key
    key = np.asarray(key, dtype=np.intp).reshape(-1)
    key = np.where(key < 0, key + n, key)
    if len(key) == 1 or (len(key) > 1 and key[1] > key[0] and np.all(np.diff(key) == key[1] - key[0])):
        step = int(key[1] - key[0]) if len(key) > 1 else 1
        return slice(int(key[0]), int(key[-1]) + 1, None if step == 1 else step)
    return key


def _is_all(key):
    return isinstance(key, slice) and key == slice(None)


def _length(key, n):
    return len(range(*key.indices(n))) if isinstance(key, slice) else len(key)


def _indices(key, n):
    return np.arange(n)[key] if isinstance(key, slice) else key


def _take(data, seqs, steps, slab, out=None):
    """``data[seqs][:, steps, slab]`` of an in-memory array or tensor: a view, or one copy of that block
    (into ``out``, a reused buffer of the right size, when given: fresh pages cost more than the copy)."""
    numpy = isinstance(data, np.ndarray)
    if len(slab.ranges) == 1 and (isinstance(seqs, slice) or isinstance(steps, slice)):
        block = data[:, :, slab.slice]
        for axis, key in ((0, seqs), (1, steps)):
            if isinstance(key, slice):
                block = block[key] if axis == 0 else block[:, key]
            elif numpy:
                block = _take_axis(block, key, axis, out)
            else:
                block = block.index_select(axis, torch.as_tensor(key, device=data.device))
        return block
    index = [_indices(seqs, data.shape[0]), _indices(steps, data.shape[1]), slab.index()]
    if numpy:
        return data[np.ix_(*index)]
    s, t, p = (torch.as_tensor(i, device=data.device) for i in index)
    return data[s[:, None, None], t[None, :, None], p[None, None, :]]


def _take_axis(block, key, axis, out):
    """``np.take(block, key, axis)`` (axis 0 or 1), into ``out(shape)`` when given. A few indices are copied
    row by row (several times faster than np.take's generic loop); many by fancy indexing."""
    shape = block.shape[:axis] + (len(key),) + block.shape[axis + 1:]
    if out is None or len(key) > 64:
        taken = block[key] if axis == 0 else block[:, key]
        if out is None:
            return taken
        np.copyto(out(shape), taken)
        return out(shape)
    dest = out(shape)
    for j, k in enumerate(key):
        if axis == 0:
            dest[j] = block[k]
        else:
            dest[:, j] = block[:, k]
    return dest


class _Source:
    """One dataset read by a :class:`RowReader`: which steps, whether to check, and the read buffers."""

    def __init__(self, data, steps, name, check, pinned):
        self.data, self.name, self.check = data, name, check
        self.steps = _as_index(steps, data.shape[1])
        self.n_steps = _length(self.steps, data.shape[1])
        self.lazy = is_lazy(data)
        self.dtype = _numpy_dtype(data)
        self.pinned = pinned and self.lazy
        self.buffers = [None] * _BUFFERS
        self.cast_buffers = [None] * _BUFFERS
        # What is read (a view, its steps) and the steps then picked from the block read (a slice: a view).
        self.view, self.view_steps, self.pick = data, self.steps, slice(None)
        if self.lazy and hasattr(data, "file_index") and isinstance(self.steps, slice) and not _is_all(self.steps):
            seqs, file_steps = data.file_index()
            wanted = file_steps[self.steps]
            cover = _covering_steps(wanted, getattr(data, "chunks", None))
            if len(cover) > len(wanted) and np.all(np.diff(wanted) > 0):  # LFD-2's steps 0 and n - 1 of a file
                self.view, self.view_steps = type(data)(data.path, data.dataset, sequences=seqs, steps=cover), None
                self.pick = _as_index(np.searchsorted(cover, wanted), len(cover))

    def read(self, seqs, slab, slot):
        """The block (numpy array or tensor) of ``seqs`` x the steps x ``slab``; a lazy dataset reads into
        the buffer ``slot`` (None: a new array), with the steps around its own that its chunks hold
        (``pick`` selects its own)."""
        if not self.lazy:
            return _take(self.data, seqs, self.steps, slab, None if slot is None else lambda s: self._buffer(slot, s))
        n_steps = self.n_steps if self.view_steps is not None else self.view.shape[1]
        shape = (_length(seqs, self.data.shape[0]), n_steps, slab.size)
        out = None if slot is None else self._buffer(slot, shape)
        seqs, steps = None if _is_all(seqs) else seqs, None if _is_all(self.view_steps) else self.view_steps
        if len(slab.ranges) == 1:
            return self.view.read_block(seqs, steps, slab.slice, dtype=self.dtype, out=out)
        out = np.empty(shape, dtype=self.dtype) if out is None else out
        at = 0
        for r in slab.ranges:  # a spread-out subset: range by range
            out[:, :, at:at + r.stop - r.start] = self.view.read_block(seqs, steps, r, dtype=self.dtype)
            at += r.stop - r.start
        return out

    def cast(self, block, dtype, slot):
        """``block`` (a tensor) in ``dtype``: on the CPU into the reused buffer ``slot`` (fresh memory costs more in
        page faults than the cast itself), elsewhere or with ``slot`` None in new memory."""
        if slot is None or block.device.type != "cpu":
            return block.to(dtype)
        size = block.numel()
        buffer = self.cast_buffers[slot]
        if buffer is None or buffer.numel() < size or buffer.dtype != dtype:
            buffer = self.cast_buffers[slot] = torch.empty(size, dtype=dtype)
        return buffer[:size].view(block.shape).copy_(block)

    def _buffer(self, slot, shape):
        """The reused buffer ``slot`` as an array of ``shape`` (grown when too small)."""
        size = int(np.prod(shape))
        buffer = self.buffers[slot]
        if buffer is None or buffer.size < size:
            if self.pinned:  # page-locked: the copy to the device runs asynchronously
                dtype = torch.float64 if self.dtype == np.float64 else torch.float32
                buffer = torch.empty(size, dtype=dtype, pin_memory=True).numpy()
            else:
                buffer = np.empty(size, dtype=self.dtype)
            self.buffers[slot] = buffer
        return buffer[:size].reshape(shape)


def _covering_steps(steps, chunks):
    """The run of file steps from the first of ``steps`` to the last when reading it touches no chunk that
    ``steps`` do not (the steps in between come with chunks read anyway), else ``steps``."""
    if chunks is None or len(steps) < 2:
        return steps
    run = np.arange(steps[0], steps[-1] + 1)
    if np.array_equal(np.unique(run // chunks[1]), np.unique(steps // chunks[1])):
        return run
    return steps


def _joint_source(sources, pinned):
    """One source for X and Y when both view the same dataset and sequences and X's steps all come before
    Y's: each slab is then one read, split into two views (windows cut from one file by split_sequences).
    The read covers the steps in between when they lie in chunks read anyway (LFD-2's steps 0 and n - 1
    then take one read of every step, not two reads of the first chunks)."""
    if len(sources) != 2 or not all(hasattr(s.data, "file_index") for s in sources):
        return None
    X, Y = sources[0].data, sources[1].data
    if (type(X) is not type(Y) or (getattr(X, "path", None), getattr(X, "dataset", None))
            != (getattr(Y, "path", None), getattr(Y, "dataset", None)) or X.dtype != Y.dtype):
        return None
    (x_seqs, x_steps), (y_seqs, y_steps) = X.file_index(), Y.file_index()
    steps = np.concatenate([x_steps[sources[0].steps], y_steps[sources[1].steps]])
    if not np.array_equal(x_seqs, y_seqs) or np.any(np.diff(steps) <= 0):
        return None
    read = _covering_steps(steps, getattr(X, "chunks", None))
    where = [_as_index(np.searchsorted(read, part), len(read)) for part in np.split(steps, [sources[0].n_steps])]
    if not all(isinstance(at, slice) for at in where):  # the views of X and Y would be copies: read only the steps
        read, where = steps, [slice(0, sources[0].n_steps), slice(sources[0].n_steps, len(steps))]
    joint = _Source(type(X)(X.path, X.dataset, sequences=x_seqs, steps=read), None, sources[0].name, False, pinned)
    joint.parts = where  # the steps of X and of Y within a joint block
    return joint


class RowReader:
    """Blocks of rows of an input window ``X`` and (optionally) of targets ``Y``, one slab at a time.

    Parameters
    ----------
    X : array, tensor or lazy dataset of shape (n_sequences, n_steps, n_params)
    Y : same kinds, or None
        Targets with the same sequences and parameters as ``X``.
    steps, target_steps : None, slice or integer array
        The steps of ``X`` and of ``Y`` to read (None: all).
    slab_size : int
        Parameters per slab; rounded to whole chunks of a lazy ``X`` and to multiples of ``unit``.
    device : torch.device or str
        Where blocks are delivered.
    dtype : torch.dtype or None
        The dtype of delivered blocks (None keeps the data's own).
    ranges : list of slices or None
        The parameters to read (None: all), for example a subset spread over the vector.
    unit : int
        Slab sizes are multiples of it (a forecaster's block of parameters).
    check : bool or (bool, bool)
        Check the values of X (and of Y) for NaN/inf, each value the first time this reader reads it.
        False where the caller has checked them already, or detects non-finite results itself
        (:meth:`find_non_finite` then names the bad value).
    names : (str, str)
        What errors call X and Y.
    progress : str or None
        A tqdm description: show a progress bar over the slabs of each pass.
    prefetch : bool or None
        Read the next slab in a background thread while the current one is used. None: when a lazy
        dataset is read or blocks go to an accelerator.

    Attributes
    ----------
    slabs : list of Slab
    n_sequences : int
    waited : float
        Seconds the caller has waited for the reader thread, over every pass: the reading that computing
        did not hide.
    """

    def __init__(self, X, Y=None, *, steps=None, target_steps=None, slab_size=2 ** 20, device="cpu", dtype=None,
                 ranges=None, unit=1, check=True, names=("X", "Y"), progress=None, prefetch=None):
        self.device = torch.device(device)
        self.dtype = dtype
        checks = (check, check) if isinstance(check, bool) else tuple(check)
        accelerator = self.device.type != "cpu"
        self.sources = [_Source(X, steps, names[0], checks[0], accelerator)]
        if Y is not None:
            self.sources.append(_Source(Y, target_steps, names[1], checks[1], accelerator))
        self._joint = _joint_source(self.sources, accelerator)
        self.n_sequences = X.shape[0]
        self.slabs = plan_slabs(X.shape[2], aligned_slab_size(X, int(slab_size), unit), ranges)
        self.progress = progress
        self.waited = 0.0
        lazy = any(source.lazy for source in self.sources)
        self.prefetch = (lazy or accelerator) if prefetch is None else prefetch
        # What has been checked: per source, per slab, per sequence.
        self._checked = [np.zeros((len(self.slabs), self.n_sequences), dtype=bool) for _ in self.sources]
        # One slab of a lazy dataset (or one bound for an accelerator) is read once and kept.
        self._cache = None
        if len(self.slabs) == 1 and self.prefetch:
            self._cache = self._read(0, slice(None), slot=None)

    # -------------------------------------------------------------- public
    def read(self, slab, seqs=None):
        """``(x, y)`` of the slab number ``slab`` for the sequences ``seqs`` (None: all), in new memory."""
        seqs = _as_index(seqs, self.n_sequences)
        if self._cache is not None:
            return self._from_cache(seqs)
        return self._read(int(slab), seqs, slot=None)

    def blocks(self, seqs=None, desc=None):
        """Yield ``(slab, x, y)`` for every slab: the blocks of the sequences ``seqs`` (None: all).

        ``x`` has shape (n_seqs, n_steps_read, slab.size), ``y`` likewise (None without ``Y``); both are
        valid until the next block is requested.
        """
        seqs = _as_index(seqs, self.n_sequences)
        if self._cache is not None:
            yield (self.slabs[0],) + self._from_cache(seqs)
            return
        order = range(len(self.slabs))
        if self.progress and len(self.slabs) > 1:
            from tqdm.auto import tqdm

            order = tqdm(order, desc=desc or self.progress, leave=False)
        if not self.prefetch:
            for i in order:
                yield (self.slabs[i],) + self._read(i, seqs, slot=0)
            return
        yield from self._prefetched(order, seqs)

    def find_non_finite(self):
        """Read every value once more and raise the error that names the first NaN/inf (None if all are finite)."""
        for i, slab in enumerate(self.slabs):
            for source, block in zip(self.sources, self._device_blocks(slice(None), slab, None, False)):
                if not all_finite(block):
                    raise _non_finite_error(block, source.name, source.data, None, source.steps, slab)

    # -------------------------------------------------------------- internals
    def _from_cache(self, seqs):
        if _is_all(seqs):
            return self._cache
        index = torch.as_tensor(_indices(seqs, self.n_sequences), device=self.device)
        return tuple(None if block is None else block.index_select(0, index) for block in self._cache)

    def _to_device(self, block, non_blocking):
        tensor = tensor_view(block) if isinstance(block, np.ndarray) else block
        return tensor if tensor.device == self.device else tensor.to(self.device, non_blocking=non_blocking)

    def _device_blocks(self, seqs, slab, slot, non_blocking):
        """The blocks of every source on the device: each read as a whole (one read for X and Y when they
        view the same dataset), moved, then cut into the steps wanted (views)."""
        if self._joint is None:
            return [self._to_device(source.read(seqs, slab, slot), non_blocking and source.pinned)[:, source.pick]
                    for source in self.sources]
        block = self._to_device(self._joint.read(seqs, slab, slot), non_blocking and self._joint.pinned)
        return [block[:, at] for at in self._joint.parts]

    def _read(self, i, seqs, slot, non_blocking=False):
        """Read, move, check (before any cast, which could overflow) and cast the blocks of slab ``i``."""
        slab, blocks = self.slabs[i], []
        for source, checked, block in zip(self.sources, self._checked,
                                          self._device_blocks(seqs, slab, slot, non_blocking)):
            if source.check and not checked[i, seqs].all():
                if not all_finite(block):
                    raise _non_finite_error(block, source.name, source.data, seqs, source.steps, slab)
                checked[i, seqs] = True
            if self.dtype is not None and block.dtype != self.dtype:
                block = source.cast(block, self.dtype, slot)
            blocks.append(block)
        return tuple(blocks) + (None,) * (2 - len(blocks))

    def _prefetched(self, order, seqs):
        """Blocks read by a background thread one slab ahead; a buffer is refilled once its block is released."""
        ready = queue.Queue()
        free = threading.Semaphore(_BUFFERS)
        stop = threading.Event()
        cuda = self.device.type == "cuda"
        if cuda:  # copies run on a stream of their own, beside the consumer's kernels
            consumer, copies = torch.cuda.current_stream(self.device), torch.cuda.Stream(self.device)

        def produce():
            try:
                for n, i in enumerate(order):
                    free.acquire()
                    if stop.is_set():
                        return
                    if cuda:
                        with torch.cuda.stream(copies):
                            blocks = self._read(i, seqs, slot=n % _BUFFERS, non_blocking=True)
                        copies.synchronize()  # the copy is complete: its page-locked buffer may be refilled
                        for block in blocks:
                            if block is not None:
                                block.record_stream(consumer)  # memory in use by the consumer's kernels
                    else:
                        blocks = self._read(i, seqs, slot=n % _BUFFERS)
                    ready.put((self.slabs[i],) + blocks)
            except BaseException as error:  # handed to the consumer, which raises it
                ready.put(error)
                return
            ready.put(None)

        worker = threading.Thread(target=produce, name="weightcast-prefetch", daemon=True)
        worker.start()
        try:
            while True:
                started = time.perf_counter()
                item = ready.get()
                self.waited += time.perf_counter() - started
                if item is None:
                    return
                if isinstance(item, BaseException):
                    raise item
                yield item
                free.release()  # the consumer is done with this block: its buffer may be refilled
        finally:
            stop.set()
            free.release()
            worker.join()


# ---------------------------------------------------------------------------------------------- writing
class BackgroundWriter:
    """Run ``write(*args)`` calls in a background thread, in order, while the caller computes the next.

    :meth:`buffer` hands out one of ``n_buffers`` reusable staging arrays, waiting until the write that
    last used it has finished; :meth:`submit` queues a write. Errors of the thread are raised in the
    caller (at the next call, or at :meth:`close`). Use as a context manager: leaving it waits for the
    pending writes, or on an exception stops without writing more.
    """

    def __init__(self, write, n_buffers=_BUFFERS):
        self._write = write
        self._buffers = [None] * n_buffers
        self._next = 0
        self._free = [threading.Event() for _ in range(n_buffers)]
        for event in self._free:
            event.set()
        self._queue = queue.Queue()
        self._error = None
        self._thread = threading.Thread(target=self._run, name="weightcast-writer", daemon=True)
        self._thread.start()

    def _run(self):
        while True:
            item = self._queue.get()
            if item is None:
                return
            slot, args = item
            try:
                if self._error is None:
                    self._write(*args)
            except BaseException as error:  # re-raised in the caller
                self._error = error
            finally:
                self._free[slot].set()

    def _raise(self):
        if self._error is not None:
            error, self._error = self._error, None
            raise error

    def buffer(self, shape, dtype):
        """A staging array of ``shape`` that no pending write uses."""
        slot = self._next
        self._free[slot].wait()
        self._raise()
        size = int(np.prod(shape))
        buffer = self._buffers[slot]
        if buffer is None or buffer.size < size or buffer.dtype != dtype:
            buffer = self._buffers[slot] = np.empty(size, dtype=dtype)
        return buffer[:size].reshape(shape)

    def submit(self, *args):
        """Queue ``write(*args)``; the last array from :meth:`buffer` must not change until it is written."""
        self._raise()
        slot = self._next
        self._free[slot].clear()
        self._next = (slot + 1) % len(self._buffers)
        self._queue.put((slot, args))

    def close(self):
        """Wait for every queued write; raise the first error."""
        self._queue.put(None)
        self._thread.join()
        self._raise()

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is not None:
            self._error = self._error or exc  # the pending writes are skipped
            self._queue.put(None)
            self._thread.join()
            return False
        self.close()
        return False
