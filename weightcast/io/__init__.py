"""Files: weight-sequence datasets in HDF5 (lazy views, chunked writer), model persistence without
pickle, and atomic writes."""

from .atomic import atomic_output
from .hdf5 import SequenceView, SequenceWriter, forecast_layout, open_sequences, read_metadata, write_sequences
from .legacy import convert_recording
from .persistence import FORMAT_VERSION, load, register_persistable, save

__all__ = ["atomic_output", "save", "load", "register_persistable", "FORMAT_VERSION", "SequenceView",
           "SequenceWriter", "open_sequences", "read_metadata", "write_sequences", "forecast_layout",
           "convert_recording"]
