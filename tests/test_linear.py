"""LinearFarcaster and its presets: contract, both solvers, known answers."""

import numpy as np
import pytest
import torch

from weightcast import (
    FirstLastSelector,
    LFD2Forecaster,
    LFLForecaster,
    LFNForecaster,
    LFSForecaster,
    LinearFarcaster,
    SampledSelector,
    split_sequences,
)
from weightcast.linear import paper_gradient, time_major
from weightcast.rows import RowReader
from weightcast.losses import gradient_penalty, prediction_loss


def decaying_sequences(n_sequences=12, n_steps=30, n_params=5, seed=0, noise=0.0, dtype=np.float64):
    """Optimiser-like trajectories: each coordinate decays from a start toward an end value."""
    rng = np.random.default_rng(seed)
    decay = 0.9 ** np.arange(n_steps)[None, :, None]
    start = rng.normal(size=(n_sequences, 1, n_params))
    end = rng.normal(size=(n_sequences, 1, n_params))
    S = end + (start - end) * decay + noise * rng.normal(size=(n_sequences, n_steps, n_params))
    return S.astype(dtype)


def design(X, Y, steps):
    """The least-squares problem written out: rows (sequence, parameter), columns selected steps + 1."""
    Z = np.transpose(X[:, steps], (0, 2, 1)).reshape(-1, len(steps))
    Z = np.hstack([Z, np.ones((Z.shape[0], 1))])
    T = np.transpose(Y, (0, 2, 1)).reshape(-1, Y.shape[1])
    return Z, T


@pytest.mark.parametrize("cls, steps", [(LFD2Forecaster, [0, 9]), (LFNForecaster, list(range(10))),
                                        (LFSForecaster, [0, 3, 6, 9]), (LFLForecaster, [9])])
def test_presets_read_the_paper_steps(cls, steps):
    X, Y = split_sequences(decaying_sequences(), n_input_steps=10)
    est = cls(solver="lstsq", device="cpu").fit(X, Y)
    assert est.steps_.tolist() == steps
    assert est.coef_.shape == (len(steps), 20) and est.intercept_.shape == (20,)
    assert est.predict(X).shape == Y.shape


