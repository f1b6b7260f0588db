"""Linear farcasters on lazy HDF5 views: streaming fit and predict equal the in-memory ones."""

import os

import numpy as np
import pytest
from sklearn.model_selection import GridSearchCV, ShuffleSplit

from weightcast import (
    LFD2Forecaster,
    LFLForecaster,
    LFNForecaster,
    LFSForecaster,
    LinearFarcaster,
    make_checkpoint_scorer,
    split_sequences,
)
from weightcast.io import SequenceView, open_sequences, read_metadata, write_sequences

PRESETS = [LinearFarcaster, LFD2Forecaster, LFNForecaster, LFSForecaster, LFLForecaster]


def decaying(n_sequences=8, n_steps=24, n_params=37, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(n_steps)[None, :, None]
    start = rng.normal(size=(n_sequences, 1, n_params))
    rate = rng.uniform(0.8, 0.97, size=(n_sequences, 1, n_params))
    noise = rng.normal(scale=0.01, size=(n_sequences, n_steps, n_params))
    return (start * rate ** t + 0.1 * start + noise).astype(np.float32)


@pytest.fixture
def data(tmp_path):
    S = decaying()
    view = write_sequences(tmp_path / "runs.h5", S, chunk_steps=8, chunk_params=4)
    return S, view


CASES = [(cls, dict(solver="lstsq")) for cls in PRESETS] + [
    (cls, params) for cls in (LFD2Forecaster, LFNForecaster) for params in (
        dict(solver="lstsq", fit_intercept=False, alpha=0.5),
        dict(solver="paper", init="default", lr=0.02, max_epochs=6, batch_size=3, beta=1e-2),
        dict(solver="paper", max_epochs=4, validation_fraction=0, batch_size=64, beta=1e-2),  # one pass an epoch
    )]


@pytest.mark.parametrize("cls, params", CASES)
def test_streaming_fit_equals_in_memory_fit(data, cls, params):
    S, view = data
    X, Y = split_sequences(S, n_input_steps=10, m=12)
    Xv, Yv = split_sequences(view, n_input_steps=10, m=12)
    memory = cls(device="cpu", random_state=0, **params).fit(X, Y)
    streamed = cls(device="cpu", random_state=0, slab_size=5, **params).fit(Xv, Yv)  # 5 -> whole chunks of 4
    np.testing.assert_allclose(streamed.coef_, memory.coef_, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(streamed.intercept_, memory.intercept_, rtol=1e-4, atol=1e-5)
    assert streamed.n_features_in_ == 10 and streamed.n_params_in_ == 37
    assert streamed.n_epochs_ == memory.n_epochs_
    np.testing.assert_allclose(streamed.predict(Xv), memory.predict(X), rtol=1e-4, atol=1e-5)


def test_validation_data_may_be_a_view(data):
    S, view = data
    X, Y = split_sequences(S, n_input_steps=10)
    Xv, Yv = split_sequences(view, n_input_steps=10)
    params = dict(device="cpu", random_state=0, init="default", lr=0.02, max_epochs=5)
    memory = LFD2Forecaster(**params).fit(X[:6], Y[:6], validation_data=(X[6:], Y[6:]))
    streamed = LFD2Forecaster(slab_size=8, **params).fit(Xv[:6], Yv[:6], validation_data=(Xv[6:], Yv[6:]))
    np.testing.assert_allclose(streamed.coef_, memory.coef_, rtol=1e-4, atol=1e-5)


def test_predict_streams_into_a_file(tmp_path, data):
    S, view = data
    names = dict(param_names=["a", "b"], param_shapes=[(30,), (7,)])
    view = write_sequences(tmp_path / "named.h5", S, chunk_params=8, **names)
    est = LFNForecaster(solver="lstsq", device="cpu", slab_size=8).fit(view[:, :10], view[:, 10:22])
    out = tmp_path / "forecast.h5"
    forecast = est.predict(view[:, 10:20], m=7, out=out)
    assert isinstance(forecast, SequenceView) and forecast.shape == (8, 7, 37)
    np.testing.assert_allclose(np.asarray(forecast), est.predict(S[:, 10:20], m=7), rtol=1e-6)
    meta = read_metadata(out)
    assert meta["format"] == "weightcast-sequences" and meta["dtype"] == np.float32
    assert meta["param_names"] == ["a", "b"]  # so the forecast loads back into the model
    assert sorted(os.listdir(tmp_path)) == ["forecast.h5", "named.h5", "runs.h5"]


def test_predict_to_file_from_an_array_and_overwrite(tmp_path, data):
    S, _ = data
    est = LFLForecaster(solver="lstsq", device="cpu").fit(S[:, :10], S[:, 10:14])
    out = tmp_path / "f.h5"
    est.predict(S[:, :10], out=out)
    again = est.predict(S[:, 5:15], m=2, out=out)
    np.testing.assert_allclose(np.asarray(again), est.predict(S[:, 5:15], m=2))


def test_predict_refuses_to_overwrite_its_input(data):
    S, view = data
    est = LFLForecaster(solver="lstsq", device="cpu").fit(view[:, :10], view[:, 10:14])
    with pytest.raises(ValueError, match="the file X is read from"):
        est.predict(view[:, :10], out=view.path)
    np.testing.assert_array_equal(np.asarray(view), S)


def test_nan_in_a_file_is_caught_slab_by_slab_and_no_forecast_is_left(tmp_path):
    S = decaying()
    S[3, 13, 30] = np.nan  # a step both LFD-2 fits below read (targets of the fit, w_n of the forecast)
    view = write_sequences(tmp_path / "nan.h5", S, chunk_params=4)
    # In file coordinates: step 3 of Y = view[:, 10:] is step 13 of the file.
    with pytest.raises(ValueError, match=r"Y holds NaN at sequence 3, step 13, parameter 30 of '.*nan\.h5' "
                                         r"\(dataset 'weights'\); weight sequences must be finite"):
        LFD2Forecaster(solver="lstsq", slab_size=4, device="cpu").fit(view[:, :10], view[:, 10:])
    est = LFD2Forecaster(solver="lstsq", device="cpu").fit(S[:, 14:18], S[:, 18:22])
    with pytest.raises(ValueError, match=r"X holds NaN at sequence 3, step 13, parameter 30 of '.*nan\.h5'"):
        est.predict(view[:, 10:14], out=tmp_path / "forecast.h5")
    assert sorted(os.listdir(tmp_path)) == ["nan.h5"]


def test_views_are_checked_for_shape(data):
    S, view = data
    est = LFD2Forecaster(solver="lstsq", device="cpu")
    with pytest.raises(ValueError, match="number of sequences"):
        est.fit(view[:5, :10], view[:, 10:])
    est.fit(view[:, :10], view[:, 10:])
    with pytest.raises(ValueError, match="input steps"):
        est.predict(view[:, :9])


def test_verbose_zero_is_silent_and_verbose_shows_progress(data, capsys):
    S, view = data
    X, Y = split_sequences(view, n_input_steps=10)
    LFD2Forecaster(solver="lstsq", slab_size=4, device="cpu").fit(X, Y).predict(X)
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""
    LFD2Forecaster(solver="lstsq", slab_size=4, device="cpu", verbose=1).fit(X, Y)
    assert "exact fit" in capsys.readouterr().err


def test_scorer_on_views(data):
    S, view = data
    X, Y = split_sequences(S, n_input_steps=10)
    Xv, Yv = split_sequences(view, n_input_steps=10)
    est = LFD2Forecaster(solver="lstsq", device="cpu").fit(X, Y)
    scorer = make_checkpoint_scorer(checkpoints=(12, 20))
    assert scorer(est, Xv, Yv) == pytest.approx(scorer(est, X, Y), rel=1e-6)


def test_grid_search_over_a_file_with_shuffle_split_and_two_jobs(data):
    S, view = data
    X, Y = split_sequences(S, n_input_steps=10)
    Xv, Yv = split_sequences(view, n_input_steps=10)
    grid = {"alpha": [0.0, 30.0, 3000.0], "fit_intercept": [True, False]}

    def search(X, Y, n_jobs):
        cv = ShuffleSplit(n_splits=3, test_size=3, random_state=0)  # unsorted test indices
        return GridSearchCV(LFNForecaster(solver="lstsq", device="cpu"), grid, cv=cv, n_jobs=n_jobs,
                            scoring=make_checkpoint_scorer(checkpoints=(12, 23))).fit(X, Y)

    memory, streamed = search(X, Y, n_jobs=1), search(Xv, Yv, n_jobs=2)
    assert streamed.best_params_ == memory.best_params_
    np.testing.assert_allclose(streamed.cv_results_["mean_test_score"], memory.cv_results_["mean_test_score"],
                               rtol=1e-5)
    assert isinstance(open_sequences(view.path), SequenceView)


def test_a_forecast_file_continues_the_step_numbers_of_its_input(tmp_path):
    S = decaying()
    view = write_sequences(tmp_path / "numbered.h5", S, steps=np.arange(0, 240, 10))
    est = LFD2Forecaster(solver="lstsq", device="cpu").fit(view[:, :10], view[:, 10:16])
    forecast = est.predict(view[:, 4:14], m=3, out=tmp_path / "forecast.h5")
    assert read_metadata(forecast.path)["steps"].tolist() == [140, 150, 160]
