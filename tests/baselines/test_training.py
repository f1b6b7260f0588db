"""The shared training loop pushes each block through the module in chunks of rows, without changing the fit."""

import numpy as np
import pytest
import torch
from torch.optim.optimizer import register_optimizer_step_pre_hook

from weightcast.baselines import (DLinearForecaster, IntrospectionForecaster, RMLPForecaster, WNNForecaster,
                                  _training)

from .test_common import trajectories

CHUNKED = {
    "WNN": lambda: WNNForecaster(window=4),
    "WNN-offset": lambda: WNNForecaster(window=4, offset=2),
    "Introspection-linear": lambda: IntrospectionForecaster(variant="linear"),
    "Introspection-original": lambda: IntrospectionForecaster(hidden_size=4, steps_per_epoch=4),
    "RMLP-CI": lambda: RMLPForecaster(hidden_size=8, channel_mixing=False),
    "DLinear": lambda: DLinearForecaster(kernel_size=5),
}


def make(name, **extra):
    return CHUNKED[name]().set_params(**{"max_epochs": 3, "patience": None, "device": "cpu", "random_state": 0,
                                         **extra})


def fit_recording_gradients(est, X, Y, validation_data):
    """Fit ``est`` and return the gradients each Adam step received."""
    steps = []
    hook = register_optimizer_step_pre_hook(
        lambda optimizer, args, kwargs: steps.append([p.grad.clone() for group in optimizer.param_groups
                                                      for p in group["params"]]))
    try:
        est.fit(X, Y, validation_data=validation_data)
    finally:
        hook.remove()
    return steps


@pytest.mark.parametrize("chunk_rows", [3, 12])
@pytest.mark.parametrize("name", CHUNKED)
def test_chunking_does_not_change_the_fit(monkeypatch, name, chunk_rows):
    S = trajectories(n_seq=8, n_params=10)
    X, Y, validation = S[:6, :21], S[:6, 21:], (S[6:, :21], S[6:, 21:])
    whole = make(name)
    whole_steps = fit_recording_gradients(whole, X, Y, validation)
    monkeypatch.setattr(_training, "CHUNK_ROWS", chunk_rows)
    chunked = make(name)
    chunked_steps = fit_recording_gradients(chunked, X, Y, validation)
    assert len(chunked_steps) == len(whole_steps) == 3 * (4 if name == "Introspection-original" else 1)
    # The first step starts from the same weights: the chunks' gradients (and the penalty's, added once)
    # sum to the block's, to float32 rounding.
    for first, second in zip(whole_steps[0], chunked_steps[0]):
        torch.testing.assert_close(second, first, rtol=1e-5, atol=1e-6 * float(first.abs().max()))
    # Later steps may differ by more: Adam divides each gradient by its magnitude, so a rounding-level
    # gradient (an L1 loss's exact 0 in one, 1e-10 in the other) moves a weight by a share of lr.
    lr = whole._setting("lr")
    for key, value in whole.module_.state_dict().items():
        torch.testing.assert_close(chunked.module_.state_dict()[key], value, rtol=0, atol=0.25 * lr, msg=key)
    for first, second in zip(whole.history_, chunked.history_):
        np.testing.assert_allclose([second["train_loss"], second["validation_loss"]],
                                   [first["train_loss"], first["validation_loss"]], rtol=1e-5)
    expected = whole.predict(X)
    np.testing.assert_allclose(chunked.predict(X), expected, rtol=0, atol=1e-5 * np.abs(expected).max())


def record_rows(monkeypatch, cls):
    """Patch ``cls`` so that its modules record how many rows (sequence, parameter) each call receives."""
    calls = []
    build = cls._build_module

    def recording_build(self, n_in, n_out, generator):
        module = build(self, n_in, n_out, generator)
        module.register_forward_pre_hook(lambda _, args: calls.append(args[0].shape[0] * args[0].shape[1]))
        return module

    monkeypatch.setattr(cls, "_build_module", recording_build)
    return calls


@pytest.mark.parametrize("name", ["WNN", "Introspection-linear", "RMLP-CI"])
def test_the_chunk_bounds_the_rows_through_the_module(monkeypatch, name):
    S = trajectories(n_seq=8, n_params=10)
    monkeypatch.setattr(_training, "CHUNK_ROWS", 4)
    est = make(name)
    calls = record_rows(monkeypatch, type(est))
    est.fit(S[:, :21], S[:, 21:])
    est.predict(S[:, :21])
    # blocks hold 6 training, 2 validation or 8 predicted sequences x 10 parameters
    assert max(calls) == 4 and len(calls) > 3 * 40 / 4


def test_a_module_that_mixes_coordinates_gets_whole_blocks(monkeypatch):
    S = trajectories(n_seq=8, n_params=10)
    monkeypatch.setattr(_training, "CHUNK_ROWS", 4)
    est = RMLPForecaster(hidden_size=8, max_epochs=2, device="cpu", random_state=0)
    calls = record_rows(monkeypatch, RMLPForecaster)
    est.fit(S[:, :21], S[:, 21:], validation_data=(S[:3, :21], S[:3, 21:]))
    est.predict(S[:, :21])
    assert set(calls) == {8 * 10, 3 * 10}  # training and predict: 8 sequences; validation: 3
