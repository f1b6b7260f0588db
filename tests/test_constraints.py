import copy

import numpy as np
import pytest
from sklearn.base import BaseEstimator

from weightcast.constraints import (Boolean, Device, InstanceOf, Integer, ListOf, Options, Real, Seed,
                                    parameter_constraints, validate_params)
from weightcast.registry import all_estimators


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


# ---------------------------------------------------------------------------------------------- the rules
# added for the estimators: device strings, random states, sequences


@pytest.mark.parametrize("value", ["auto", "cpu", "cuda", "cuda:0", "cuda:12"])
def test_device_accepts(value):
    assert Device().check(value, "device") == value


@pytest.mark.parametrize("value, error, message", [
    (0, TypeError, r"device must be a string \('auto', 'cpu', 'cuda' or 'cuda:N'\), got 0 \(int\)"),
    ("gpu0", ValueError, "device must be 'auto', 'cpu', 'cuda' or 'cuda:N' .*, got 'gpu0'"),
    ("cuda:x", ValueError, "got 'cuda:x'"),
    ("meta", ValueError, "got 'meta'"),
])
def test_device_refuses(value, error, message):
    with pytest.raises(error, match=message):
        Device().check(value, "device")


@pytest.mark.parametrize("value", [None, 0, np.int32(7), 2 ** 32 - 1, np.random.RandomState(0),
                                   np.random.default_rng(0)])
def test_seed_accepts(value):
    assert Seed().check(value, "random_state") is value


@pytest.mark.parametrize("value, error, message", [
    (-1, ValueError, "random_state must be >= 0, got -1"),
    (2 ** 32, ValueError, "random_state must be <= 4294967295"),
    (1.0, TypeError, "random_state must be None, an integer seed, a numpy RandomState or a numpy Generator"),
    (True, TypeError, "random_state must be None, an integer seed"),
])
def test_seed_refuses(value, error, message):
    with pytest.raises(error, match=message):
        Seed().check(value, "random_state")


def test_list_of_names_the_bad_item():
    rule = ListOf(Integer(low=0), "integers")
    assert rule.check((1, 2), "steps") == (1, 2)
    assert rule.check(np.arange(3), "steps") is not None
    assert rule.check(range(2), "steps") == range(2)
    with pytest.raises(TypeError, match=r"steps\[1\] must be an integer, got 0.5 \(float\)"):
        rule.check([1, 0.5], "steps")
    with pytest.raises(ValueError, match=r"steps\[0\] must be >= 0, got -1"):
        rule.check([-1], "steps")
    with pytest.raises(ValueError, match=r"steps must be a non-empty sequence of integers, got \(\)"):
        rule.check((), "steps")
    for value in ("01", 3, {1, 2}, np.zeros((2, 2), dtype=int)):
        with pytest.raises(TypeError, match="steps must be a non-empty sequence of integers, got"):
            rule.check(value, "steps")


def test_or_none_keeps_the_rule():
    rule = Integer(low=2)
    lenient = rule.or_none()
    assert lenient.check(None, "n") is None and not rule.none
    with pytest.raises(ValueError, match="n must be >= 2, got 1"):
        lenient.check(1, "n")


def test_validate_params_can_check_some_parameters():
    validate_params(_Child(a=0), ["b", "c"])
    with pytest.raises(ValueError, match="a must be >= 1"):
        validate_params(_Child(a=0), ["a"])


# ---------------------------------------------------------------------------------------------- every public
# estimator declares a rule for each parameter, and fit applies it with the rule's own message

ESTIMATORS = [cls for _, cls in all_estimators()]
FORECASTERS = [cls for _, cls in all_estimators("forecaster")]


