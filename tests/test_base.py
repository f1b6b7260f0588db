"""What BaseForecaster gives every forecaster: lazy views, predict(out=), score, and scikit-learn's defaults."""

import numpy as np
import pytest
import torch
from sklearn.metrics import r2_score
from sklearn.model_selection import GridSearchCV, KFold, cross_val_score

from weightcast import (CurveFitForecaster, DLinearForecaster, FixedPointFarcaster, LFD2Forecaster, LFNForecaster,
                        LFSForecaster, split_sequences)
from weightcast.io import SequenceView, read_metadata, write_sequences
from weightcast.registry import all_estimators

FORECASTERS = [cls for _, cls in all_estimators("forecaster")]  # every public forecaster
CASES = [(cls, params) for cls in FORECASTERS for params in cls.get_test_params()]
SLAB = {FixedPointFarcaster: dict(slab_size=4 * 40, block_size=2)}  # dynamics slabs of 4 parameters


def trajectories(n_seq=8, n_steps=30, n_params=10, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(n_steps)[None, :, None]
    start, end = rng.normal(size=(2, n_seq, 1, n_params))
    S = end + (start - end) * 0.9 ** t + 0.01 * rng.normal(size=(n_seq, n_steps, n_params))
    return S.astype(np.float32)


def case_id(case):
    cls, params = case
    return cls.__name__ + "-" + "-".join(f"{k}={v}" for k, v in params.items() if k not in ("device", "random_state"))


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    S = trajectories()
    view = write_sequences(tmp_path_factory.mktemp("runs") / "runs.h5", S, chunk_steps=8, chunk_params=2)
    return S, view


@pytest.mark.parametrize("case", CASES, ids=[case_id(c) for c in CASES])
def test_fit_on_a_view_in_slabs_equals_the_in_memory_fit_and_predicts_to_a_file(data, case, tmp_path):
    cls, params = case
    S, view = data
    X, Y = split_sequences(S, n_input_steps=21)
    Xv, Yv = split_sequences(view, n_input_steps=21)
    params = {**params, "slab_size": 4, **SLAB.get(cls, {})}
    memory = cls(**params).fit(X, Y)
    streamed = cls(**params).fit(Xv, Yv)  # slabs of 4 parameters: two chunks of 2
    expected = memory.predict(X)
    np.testing.assert_allclose(streamed.predict(X), expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(memory.predict(Xv), expected, rtol=1e-5, atol=1e-6)
    for name in ("coef_", "intercept_", "stack_coef_"):
        if hasattr(memory, name):
            np.testing.assert_allclose(getattr(streamed, name), getattr(memory, name), rtol=1e-5, atol=1e-6)

    out = tmp_path / "forecast.h5"
    forecast = streamed.predict(Xv, out=out)
    assert isinstance(forecast, SequenceView) and forecast.shape == expected.shape
    np.testing.assert_allclose(np.asarray(forecast), expected, rtol=1e-5, atol=1e-6)
    meta = read_metadata(out)
    assert meta["format"] == "weightcast-sequences" and meta["dtype"] == np.float32
    np.testing.assert_allclose(np.asarray(memory.predict(X, out=tmp_path / "from_memory.h5")), expected,
                               rtol=1e-6, atol=1e-7)
    assert memory.score(Xv, Yv[:, :memory.horizon_]) == pytest.approx(memory.score(X, Y[:, :memory.horizon_]),
                                                                      rel=1e-6)


def test_predict_fills_a_given_array():
    S = trajectories()
    est = LFNForecaster(solver="lstsq", device="cpu", slab_size=4).fit(S[:, :21], S[:, 21:])
    out = np.empty((8, 9, 10), dtype=np.float32)
    assert est.predict(S[:, :21], out=out) is out
    np.testing.assert_array_equal(out, est.predict(S[:, :21]))
    with pytest.raises(ValueError, match=r"out must be a writeable array of shape \(8, 9, 10\) and dtype float32"):
        est.predict(S[:, :21], out=np.empty((8, 9, 10)))


def test_fixed_point_searches_whole_chunks_of_a_view_with_more_parameters_than_search_params(tmp_path):
    S = trajectories(n_params=40, seed=1)
    X, Y = split_sequences(S, n_input_steps=21)
    view = write_sequences(tmp_path / "runs.h5", S, chunk_params=4)
    Xv, Yv = split_sequences(view, n_input_steps=21)
    params = dict(block_size=4, search_params=8, device="cpu")
    streamed = FixedPointFarcaster(**params).fit(Xv, Yv)
    memory = FixedPointFarcaster(**params).fit(X, Y)  # blocks of 4 = chunks of 4: the same subset
    assert len(streamed.search_) == 54
    np.testing.assert_allclose([r["train_mse"] for r in streamed.search_], [r["train_mse"] for r in memory.search_],
                               rtol=1e-5)
    np.testing.assert_allclose(streamed.predict(X), memory.predict(X), rtol=1e-5, atol=1e-6)
    # Blocks of 2 in chunks of 4: the search reads pieces of whole chunks, never a fancy index.
    reads = []

    class Recording(SequenceView):
        def read_block(self, seqs=None, steps=None, params=slice(None), dtype=None, out=None):
            reads.append((params.start, params.stop))
            return super().read_block(seqs, steps, params, dtype, out)

    recorded = Recording(view.path)
    fitted = FixedPointFarcaster(block_size=2, search_params=8, slab_size=40 * 40, device="cpu").fit(
        recorded[:, :21], recorded[:, 21:])
    assert reads and all(start % 4 == 0 and (stop % 4 == 0 or stop == 40) for start, stop in reads)
    assert np.isfinite(fitted.predict(X)).all()


def test_score_is_r2_per_step_over_sequences_and_parameters():
    S = trajectories()
    X, Y = S[:, :21], S[:, 21:]
    est = LFD2Forecaster(solver="lstsq", device="cpu").fit(X, Y)
    pred = est.predict(X)
    per_step = [1 - ((Y[:, k] - pred[:, k]) ** 2).sum() / ((Y[:, k] - Y[:, k].mean()) ** 2).sum()
                for k in range(Y.shape[1])]
    assert est.score(X, Y) == pytest.approx(np.mean(per_step), rel=1e-6)
    assert est.score(X, Y[:, :3]) == pytest.approx(np.mean(per_step[:3]), rel=1e-6)
    # The 2-D lift (one parameter) is scikit-learn's r2_score, sample weights included.
    lifted = LFD2Forecaster(solver="lstsq", device="cpu").fit(X[:, :, 0], Y[:, :, 0])
    weights = np.arange(1.0, 9.0)
    assert lifted.score(X[:, :, 0], Y[:, :, 0]) == pytest.approx(r2_score(Y[:, :, 0], lifted.predict(X[:, :, 0])))
    assert lifted.score(X[:, :, 0], Y[:, :, 0], sample_weight=weights) == pytest.approx(
        r2_score(Y[:, :, 0], lifted.predict(X[:, :, 0]), sample_weight=weights))
    with pytest.raises(ValueError, match="beyond the fitted horizon"):
        LFD2Forecaster(solver="lstsq", m=3, device="cpu").fit(X, Y).score(X, Y)
    with pytest.raises(ValueError, match="does not match X"):
        est.score(X, Y[:, :, :4])


def test_cross_val_score_and_grid_search_rank_by_score_without_scoring():
    S = trajectories(n_seq=12)
    X, Y = S[:, :21], S[:, 21:]
    scores = cross_val_score(LFNForecaster(solver="lstsq", device="cpu"), X, Y, cv=KFold(3))
    assert np.all(np.isfinite(scores)) and np.all(scores > 0.9)
    search = GridSearchCV(LFD2Forecaster(solver="lstsq", device="cpu"), {"alpha": [1e6, 0.0]}, cv=KFold(3)).fit(X, Y)
    assert search.best_params_ == {"alpha": 0.0}
    assert np.all(np.isfinite(search.cv_results_["mean_test_score"]))


def test_grid_search_tunes_the_paper_sampling_k_of_lfs():
    rng = np.random.default_rng(0)
    decay = 0.95 ** np.arange(41)[None, :, None]
    start, end = rng.normal(size=(2, 30, 1, 3))
    S = (end + (start - end) * decay + 0.01 * rng.normal(size=(30, 41, 3))).astype(np.float32)
    X, Y = S[:, :11], S[:, 11:]
    search = GridSearchCV(LFSForecaster(solver="lstsq", random_state=0, device="cpu"), {"k": [1, 2, 11]},
                          cv=KFold(3)).fit(X, Y)
    assert search.best_params_ == {"k": 11} and len(search.best_estimator_.steps_) == 11
    assert LFSForecaster(solver="lstsq", device="cpu").fit(X, Y).steps_.tolist() == [0, 4, 7, 10]  # k=None
    drawn = LFSForecaster(k=3, solver="lstsq", random_state=5, device="cpu").fit(X, Y).steps_
    assert len(drawn) == 3 and drawn.tolist() == LFSForecaster(k=3, solver="lstsq", random_state=5,
                                                                device="cpu").fit(X, Y).steps_.tolist()
    from weightcast import SampledSelector
    with pytest.raises(ValueError, match="both k=3 and selector=.*not both"):
        LFSForecaster(k=3, selector=SampledSelector(k=2), device="cpu").fit(X, Y)
    with pytest.raises(ValueError, match="k must be >= 1"):
        LFSForecaster(k=0, device="cpu").fit(X, Y)


@pytest.mark.parametrize("cls", [DLinearForecaster, FixedPointFarcaster, CurveFitForecaster])
def test_non_finite_values_are_named_for_every_forecaster_in_fit_and_predict(cls, tmp_path):
    S = trajectories()
    S[2, 4, 7] = np.nan
    params = {**cls.get_test_params()[0], "slab_size": 4}
    good = trajectories(seed=1)
    est = cls(**params).fit(good[:, :21], good[:, 21:])
    with pytest.raises(ValueError, match=r"^X holds NaN at sequence 2, step 4, parameter 7; weight sequences"):
        cls(**params).fit(S[:, :21], S[:, 21:])
    with pytest.raises(ValueError, match=r"^X holds NaN at sequence 2, step 4, parameter 7;"):
        est.predict(S[:, :21])
    view = write_sequences(tmp_path / "nan.h5", S, chunk_params=2)
    with pytest.raises(ValueError, match=r"X holds NaN at sequence 2, step 4, parameter 7 of '.*nan\.h5'"):
        est.predict(view[:, :21], out=tmp_path / "forecast.h5")
    assert not (tmp_path / "forecast.h5").exists()


def test_a_forecaster_of_one_process_refuses_a_reducer():
    from weightcast.distributed import LocalReducer

    S = trajectories()
    CurveFitForecaster(device="cpu").fit(S[:, :21], S[:, 21:], reducer=LocalReducer())

    class NotLocal(LocalReducer):
        world_size = 2

    with pytest.raises(TypeError, match="CurveFitForecaster fits in one process: reducer must be None"):
        CurveFitForecaster(device="cpu").fit(S[:, :21], S[:, 21:], reducer=NotLocal())


def test_tensors_are_read_without_a_copy_into_numpy():
    S = trajectories()
    X, Y = torch.from_numpy(S[:, :21]), torch.from_numpy(S[:, 21:])
    est = LFD2Forecaster(solver="lstsq", device="cpu").fit(X, Y)
    np.testing.assert_allclose(est.predict(X), LFD2Forecaster(solver="lstsq", device="cpu").fit(
        S[:, :21], S[:, 21:]).predict(S[:, :21]), rtol=1e-6)
    assert est.score(X, Y) > 0.9
    with pytest.raises(ValueError, match="X holds NaN"):
        est.predict(torch.full((2, 21, 10), float("nan")))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("cls, params", [(LFD2Forecaster, dict(solver="lstsq")),
                                         (LFNForecaster, dict(solver="lstsq")),
                                         (LFD2Forecaster, dict(solver="paper", max_epochs=3, random_state=0)),
                                         (DLinearForecaster, dict(max_epochs=3, random_state=0))])
def test_cuda_matches_cpu(cls, params, tmp_path):
    S = trajectories(n_params=64)
    X, Y = split_sequences(S, n_input_steps=21)
    view = write_sequences(tmp_path / "runs.h5", S, chunk_params=8)
    Xv, Yv = split_sequences(view, n_input_steps=21)
    cpu = cls(device="cpu", slab_size=16, **params).fit(X, Y)
    for data in ((X, Y), (Xv, Yv), (torch.from_numpy(X).cuda(), torch.from_numpy(Y).cuda())):
        cuda = cls(device="cuda", slab_size=16, **params).fit(*data)
        np.testing.assert_allclose(cuda.predict(X), cpu.predict(X), rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(np.asarray(cuda.predict(Xv, out=tmp_path / "f.h5")), cpu.predict(X),
                                   rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("cls, params", [(LFSForecaster, dict(k=3, solver="lstsq")),
                                         (DLinearForecaster, dict(max_epochs=2))])
def test_a_numpy_generator_is_a_random_state(cls, params):
    """random_state takes a numpy Generator too (scikit-learn's check_random_state does not): a seed is
    drawn from it, so generators in the same state give the same fit."""
    S = trajectories()
    X, Y = split_sequences(S, n_input_steps=11)
    first, second = (cls(device="cpu", random_state=np.random.default_rng(7), **params).fit(X, Y) for _ in range(2))
    np.testing.assert_array_equal(first.predict(X), second.predict(X))
