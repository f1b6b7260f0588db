import numpy as np
import pytest
from sklearn.base import BaseEstimator

from weightcast.constraints import (Boolean, InstanceOf, Integer, Options, Real, parameter_constraints,
                                    validate_params)


@pytest.mark.parametrize("value", [1, 5, np.int64(3)])
def test_integer_accepts(value):
    assert Integer(low=1, high=5).check(value, "n") == value


@pytest.mark.parametrize("value, error, message", [
    (True, TypeError, "n must be an integer, got True"),
    (2.0, TypeError, r"n must be an integer, got 2.0 \(float\)"),
    ("3", TypeError, "n must be an integer"),
    (None, TypeError, "n must be an integer, got None"),
    (0, ValueError, "n must be >= 1, got 0"),
    (6, ValueError, "n must be <= 5, got 6"),
])
def test_integer_refuses(value, error, message):
    with pytest.raises(error, match=message):
        Integer(low=1, high=5).check(value, "n")


def test_none_allowed_only_when_declared():
    assert Integer(low=1, none=True).check(None, "m") is None
    with pytest.raises(TypeError, match="m must be an integer or None"):
        Integer(low=1, none=True).check(1.5, "m")


@pytest.mark.parametrize("value, error, message", [
    (np.nan, TypeError, "lr must be a finite real number"),
    (np.inf, TypeError, "lr must be a finite real number"),
    (False, TypeError, "lr must be a finite real number"),
    (0.0, ValueError, "lr must be > 0, got 0.0"),
    (1.0, ValueError, "lr must be < 1, got 1.0"),
])
def test_real_refuses(value, error, message):
    with pytest.raises(error, match=message):
        Real(low=0, high=1, low_open=True, high_open=True).check(value, "lr")


def test_real_accepts_ints_and_numpy_floats():
    assert Real(low=0).check(0, "alpha") == 0
    assert Real(low=0).check(np.float32(0.5), "alpha") == 0.5


def test_options_and_kinds():
    rule = Options("l1", "mse")
    assert rule.check(np.str_("l1"), "loss") == "l1"
    with pytest.raises(ValueError, match="loss must be one of 'l1', 'mse', got 'l2'"):
        rule.check("l2", "loss")
    with pytest.raises(ValueError, match="must be one of 1, 2"):
        Options(1, 2).check(True, "power")  # True == 1, but a flag is not a power
    with pytest.raises(TypeError, match="fit_intercept must be True or False"):
        Boolean().check(1, "fit_intercept")
    with pytest.raises(TypeError, match="selector must be a step selector or None"):
        InstanceOf(BaseEstimator, "a step selector", none=True).check("first", "selector")


class _Parent(BaseEstimator):
    _parameter_constraints = {"a": Integer(low=0), "b": Real()}

    def __init__(self, a=0, b=1.0):
        self.a, self.b = a, b


class _Child(_Parent):
    _parameter_constraints = {"a": Integer(low=1), "c": Options("x")}

    def __init__(self, a=1, b=1.0, c="x"):
        super().__init__(a, b)
        self.c = c


def test_constraints_merge_along_bases():
    assert set(parameter_constraints(_Child)) == {"a", "b", "c"}
    validate_params(_Child())
    with pytest.raises(ValueError, match="a must be >= 1, got 0"):
        validate_params(_Child(a=0))
    validate_params(_Parent(a=0))


def test_undeclared_parameter_is_a_class_error():
    class Missing(BaseEstimator):
        def __init__(self, d=1):
            self.d = d

    with pytest.raises(RuntimeError, match="declares no constraint for its parameter 'd'"):
        validate_params(Missing())
