"""Cutting weight sequences into input windows and target steps, and recorded runs into training windows."""

import numpy as np

from ..base import check_sequence_array
from ..constraints import Integer
from ..io.hdf5 import LazyView

__all__ = ["split_sequences", "training_windows", "WindowView"]

_POSITIVE = Integer(low=1)


def split_sequences(S, n_input_steps, m=None):
    """Split sequences into inputs X = w_0 .. w_{n_in - 1} and targets Y = the next m steps.

    Parameters
    ----------
    S : array of shape (n_sequences, n_steps, n_params) or (n_sequences, n_steps)
    n_input_steps : int
        Number of input steps (21 for the paper's w_0 .. w_20).
    m : int or None
        Number of target steps; None takes every remaining step.

    Returns
    -------
    X : array of shape (n_sequences, n_input_steps, n_params)
    Y : array of shape (n_sequences, m, n_params)

    Examples
    --------
    >>> import numpy as np
    >>> X, Y = split_sequences(np.zeros((4, 201, 3)), n_input_steps=21)
    >>> X.shape, Y.shape
    ((4, 21, 3), (4, 180, 3))
    """
    S = check_sequence_array(S)
    n_steps = S.shape[1]
    _POSITIVE.check(n_input_steps, "n_input_steps")
    _POSITIVE.or_none().check(m, "m")
    if n_input_steps >= n_steps:
        raise ValueError(f"n_input_steps={n_input_steps} leaves no target step in sequences of {n_steps} steps")
    m = n_steps - n_input_steps if m is None else m
    if n_input_steps + m > n_steps:
        raise ValueError(f"n_input_steps={n_input_steps} + m={m} exceeds the {n_steps} steps of each sequence")
    return S[:, :n_input_steps], S[:, n_input_steps:n_input_steps + m]


def training_windows(runs, n_input, m=1, spacing=1, stride=1, start=0, stop=None):
    """Cut recorded runs into training windows for a forecaster: inputs X and targets Y.

    A window that starts at recorded step ``s`` reads steps ``s, s + spacing, ..., s + (n_input - 1) * spacing``
    as inputs and the next ``m`` steps, each ``spacing`` further, as targets, so a forecaster fitted on
    ``(X, Y)`` maps ``n_input`` snapshots ``spacing`` steps apart to the ``m`` snapshots that follow (what
    :class:`weightcast.training.FarcastAndContinue` feeds it with ``every = spacing`` when the runs were recorded
    at every training step). Windows start at ``start, start + stride, ...`` as long as they end before ``stop``,
    in every run; they are ordered run by run, then by start.

    Parameters
    ----------
    runs : array of shape (n_runs, n_steps, n_params) or (n_runs, n_steps), or a lazy view
        Recordings of other runs (e.g. recordings opened with :func:`weightcast.io.open_sequences`).
    n_input : int
        Input snapshots per window.
    m : int, default=1
        Target snapshots per window.
    spacing : int, default=1
        Recorded steps between consecutive snapshots of a window.
    stride : int, default=1
        Recorded steps between the starts of consecutive windows of a run.
    start : int, default=0
        First recorded step a window may start at.
    stop : int or None, default=None
        Windows end before this recorded step (None: the end of the runs).

    Returns
    -------
    X : array or view of shape (n_windows, n_input, n_params)
    Y : array or view of shape (n_windows, m, n_params)
        Arrays for array input. For a lazy view, lazy :class:`WindowView` objects that read only the slabs a
        forecaster asks for (the windows overlap, so materialising them would multiply the data).

    Examples
    --------
    >>> import numpy as np
    >>> runs = np.arange(2 * 10 * 1, dtype=float).reshape(2, 10, 1)      # 2 runs of 10 recorded steps
    >>> X, Y = training_windows(runs, n_input=2, m=1, spacing=3, stride=2)
    >>> X.shape, Y.shape                                                   # starts 0, 2 (ends at 6, 8)
    ((4, 2, 1), (4, 1, 1))
    >>> X[1, :, 0].tolist(), Y[1, :, 0].tolist()                           # run 0, start 2: steps 2, 5 -> 8
    ([2.0, 5.0], [8.0])
    """
    lazy = hasattr(runs, "read_block") and hasattr(runs, "shape")
    runs = runs if lazy else check_sequence_array(runs, name="runs")
    if len(runs.shape) != 3:
        raise ValueError(f"runs must have shape (n_runs, n_steps, n_params), got {runs.shape}")
    for name, value in (("n_input", n_input), ("m", m), ("spacing", spacing), ("stride", stride)):
        _POSITIVE.check(value, name)
    n_runs, n_steps, _ = runs.shape
    Integer(low=0, high=n_steps - 1).check(start, "start")
    stop = Integer(low=start + 1, high=n_steps).check(n_steps if stop is None else stop, "stop")
    span = (n_input + m - 1) * spacing + 1
    starts = np.arange(start, stop - span + 1, stride)
    if starts.size == 0:
        raise ValueError(f"a window of {n_input} + {m} snapshots {spacing} steps apart spans {span} recorded steps; "
                         f"steps {start}..{stop - 1} of the runs hold only {stop - start}")
    offsets = np.arange(n_input + m) * spacing
    run_of = np.repeat(np.arange(n_runs), len(starts))
    steps_of = np.tile(starts, n_runs)[:, None] + offsets[None, :]           # (n_windows, n_input + m)
    if lazy:
        return (WindowView(runs, run_of, steps_of[:, :n_input]), WindowView(runs, run_of, steps_of[:, n_input:]))
    return runs[run_of[:, None], steps_of[:, :n_input]], runs[run_of[:, None], steps_of[:, n_input:]]


