"""Bad input to the forecasters: each a clear ValueError / TypeError / NotFittedError naming the problem."""

import re

import numpy as np
import pytest
from sklearn.exceptions import NotFittedError

from weightcast import LFD2Forecaster, LFNForecaster, LinearFarcaster, SampledSelector, StepSelector

SOLVERS = [dict(solver="lstsq"), dict(solver="paper", max_epochs=2, random_state=0)]


@pytest.fixture
def data():
    rng = np.random.default_rng(0)
    return rng.normal(size=(6, 5, 3)), rng.normal(size=(6, 4, 3))


@pytest.mark.parametrize("params", SOLVERS)
@pytest.mark.parametrize("bad, kind", [(np.nan, "NaN"), (np.inf, "inf"), (-np.inf, "-inf")])
def test_non_finite_values_are_refused_and_located(data, params, bad, kind):
    X, Y = data
    X_bad, Y_bad = X.copy(), Y.copy()
    X_bad[1, 2, 0] = bad  # a step LFD-2 does not read: an in-memory X is checked whole
    Y_bad[0, 0, 2] = bad

    def message(name, seq, step, param):
        return "^" + re.escape(f"{name} holds {kind} at sequence {seq}, step {step}, parameter {param}; "
                               "weight sequences must be finite") + "$"

    with pytest.raises(ValueError, match=message("X", 1, 2, 0)):
        LFD2Forecaster(device="cpu", **params).fit(X_bad, Y)
    with pytest.raises(ValueError, match=message("Y", 0, 0, 2)):
        LFD2Forecaster(device="cpu", **params).fit(X, Y_bad)
    est = LFD2Forecaster(device="cpu", **params).fit(X, Y)
    with pytest.raises(ValueError, match=message("X", 1, 2, 0)):
        est.predict(X_bad)
    if params["solver"] == "paper":  # the exact solver has no use for validation data
        with pytest.raises(ValueError, match=message("validation X", 1, 2, 0)):
            LFD2Forecaster(device="cpu", **params).fit(X, Y, validation_data=(X_bad, Y))


def test_one_run_given_as_steps_by_params_gets_the_lift_explained():
    S = np.random.default_rng(0).normal(size=(30, 2000))  # one run: 30 steps of 2000 parameters
    with pytest.raises(ValueError, match=r"number of sequences: X has 5, Y has 25.*a 2-D X is read as "
                                         r"\(n_sequences, n_steps\), one parameter per sequence.*pass S\[None\]"):
        LFD2Forecaster(device="cpu").fit(S[:5], S[5:])
    with pytest.warns(UserWarning, match=r"X has shape \(5, 2000\), read as 5 sequences of 2000 steps.*S\[None\]"):
        LFD2Forecaster(solver="lstsq", device="cpu").fit(S[:5], S[5:10])
    est = LFD2Forecaster(solver="lstsq", device="cpu").fit(S[None, :5], S[None, 5:])  # as the hint says
    assert est.predict(S[None, :5]).shape == (1, 25, 2000)
    with pytest.raises(ValueError, match=r"input steps.*a 2-D X is read as"):
        est.predict(S[:5])


def test_x_and_y_must_agree(data):
    X, Y = data
    with pytest.raises(ValueError, match="number of sequences"):
        LFD2Forecaster(device="cpu").fit(X, Y[:5])
    with pytest.raises(ValueError, match="number of parameters: X has 3, Y has 2"):
        LFD2Forecaster(device="cpu").fit(X, Y[:, :, :2])


def test_wrong_ndim_is_refused(data):
    X, Y = data
    with pytest.raises(ValueError, match="Expected 2D array, got 1D array"):
        LFD2Forecaster(device="cpu").fit(X[:, 0, 0], Y)
    with pytest.raises(ValueError, match=r"shape \(n_sequences, n_steps, n_params\)"):
        LFD2Forecaster(device="cpu").fit(X[..., None], Y)
    with pytest.raises(ValueError, match=r"Y must have shape"):
        LFD2Forecaster(device="cpu").fit(X, Y[..., None])


