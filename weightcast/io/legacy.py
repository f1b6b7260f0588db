"""Convert recordings of the old ``weightcast-trajectories`` layout into weight-sequence files.

That layout (written by weightcast's recorder before it wrote through :class:`SequenceWriter`) held
``/weights`` (n_sequences, n_steps, n_params) with NaN where nothing was recorded, a 2-D ``/steps``
(n_sequences, n_steps) with -1 where nothing was recorded, and the parameter names and shapes as JSON
in the ``param_layout`` attribute of ``/weights``.
"""

import json
import os

import numpy as np

from .hdf5 import (
    DEFAULT_DATASET,
    LEGACY_RECORDING_FORMAT,
    SequenceWriter,
    _as_str,
    _check_claimed,
    _open_file,
    _storage_ends,
    open_sequences,
)

__all__ = ["convert_recording"]


def convert_recording(source, target, *, dataset=DEFAULT_DATASET, checksum=False, max_bytes=2 ** 28,
                      overwrite=False):
    """Copy an old-layout recording into a weight-sequence file; return a view of the new file.

    The copy keeps the data, the step numbers, the parameter names and shapes, and how far each run was
    recorded (a run that stopped early stays an incomplete sequence). It reads and writes one slab of
    parameters at a time (at most about ``max_bytes`` of data in memory, and at least one chunk column),
    and writes the new file atomically. A truncated or damaged old file is refused.

    Parameters
    ----------
    source : str or path-like
        A file whose ``format`` attribute is ``"weightcast-trajectories"`` (also one whose writer was killed).
    target : str or path-like
    dataset : str, default="weights"
        The dataset name in the new file.
    checksum : bool, default=False
        Store fletcher32 checksums in the new file (see :class:`SequenceWriter`).
    max_bytes : int, default=256 MiB
    overwrite : bool, default=False
    """
    source = os.path.abspath(os.fspath(source))
    with _open_file(source) as f:
        if _as_str(f.attrs.get("format")) != LEGACY_RECORDING_FORMAT:
            raise ValueError(f"{source!r} is not a recording in the old {LEGACY_RECORDING_FORMAT!r} layout "
                             f"(its 'format' attribute is {_as_str(f.attrs.get('format'))!r})")
        try:
            weights, steps = f["weights"], np.asarray(f["steps"][...], dtype=np.int64)
            layout = json.loads(_as_str(weights.attrs["param_layout"]))
            names, shapes = list(layout["names"]), [tuple(shape) for shape in layout["shapes"]]
            every = int(weights.attrs.get("every", 1))
            n_seq, n_steps, n_params = weights.shape
            recorded = _recorded_prefix(steps, source)
            numbers = _shared_step_numbers(steps, recorded, every, source)
            size = os.path.getsize(source)
            ends, chunks = _storage_ends(weights, source, size)
            _check_claimed(ends, chunks, weights.shape, recorded, size, source, "weights")
        except (KeyError, OSError, RuntimeError, json.JSONDecodeError, TypeError) as exc:
            raise ValueError(f"cannot read the old-layout recording {source!r} (damaged file?): {exc}") from None
        chunk_params = chunks[2] if weights.chunks else None
        per_param = max(1, n_seq * n_steps * 4)
        slab = max(chunk_params or 1, max_bytes // per_param // (chunk_params or 1) * (chunk_params or 1))
        with SequenceWriter(target, n_seq, n_params, n_steps=n_steps, dataset=dataset,
                            chunk_steps=chunks[1] if weights.chunks else 16, chunk_params=chunk_params,
                            steps=numbers, param_names=names, param_shapes=shapes, recorded=recorded,
                            checksum=checksum, overwrite=overwrite) as writer:
            block = np.zeros((n_seq, n_steps, min(slab, n_params)), dtype=np.float32)  # only recorded steps are copied
            # read by hand: the old layout is no SequenceView, and io sits below weightcast.rows in the import layers
            for p0 in range(0, n_params, slab):
                p1 = min(p0 + slab, n_params)
                out = block if p1 - p0 == block.shape[2] else np.zeros(block.shape[:2] + (p1 - p0,), np.float32)
                for i, n in enumerate(recorded.tolist()):
                    if n:
                        try:
                            weights.read_direct(out, np.s_[i, :n, p0:p1], np.s_[i, :n, :])
                        except (OSError, RuntimeError) as exc:
                            raise ValueError(f"reading {source!r} failed at sequence {i}, parameters {p0}-{p1 - 1} "
                                             f"(damaged file?): {exc}") from None
                writer.write_slab(slice(p0, p1), out)
    return open_sequences(target, dataset)


def _recorded_prefix(steps, path):
    """Snapshots recorded per sequence: the old writer filled each sequence's steps from the start."""
    held = steps >= 0
    recorded = np.where(held.all(axis=1), steps.shape[1], np.argmin(held, axis=1)).astype(np.int64)
    after = np.arange(steps.shape[1])[None, :] >= recorded[:, None]
    if np.any(held & after):
        seq = int(np.flatnonzero((held & after).any(axis=1))[0])
        raise ValueError(f"{path!r} is damaged: sequence {seq} has step numbers after a step that was never recorded")
    return recorded


def _shared_step_numbers(steps, recorded, every, path):
    """One step number per step, shared by every sequence that reached it (the new layout has one axis)."""
    numbers = np.arange(steps.shape[1], dtype=np.int64) * every  # what the old recorder wrote
    for seq, n in enumerate(recorded.tolist()):
        differ = np.flatnonzero(steps[seq, :n] != numbers[:n])
        if len(differ):
            j = int(differ[0])
            raise ValueError(f"{path!r}: sequence {seq} records step {j} as training step {int(steps[seq, j])}, not "
                             f"{int(numbers[j])} (every={every}); its sequences do not share one axis of step numbers, "
                             "so they cannot be one weight-sequence file")
    return numbers
