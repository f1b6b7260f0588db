"""Property tests of the paper's Proposition 1.

If every update is w_{i+1} = c_i w_i + d_i with scalars shared by all coordinates and sequences, then
w_{n+i} = (c_n ... c_{n+i-1}) w_n + b_i, so a linear map over time forecasts every step exactly, and the
last-step model's coefficients are the products of the proof.
"""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from weightcast import LFD2Forecaster, LFLForecaster, LFNForecaster, split_sequences

stable_factor = st.one_of(st.floats(0.3, 1.0), st.floats(-1.0, -0.3))


@st.composite
def linear_recurrences(draw):
    n_input_steps = draw(st.integers(2, 8))
    m = draw(st.integers(1, 8))
    n_steps = n_input_steps + m
    c = np.array(draw(st.lists(stable_factor, min_size=n_steps - 1, max_size=n_steps - 1)))
    d = np.array(draw(st.lists(st.floats(-1.0, 1.0), min_size=n_steps - 1, max_size=n_steps - 1)))
    n_sequences, n_params = draw(st.integers(2, 5)), draw(st.integers(2, 4))
    seed = draw(st.integers(0, 2 ** 32 - 1))
    w0 = np.random.default_rng(seed).uniform(-1, 1, size=(2 * n_sequences, n_params))
    S = np.empty((2 * n_sequences, n_steps, n_params))
    S[:, 0] = w0
    for i in range(n_steps - 1):
        S[:, i + 1] = c[i] * S[:, i] + d[i]
    return S, n_input_steps, c, d


@settings(max_examples=60, deadline=None)
@given(linear_recurrences())
def test_exact_solver_forecasts_linear_recurrences_exactly(case):
    S, n_input_steps, _, _ = case
    X, Y = split_sequences(S, n_input_steps=n_input_steps)
    half = X.shape[0] // 2
    scale = 1.0 + np.abs(Y).max()
    for cls in (LFLForecaster, LFD2Forecaster, LFNForecaster):
        est = cls(solver="lstsq", device="cpu").fit(X[:half], Y[:half])
        # New sequences (other initial weights) follow the same recurrence and are forecast exactly.
        np.testing.assert_allclose(est.predict(X[half:]), Y[half:], rtol=0, atol=1e-8 * scale)


@settings(max_examples=60, deadline=None)
@given(linear_recurrences())
def test_last_step_coefficients_are_the_products_of_the_proof(case):
    S, n_input_steps, c, d = case
    X, Y = split_sequences(S, n_input_steps=n_input_steps)
    est = LFLForecaster(solver="lstsq", device="cpu").fit(X, Y)
    n = n_input_steps - 1                     # the last input step is w_n
    m = Y.shape[1]
    products = np.cumprod(c[n:n + m])         # c_n, c_n c_{n+1}, ...
    intercepts = np.empty(m)
    running = 0.0
    for i in range(m):                        # b_i = c_{n+i} b_{i-1} + d_{n+i}, b_0 = 0
        running = c[n + i] * running + d[n + i]
        intercepts[i] = running
    np.testing.assert_allclose(est.coef_[0], products, rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(est.intercept_, intercepts, rtol=1e-7, atol=1e-9)