def test_too_few_input_steps_for_the_selector(data):
    X, Y = data
    with pytest.raises(ValueError, match="do not fit a window of 5"):
        LinearFarcaster(selector=StepSelector(steps=(0, 7)), device="cpu").fit(X, Y)
    with pytest.raises(ValueError, match="k=9 steps cannot be drawn from a window of 5"):
        LinearFarcaster(selector=SampledSelector(k=9), device="cpu").fit(X, Y)
    with pytest.raises(ValueError, match="needs w_0 and w_1"):
        LFD2Forecaster(device="cpu", beta=1e-6).fit(X[:, :1], Y)


@pytest.mark.parametrize("m, error, match", [
    (0, ValueError, "m must be >= 1"),
    (-3, ValueError, "m must be >= 1"),
    (5, ValueError, "m=5 is beyond the fitted horizon of 4"),
    (2.5, TypeError, "m must be an integer"),
])
def test_bad_horizon_at_predict(data, m, error, match):
    X, Y = data
    est = LFD2Forecaster(solver="lstsq", device="cpu").fit(X, Y)
    with pytest.raises(error, match=match):
        est.predict(X, m=m)


def test_constructor_m_beyond_the_targets(data):
    X, Y = data
    with pytest.raises(ValueError, match="m=9 target steps were asked for but Y holds only 4"):
        LFD2Forecaster(m=9, device="cpu").fit(X, Y)


def test_predict_must_match_the_fitted_steps_and_parameters(data):
    X, Y = data
    est = LFNForecaster(solver="lstsq", device="cpu").fit(X, Y)
    with pytest.raises(ValueError, match="X has 4 features.*input time steps"):
        est.predict(X[:, :4])
    with pytest.raises(ValueError, match="X has 2 parameters per step, but LFNForecaster was fitted on 3"):
        est.predict(X[:, :, :2])


def test_predict_before_fit(data):
    with pytest.raises(NotFittedError):
        LFD2Forecaster().predict(data[0])


@pytest.mark.parametrize("params, error, match", [
    (dict(solver="adam"), ValueError, "solver must be one of 'paper', 'lstsq', got 'adam'"),
    (dict(init="zeros"), ValueError, "init must be one of 'lstsq', 'default', got 'zeros'"),
    (dict(alpha=-1.0), ValueError, "alpha must be >= 0"),
    (dict(beta=float("nan")), TypeError, "beta must be a finite real number"),
    (dict(lr=0.0), ValueError, "lr must be > 0"),
    (dict(batch_size=0), ValueError, "batch_size must be >= 1"),
    (dict(validation_fraction=1.0), ValueError, "validation_fraction must be < 1"),
    (dict(slab_size=2.5), TypeError, "slab_size must be an integer"),
    (dict(device="gpu0"), ValueError, "device must be 'auto', 'cpu', 'cuda' or 'cuda:N' .*, got 'gpu0'"),
    (dict(device=0), TypeError, "device must be a string"),
    (dict(selector="first_last"), TypeError, "selector must be a weightcast step selector"),
])
def test_bad_parameters_are_named(data, params, error, match):
    X, Y = data
    with pytest.raises(error, match=match):
        LFD2Forecaster(**params).fit(X, Y)


def test_complex_and_string_data_are_refused(data):
    X, Y = data
    with pytest.raises(ValueError, match="Complex data not supported"):
        LFD2Forecaster(device="cpu").fit(X.astype(complex), Y)
    with pytest.raises(ValueError, match="could not convert|dtype"):
        LFD2Forecaster(device="cpu").fit(np.full(X.shape, "a", dtype=object), Y)


def test_empty_data_is_refused(data):
    X, Y = data
    with pytest.raises(ValueError, match="0 sample"):
        LFD2Forecaster(device="cpu").fit(X[:0], Y[:0])


def test_bad_validation_data(data):
    X, Y = data
    with pytest.raises(TypeError, match="validation_data must be a tuple"):
        LFD2Forecaster(device="cpu").fit(X, Y, validation_data=X)
    with pytest.raises(ValueError, match="validation_data must match"):
        LFD2Forecaster(device="cpu").fit(X, Y, validation_data=(X[:, :3], Y))
