"""Step selectors: the steps they keep, alone, in a Pipeline and as a forecaster's selector."""

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.pipeline import make_pipeline

from weightcast import (
    AllSelector,
    FirstLastSelector,
    IntrospectionSelector,
    LastSelector,
    LinearFarcaster,
    SampledSelector,
    StepSelector,
)


@pytest.mark.parametrize("selector, n_steps, steps", [
    (AllSelector(), 4, [0, 1, 2, 3]),
    (FirstLastSelector(), 21, [0, 20]),
    (FirstLastSelector(), 1, [0]),
    (LastSelector(), 21, [20]),
    (IntrospectionSelector(), 21, [0, 8, 14, 20]),
    (IntrospectionSelector(), 11, [0, 4, 7, 10]),
    (IntrospectionSelector(fractions=(0.0, 0.5)), 5, [0, 2]),
    (StepSelector(steps=(0, 10, -1)), 21, [0, 10, 20]),
    (StepSelector(steps=(-2,)), 21, [19]),
])
def test_selected_steps(selector, n_steps, steps):
    assert selector.fit(np.zeros((3, n_steps))).steps_.tolist() == steps


def test_sampled_selector_draws_k_distinct_steps_reproducibly():
    X = np.zeros((2, 21))
    a = SampledSelector(k=5, random_state=0).fit(X).steps_
    assert len(set(a)) == 5 and np.all(np.diff(a) > 0) and a.max() <= 20
    np.testing.assert_array_equal(a, SampledSelector(k=5, random_state=0).fit(X).steps_)
    draws = {tuple(SampledSelector(k=5, random_state=seed).fit(X).steps_) for seed in range(10)}
    assert len(draws) > 1


def test_transform_keeps_the_steps_of_2d_and_3d_windows():
    X3 = np.arange(2 * 6 * 3, dtype=float).reshape(2, 6, 3)
    out = StepSelector(steps=(0, -1)).fit(X3).transform(X3)
    np.testing.assert_array_equal(out, X3[:, [0, 5]])
    X2 = X3[:, :, 0]
    np.testing.assert_array_equal(FirstLastSelector().fit_transform(X2), X2[:, [0, 5]])
    assert FirstLastSelector().fit(X2).get_feature_names_out().tolist() == ["w0", "w5"]


def test_selector_in_a_pipeline_before_a_forecaster():
    rng = np.random.default_rng(0)
    X, A = rng.normal(size=(20, 8, 4)), rng.normal(size=(2, 3))
    Y = np.einsum("nsp,sm->nmp", X[:, [0, 7]], A)
    pipe = make_pipeline(FirstLastSelector(), LinearFarcaster(solver="lstsq", device="cpu")).fit(X, Y)
    np.testing.assert_allclose(pipe.predict(X), Y, atol=1e-10)
    assert pipe.predict(X, m=2).shape == (20, 2, 4)


@pytest.mark.parametrize("selector, match", [
    (SampledSelector(k=30), "k=30 steps cannot be drawn from a window of 21"),
    (SampledSelector(k=0), "k must be >= 1"),
    (StepSelector(steps=(0, 25)), "do not fit a window of 21"),
    (StepSelector(steps=(0, -22)), "do not fit a window of 21"),
    (StepSelector(steps=(0, -21)), "name the same step twice"),
    (StepSelector(steps=()), "steps must be a non-empty sequence of integers"),
    (IntrospectionSelector(fractions=(1.5,)), r"fractions\[0\] must be <= 1, got 1.5"),
    (IntrospectionSelector(fractions=()), r"fractions must be a non-empty sequence of numbers in \[0, 1\]"),
])
def test_bad_selector_parameters_are_named(selector, match):
    with pytest.raises(ValueError, match=match):
        selector.fit(np.zeros((2, 21)))


@pytest.mark.parametrize("selector, match", [
    (StepSelector(steps=(0.5,)), r"steps\[0\] must be an integer, got 0.5 \(float\)"),
    (StepSelector(steps="0"), "steps must be a non-empty sequence of integers, got '0'"),
    (IntrospectionSelector(fractions=("a",)), r"fractions\[0\] must be a finite real number"),
])
def test_wrongly_typed_selector_parameters_are_named(selector, match):
    with pytest.raises(TypeError, match=match):
        selector.fit(np.zeros((2, 21)))


def test_sampled_selector_rejects_a_non_integer_k():
    with pytest.raises(TypeError, match="k must be an integer"):
        SampledSelector(k=2.5).fit(np.zeros((2, 21)))


def test_transform_checks_the_number_of_steps():
    selector = FirstLastSelector().fit(np.zeros((2, 21)))
    with pytest.raises(ValueError, match="21 features"):
        selector.transform(np.zeros((2, 20)))


def test_clone_keeps_parameters_and_drops_the_fit():
    selector = SampledSelector(k=3, random_state=4).fit(np.zeros((2, 9)))
    copy = clone(selector)
    assert copy.get_params() == {"k": 3, "random_state": 4}
    assert not hasattr(copy, "steps_")
