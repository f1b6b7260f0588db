"""The contract every baseline shares: shapes and the 2-D lift, determinism, bad input, slab streaming."""

import numpy as np
import pytest
import torch

from weightcast.baselines import (CurveFitForecaster, DLinearForecaster, IntrospectionForecaster, RMLPForecaster,
                                  WNNForecaster)
from weightcast.baselines._training import RowBlocks


FAST = {
    DLinearForecaster: dict(kernel_size=5, max_epochs=2),
    RMLPForecaster: dict(hidden_size=8, max_epochs=2),
    IntrospectionForecaster: dict(variant="linear", max_epochs=2),
    WNNForecaster: dict(window=4, max_epochs=2),
    CurveFitForecaster: dict(),
}


def make(cls, **extra):
    return cls(**{"device": "cpu", "random_state": 0, **FAST[cls], **extra})


def trajectories(n_seq=6, n_steps=30, n_params=4, seed=0):
    rng = np.random.default_rng(seed)
    return np.cumsum(rng.normal(scale=0.1, size=(n_seq, n_steps, n_params)), axis=1).astype(np.float32)


@pytest.mark.parametrize("cls", FAST)
def test_shapes_and_lift(cls):
    S = trajectories()
    X, Y = S[:, :21], S[:, 21:]
    est = make(cls).fit(X, Y)
    assert est.predict(X).shape == Y.shape
    assert est.predict(X, m=3).shape == (6, 3, 4)
    assert est.n_features_in_ == 21 and est.n_params_in_ == 4 and est.horizon_ == 9
    lifted = make(cls).fit(X[:, :, 0], Y[:, :, 0])  # 2-D: one parameter
    assert lifted.predict(X[:, :, 0]).shape == (6, 9)
    assert make(cls).fit(X[:, :, 0], Y[:, 0, 0]).predict(X[:, :, 0]).shape == (6,)
    assert make(cls, m=4).fit(X, Y).predict(X).shape == (6, 4, 4)


@pytest.mark.parametrize("cls", FAST)
def test_repeated_fit_is_identical(cls):
    S = trajectories()
    first = make(cls).fit(S[:, :21], S[:, 21:]).predict(S[:, :21])
    second = make(cls).fit(S[:, :21], S[:, 21:]).predict(S[:, :21])
    np.testing.assert_array_equal(first, second)


@pytest.mark.parametrize("cls", FAST)
def test_bad_input(cls):
    S = trajectories()
    X, Y = S[:, :21], S[:, 21:]
    bad = X.copy()
    bad[0, 3, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        make(cls).fit(bad, Y)
    with pytest.raises(ValueError, match="sequences"):
        make(cls).fit(X, Y[:-1])
    with pytest.raises(ValueError, match="parameters"):
        make(cls).fit(X, Y[:, :, :2])
    with pytest.raises(ValueError, match="m=20"):
        make(cls, m=20).fit(X, Y)
    est = make(cls).fit(X, Y)
    with pytest.raises(ValueError, match="fitted horizon"):
        est.predict(X, m=10)
    with pytest.raises(ValueError, match="parameters"):
        est.predict(X[:, :, :3])
    with pytest.raises(ValueError, match="input steps"):
        est.predict(X[:, :20])
    with pytest.raises(ValueError, match="device"):
        make(cls, device="tpu").fit(X, Y)


@pytest.mark.parametrize("cls", [DLinearForecaster, RMLPForecaster, IntrospectionForecaster, WNNForecaster])
def test_bad_training_settings(cls):
    S = trajectories()
    for name, value, error in (("lr", -1.0, ValueError), ("lr", "fast", TypeError), ("batch_size", 0, ValueError),
                               ("validation_fraction", 1.0, ValueError), ("patience", 2.5, TypeError)):
        with pytest.raises(error, match=name):
            make(cls, **{name: value}).fit(S[:, :21], S[:, 21:])
    with pytest.raises(TypeError, match="validation_data"):
        make(cls).fit(S[:, :21], S[:, 21:], validation_data=S)
    with pytest.raises(ValueError, match="validation_data"):
        make(cls).fit(S[:, :21], S[:, 21:], validation_data=(S[:, :20], S[:, 21:]))


@pytest.mark.parametrize("cls", [DLinearForecaster, IntrospectionForecaster, WNNForecaster, CurveFitForecaster])
def test_prediction_does_not_depend_on_the_slab(cls):
    S = trajectories(n_params=7)
    est = make(cls).fit(S[:, :21], S[:, 21:])
    whole = est.predict(S[:, :21])
    est.set_params(slab_size=2)
    np.testing.assert_allclose(est.predict(S[:, :21]), whole, rtol=1e-6, atol=1e-7)


class RecordingArray:
    """An array that records the widest parameter slice read from it (as a lazy HDF5 view would serve it)."""

    def __init__(self, data):
        self.data, self.widest = data, 0
        self.shape = data.shape

    def __getitem__(self, seqs):
        parent = self

        class Rows:
            def __getitem__(self, key):
                params = key[2]
                parent.widest = max(parent.widest, len(range(*params.indices(parent.shape[2]))))
                return parent.data[seqs][key]

        return Rows()


def test_row_blocks_stream_slabs():
    S = trajectories(n_params=10)
    X, Y = RecordingArray(S[:, :21]), RecordingArray(S[:, 21:])
    rows = RowBlocks(X, Y, np.arange(21), np.arange(9), slab_size=3, device=torch.device("cpu"))
    blocks = list(rows.blocks(np.array([4, 1])))
    assert [b[0].shape for b in blocks] == [(2, 3, 21)] * 3 + [(2, 1, 21)]
    assert X.widest == 3 and Y.widest == 3
    np.testing.assert_array_equal(blocks[0][0].numpy(), np.stack([S[1, :21, :3].T, S[4, :21, :3].T]))


@pytest.mark.parametrize("cls", [DLinearForecaster, IntrospectionForecaster, WNNForecaster])
def test_fit_streams_slabs(cls):
    S = trajectories(n_params=9)
    est = make(cls, slab_size=2).fit(S[:, :21], S[:, 21:], validation_data=(S[:2, :21], S[:2, 21:]))
    assert np.all(np.isfinite(est.predict(S[:, :21])))
    assert est.history_ and {"epoch", "train_loss", "validation_loss"} <= set(est.history_[0])


def test_divergence_is_a_clear_error():
    S = trajectories() * 1e30
    with pytest.raises(ValueError, match="diverged"):
        make(DLinearForecaster, lr=1e10).fit(S[:, :21], S[:, 21:])
