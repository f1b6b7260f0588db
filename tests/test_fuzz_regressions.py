"""Regression tests for the bad inputs the fuzz suite (tests/test_fuzz.py) and its probes turned up."""

import numpy as np
import pytest

from weightcast import (
    AllSelector,
    CheckpointScorer,
    IntrospectionSelector,
    LinearFarcaster,
    SampledSelector,
    checkpoint_mse,
    split_sequences,
)

RNG = np.random.default_rng(0)


@pytest.mark.parametrize("solver", ["lstsq", "paper"])
def test_zero_parameters_are_refused(solver):
    with pytest.raises(ValueError, match="no parameters"):
        LinearFarcaster(solver=solver, max_epochs=1).fit(np.zeros((2, 5, 0)), np.zeros((2, 3, 0)))
    with pytest.raises(ValueError, match="no parameters"):
        split_sequences(np.zeros((2, 5, 0)), 2)


def test_overflow_never_gives_a_non_finite_forecast():
    X = np.array([[3.4e38]])
    est = LinearFarcaster(device="cpu", max_epochs=0, random_state=0).fit(X, np.array([0.0]))
    assert np.all(np.isfinite(est.predict(X)))  # float32 coefficients, float64 data: computed in float64
    est = LinearFarcaster(solver="lstsq", device="cpu").fit(np.array([[1.0], [2.0]]), np.array([2.0, 4.0]))
    with pytest.raises(ValueError, match="forecast overflows float64"):
        est.predict(np.array([[1e308]]))
    with pytest.raises(ValueError, match="forecast overflows float32"):
        est.predict(np.array([[3e38]], dtype=np.float32))


@pytest.mark.parametrize("solver", ["lstsq", "paper"])
def test_data_overflowing_the_solver_are_refused(solver):
    X = np.full((3, 2, 1), 1.5e308)  # any two rows have a column norm beyond float64's range
    for random_state in range(5):
        with pytest.raises(ValueError, match="overflow float64"):
            LinearFarcaster(solver=solver, device="cpu", random_state=random_state).fit(X, np.ones((3, 1, 1)))


@pytest.mark.parametrize("device, error", [("meta", "device must be 'auto', 'cpu', 'cuda' or 'cuda:N'"),
                                           ("tpu", "got 'tpu'")])
def test_devices_other_than_cpu_and_cuda_are_refused(device, error):
    with pytest.raises(ValueError, match=error):
        LinearFarcaster(solver="lstsq", device=device).fit(np.zeros((2, 5, 2)), np.zeros((2, 3, 2)))


def test_huge_learning_rate_is_refused():
    with pytest.raises(ValueError, match="lr must be"):
        LinearFarcaster(lr=1e38).fit(np.zeros((2, 5, 2)), np.zeros((2, 3, 2)))


@pytest.mark.parametrize("n_steps", [10 ** 13, 2 ** 63 - 1, 2 ** 63, 10 ** 30])
@pytest.mark.parametrize("selector", [AllSelector(), IntrospectionSelector(), SampledSelector(k=3)])
def test_absurd_window_lengths(selector, n_steps):
    try:
        selector.fit_steps(n_steps)
    except ValueError as exc:
        assert "n_steps" in str(exc)
    else:  # only selectors that do not enumerate the window can accept it, and then correctly
        assert np.all((selector.steps_ >= 0) & (selector.steps_ < n_steps))


@pytest.mark.parametrize("kwargs, error, match", [
    ({"Y_true": np.zeros((0, 3, 2)), "Y_pred": np.zeros((0, 3, 2))}, ValueError, "empty"),
    ({"scale": float("nan")}, TypeError, "scale must be a finite real number"),
    ({"scale": "x"}, TypeError, "scale must be a finite real number"),
    ({"scale": -1.0}, ValueError, "scale must be > 0"),
    ({"checkpoints": [[21], [22, 23]]}, TypeError, r"checkpoints\[0\] must be an integer"),
    ({"checkpoints": [21.5]}, TypeError, r"checkpoints\[0\] must be an integer"),
])
def test_checkpoint_mse_errors_name_the_problem(kwargs, error, match):
    args = {"Y_true": np.zeros((2, 3, 1)), "Y_pred": np.zeros((2, 3, 1)), "checkpoints": [21],
            "n_input_steps": 21} | kwargs
    with pytest.raises(error, match=match):
        checkpoint_mse(**args)


def test_scorer_refuses_non_integer_checkpoints_and_bad_scale():
    with pytest.raises(TypeError, match=r"checkpoints\[0\] must be an integer"):
        CheckpointScorer(checkpoints=[40.7])
    with pytest.raises(TypeError, match="scale must be a finite real number"):
        CheckpointScorer(scale="x")
