import numpy as np
import pytest
import torch

from weightcast.baselines import DLinearForecaster
from weightcast.baselines.dlinear import moving_average


def test_moving_average_known_answer():
    x = torch.tensor([[1.0, 2.0, 4.0, 8.0]])
    # kernel 3: pad one copy of the first and last value -> [1, 1, 2, 4, 8, 8]
    np.testing.assert_allclose(moving_average(x, 3).numpy(), [[4 / 3, 7 / 3, 14 / 3, 20 / 3]], rtol=1e-6)
    # an even kernel pads one more value at the end and keeps the length: [1, 1, 2, 4, 8, 8, 8]
    np.testing.assert_allclose(moving_average(x, 4).numpy(), [[2.0, 3.75, 5.5, 7.0]], rtol=1e-6)
    # a kernel wider than the window works (original kernel 25 on 21 steps)
    assert moving_average(torch.ones(2, 3, 21), 25).shape == (2, 3, 21)
    np.testing.assert_allclose(moving_average(torch.ones(2, 3, 21), 25).numpy(), 1.0, rtol=1e-6)


def test_structure_and_parameter_count():
    S = np.cumsum(np.random.default_rng(0).normal(size=(6, 30, 3)), axis=1)
    est = DLinearForecaster(max_epochs=1, device="cpu", random_state=0).fit(S[:, :21], S[:, 21:])
    assert sum(p.numel() for p in est.module_.parameters()) == 2 * (21 * 9 + 9)


@pytest.mark.parametrize("normalization", [None, "last"])
def test_equal_heads_make_a_plain_linear_map(normalization):
    """Remainder + trend is the input: with equal heads DLinear is that one linear map, exactly."""
    S = np.cumsum(np.random.default_rng(1).normal(size=(5, 30, 2)), axis=1)
    est = DLinearForecaster(normalization=normalization, max_epochs=0, device="cpu").fit(S[:, :20], S[:, 20:])
    copy_last = torch.zeros(10, 20)
    copy_last[:, -1] = 1.0
    with torch.no_grad():
        for head in (est.module_.seasonal, est.module_.trend):
            head.weight.copy_(copy_last)
            head.bias.zero_()
    expected = np.repeat(S[:, 19:20], 10, axis=1)
    np.testing.assert_allclose(est.predict(S[:, :20]), expected, rtol=1e-5, atol=1e-5)


def test_fitted_heads_forecast_straight_lines():
    t = np.arange(30.0)
    rng = np.random.default_rng(2)
    S = np.stack([np.outer(t, rng.normal(0, 0.1, 3)) + rng.normal(0, 1, 3) for _ in range(16)]).astype(np.float32)
    est = DLinearForecaster(normalization="last", lr=0.01, max_epochs=400, patience=None, device="cpu",
                            random_state=0).fit(S[:, :20], S[:, 20:])
    error = np.abs(est.predict(S[:, :20]) - S[:, 20:]).max()
    assert error < 0.02 * np.abs(S[:, 20:] - S[:, 19:20]).max()


def test_bad_parameters():
    S = np.zeros((4, 30))
    with pytest.raises(ValueError, match="kernel_size"):
        DLinearForecaster(kernel_size=0).fit(S[:, :20], S[:, 20:])
    with pytest.raises(ValueError, match="normalization"):
        DLinearForecaster(normalization="revin").fit(S[:, :20], S[:, 20:])
