import numpy as np
import pytest

from weightcast.baselines import CurveFitForecaster


@pytest.mark.parametrize("degree", [0, 1, 2, 3])
def test_polynomials_of_the_degree_are_extrapolated_exactly(degree):
    rng = np.random.default_rng(degree)
    t = np.arange(40.0)
    coefs = rng.normal(size=(5, 3, degree + 1))
    S = np.stack([[np.polyval(c, t / 10) for c in seq] for seq in coefs]).transpose(0, 2, 1)  # (5, 40, 3)
    est = CurveFitForecaster(degree=degree, window=degree + 3).fit(S[:, :25], S[:, 25:])
    np.testing.assert_allclose(est.predict(S[:, :25]), S[:, 25:], rtol=1e-7, atol=1e-7)


def test_line_through_the_window_known_answer():
    X = np.array([[0.0, 0.0, 1.0, 2.0]])  # last three points lie on 1 step per step
    est = CurveFitForecaster(window=3).fit(X, np.zeros((1, 2)))
    np.testing.assert_allclose(est.predict(X), [[3.0, 4.0]])
    np.testing.assert_allclose(CurveFitForecaster(window=4).fit(X, np.zeros((1, 2))).predict(X), [[2.5, 3.2]])


def test_bad_window():
    X, Y = np.zeros((3, 5)), np.zeros((3, 2))
    with pytest.raises(ValueError, match="n_features=5"):
        CurveFitForecaster(window=6).fit(X, Y)
    with pytest.raises(ValueError, match="more than 2 points"):
        CurveFitForecaster(degree=2, window=2).fit(X, Y)
    with pytest.raises(ValueError, match="degree"):
        CurveFitForecaster(degree=-1).fit(X, Y)
