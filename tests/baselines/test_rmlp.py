import numpy as np
import pytest
import torch

from weightcast.baselines import RMLPForecaster
from weightcast.baselines.rmlp import revin_denormalize, revin_normalize


def data(n_params=3, seed=0):
    return np.cumsum(np.random.default_rng(seed).normal(size=(8, 30, n_params)), axis=1).astype(np.float32)


def test_revin_round_trip():
    x = torch.randn(4, 5, 21, dtype=torch.float64) * 3 + 7
    z, stats = revin_normalize(x)
    np.testing.assert_allclose(z.mean(-1).numpy(), 0, atol=1e-12)
    np.testing.assert_allclose(revin_denormalize(z, stats).numpy(), x.numpy(), rtol=1e-12)


def test_parameter_count():
    S = data()
    est = RMLPForecaster(hidden_size=16, max_epochs=1, device="cpu", random_state=0).fit(S[:, :21], S[:, 21:])
    n_in, d, h, m = 21, 3, 16, 9
    expected = (2 * n_in * h + h + n_in) + (2 * d * h + h + d) + (n_in * m + m)
    assert sum(p.numel() for p in est.module_.parameters()) == expected


def test_constant_trajectories_are_forecast_constant():
    """RevIN maps a flat window to zeros and back to its level: whatever the network, the level is kept."""
    levels = np.linspace(-2, 3, 8 * 3).reshape(8, 1, 3)
    S = np.repeat(levels, 30, axis=1).astype(np.float32)
    est = RMLPForecaster(hidden_size=16, max_epochs=2, device="cpu", random_state=0).fit(S[:, :21], S[:, 21:])
    np.testing.assert_allclose(est.predict(S[:, :21]), S[:, 21:], atol=2e-2)


@pytest.mark.parametrize("mixing", [True, False])
def test_only_the_coordinate_mlp_mixes_coordinates(mixing):
    S = data()
    est = RMLPForecaster(hidden_size=16, channel_mixing=mixing, max_epochs=2, device="cpu",
                         random_state=0).fit(S[:, :21], S[:, 21:])
    X = S[:, :21].copy()
    before = est.predict(X)
    X[:, :, 0] += np.linspace(0, 1, 21)
    after = est.predict(X)
    assert np.abs(after[:, :, 1:] - before[:, :, 1:]).max() > 0 if mixing else np.array_equal(after[:, :, 1:],
                                                                                              before[:, :, 1:])


def test_refuses_too_many_parameters_when_mixing():
    S = data(n_params=12)
    with pytest.raises(ValueError, match="channel_mixing=False"):
        RMLPForecaster(max_params=10, device="cpu").fit(S[:, :21], S[:, 21:])
    est = RMLPForecaster(hidden_size=8, channel_mixing=False, max_params=10, slab_size=5, max_epochs=2,
                         device="cpu", random_state=0).fit(S[:, :21], S[:, 21:])
    assert est.predict(S[:, :21]).shape == (8, 9, 12)


def test_mixing_model_needs_the_same_parameters_at_predict():
    S = data()
    est = RMLPForecaster(hidden_size=8, max_epochs=1, device="cpu").fit(S[:, :21], S[:, 21:])
    with pytest.raises(ValueError, match="parameters"):
        est.predict(S[:, :21, :2])


def test_bad_parameters():
    S = data()
    with pytest.raises(TypeError, match="channel_mixing"):
        RMLPForecaster(channel_mixing="yes").fit(S[:, :21], S[:, 21:])
    with pytest.raises(ValueError, match="hidden_size"):
        RMLPForecaster(hidden_size=0).fit(S[:, :21], S[:, 21:])
