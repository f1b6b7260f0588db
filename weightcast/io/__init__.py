"""Files: weight-sequence datasets in HDF5 (lazy views, chunked writer), model persistence without
pickle, and atomic writes. Names are imported lazily (h5py and torch only when used)."""

from .._lazy import lazy_names as _lazy_names

_MODULES = {
    "atomic_output": ".atomic",
    "save": ".persistence",
    "load": ".persistence",
    "register_persistable": ".allowlist",
    "FORMAT_VERSION": ".persistence",
    "SequenceView": ".hdf5",
    "SequenceWriter": ".hdf5",
    "open_sequences": ".hdf5",
    "read_metadata": ".hdf5",
    "write_sequences": ".hdf5",
    "forecast_layout": ".hdf5",
    "convert_recording": ".legacy",
}

__all__ = list(_MODULES)
__getattr__, __dir__ = _lazy_names(__name__, _MODULES)
