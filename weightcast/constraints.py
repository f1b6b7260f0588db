"""Declarative parameter validation, shared by every estimator, selector and function of weightcast.

An estimator class declares ``_parameter_constraints = {"alpha": Real(low=0), "solver": Options("paper",
"lstsq"), ...}``, merged along its base classes, and its ``fit`` calls :func:`validate_params` first, as
scikit-learn's own estimators do. Functions and plain classes check their arguments with the same rules
(``Integer(low=1).check(n_steps, "n_steps")``), so one rule gives one message everywhere:

* a value of the wrong type raises a TypeError: ``"k must be an integer, got 2.5 (float)"``;
* a value out of range raises a ValueError: ``"alpha must be >= 0, got -1.0"``.

Rules that involve several parameters (``k`` together with an explicit ``selector``) or the data (``k`` at
most the number of input steps) stay with the code that needs them, in the same style.

Examples
--------
>>> Integer(low=1).check(3, "n_steps")
3
>>> Real(low=0, low_open=True).check(0.0, "lr")
Traceback (most recent call last):
...
ValueError: lr must be > 0, got 0.0
>>> Options("paper", "lstsq").check("svd", "solver")
Traceback (most recent call last):
...
ValueError: solver must be one of 'paper', 'lstsq', got 'svd'
"""

import collections.abc
import copy
import numbers
import re

import numpy as np

__all__ = ["Integer", "Real", "Options", "InstanceOf", "Boolean", "Device", "Seed", "ListOf",
           "parameter_constraints", "validate_params"]


class _Constraint:
    """A rule for one value; ``none=True`` also accepts None."""

    def __init__(self, none=False):
        self.none = none

    def check(self, value, name):
        """Return ``value`` if it satisfies the rule, else raise TypeError/ValueError naming ``name``."""
        if value is None and self.none:
            return value
        self._check(value, name)
        return value

    def or_none(self):
        """The same rule, also accepting None."""
        rule = copy.copy(self)
        rule.none = True
        return rule

    def _or_none(self, text):
        return f"{text} or None" if self.none else text

    def _check(self, value, name):
        raise NotImplementedError


def _type_error(name, expected, value):
    return TypeError(f"{name} must be {expected}, got {value!r} ({type(value).__name__})")


class _Bounded(_Constraint):
    def __init__(self, low=None, high=None, low_open=False, high_open=False, none=False):
        super().__init__(none)
        self.low, self.high, self.low_open, self.high_open = low, high, low_open, high_open

    def _check_bounds(self, value, name):
        if self.low is not None and (value < self.low or (self.low_open and value == self.low)):
            raise ValueError(f"{name} must be {'>' if self.low_open else '>='} {self.low}, got {value!r}")
        if self.high is not None and (value > self.high or (self.high_open and value == self.high)):
            raise ValueError(f"{name} must be {'<' if self.high_open else '<='} {self.high}, got {value!r}")


class Integer(_Bounded):
    """An integer (Python or numpy, not bool) within optional bounds."""

    def _check(self, value, name):
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
            raise _type_error(name, self._or_none("an integer"), value)
        self._check_bounds(value, name)


class Real(_Bounded):
    """A finite real number (int or float, not bool) within optional bounds."""

    def _check(self, value, name):
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real) or not np.isfinite(value):
            raise _type_error(name, self._or_none("a finite real number"), value)
        self._check_bounds(value, name)


class Boolean(_Constraint):
    """True or False (numpy booleans too)."""

    def _check(self, value, name):
        if not isinstance(value, (bool, np.bool_)):
            raise _type_error(name, self._or_none("True or False"), value)


class Options(_Constraint):
    """One of a few values (equal and of the same type: True is not 1)."""

    def __init__(self, *options, none=False):
        super().__init__(none)
        self.options = options

    def _check(self, value, name):
        if not any(_same_kind(value, option) and value == option for option in self.options):
            listed = ", ".join(repr(option) for option in self.options)
            raise ValueError(f"{name} must be one of {self._or_none(listed)}, got {value!r}")


class InstanceOf(_Constraint):
    """An instance of ``types`` (a class or tuple of classes), described to users as ``description``."""

    def __init__(self, types, description, none=False):
        super().__init__(none)
        self.types, self.description = types, description

    def _check(self, value, name):
        if not isinstance(value, self.types):
            raise TypeError(f"{name} must be {self._or_none(self.description)}, got {value!r}")


class Device(_Constraint):
    """A device string: ``"auto"`` (CUDA when available), ``"cpu"``, ``"cuda"`` or ``"cuda:N"``; resolved by
    :func:`weightcast.device.resolve_device`."""

    _PATTERN = re.compile(r"auto|cpu|cuda(:[0-9]+)?")

    def _check(self, value, name):
        if not isinstance(value, str):
            raise _type_error(name, self._or_none("a string ('auto', 'cpu', 'cuda' or 'cuda:N')"), value)
        if not self._PATTERN.fullmatch(value):
            raise ValueError(f"{name} must be 'auto', 'cpu', 'cuda' or 'cuda:N' (N a GPU index), got {value!r}")


class Seed(_Constraint):
    """A ``random_state``: None, an integer seed in [0, 2**32 - 1], a numpy ``RandomState`` or ``Generator``."""

    def _check(self, value, name):
        if value is None or isinstance(value, (np.random.RandomState, np.random.Generator)):
            return
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
            raise _type_error(name, "None, an integer seed, a numpy RandomState or a numpy Generator", value)
        Integer(low=0, high=2 ** 32 - 1).check(value, name)


class ListOf(_Constraint):
    """A non-empty sequence (list, tuple, range or 1-D array) of items that each satisfy ``item``; ``what``
    names the items for users (``"integers"``). An item's error names its position: ``steps[1]``."""

    def __init__(self, item, what, none=False):
        super().__init__(none)
        self.item, self.what = item, what

    def _check(self, value, name):
        if isinstance(value, np.ndarray):
            sequence = value.ndim == 1
        else:
            sequence = isinstance(value, collections.abc.Sequence) and not isinstance(value, (str, bytes))
        if not sequence:
            raise _type_error(name, self._or_none(f"a non-empty sequence of {self.what}"), value)
        if len(value) == 0:
            raise ValueError(f"{name} must be a non-empty sequence of {self.what}, got {value!r}")
        for i, item in enumerate(value):
            self.item.check(item, f"{name}[{i}]")


def _same_kind(value, option):
    return isinstance(value, type(option)) and isinstance(value, bool) == isinstance(option, bool)


def parameter_constraints(cls):
    """The ``_parameter_constraints`` of ``cls`` merged along its bases (subclasses override)."""
    merged = {}
    for klass in reversed(cls.__mro__):
        merged.update(vars(klass).get("_parameter_constraints", {}))
    return merged


def validate_params(estimator, names=None):
    """Check the constructor parameters of ``estimator`` (all, or only ``names``) against its class's
    declared constraints.

    A parameter without a declared constraint is a programming error of the class, reported as such.
    """
    constraints = parameter_constraints(type(estimator))
    params = estimator.get_params(deep=False)
    for name in params if names is None else names:
        if name not in constraints:
            raise RuntimeError(f"{type(estimator).__name__} declares no constraint for its parameter {name!r}")
        constraints[name].check(params[name], name)
