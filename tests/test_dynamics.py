"""FixedPointFarcaster: contract, known answers, streaming, and the authors' Syn-1 data."""

import numpy as np
import pytest
import torch

from weightcast import AllSelector, FixedPointFarcaster, LFD2Forecaster, LinearFarcaster, checkpoint_mse
from weightcast.dynamics import fixed_point_forecast

CHECKPOINTS = [40, 80, 160, 200]


def relaxing_runs(rates, n_steps=60, n_params=3, noise=0.0, seed=0):
    """w_t = mu + (1 - r)^t (w_0 - mu) per run, optionally with SGD-like noise proportional to |w_t - mu|."""
    rng = np.random.default_rng(seed)
    rates = np.asarray(rates, dtype=float)
    mu = rng.normal(size=(len(rates), n_params))
    w = rng.uniform(size=(len(rates), n_params))
    S = [w]
    for _ in range(n_steps - 1):
        x = w - mu
        scale = noise * np.linalg.norm(x, axis=1, keepdims=True) / np.sqrt(n_params)
        w = mu + (1 - rates)[:, None] * x + scale * rng.normal(size=x.shape)
        S.append(w)
    return np.stack(S, axis=1)


@pytest.mark.parametrize("gamma", [0.0, 16.0])
def test_forecast_is_exact_on_noiseless_relaxation_as_kappa_vanishes(gamma):
    rates = np.array([0.03, 0.05, 0.07, 0.05])  # on the grid 0.01, 0.02, ..., 0.09
    S = relaxing_runs(rates)
    W = torch.as_tensor(S[:, :21]).permute(0, 2, 1)
    F = fixed_point_forecast(W, 39, kappa=1e-9, rate=0.05, rate_std=0.01, n_rates=9, gamma=gamma)
    np.testing.assert_allclose(F.permute(0, 2, 1).numpy(), S[:, 21:], rtol=0, atol=1e-12)


def test_forecast_commutes_with_shifts_scalings_and_rotations_of_a_block():
    # Nothing in the model has units or a preferred direction: mu moves with the data.
    S = relaxing_runs(np.linspace(0.02, 0.08, 6), noise=0.02, seed=6)
    W = torch.as_tensor(S[:, :21]).permute(0, 2, 1)
    Q = torch.as_tensor(np.linalg.qr(np.random.default_rng(6).normal(size=(3, 3)))[0])
    shift = torch.tensor([0.5, -2.0, 3.0], dtype=torch.float64)[None, :, None]
    params = dict(m=30, kappa=0.02, rate=0.05, rate_std=0.02, gamma=4.0)
    base = fixed_point_forecast(W, **params)
    moved = fixed_point_forecast(3.0 * torch.einsum("ij,rjt->rit", Q, W) + shift, **params)
    np.testing.assert_allclose(moved.numpy(), (3.0 * torch.einsum("ij,rjt->rit", Q, base) + shift).numpy(),
                               rtol=1e-9, atol=1e-12)


def test_estimator_recovers_per_run_rates_that_no_shared_map_can():
    rates = np.tile([0.03, 0.05, 0.07], 10)
    S = relaxing_runs(rates, seed=1)
    X, Y = S[:, :21], S[:, 21:]
    est = FixedPointFarcaster(block_size=3, kappa=1e-9, rate=0.05, rate_std=0.01, n_rates=9, device="cpu")
    error = np.abs(est.fit(X, Y).predict(X) - Y).max()
    linear_error = np.abs(LFD2Forecaster(solver="lstsq", device="cpu").fit(X, Y).predict(X) - Y).max()
    assert error < 1e-10
    assert linear_error > 1e-3


def test_stacking_never_raises_the_training_error_of_the_pooled_map():
    S = relaxing_runs(np.random.default_rng(2).uniform(0.02, 0.08, size=30), noise=0.02, seed=2)
    X, Y = S[:, :21], S[:, 21:]
    est = FixedPointFarcaster(block_size=3, device="cpu").fit(X, Y)
    linear = LFD2Forecaster(solver="lstsq", device="cpu").fit(X, Y)
    assert np.mean((est.predict(X) - Y) ** 2) <= np.mean((linear.predict(X) - Y) ** 2) + 1e-15
    assert len(est.search_) == 54  # 3 kappa x 3 rates x 2 rate spreads x 3 gamma
    assert min(row["train_mse"] for row in est.search_) == pytest.approx(np.mean((est.predict(X) - Y) ** 2))