def bad_values(rule):
    """``(value, error)`` pairs that ``rule`` refuses: wrong types, and values just past each bound."""
    if isinstance(rule, ListOf):
        items = [([value], error) for value, error in bad_values(rule.item)]
        return [("0", TypeError), ((), ValueError)] + items
    if isinstance(rule, Integer):
        bad = [(2.5, TypeError), ("1", TypeError), (True, TypeError)]
    elif isinstance(rule, Real):
        bad = [("1", TypeError), (float("nan"), TypeError), (float("inf"), TypeError), (False, TypeError)]
    elif isinstance(rule, Options):
        return [("no such option", ValueError)]
    elif isinstance(rule, Boolean):
        return [(1, TypeError), ("yes", TypeError)]
    elif isinstance(rule, InstanceOf):
        return [("an instance of nothing", TypeError)]
    elif isinstance(rule, Device):
        return [(0, TypeError), ("gpu0", ValueError)]
    elif isinstance(rule, Seed):
        return [(1.5, TypeError), (-1, ValueError), (2 ** 32, ValueError)]
    else:
        raise AssertionError(f"no bad values known for {type(rule).__name__}: add them here")
    for bound, is_open, direction in ((rule.low, rule.low_open, -1), (rule.high, rule.high_open, 1)):
        if bound is not None:
            bad.append((bound + direction * max(1, abs(bound)), ValueError))  # well past it (1e30 + 1 == 1e30)
            if is_open:
                bad.append((bound, ValueError))
    return bad


def rule_message(rule, value, name):
    with pytest.raises((TypeError, ValueError)) as info:
        rule.check(value, name)
    return type(info.value), str(info.value)


def small_data(cls):
    rng = np.random.default_rng(0)
    if cls in FORECASTERS:
        S = np.cumsum(rng.normal(size=(6, 9, 3)), axis=1)
        return S[:, :6], S[:, 6:]
    return np.zeros((4, 6)), None


@pytest.mark.parametrize("cls", ESTIMATORS, ids=lambda cls: cls.__name__)
def test_every_parameter_has_a_rule_and_the_defaults_and_test_params_obey_it(cls):
    constructor = set(cls._get_param_names())  # scikit-learn's reading of the __init__ signature
    undeclared = constructor - set(parameter_constraints(cls))
    assert not undeclared, f"{cls.__name__} declares no rule for {sorted(undeclared)}"
    validate_params(cls())
    for params in cls.get_test_params():
        validate_params(cls(**params))


def test_every_declared_rule_belongs_to_a_parameter():
    """A rule left behind by a renamed or removed parameter is an error too."""
    used = {name for cls in ESTIMATORS for name in cls().get_params(deep=False)}
    declared = {name for cls in ESTIMATORS for klass in cls.__mro__
                for name in vars(klass).get("_parameter_constraints", {})}
    assert declared <= used, sorted(declared - used)


@pytest.mark.parametrize("cls", ESTIMATORS, ids=lambda cls: cls.__name__)
def test_fit_refuses_each_bad_parameter_with_the_rules_message(cls):
    X, Y = small_data(cls)
    base = cls.get_test_params()[0]
    params, checked = cls().get_params(deep=False), set()
    for name, rule in parameter_constraints(cls).items():
        if name not in params:
            continue
        for value, error in bad_values(rule):
            expected = rule_message(rule, value, name)
            assert expected[0] is error, (name, value, expected)
            assert expected[1].startswith(name), expected  # the message names the parameter
            estimator = cls(**{**base, name: value})
            calls = [lambda: estimator.fit(X, Y)]
            if cls not in FORECASTERS:
                calls.append(lambda: estimator.fit_steps(X.shape[1]))
            for call in calls:
                with pytest.raises(error) as info:
                    call()
                assert str(info.value) == expected[1], (name, value)
                assert not hasattr(estimator, "n_features_in_")  # nothing was fitted
                checked.add(name)
    assert checked == set(params)


@pytest.mark.parametrize("cls", FORECASTERS, ids=lambda cls: cls.__name__)
def test_predict_checks_m_and_the_runtime_parameters_by_the_same_rules(cls):
    X, Y = small_data(cls)
    estimator = cls(**cls.get_test_params()[0]).fit(X, Y)
    rules = parameter_constraints(cls)
    for value, error in bad_values(rules["m"]):
        with pytest.raises(error) as info:
            estimator.predict(X, m=value)
        assert str(info.value) == rule_message(rules["m"], value, "m")[1]
        with pytest.raises(error) as info:
            cls(**{**cls.get_test_params()[0], "m": value}).fit(X, Y)
        assert str(info.value) == rule_message(rules["m"], value, "m")[1]
    for name in ("slab_size", "verbose", "device"):  # set_params may change them after fit
        for value, error in bad_values(rules[name]):
            changed = copy.deepcopy(estimator).set_params(**{name: value})
            with pytest.raises(error) as info:
                changed.predict(X)
            assert str(info.value) == rule_message(rules[name], value, name)[1]
