"""Checkpoint MSE and the GridSearchCV scorer."""

import numpy as np
import pytest

from weightcast import LFD2Forecaster, checkpoint_mse, make_checkpoint_scorer
from weightcast.metrics import PAPER_SCALE


def test_checkpoint_c_is_the_absolute_step():
    Y = np.zeros((4, 10, 2))
    Y_pred = Y.copy()
    Y_pred[:, 3] = 0.5           # column 3 is step 21 + 3 = 24
    Y_pred[:, 9] = 1.0           # column 9 is step 30
    mse = checkpoint_mse(Y, Y_pred, checkpoints=(21, 24, 30), n_input_steps=21)
    np.testing.assert_allclose(mse, [0.0, 0.25, 1.0])
    np.testing.assert_allclose(checkpoint_mse(Y, Y_pred, (24,), 21, scale=PAPER_SCALE), [2500.0])


def test_mean_runs_over_sequences_and_parameters():
    rng = np.random.default_rng(0)
    Y, Y_pred = rng.normal(size=(5, 3, 4)), rng.normal(size=(5, 3, 4))
    expected = ((Y[:, 1] - Y_pred[:, 1]) ** 2).mean()
    assert checkpoint_mse(Y, Y_pred, (11,), n_input_steps=10)[0] == pytest.approx(expected)


def test_lifted_targets_are_accepted():
    assert checkpoint_mse(np.zeros(3), np.ones(3), (5,), n_input_steps=5)[0] == 1.0
    assert checkpoint_mse(np.zeros((3, 2)), np.ones((3, 2)), (6,), n_input_steps=5)[0] == 1.0


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(checkpoints=(20,), n_input_steps=21), ValueError, "fall outside the forecast"),
    (dict(checkpoints=(31,), n_input_steps=21), ValueError, "covers steps 21..30"),
    (dict(checkpoints=(), n_input_steps=21), ValueError, "non-empty sequence of integers"),
    (dict(checkpoints=(22,), n_input_steps=0), ValueError, "n_input_steps must be >= 1, got 0"),
    (dict(checkpoints=(22,), n_input_steps=2.0), TypeError, "n_input_steps must be an integer"),
    (dict(checkpoints=22, n_input_steps=21), TypeError, "checkpoints must be a non-empty sequence of integers"),
])
def test_bad_checkpoints_are_named(kwargs, error, match):
    Y = np.zeros((2, 10, 3))
    with pytest.raises(error, match=match):
        checkpoint_mse(Y, Y, **kwargs)


def test_mismatched_shapes_and_nan_are_errors():
    with pytest.raises(ValueError, match="different shapes"):
        checkpoint_mse(np.zeros((2, 10, 3)), np.zeros((2, 10, 4)), (22,), 21)
    Y_pred = np.zeros((2, 10, 3))
    Y_pred[0, 1, 0] = np.nan
    with pytest.raises(ValueError, match=r"Y_pred holds NaN at sequence 0, step 1, parameter 0"):
        checkpoint_mse(np.zeros((2, 10, 3)), Y_pred, (22,), 21)
    with pytest.raises(ValueError, match="not finite.*overflows float64"):
        checkpoint_mse(np.full((2, 10, 3), 1e300), np.full((2, 10, 3), -1e300), (22,), 21)
    with pytest.raises(TypeError, match="numeric"):
        checkpoint_mse(np.array([["a"]]), np.zeros((1, 1)), (1,), 1)


def test_slab_size_bounds_what_is_read_of_lazy_views(tmp_path, monkeypatch):
    from weightcast.io import SequenceView, write_sequences

    rng = np.random.default_rng(0)
    Y, Y_pred = rng.normal(size=(3, 6, 50)), rng.normal(size=(3, 6, 50))
    lazy = [write_sequences(tmp_path / f"{name}.h5", values, chunk_params=8)
            for name, values in (("true", Y), ("pred", Y_pred))]
    widths, read_block = [], SequenceView.read_block

    def recorded(self, seqs=None, steps=None, params=slice(None), dtype=None, out=None):
        widths.append(len(range(*params.indices(self.shape[2]))))
        return read_block(self, seqs, steps, params, dtype=dtype, out=out)

    monkeypatch.setattr(SequenceView, "read_block", recorded)
    mse = checkpoint_mse(*lazy, (11, 15), n_input_steps=10, slab_size=20)  # whole chunks: slabs of 16
    np.testing.assert_allclose(mse, checkpoint_mse(Y, Y_pred, (11, 15), n_input_steps=10), rtol=1e-12)
    assert widths and max(widths) == 16
    with pytest.raises(ValueError, match="slab_size must be >= 1, got 0"):
        checkpoint_mse(Y, Y_pred, (11,), n_input_steps=10, slab_size=0)


def test_scorer_is_minus_the_mean_checkpoint_mse():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(10, 5, 3))
    Y = rng.normal(size=(10, 8, 3))
    est = LFD2Forecaster(solver="lstsq", device="cpu").fit(X, Y)
    scorer = make_checkpoint_scorer(checkpoints=(6, 12))
    expected = checkpoint_mse(Y, est.predict(X), (6, 12), n_input_steps=5).mean()
    assert scorer(est, X, Y) == pytest.approx(-expected)
    worst = make_checkpoint_scorer(checkpoints=(6, 12), aggregate="max")(est, X, Y)
    assert worst <= scorer(est, X, Y)
    with pytest.raises(ValueError, match="aggregate"):
        make_checkpoint_scorer(aggregate="median")