def test_lstsq_equals_the_written_out_least_squares_problem():
    X, Y = split_sequences(decaying_sequences(noise=0.05), n_input_steps=10)
    est = LFD2Forecaster(solver="lstsq", device="cpu", slab_size=2).fit(X, Y)
    Z, T = design(X, Y, [0, 9])
    expected = np.linalg.lstsq(Z, T, rcond=None)[0]
    np.testing.assert_allclose(est.coef_, expected[:-1], rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(est.intercept_, expected[-1], rtol=1e-10, atol=1e-12)


def test_ridge_equals_the_closed_form_with_an_unpenalised_intercept():
    X, Y = split_sequences(decaying_sequences(noise=0.05), n_input_steps=10)
    alpha = 3.0
    est = LFNForecaster(solver="lstsq", alpha=alpha, device="cpu", slab_size=3).fit(X, Y)
    Z, T = design(X, Y, list(range(10)))
    penalty = alpha * np.eye(Z.shape[1])
    penalty[-1, -1] = 0
    expected = np.linalg.solve(Z.T @ Z + penalty, Z.T @ T)
    np.testing.assert_allclose(np.vstack([est.coef_, est.intercept_]), expected, rtol=1e-8, atol=1e-10)


def test_fit_intercept_false_keeps_a_zero_intercept():
    X, Y = split_sequences(decaying_sequences(), n_input_steps=10)
    for solver in ("lstsq", "paper"):
        est = LFD2Forecaster(solver=solver, fit_intercept=False, device="cpu", random_state=0,
                             max_epochs=5).fit(X, Y)
        assert np.all(est.intercept_ == 0)
    Z, T = design(X, Y, [0, 9])
    expected = np.linalg.lstsq(Z[:, :-1], T, rcond=None)[0]
    est = LFD2Forecaster(solver="lstsq", fit_intercept=False, device="cpu").fit(X, Y)
    np.testing.assert_allclose(est.coef_, expected, rtol=1e-10)


def test_lstsq_is_exact_on_an_exactly_linear_map():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(8, 4, 6))
    A, b = rng.normal(size=(4, 3)), rng.normal(size=3)
    Y = np.einsum("nsp,sm->nmp", X, A) + b[None, :, None]
    est = LinearFarcaster(solver="lstsq", device="cpu").fit(X, Y)
    np.testing.assert_allclose(est.coef_, A, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(est.predict(X), Y, rtol=1e-10, atol=1e-12)


def test_rank_deficient_inputs_still_predict_exactly():
    # Every input step is an affine function of w_0, so LFN's design has rank 2: the minimum-norm
    # solution must still reproduce the targets.
    S = decaying_sequences(n_sequences=6, n_steps=25)
    X, Y = split_sequences(S, n_input_steps=10)
    est = LFNForecaster(solver="lstsq", device="cpu").fit(X, Y)
    np.testing.assert_allclose(est.predict(X), Y, rtol=1e-7, atol=1e-9)


@pytest.mark.parametrize("solver", ["lstsq", "paper"])
def test_slabs_do_not_change_the_fit(solver):
    X, Y = split_sequences(decaying_sequences(noise=0.02, dtype=np.float32), n_input_steps=10)
    params = dict(solver=solver, device="cpu", random_state=3, max_epochs=20, beta=1e-2)
    whole = LFD2Forecaster(**params).fit(X, Y)
    slabbed = LFD2Forecaster(slab_size=2, **params).fit(X, Y)
    np.testing.assert_allclose(slabbed.coef_, whole.coef_, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(slabbed.predict(X), whole.predict(X), rtol=1e-4, atol=1e-5)


def test_paper_gradient_matches_autograd_of_the_paper_losses():
    torch.manual_seed(0)
    X, Y = split_sequences(decaying_sequences(n_sequences=5, noise=0.1, dtype=np.float32), n_input_steps=10)
    steps = np.array([0, 9])
    rows = RowReader(X, Y, steps=steps, slab_size=2, dtype=torch.float32)
    W = torch.randn(3, Y.shape[1]) * 3   # large enough that the penalty is active for some sequences
    first_change = torch.as_tensor(np.abs(X[:, 1] - X[:, 0]).sum(axis=1), dtype=torch.float64)
    beta = 0.7
    grad, _ = paper_gradient(W, time_major(rows.blocks(np.arange(5))), first_change, beta, n_params=X.shape[2])

    W_auto = W.clone().requires_grad_(True)
    Z = torch.as_tensor(np.transpose(X[:, steps], (0, 2, 1)))
    Z = torch.cat([Z, torch.ones(Z.shape[:2] + (1,))], dim=2)
    T = torch.as_tensor(np.transpose(Y, (0, 2, 1)))
    Y_pred = Z @ W_auto
    first, second = torch.as_tensor(X[:, 0]), torch.as_tensor(X[:, 1])
    loss = prediction_loss(Y_pred, T) + beta * gradient_penalty(Y_pred, first, second)
    loss.backward()
    assert gradient_penalty(Y_pred, first, second).item() > 0
    np.testing.assert_allclose(grad.numpy(), W_auto.grad.numpy(), rtol=1e-4, atol=1e-6)


def test_paper_solver_is_reproducible_and_seeded():
    X, Y = split_sequences(decaying_sequences(noise=0.05, dtype=np.float32), n_input_steps=10)
    params = dict(init="default", lr=0.01, max_epochs=30, device="cpu")
    a = LFD2Forecaster(random_state=1, **params).fit(X, Y)
    b = LFD2Forecaster(random_state=1, **params).fit(X, Y)
    c = LFD2Forecaster(random_state=2, **params).fit(X, Y)
    np.testing.assert_array_equal(a.coef_, b.coef_)
    assert not np.allclose(a.coef_, c.coef_)


@pytest.mark.parametrize("validation_loss, power", [("l1", 1), ("mse", 2)])
def test_paper_solver_early_stopping_restores_the_best_validation_weights(validation_loss, power):
    S = decaying_sequences(n_sequences=40, noise=0.05, dtype=np.float32)
    X, Y = split_sequences(S, n_input_steps=10)
    est = LFD2Forecaster(init="default", lr=0.05, patience=3, max_epochs=500, validation_loss=validation_loss,
                         device="cpu", random_state=0).fit(X[:30], Y[:30], validation_data=(X[30:], Y[30:]))
    losses = [h["validation_loss"] for h in est.history_]
    assert est.n_epochs_ < 500
    assert all(b >= min(losses) for b in losses[-3:])          # stopped after 3 epochs without a new best
    restored = (np.abs(est.predict(X[30:]) - Y[30:]) ** power).mean()
    assert restored == pytest.approx(min(losses), rel=1e-4)


def test_warm_start_never_ends_worse_on_validation_than_the_exact_solution():
    S = decaying_sequences(n_sequences=40, noise=0.05, dtype=np.float32)
    X, Y = split_sequences(S, n_input_steps=10)
    exact = LFD2Forecaster(solver="lstsq", device="cpu").fit(X[:30], Y[:30])
    tuned = LFD2Forecaster(device="cpu", random_state=0).fit(X[:30], Y[:30], validation_data=(X[30:], Y[30:]))
    l1 = lambda est: np.abs(est.predict(X[30:]) - Y[30:]).mean()  # noqa: E731
    assert l1(tuned) <= l1(exact) + 1e-6


def test_beta_matters_for_the_default_lfd2():
    # Heavy-tailed noise gives the L1 fine-tuning something to do; w_1 = w_0 makes the reference change
    # zero, so the penalty on the last predicted change is active.
    rng = np.random.default_rng(0)
    S = decaying_sequences(n_sequences=60, dtype=np.float32)
    S += (0.05 * rng.standard_t(1.5, size=S.shape)).astype(np.float32)
    S[:, 1] = S[:, 0]
    X, Y = split_sequences(S, n_input_steps=10)
    free = LFD2Forecaster(beta=0.0, random_state=0, device="cpu").fit(X, Y)
    penalised = LFD2Forecaster(beta=0.1, random_state=0, device="cpu").fit(X, Y)
    assert not np.allclose(free.coef_, penalised.coef_)
    last_change = lambda est: np.abs(np.diff(est.predict(X)[:, -2:], axis=1)).sum()  # noqa: E731
    assert last_change(penalised) < 0.1 * last_change(free)


def test_constructor_m_fits_and_predicts_a_shorter_horizon():
    X, Y = split_sequences(decaying_sequences(), n_input_steps=10)
    est = LFD2Forecaster(m=5, solver="lstsq", device="cpu").fit(X, Y)
    assert est.horizon_ == 5 and est.predict(X).shape == (12, 5, 5)
    full = LFD2Forecaster(solver="lstsq", device="cpu").fit(X, Y)
    np.testing.assert_allclose(full.predict(X, m=5), est.predict(X), rtol=1e-10)
    np.testing.assert_allclose(full.predict(X, m=3), full.predict(X)[:, :3])


def test_two_d_lift_round_trips_shapes():
    X, Y = split_sequences(decaying_sequences(n_params=1), n_input_steps=10)
    est = LFNForecaster(solver="lstsq", device="cpu").fit(X[:, :, 0], Y[:, :, 0])
    assert est.predict(X[:, :, 0]).shape == (12, 20)
    np.testing.assert_allclose(est.predict(X[:, :, 0]), est.predict(X)[:, :, 0])
    one = LFNForecaster(solver="lstsq", device="cpu").fit(X[:, :, 0], Y[:, 0, 0])
    assert one.predict(X[:, :, 0]).shape == (12,)


def test_dtype_is_kept():
    X, Y = split_sequences(decaying_sequences(dtype=np.float32), n_input_steps=10)
    assert LFD2Forecaster(solver="lstsq", device="cpu").fit(X, Y).predict(X).dtype == np.float32
    X64, Y64 = X.astype(np.float64), Y.astype(np.float64)
    assert LFD2Forecaster(solver="lstsq", device="cpu").fit(X64, Y64).predict(X64).dtype == np.float64


def test_inputs_are_not_modified():
    X, Y = split_sequences(decaying_sequences(dtype=np.float32), n_input_steps=10)
    X.setflags(write=False)
    Y.setflags(write=False)
    before = X.copy(), Y.copy()
    est = LFD2Forecaster(device="cpu", random_state=0, max_epochs=3).fit(X, Y)
    est.predict(X)
    np.testing.assert_array_equal(X, before[0])
    np.testing.assert_array_equal(Y, before[1])


def test_selector_parameter_accepts_any_selector():
    X, Y = split_sequences(decaying_sequences(), n_input_steps=10)
    est = LinearFarcaster(selector=SampledSelector(k=3, random_state=0), solver="lstsq", device="cpu").fit(X, Y)
    assert len(est.steps_) == 3
    assert est.selector is not est.selector_         # the parameter is cloned, not fitted in place
    est2 = LinearFarcaster(selector=FirstLastSelector(), solver="lstsq", device="cpu").fit(X, Y)
    np.testing.assert_allclose(est2.coef_, LFD2Forecaster(solver="lstsq", device="cpu").fit(X, Y).coef_)


@pytest.mark.parametrize("fit_intercept, alpha", [(True, 0.0), (False, 2.0)])
def test_streaming_least_squares_is_the_same_on_the_cpu_path_and_the_accelerator_path(fit_intercept, alpha):
    from weightcast.linear import StreamingLeastSquares

    rng = np.random.default_rng(0)
    Z, T = rng.normal(size=(3, 20000)), rng.normal(size=(5, 20000))
    blocked = StreamingLeastSquares(3, 5, fit_intercept=fit_intercept, alpha=alpha)
    whole = StreamingLeastSquares(3, 5, fit_intercept=fit_intercept, alpha=alpha)
    for start in range(0, 20000, 7000):  # slabs of rows, as readers deliver them
        blocked.update(torch.as_tensor(Z[:, start:start + 7000]), torch.as_tensor(T[:, start:start + 7000]))
        whole._update_device(torch.as_tensor(Z[:, start:start + 7000]), torch.as_tensor(T[:, start:start + 7000]))
    design = np.vstack([Z, np.ones((1, 20000))]).T if fit_intercept else Z.T
    penalty = alpha * np.eye(design.shape[1])
    if fit_intercept:
        penalty[-1, -1] = 0
    expected = np.linalg.solve(design.T @ design + penalty, design.T @ T.T)
    for solver in (blocked, whole):
        W = solver.solve()
        np.testing.assert_allclose(W[:design.shape[1]], expected, rtol=1e-10, atol=1e-12)
        if not fit_intercept:
            assert np.all(W[-1] == 0)


@pytest.mark.parametrize("fit_intercept, alpha", [(True, 0.0), (False, 2.0)])
def test_the_cpu_solver_shares_large_updates_between_threads_for_the_same_solution(fit_intercept, alpha, monkeypatch):
    import threading

    from weightcast import linear

    rng = np.random.default_rng(1)
    n = 8 * linear._THREAD_ROWS + 1234  # each of the two updates below is split three ways, unevenly
    Z = rng.normal(size=(2, n))  # float64: the QR (float32 rows go through whitened products: the next tests)
    T = (Z.T @ rng.normal(size=(2, 4)) + 0.1 * rng.normal(size=(n, 4))).T
    threads = []
    blocks = linear.StreamingLeastSquares._blocks_cpu
    monkeypatch.setattr(linear.StreamingLeastSquares, "_blocks_cpu",
                        lambda self, *a: threads.append(threading.current_thread().name) or blocks(self, *a))
    solutions = []
    for n_threads in (1, 3):
        solver = linear.StreamingLeastSquares(2, 4, fit_intercept=fit_intercept, alpha=alpha, n_threads=n_threads)
        for rows in (slice(0, n // 2), slice(n // 2, n)):  # the second update continues the merged factors
            solver.update(torch.from_numpy(Z[:, rows]), torch.from_numpy(T[:, rows]))
        solutions.append(solver.solve())
    assert len(threads) == 2 + 6 and sum(name.startswith("weightcast-qr") for name in threads) == 6
    np.testing.assert_allclose(solutions[1], solutions[0], rtol=1e-12, atol=1e-14)
    design = np.vstack([Z, np.ones((1, n))]).T if fit_intercept else Z.T
    penalty = alpha * np.eye(design.shape[1])
    if fit_intercept:
        penalty[-1, -1] = 0
    expected = np.linalg.solve(design.T @ design + penalty, design.T @ T.T)
    np.testing.assert_allclose(solutions[1][:design.shape[1]], expected, rtol=1e-9, atol=1e-12)


def _float32_rows(n, n_in, spread, rng, horizon=4):
    """float32 rows of nearly collinear inputs (steps of one trajectory: ``spread`` apart) and their targets."""
    base = 0.3 + 0.05 * rng.normal(size=n)
    Z = np.stack([base + spread * (i + 1) * rng.normal(size=n) for i in range(n_in)])
    T = rng.normal(size=(horizon, n_in)) @ Z + 0.2 + 0.01 * rng.normal(size=(horizon, n))
    return Z.astype(np.float32), T.astype(np.float32)


def _least_squares_forecasts(Z, T, W, fit_intercept, alpha):
    """Forecasts of the float64 least-squares solution of the float32 rows Z, T and of W, on every row."""
    design = np.vstack([Z, np.ones((1, Z.shape[1]))]).T.astype(np.float64) if fit_intercept else Z.T.astype(np.float64)
    ridge = np.sqrt(alpha) * np.eye(design.shape[1])
    if fit_intercept:
        ridge[-1, -1] = 0
    expected = np.linalg.lstsq(np.vstack([design, ridge]),
                               np.vstack([T.T.astype(np.float64), np.zeros((design.shape[1], T.shape[0]))]),
                               rcond=None)[0]
    return design @ W[:design.shape[1]], design @ expected


@pytest.mark.parametrize("fit_intercept, alpha, n_threads", [(True, 0.0, 1), (False, 0.0, 3), (True, 2.0, 3)])
@pytest.mark.parametrize("spread", [1e-2, 1e-5])
def test_float32_rows_give_the_float64_forecasts_to_1e_6_of_their_size_however_collinear(fit_intercept, alpha,
                                                                                         n_threads, spread,
                                                                                         monkeypatch):
    import threading

    from weightcast import kernels, linear

    rng = np.random.default_rng(2)
    n = 4 * linear._THREAD_ROWS + 5 * kernels.PRODUCT_ROWS + 77  # whole groups, whole blocks and a partial one
    Z, T = _float32_rows(n, 5, spread, rng)
    threads, products = [], linear.StreamingLeastSquares._whitened_products
    monkeypatch.setattr(linear.StreamingLeastSquares, "_whitened_products",
                        lambda self, *a: threads.append(threading.current_thread().name) or products(self, *a))
    solver = linear.StreamingLeastSquares(5, 4, fit_intercept=fit_intercept, alpha=alpha, n_threads=n_threads)
    for rows in (slice(0, n // 4), slice(n // 4, n)):  # the second update is merged into the first's factors
        solver.update(torch.from_numpy(Z[:, rows]), torch.from_numpy(T[:, rows]))
    assert len(threads) == (2 if n_threads == 1 else 1 + 3)  # the first update is too small for three threads
    ours, expected = _least_squares_forecasts(Z, T, solver.solve(), fit_intercept, alpha)
    np.testing.assert_allclose(ours, expected, rtol=0, atol=1e-6 * np.abs(expected).max())


def test_float32_parameters_far_from_zero_are_forecast_to_about_1e_6_of_the_largest_forecast(monkeypatch):
    # A float32 sum of products keeps about six digits of the targets' size: a third of the parameters sit at
    # -10 and move by about 1e-6 a step (the float32 rounding of their values), the others near 0 move more.
    from weightcast import LFD2Forecaster, linear

    rng = np.random.default_rng(4)
    n, steps = linear._FLOAT32_MIN_ROWS + 3616, np.sqrt(np.arange(30))[:, None]
    far = rng.random(n) < 1 / 3
    start = np.where(far, -10 + 1.6e-3 * rng.normal(size=n), 0.03 * rng.normal(size=n))
    move = np.where(far, 1.2e-6, 6e-6) * rng.normal(size=n)
    S = (start + move * steps + 0.1 * np.abs(move) * np.cumsum(rng.normal(size=(30, n)), axis=0))[None]
    S = S.astype(np.float32)
    paths, whitened = [], linear.StreamingLeastSquares._whitened_factors
    monkeypatch.setattr(linear.StreamingLeastSquares, "_whitened_factors",
                        lambda self, *a: paths.append(1) or whitened(self, *a))
    fast = LFD2Forecaster(solver="lstsq").fit(S[:, :5], S[:, 5:]).predict(S[:, :5].astype(np.float64))
    assert paths  # the float32 path was tried (and, by the last assertion, taken)
    exact = LFD2Forecaster(solver="lstsq").fit(S[:, :5].astype(np.float64), S[:, 5:].astype(np.float64))
    expected = exact.predict(S[:, :5].astype(np.float64))
    difference = np.abs(fast - expected).max() / np.abs(expected).max()
    assert difference < 2e-6
    assert difference > 1e-9  # not the QR's forecasts: the float32 path's own


def test_float32_rows_the_whitening_cannot_take_go_through_the_float64_qr(monkeypatch):
    from weightcast import linear

    rng = np.random.default_rng(3)
    n = 4 * linear._THREAD_ROWS
    Z, T = _float32_rows(n, 3, 1e-3, rng)
    duplicated = np.vstack([Z[:2], Z[1:2]])  # a repeated input step: rank-deficient, the minimum-norm solution
    far = Z.copy()
    far[:, 300:1300] *= np.float32(1e4)  # rows of another scale that the whitening's sample (runs spread over
    # the update, the first at its start) does not reach
    qr_blocks, blocks = [], linear.StreamingLeastSquares._blocks_cpu
    monkeypatch.setattr(linear.StreamingLeastSquares, "_blocks_cpu",
                        lambda self, *a: qr_blocks.append(1) or blocks(self, *a))
    for inputs in (duplicated, far):
        solver = linear.StreamingLeastSquares(3, 4, n_threads=1)
        solver.update(torch.from_numpy(inputs), torch.from_numpy(T))
        float64 = linear.StreamingLeastSquares(3, 4, n_threads=1)
        float64.update(torch.from_numpy(inputs.astype(np.float64)), torch.from_numpy(T.astype(np.float64)))
        np.testing.assert_allclose(solver.solve(), float64.solve(), rtol=1e-9, atol=1e-12)
    assert len(qr_blocks) == 4  # both float32 fits and both float64 fits went through the QR


def test_a_nan_in_large_float32_targets_is_named_by_the_exact_fit():
    from weightcast import linear

    rng = np.random.default_rng(4)
    S = rng.normal(size=(1, 8, 2 * linear._FLOAT32_MIN_ROWS)).astype(np.float32)
    S[0, 6, 12345] = np.nan
    with pytest.raises(ValueError, match="Y holds NaN at sequence 0, step 3, parameter 12345"):
        LFD2Forecaster(solver="lstsq", device="cpu").fit(S[:, :3], S[:, 3:])
