"""Data files of sequences chosen by suffix: ``.npy`` (memory-mapped, read-only) and ``.h5``/``.hdf5``
(lazy views, streamed slab by slab). Every output is written under a temporary name and renamed into place."""

import os
from pathlib import Path

import numpy as np

from .atomic import atomic_output
from .hdf5 import DEFAULT_DATASET, open_sequences, write_sequences

__all__ = ["read_data", "write_data", "check_writable", "DATA_READERS", "DATA_WRITERS"]


def _read_npy(path, dataset):
    if dataset is not None:
        raise ValueError(f"--dataset applies to HDF5 files, not to the .npy file {str(path)!r}")
    try:
        # Memory-mapped read-only: large files are not loaded whole and cannot be modified.
        return np.load(path, mmap_mode="r", allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        if isinstance(exc, FileNotFoundError):
            raise
        raise ValueError(f"{str(path)!r} is not a readable .npy array file: {exc}") from None


def _write_npy(path, array):
    with atomic_output(path) as tmp:
        with open(tmp, "wb") as f:
            np.save(f, np.asarray(array), allow_pickle=False)


def _read_hdf5(path, dataset):
    # A lazy view: fit and predict stream it slab by slab (docs/formats.md).
    return open_sequences(path, DEFAULT_DATASET if dataset is None else dataset)


def _write_hdf5(path, array):
    write_sequences(path, array, overwrite=True)


# Suffix -> reader(path, dataset) / writer(path, array).
DATA_READERS = {".npy": _read_npy, ".h5": _read_hdf5, ".hdf5": _read_hdf5}
DATA_WRITERS = {".npy": _write_npy, ".h5": _write_hdf5, ".hdf5": _write_hdf5}


def _suffix(path, table, what):
    suffix = Path(path).suffix.lower()
    if suffix not in table:
        raise ValueError(f"cannot {what} {str(path)!r}: unsupported file type {suffix or '(no suffix)'!r}; "
                         f"supported: {', '.join(sorted(table))}")
    return table[suffix]


def read_data(path, dataset=None):
    """Read a data file of sequences by its suffix (read-only where the format allows)."""
    reader = _suffix(path, DATA_READERS, "read")
    if not os.path.exists(path):
        raise FileNotFoundError(f"no data file at {str(path)!r}")
    if not os.path.isfile(path):
        raise ValueError(f"{str(path)!r} is not a file")
    return reader(Path(path), dataset)


def check_writable(path):
    """Raise a ValueError now if ``path`` has no supported suffix for :func:`write_data` (before any work)."""
    _suffix(path, DATA_WRITERS, "write")


def write_data(path, array):
    """Write ``array`` to ``path`` by its suffix, atomically (temporary name, then rename)."""
    _suffix(path, DATA_WRITERS, "write")(Path(path), array)
