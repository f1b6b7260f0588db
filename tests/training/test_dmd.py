"""DMDFarcaster: per-layer DMD of the motion between snapshots, with PDT's per-weight mask."""

import numpy as np
import pytest

from weightcast.training import DMDFarcaster


def _decaying(rates, directions, n_steps=6, offset=1.0):
    """Snapshots whose motion is a sum of modes shrinking geometrically: exactly linear dynamics."""
    t = np.arange(n_steps)
    return offset + sum(np.outer(r ** t, d) for r, d in zip(rates, directions))


def test_recovers_linear_dynamics_of_each_group():
    rng = np.random.default_rng(0)
    a = _decaying([0.5, 0.8], rng.normal(size=(2, 4)), n_steps=7)
    b = _decaying([0.9], rng.normal(size=(1, 3)), n_steps=7)
    X = np.concatenate([a, b], axis=1)[None, :5]
    truth = np.concatenate([a, b], axis=1)[5:7]
    est = DMDFarcaster(groups=[4, 3], mask=False).fit(X)
    np.testing.assert_allclose(est.predict(X, m=2)[0], truth, atol=1e-8)


def test_growing_modes_are_clipped():
    X = _decaying([1.5], [[1.0, 2.0]], n_steps=5)[None]
    est = DMDFarcaster(mask=False, max_eigenvalue=1.0).fit(X)
    last_move = X[0, -1] - X[0, -2]
    np.testing.assert_allclose(est.predict(X, m=3)[0, -1], X[0, -1] + 3 * last_move)   # constant speed


def test_mask_holds_weights_that_would_reverse_or_overshoot():
    # Coordinate 0 oscillates (its forecast move reverses the last motion): held still; coordinate 1 decays.
    t = np.arange(5)
    X = np.stack([(-0.5) ** t, 0.5 ** t], axis=1)[None]
    est = DMDFarcaster(mask=True).fit(X)
    forecast = est.predict(X, m=1)[0, 0]
    assert forecast[0] == X[0, -1, 0]
    assert forecast[1] == pytest.approx(0.5 ** 5)
    assert est.masked_fraction_ == pytest.approx(0.5)


def test_bad_input():
    with pytest.raises(ValueError, match="at least two"):
        DMDFarcaster().fit(np.zeros((1, 2, 3)))
    est = DMDFarcaster(groups=[2, 2]).fit(np.zeros((1, 4, 3)))
    with pytest.raises(ValueError, match="summing"):
        est.predict(np.zeros((1, 4, 3)))
    with pytest.raises(ValueError, match="not fitted"):
        DMDFarcaster().predict(np.zeros((1, 4, 3)))
    with pytest.raises(ValueError, match="NaN"):
        DMDFarcaster().fit(np.zeros((1, 4, 3))).predict(np.full((1, 4, 3), np.nan))
