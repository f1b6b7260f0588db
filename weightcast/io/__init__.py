"""Reading and writing weight-sequence files."""

from .hdf5 import (
    DEFAULT_DATASET,
    FORMAT_NAME,
    FORMAT_VERSION,
    SequenceView,
    SequenceWriter,
    open_sequences,
    read_metadata,
    write_sequences,
)

__all__ = [
    "DEFAULT_DATASET",
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "SequenceView",
    "SequenceWriter",
    "open_sequences",
    "read_metadata",
    "write_sequences",
]
