import numpy as np
import pytest
import torch

from weightcast.baselines import WNNForecaster
from weightcast.baselines.wnn import wnn_normalize


def data(n_params=3, seed=0):
    return np.cumsum(np.random.default_rng(seed).normal(size=(8, 30, n_params)), axis=1).astype(np.float32)


def test_parameter_count_of_the_original():
    S = data()
    est = WNNForecaster(offset=5, max_epochs=0, device="cpu").fit(S[:, :20], S[:, 20:])
    assert sum(p.numel() for p in est.module_.parameters()) == 9425
    # direct form, 21 inputs, 180 outputs: the streams grow by 16 + 16 inputs, the head by 179 outputs
    S = np.cumsum(np.random.default_rng(1).normal(size=(4, 201, 2)), axis=1)
    est = WNNForecaster(window=21, max_epochs=0, device="cpu").fit(S[:, :21], S[:, 21:])
    assert sum(p.numel() for p in est.module_.parameters()) == 9425 + 32 * 64 + 179 * 65


def test_normalisation_round_trip():
    w = torch.randn(6, 4, 5, dtype=torch.float64)
    z, (shift, scale) = wnn_normalize(w)
    np.testing.assert_allclose((z * scale + shift).numpy(), w.numpy(), rtol=1e-12)
    assert torch.all(z[..., 0] == 0)
    span = z.amax(-1) - z.amin(-1)
    assert torch.all(span < 0.5) and torch.all(span > 0.49)


def test_zero_delta_forecasts_the_last_value():
    """With the head silenced the forecast must be the last input, exactly (the public code's bias-path
    de-normalisation bug would give something else)."""
    S = data() * 10 + 5
    est = WNNForecaster(offset=5, max_epochs=0, device="cpu").fit(S[:, :20], S[:, 20:])
    with torch.no_grad():
        est.module_.head.weight.zero_()
        est.module_.head.bias.zero_()
    np.testing.assert_allclose(est.predict(S[:, :20])[:, 0], S[:, 19], rtol=1e-5, atol=1e-4)


def test_full_delta_moves_by_the_bound_times_the_scale():
    S = data()
    est = WNNForecaster(window=5, max_epochs=0, device="cpu").fit(S[:, :20], S[:, 20:])
    with torch.no_grad():
        est.module_.head.weight.zero_()
        est.module_.head.bias.fill_(100.0)  # tanh = 1
    window = S[:, 15:20]
    scale = 2 * (window.max(1) - window.min(1) + 1e-8 + 1e-5)
    bounds = np.maximum(1, np.arange(1, 11) / 4)
    expected = S[:, 19][:, None] + bounds[None, :, None] * scale[:, None]
    np.testing.assert_allclose(est.predict(S[:, :20]), expected, rtol=1e-5)


def test_native_form_predicts_one_step_at_the_offset():
    S = data()
    est = WNNForecaster(offset=3, window=4, max_epochs=2, device="cpu", random_state=0).fit(S[:, :20], S[:, 20:])
    assert est.out_steps_.tolist() == [2] and est.horizon_ == 1
    assert est.predict(S[:, :20]).shape == (8, 1, 3)
    with pytest.raises(ValueError, match="fitted horizon"):
        est.predict(S[:, :20], m=2)
    with pytest.raises(ValueError, match="offset=11"):
        WNNForecaster(offset=11).fit(S[:, :20], S[:, 20:])


def test_loss_is_in_normalised_units():
    S = data()
    est = WNNForecaster(max_epochs=0, device="cpu").fit(S[:, :20], S[:, 20:])
    inputs = torch.as_tensor(S[:, 15:20]).permute(0, 2, 1)
    target = inputs[..., -1:] + 1.0
    _, (_, scale) = wnn_normalize(inputs)
    loss = est._loss(est.module_, inputs, inputs[..., -1:], target)
    np.testing.assert_allclose(float(loss), float((1.0 / scale).mean()), rtol=1e-5)


def test_regulariser_covers_the_four_stream_dense_layers():
    S = data()
    est = WNNForecaster(kernel_l1=0.5, bias_l1=2.0, max_epochs=0, device="cpu").fit(S[:, :20], S[:, 20:])
    net = est.module_
    layers = [net.values.dense_in, net.values.dense_out, net.differences.dense_in, net.differences.dense_out]
    with torch.no_grad():
        for layer in layers:
            layer.bias.fill_(-1.0)
        expected = sum(0.5 * float(layer.weight.abs().sum()) + 2.0 * layer.bias.numel() for layer in layers)
        np.testing.assert_allclose(float(est._penalty(net)), expected, rtol=1e-5)
    # those layers start from VarianceScaling(0.1, fan_in, uniform): |w| <= sqrt(0.3 / fan_in)
    assert float(net.values.dense_in.weight.detach().abs().max()) <= np.sqrt(0.3 / 5)


def test_window_longer_than_the_input_is_an_error():
    S = data()
    with pytest.raises(ValueError, match="n_features=4"):
        WNNForecaster(window=5).fit(S[:, :4], S[:, 4:])
    with pytest.raises(ValueError, match="window"):
        WNNForecaster(window=1).fit(S[:, :20], S[:, 20:])