class WindowView(LazyView):
    """Windows of a lazy weight-sequence dataset, read on demand (returned by :func:`training_windows`).

    Behaves like a read-only array of shape (n_windows, n_window_steps, n_params) where weightcast takes one:
    forecasters read it a parameter slab at a time with :meth:`read_block`, which reads each run's steps once
    per slab, so the overlap of the windows costs no extra reading or memory.

    Parameters
    ----------
    data : lazy dataset of shape (n_runs, n_steps, n_params)
        Anything with ``shape``, ``dtype`` and ``read_block(seqs, steps, params, dtype=None)``, such as a
        :class:`weightcast.io.SequenceView`.
    runs : int array of shape (n_windows,)
        The run of each window.
    steps : int array of shape (n_windows, n_window_steps)
        The recorded steps of each window, increasing.
    """

    ndim = 3

    def __init__(self, data, runs, steps):
        self.data = data
        self.runs = np.asarray(runs, dtype=np.int64)
        self.steps = np.asarray(steps, dtype=np.int64)
        if self.steps.ndim != 2 or self.runs.shape != self.steps.shape[:1]:
            raise ValueError(f"runs {self.runs.shape} and steps {self.steps.shape} must be (n_windows,) and "
                             "(n_windows, n_window_steps)")
        self.dtype = data.dtype

    @property
    def shape(self):
        return (self.steps.shape[0], self.steps.shape[1], self.data.shape[2])

    @property
    def size(self):
        return int(np.prod(self.shape))

    @property
    def param_chunk(self):
        return getattr(self.data, "param_chunk", None)

    @property
    def source(self):
        where = getattr(self.data, "source", type(self.data).__name__)
        return f"windows of {where}"

    def __repr__(self):
        return f"WindowView(shape={self.shape}, of {self.data!r})"

    def _select(self, windows, columns):
        windows, columns = np.arange(self.shape[0])[windows], np.arange(self.shape[1])[columns]
        return WindowView(self.data, self.runs[windows], self.steps[windows][:, columns])

    def read_block(self, seqs=None, steps=None, params=slice(None), dtype=None, out=None):
        """Read windows ``seqs``, window steps ``steps``, parameters ``params`` (n_seqs, n_steps, n_params_slab)."""
        windows = np.arange(self.shape[0])[slice(None) if seqs is None else seqs]
        columns = np.arange(self.shape[1])[slice(None) if steps is None else steps]
        windows, columns = np.atleast_1d(windows), np.atleast_1d(columns)
        wanted = self.steps[windows][:, columns]                            # (n_seqs, n_steps)
        n_slab = len(range(*params.indices(self.data.shape[2])))
        shape = (len(windows), len(columns), n_slab)
        if out is None:
            out = np.empty(shape, dtype=self.dtype if dtype is None else dtype)
        elif out.shape != shape:
            raise ValueError(f"out has shape {out.shape}, expected {shape}")
        if out.size == 0:
            return out
        runs = self.runs[windows]
        for run in np.unique(runs):
            mine = np.flatnonzero(runs == run)
            needed = np.unique(wanted[mine])
            block = self.data.read_block(seqs=np.array([run]), steps=needed, params=params, dtype=out.dtype)
            out[mine] = block[0][np.searchsorted(needed, wanted[mine])]
        return out
