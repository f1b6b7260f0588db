"""GridSearchCV over 3-D weight sequences with the checkpoint scorer; clone; Pipeline."""

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV, KFold, ShuffleSplit
from sklearn.pipeline import Pipeline

from weightcast import (
    FirstLastSelector,
    LFD2Forecaster,
    LFSForecaster,
    LinearFarcaster,
    SampledSelector,
    make_checkpoint_scorer,
    split_sequences,
)


@pytest.fixture(scope="module")
def sequences():
    rng = np.random.default_rng(0)
    decay = 0.95 ** np.arange(41)[None, :, None]
    start, end = rng.normal(size=(30, 1, 3)), rng.normal(size=(30, 1, 3))
    S = end + (start - end) * decay + 0.01 * rng.normal(size=(30, 41, 3))
    return split_sequences(S.astype(np.float32), n_input_steps=11)


@pytest.mark.parametrize("n_jobs", [1, 2])
def test_grid_search_over_beta(sequences, n_jobs):
    X, Y = sequences
    search = GridSearchCV(LFD2Forecaster(device="cpu", random_state=0, max_epochs=20), {"beta": [0, 1e-6, 1e-4]},
                          scoring=make_checkpoint_scorer(checkpoints=(20, 40)), cv=KFold(3), n_jobs=n_jobs)
    search.fit(X, Y)
    assert search.best_params_["beta"] in (0, 1e-6, 1e-4)
    assert np.all(search.cv_results_["mean_test_score"] <= 0)
    assert search.predict(X).shape == Y.shape


@pytest.mark.parametrize("n_jobs", [1, 2])
def test_grid_search_over_the_sampled_steps(sequences, n_jobs):
    X, Y = sequences
    est = LFSForecaster(selector=SampledSelector(k=2, random_state=0), solver="lstsq", device="cpu")
    search = GridSearchCV(est, {"selector__k": [1, 3, 11]}, cv=ShuffleSplit(3, test_size=0.3, random_state=0),
                          scoring=make_checkpoint_scorer(checkpoints=(20, 30, 40)), n_jobs=n_jobs).fit(X, Y)
    # All 11 steps reproduce the decaying trajectories best; a single random step cannot.
    assert search.best_params_ == {"selector__k": 11}
    assert len(search.best_estimator_.steps_) == 11


def test_grid_search_results_do_not_depend_on_n_jobs(sequences):
    X, Y = sequences
    grid = {"alpha": [0.0, 10.0, 1000.0]}
    scores = [GridSearchCV(LFD2Forecaster(solver="lstsq", device="cpu"), grid, cv=KFold(3), n_jobs=n_jobs,
                           scoring=make_checkpoint_scorer(checkpoints=(20, 40))).fit(X, Y).cv_results_["mean_test_score"]
              for n_jobs in (1, 2)]
    np.testing.assert_allclose(scores[0], scores[1], rtol=1e-6)


def test_clone_gives_an_unfitted_copy_with_the_same_parameters(sequences):
    X, Y = sequences
    est = LFD2Forecaster(beta=1e-4, selector=FirstLastSelector(), device="cpu", random_state=0).fit(X, Y)
    copy = clone(est)
    assert copy.get_params()["beta"] == 1e-4
    assert not hasattr(copy, "coef_")
    np.testing.assert_allclose(copy.fit(X, Y).predict(X), est.predict(X))


def test_pipeline_of_selector_and_forecaster_in_a_grid_search(sequences):
    X, Y = sequences
    pipe = Pipeline([("select", SampledSelector(k=2, random_state=0)),
                     ("forecast", LinearFarcaster(solver="lstsq", device="cpu"))])
    search = GridSearchCV(pipe, {"select__k": [1, 11]}, cv=KFold(3),
                          scoring=make_checkpoint_scorer(checkpoints=(20, 40))).fit(X, Y)
    assert search.best_params_ == {"select__k": 11}
    assert search.best_estimator_.predict(X, m=5).shape == (30, 5, 3)
