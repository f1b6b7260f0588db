"""The classes a model file may name, filled by registration: io itself knows no model.

A class gets in with :func:`register_persistable` (the class itself, or lazily by module and attribute
name, so that registering costs no import). ``weightcast`` registers every estimator class it exports,
lazily, under its public name ``weightcast.<Class>``: a file names a class by where users import it
from, so moving a class between modules never breaks saved files.
"""

import importlib
import sys

__all__ = ["register_persistable", "lookup", "name_of"]

_CLASSES = {}  # name -> class
_LAZY = {}     # name -> (module, attribute): resolved when a file names it or an instance is saved


def register_persistable(cls=None, *, name=None, module=None, attribute=None):
    """Allow a class in model files (usable as a class decorator).

    Either pass the class (``name`` defaults to ``module.qualname``), or ``name``, ``module`` and
    ``attribute`` to register it lazily: the module is imported only when a file names the class.
    Public weightcast estimators are registered by the package itself.

    Examples
    --------
    >>> from sklearn.base import BaseEstimator
    >>> @register_persistable
    ... class MyForecaster(BaseEstimator):
    ...     pass
    """
    if cls is None and module is not None:
        if name is None or attribute is None:
            raise TypeError("a lazy registration needs name, module and attribute")
        _LAZY[name] = (module, attribute)
        return None

    def add(cls):
        _CLASSES[name or f"{cls.__module__}.{cls.__qualname__}"] = cls
        return cls
    return add if cls is None else add(cls)


def _resolve(name):
    """Import a lazily registered class; only estimator classes are allowed."""
    from sklearn.base import BaseEstimator

    module, attribute = _LAZY.pop(name)
    value = getattr(importlib.import_module(module), attribute, None)
    if isinstance(value, type) and issubclass(value, BaseEstimator):
        _CLASSES.setdefault(name, value)


def lookup(name):
    """The class registered under ``name``, or None."""
    if name not in _CLASSES and name in _LAZY:
        _resolve(name)
    return _CLASSES.get(name)


def name_of(cls):
    """The name ``cls`` is saved under, or None if it is not allowed."""
    # A class being saved has its module imported: only lazy entries of imported modules can match it.
    for name, (module, _) in list(_LAZY.items()):
        if module in sys.modules:
            _resolve(name)
    return next((name for name, registered in _CLASSES.items() if registered is cls), None)