def test_slabs_and_partial_blocks_do_not_change_the_forecast():
    S = relaxing_runs(np.linspace(0.02, 0.08, 12), n_params=7, noise=0.02, seed=3)
    X, Y = S[:, :21], S[:, 21:]
    params = dict(block_size=3, kappa=0.05, rate=0.05, rate_std=0.01, gamma=4.0, device="cpu")
    one_slab = FixedPointFarcaster(**params).fit(X, Y).predict(X)
    # slab_size 4 * n_rates rounds down to one block of 3: slabs [0:3], [3:6], [6:7] (a partial block of 1)
    many_slabs = FixedPointFarcaster(slab_size=4 * 40, **params).fit(X, Y).predict(X)
    np.testing.assert_allclose(many_slabs, one_slab, rtol=1e-10, atol=1e-12)
    W = torch.as_tensor(X[:, :, 6:7]).permute(0, 2, 1)
    alone = fixed_point_forecast(W, 5, 0.05, 0.05, 0.01, gamma=4.0).permute(0, 2, 1).numpy()
    est = FixedPointFarcaster(**params).fit(X, Y)
    rows = torch.as_tensor(X).permute(0, 2, 1)  # (n_sequences, n_params, n_steps): blocks 0-2, 3-5, and 6 alone
    np.testing.assert_allclose(est._dynamics_rows(rows, 5, 0.05, 0.05, 0.01, 4.0)[:, 6:7].permute(0, 2, 1), alone)


def test_search_on_a_subset_of_blocks_then_refits_on_all():
    S = relaxing_runs(np.linspace(0.02, 0.08, 12), n_params=12, noise=0.02, seed=7)
    X, Y = S[:, :21], S[:, 21:]
    full = FixedPointFarcaster(block_size=3, device="cpu").fit(X, Y)
    sub = FixedPointFarcaster(block_size=3, search_params=6, device="cpu").fit(X, Y)
    assert sub.search_[0]["train_mse"] != full.search_[0]["train_mse"]  # searched on blocks 0 and 3 only
    same = FixedPointFarcaster(block_size=3, device="cpu", kappa=sub.kappa_, rate=sub.rate_,
                               rate_std=sub.rate_std_, gamma=sub.gamma_).fit(X, Y)
    np.testing.assert_allclose(sub.predict(X), same.predict(X), rtol=1e-10, atol=1e-12)


def test_contract_shapes_lift_and_horizon():
    S = relaxing_runs(np.full(8, 0.05), n_steps=30, noise=0.01, seed=4)
    X, Y = S[:, :10], S[:, 10:]
    est = FixedPointFarcaster(device="cpu").fit(X, Y)
    assert est.predict(X).shape == Y.shape
    assert est.predict(X, m=4).shape == (8, 4, 3)
    np.testing.assert_allclose(est.predict(X, m=4), est.predict(X)[:, :4])
    assert est.block_size_ == 3 and est.horizon_ == 20 and est.n_features_in_ == 10
    with pytest.raises(ValueError, match="beyond the fitted horizon"):
        est.predict(X, m=21)
    with pytest.raises(ValueError, match="parameters per step"):
        est.predict(X[:, :, :2])
    lifted = FixedPointFarcaster(device="cpu").fit(X[:, :, 0], Y[:, :, 0])
    assert lifted.predict(X[:, :, 0]).shape == (8, 20)
    single = FixedPointFarcaster(device="cpu").fit(X[:, :, 0], Y[:, 0, 0])
    assert single.predict(X[:, :, 0]).shape == (8,)
    assert FixedPointFarcaster(m=5, device="cpu").fit(X, Y).predict(X).shape == (8, 5, 3)


