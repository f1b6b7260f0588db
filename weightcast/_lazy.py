"""Lazy public names for a package (PEP 562): a name's module is imported the first time it is used.

``import weightcast`` (and so every ``weightcast`` command, even ``--help``) then costs no torch or
scikit-learn import until a model is actually needed.
"""

import importlib
import sys

__all__ = ["lazy_names"]


def lazy_names(package, names):
    """``(__getattr__, __dir__)`` for ``package``, whose public ``names`` map to their (relative) modules."""
    def __getattr__(name):
        if name not in names:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(names[name], package), name)
        setattr(sys.modules[package], name, value)  # later uses skip this function
        return value

    def __dir__():
        return sorted(set(vars(sys.modules[package])) | set(names))

    return __getattr__, __dir__
