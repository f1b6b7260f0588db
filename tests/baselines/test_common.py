"""The contract every baseline shares: shapes and the 2-D lift, determinism, bad input, slab streaming."""

import numpy as np
import pytest

from weightcast.baselines import (CurveFitForecaster, DLinearForecaster, IntrospectionForecaster, RMLPForecaster,
                                  WNNForecaster)


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


class RecordingView:
    """A lazy dataset over an array that records the widest parameter slab read from it."""

    def __init__(self, data):
        self.data, self.shape, self.dtype, self.widest = data, data.shape, data.dtype, 0

    def read_block(self, seqs=None, steps=None, params=slice(None), dtype=None, out=None):
        block = self.data[slice(None) if seqs is None else seqs][:, slice(None) if steps is None else steps, params]
        self.widest = max(self.widest, block.shape[2])
        if out is None:
            return block.astype(dtype or self.dtype)
        out[...] = block
        return out


@pytest.mark.parametrize("cls", [DLinearForecaster, IntrospectionForecaster, WNNForecaster, CurveFitForecaster])
def test_fit_and_predict_read_one_slab_at_a_time(cls):
    S = trajectories(n_params=10)
    X, Y = RecordingView(S[:, :21]), RecordingView(S[:, 21:])
    est = make(cls, slab_size=3).fit(X, Y)
    prediction = est.predict(X)
    assert X.widest == 3 and Y.widest in (0, 3)  # CurveFit never reads Y
    np.testing.assert_allclose(prediction, make(cls, slab_size=3).fit(S[:, :21], S[:, 21:]).predict(S[:, :21]),
                               rtol=1e-5, atol=1e-6)


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
