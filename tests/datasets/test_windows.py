"""split_sequences: input windows and targets."""

import numpy as np
import pytest

from weightcast import split_sequences
from weightcast.datasets import WindowView, training_windows


def test_split_is_a_view_of_the_steps():
    S = np.arange(2 * 10 * 3, dtype=np.float32).reshape(2, 10, 3)
    X, Y = split_sequences(S, n_input_steps=4)
    np.testing.assert_array_equal(X, S[:, :4])
    np.testing.assert_array_equal(Y, S[:, 4:])
    X, Y = split_sequences(S, n_input_steps=4, m=2)
    np.testing.assert_array_equal(Y, S[:, 4:6])
    assert X.dtype == np.float32


def test_two_d_sequences_are_lifted():
    X, Y = split_sequences(np.zeros((3, 10)), n_input_steps=4)
    assert X.shape == (3, 4, 1) and Y.shape == (3, 6, 1)


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(n_input_steps=10), ValueError, "leaves no target step"),
    (dict(n_input_steps=0), ValueError, "n_input_steps must be >= 1"),
    (dict(n_input_steps=4, m=7), ValueError, "exceeds the 10 steps"),
    (dict(n_input_steps=4, m=0), ValueError, "m must be >= 1"),
    (dict(n_input_steps=2.0), TypeError, r"n_input_steps must be an integer, got 2.0 \(float\)"),
    (dict(n_input_steps=True), TypeError, "n_input_steps must be an integer"),
    (dict(n_input_steps=4, m=1.5), TypeError, r"m must be an integer or None, got 1.5"),
])
def test_bad_splits_are_named(kwargs, error, match):
    with pytest.raises(error, match=match):
        split_sequences(np.zeros((3, 10, 2)), **kwargs)


def test_bad_arrays_are_named():
    with pytest.raises(ValueError, match="shape"):
        split_sequences(np.zeros((2, 3, 4, 5)), n_input_steps=1)
    with pytest.raises(ValueError, match="NaN"):
        split_sequences(np.full((2, 3, 4), np.nan), n_input_steps=1)


# ---------------------------------------------------------------------------------------------- training_windows
def _runs(n_runs=3, n_steps=12, n_params=5):
    return np.arange(n_runs * n_steps * n_params, dtype=np.float32).reshape(n_runs, n_steps, n_params)


def test_training_windows_on_arrays():
    runs = _runs()
    X, Y = training_windows(runs, n_input=3, m=2, spacing=2, stride=4, start=1)
    # span (3 + 2 - 1) * 2 + 1 = 9 steps: starts 1 (ends 9) only; 5 would end at 13 > 11
    assert X.shape == (3, 3, 5) and Y.shape == (3, 2, 5)
    np.testing.assert_array_equal(X[2], runs[2, [1, 3, 5]])
    np.testing.assert_array_equal(Y[2], runs[2, [7, 9]])
    X, Y = training_windows(runs, n_input=2, m=1)          # every start: 10 per run, run by run
    assert X.shape == (30, 2, 5)
    np.testing.assert_array_equal(X[11], runs[1, [1, 2]])
    np.testing.assert_array_equal(Y[11], runs[1, [3]])
    X, _ = training_windows(runs[:, :, 0], n_input=2)       # 2-D runs are one parameter each
    assert X.shape == (30, 2, 1)


def test_training_windows_on_an_hdf5_view_read_lazily(tmp_path):
    from weightcast import LFD2Forecaster
    from weightcast.io import write_sequences

    runs = np.cumsum(np.random.default_rng(0).normal(size=(3, 20, 40)), axis=1).astype(np.float32)
    view = write_sequences(tmp_path / "runs.h5", runs, chunk_params=16)
    kwargs = dict(n_input=3, m=2, spacing=2, stride=3)
    Xa, Ya = training_windows(runs, **kwargs)
    Xv, Yv = training_windows(view, **kwargs)
    assert isinstance(Xv, WindowView) and Xv.shape == Xa.shape and Yv.shape == Ya.shape
    np.testing.assert_array_equal(np.asarray(Xv), Xa)
    np.testing.assert_array_equal(np.asarray(Yv), Ya)
    np.testing.assert_array_equal(Xv[[4, 1], 1:], Xa[[4, 1], 1:])
    np.testing.assert_array_equal(Xv.read_block([0, 5], [2], slice(3, 9)), Xa[[0, 5]][:, [2], 3:9])
    a = LFD2Forecaster(solver="lstsq", slab_size=16).fit(Xa, Ya)
    b = LFD2Forecaster(solver="lstsq", slab_size=16).fit(Xv, Yv)       # streamed slab by slab from the file
    np.testing.assert_allclose(a.coef_, b.coef_, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(n_input=0), ValueError, "n_input must be >= 1, got 0"),
    (dict(n_input=2, m=None), TypeError, "m must be an integer, got None"),
    (dict(n_input=2, spacing=1.5), TypeError, r"spacing must be an integer, got 1.5 \(float\)"),
    (dict(n_input=2, stride=0), ValueError, "stride must be >= 1, got 0"),
    (dict(n_input=4, m=4, spacing=2), ValueError, "spans 15 recorded steps"),
    (dict(n_input=2, start=12), ValueError, "start must be <= 11, got 12"),
    (dict(n_input=2, start=-1), ValueError, "start must be >= 0, got -1"),
    (dict(n_input=2, start="0"), TypeError, "start must be an integer"),
    (dict(n_input=2, start=3, stop=3), ValueError, "stop must be >= 4, got 3"),
    (dict(n_input=2, stop=13), ValueError, "stop must be <= 12, got 13"),
])
def test_training_windows_bad_settings(kwargs, error, match):
    with pytest.raises(error, match=match):
        training_windows(_runs(), **kwargs)


def test_training_windows_bad_runs():
    with pytest.raises(ValueError, match="NaN"):
        training_windows(np.full((2, 5, 3), np.nan), n_input=2)
    with pytest.raises(ValueError, match="shape"):
        training_windows(np.zeros((2, 5, 3, 1)), n_input=2)
