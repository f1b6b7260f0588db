"""Files: model persistence without pickle, and atomic writes."""

from .atomic import atomic_output
from .persistence import FORMAT_VERSION, load, register_persistable, save

__all__ = ["atomic_output", "save", "load", "register_persistable", "FORMAT_VERSION"]
