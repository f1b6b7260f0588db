"""Declarative parameter validation, shared by every estimator, selector and function of weightcast.

An estimator class declares ``_parameter_constraints = {"alpha": Real(low=0), "solver": Options("paper",
"lstsq"), ...}``, merged along its base classes, and its ``fit`` calls :func:`validate_params` first, as
scikit-learn's own estimators do. Functions and plain classes check their arguments with the same rules
(``Integer(low=1).check(n_steps, "n_steps")``), so one rule gives one message everywhere:

* a value of the wrong type raises a TypeError: ``"k must be an integer, got 2.5 (float)"``;
* a value out of range raises a ValueError: ``"alpha must be >= 0, got -1.0"``.

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

import numbers

import numpy as np

__all__ = ["Integer", "Real", "Options", "InstanceOf", "Boolean", "parameter_constraints", "validate_params"]


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


def _same_kind(value, option):
    return isinstance(value, type(option)) and isinstance(value, bool) == isinstance(option, bool)


def parameter_constraints(cls):
    """The ``_parameter_constraints`` of ``cls`` merged along its bases (subclasses override)."""
    merged = {}
    for klass in reversed(cls.__mro__):
        merged.update(vars(klass).get("_parameter_constraints", {}))
    return merged


def validate_params(estimator):
    """Check every constructor parameter of ``estimator`` against its class's declared constraints.

    A parameter without a declared constraint is a programming error of the class, reported as such.
    """
    constraints = parameter_constraints(type(estimator))
    for name, value in estimator.get_params(deep=False).items():
        if name not in constraints:
            raise RuntimeError(f"{type(estimator).__name__} declares no constraint for its parameter {name!r}")
        constraints[name].check(value, name)