@pytest.mark.parametrize("params, error, match", [
    ({"kappa": -1.0}, ValueError, "kappa must be > 0"),
    ({"rate": 1.5}, ValueError, "rate must be < 1"),
    ({"rate_std": "wide"}, TypeError, "rate_std must be a finite real number"),
    ({"gamma": -0.5}, ValueError, "gamma must be >= 0"),
    ({"alpha": -1.0}, ValueError, "alpha must be >= 0"),
    ({"block_size": 0}, ValueError, "block_size must be >= 1"),
    ({"n_rates": 1}, ValueError, "n_rates must be >= 2"),
    ({"search_params": 0}, ValueError, "search_params must be >= 1"),
    ({"selector": "first-last"}, TypeError, "selector must be a weightcast step selector"),
    ({"device": "tpu"}, ValueError, "device must be 'auto', 'cpu', 'cuda' or 'cuda:N'"),
])
def test_bad_parameters_are_named(params, error, match):
    S = relaxing_runs(np.full(4, 0.05), n_steps=20, seed=5)
    with pytest.raises(error, match=match):
        FixedPointFarcaster(**{"device": "cpu", **params}).fit(S[:, :10], S[:, 10:])


def _syn1_split(S):
    return (S[:100, :21], S[:100, 21:]), (S[150:, :21], S[150:, 21:])


def test_syn1_sgd_beats_the_best_shared_linear_map_at_every_checkpoint(syn1_reference):
    # The paper's protocol: the mean over the five trials (one trial alone is too noisy to rank models).
    ours, linear = [], []
    for sample in range(1, 6):
        (X, Y), (X_test, Y_test) = _syn1_split(syn1_reference("sgd", sample))
        pred = FixedPointFarcaster(block_size=3, device="cpu").fit(X, Y).predict(X_test)
        ours.append(checkpoint_mse(Y_test, pred, CHECKPOINTS, n_input_steps=21, scale=1e4))
        pred = LFD2Forecaster(solver="lstsq", device="cpu").fit(X, Y).predict(X_test)
        linear.append(checkpoint_mse(Y_test, pred, CHECKPOINTS, n_input_steps=21, scale=1e4))
    ours, linear = np.mean(ours, axis=0), np.mean(linear, axis=0)
    assert np.all(ours < linear), (ours, linear)
    assert ours[-1] < 0.97 * linear[-1]


def test_syn1_gd_with_every_input_step_stays_exact(syn1_reference):
    (X, Y), (X_test, Y_test) = _syn1_split(syn1_reference("gd", 1))
    est = FixedPointFarcaster(selector=AllSelector(), block_size=3, device="cpu").fit(X, Y)
    mse = np.asarray(checkpoint_mse(Y_test, est.predict(X_test), CHECKPOINTS, n_input_steps=21, scale=1e4))
    paper_lfd2 = np.array([0.207, 4.39, 44.9, 81.1])
    assert np.all(mse <= 1e-2 * paper_lfd2)
    lfn = LinearFarcaster(selector=AllSelector(), solver="lstsq", device="cpu").fit(X, Y)
    assert np.all(mse <= 1e-6 + np.asarray(checkpoint_mse(Y_test, lfn.predict(X_test), CHECKPOINTS,
                                                          n_input_steps=21, scale=1e4)) * 10)


@pytest.mark.parametrize("S", [np.ones((6, 15, 4)),                                        # no drift, no noise
                               0.1 * np.arange(15.0)[None, :, None] + np.zeros((6, 1, 4)),  # drift, no decay
                               1e6 * np.random.default_rng(8).normal(size=(6, 15, 4))])     # huge white noise
def test_degenerate_trajectories_give_finite_forecasts(S):
    est = FixedPointFarcaster(device="cpu").fit(S[:, :10], S[:, 10:])
    prediction = est.predict(S[:, :10])
    assert np.isfinite(prediction).all()
    if np.ptp(S[:, :, 0]) == 0 or np.allclose(np.diff(S, 2, axis=1), 0):  # what the pooled map gets exactly
        np.testing.assert_allclose(prediction, S[:, 10:], atol=1e-9)
