"""Scoring of speed-ups: first reach on a smoothed curve, and compute counted in backward passes."""

import numpy as np
import pytest

from weightcast.training import PassCounter, cost_to_target, first_reach, saving, smoothed


def test_smoothed_is_a_trailing_mean():
    np.testing.assert_allclose(smoothed([4.0, 2.0, 0.0, 6.0], width=3), [4.0, 3.0, 2.0, 8 / 3])
    np.testing.assert_allclose(smoothed([1.0, 2.0], width=1), [1.0, 2.0])


def test_first_reach_on_a_known_curve():
    # A noisy curve whose raw values dip below the target early: only the smoothed curve counts.
    losses = [1.0, 0.8, 0.3, 0.9, 0.6, 0.5, 0.45, 0.4]
    # smoothed (width 3): 1.0, 0.9, 0.7, 0.6667, 0.6, 0.6667, 0.5167, 0.45
    assert first_reach(losses, target=0.6) == 4
    assert first_reach(losses, target=0.5) == 7
    assert first_reach(losses, target=0.3) is None
    assert first_reach(losses, target=0.3, width=1) == 2


def test_cost_to_target_counts_the_overhead_spent_until_then():
    steps = np.arange(50, 501, 50)
    losses = 1.0 / steps                       # reaches 1/300 at the 6th evaluation (step 300), no smoothing
    overhead = np.where(steps >= 200, 10.0, 0.0)  # a fit of 10 backward passes at step 200
    costs = steps + overhead
    assert cost_to_target(losses, costs, target=1 / 300, width=1) == 310.0
    assert cost_to_target(losses, costs, target=1e-4, width=1) is None
    with pytest.raises(ValueError, match="one value per evaluation"):
        cost_to_target(losses, costs[:-1], target=0.1)


def test_nan_never_reaches():
    assert first_reach([np.nan, np.nan, 0.1], target=0.5, width=2) is None
    assert first_reach([np.nan, 0.1, 0.1], target=0.5, width=2) == 2


def test_pass_counter_units():
    counter = PassCounter(batch_size=64)
    for _ in range(10):
        counter.training_step()
    counter.forward(192)      # 3 batches forward only: 1 backward pass
    counter.backward(32)      # half a batch forward + backward: 0.5
    assert counter.steps == 10
    assert counter.overhead == pytest.approx(1.5)
    assert counter.total == pytest.approx(11.5)
    with pytest.raises(ValueError, match="batch_size"):
        PassCounter(0)
    with pytest.raises(ValueError, match="n_samples"):
        counter.forward(-1)


def test_saving():
    assert saving(75.0, 100.0) == pytest.approx(0.25)
    assert saving(None, 100.0) is None and saving(50.0, None) is None
