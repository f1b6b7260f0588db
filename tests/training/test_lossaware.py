"""LossAwareFarcaster: the coefficients of a shared linear map over snapshots, chosen by a loss."""

import numpy as np
import pytest
import torch

from weightcast.training import LossAwareFarcaster, flatten_parameters


def _quadratic(target, scales=None):
    scales = torch.ones_like(target) if scales is None else scales
    return lambda model: ((model.weight[0] - target) ** 2 * scales).sum()


def test_finds_the_best_point_of_the_affine_hull():
    torch.manual_seed(0)
    model = torch.nn.Linear(5, 1, bias=False)
    V = torch.randn(3, 5)
    best = 0.2 * V[0] - 0.5 * V[1] + 1.3 * V[2]            # an extrapolation of the snapshots (sum = 1)
    target = best + 0.0
    start = flatten_parameters(model)
    est = LossAwareFarcaster(max_evals=20).fit(model, V, _quadratic(target, torch.linspace(1, 4, 5)))
    np.testing.assert_allclose(est.coef_, [0.2, -0.5, 1.3], atol=1e-3)
    assert est.coef_.sum() == pytest.approx(1.0)
    assert est.loss_ < 1e-5 < est.loss_start_
    assert est.n_evaluations_ <= 20
    assert torch.equal(flatten_parameters(model), start)       # the scratch model is restored


def test_affine_keeps_the_sum_and_never_ends_above_the_start():
    torch.manual_seed(1)
    model = torch.nn.Linear(4, 1, bias=False)
    V = torch.randn(4, 4)
    target = 3.0 * torch.randn(4)                                 # anywhere: the best point of the hull is not it
    est = LossAwareFarcaster(init=[0.0, 0.0, 0.5, 0.5], max_evals=3).fit(model, V, _quadratic(target))
    assert est.coef_.sum() == pytest.approx(1.0)
    assert est.loss_ <= est.loss_start_
    prediction = est.predict(V)
    assert float(((prediction - target) ** 2).sum()) == pytest.approx(est.loss_, rel=1e-4)


def test_unconstrained_with_intercept_and_several_runs():
    torch.manual_seed(2)
    model = torch.nn.Linear(3, 1, bias=False)
    runs = [torch.randn(2, 3) for _ in range(3)]
    # The loss of run r wants 2 * v_0 + 0.5 (not affine: coefficients sum to 2, plus a constant).
    losses = [_quadratic(2.0 * V[0] + 0.5) for V in runs]
    est = LossAwareFarcaster(affine=False, fit_intercept=True, max_evals=30).fit(model, runs, losses)
    np.testing.assert_allclose(est.coef_, [2.0, 0.0], atol=1e-3)
    assert est.intercept_ == pytest.approx(0.5, abs=1e-3)


def test_bad_input():
    model = torch.nn.Linear(3, 1, bias=False)
    loss = _quadratic(torch.zeros(3))
    with pytest.raises(ValueError, match="same K"):
        LossAwareFarcaster().fit(model, [torch.zeros(2, 3), torch.zeros(3, 3)], loss)
    with pytest.raises(ValueError, match="NaN"):
        LossAwareFarcaster().fit(model, torch.full((2, 3), float("nan")), loss)
    with pytest.raises(ValueError, match="init"):
        LossAwareFarcaster(init=[1.0]).fit(model, torch.zeros(2, 3), loss)
    with pytest.raises(ValueError, match="max_evals"):
        LossAwareFarcaster(max_evals=0).fit(model, torch.zeros(2, 3), loss)
    with pytest.raises(ValueError, match="not fitted"):
        LossAwareFarcaster().predict(torch.zeros(2, 3))
    est = LossAwareFarcaster(max_evals=2).fit(model, torch.randn(2, 3), loss)
    with pytest.raises(ValueError, match="fitted for 2"):
        est.predict(torch.zeros(3, 3))


def test_identical_snapshots_are_harmless():
    torch.manual_seed(3)
    model = torch.nn.Linear(3, 1, bias=False)
    a, b = torch.randn(3), torch.randn(3)
    V = torch.stack([a, b, b])                                    # the last two snapshots are the same vector
    target = 0.5 * a + 0.5 * b
    est = LossAwareFarcaster(max_evals=10).fit(model, V, _quadratic(target))
    assert np.all(np.isfinite(est.coef_)) and np.abs(est.coef_).max() < 10
    torch.testing.assert_close(est.predict(V), target, atol=1e-4, rtol=0)
