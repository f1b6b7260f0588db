"""scikit-learn's own estimator checks over every public weightcast estimator and selector (via the 2-D lift).

The estimators come from the one registry of public estimators, weightcast.registry.all_estimators, which
also feeds the fuzz suite and the persistence tests.
"""

import inspect

from sklearn.base import BaseEstimator
from sklearn.utils.estimator_checks import parametrize_with_checks

import weightcast
from weightcast import WNNForecaster
from weightcast.registry import all_estimators

ESTIMATOR_CLASSES = [cls for _, cls in all_estimators("forecaster")]
SELECTOR_CLASSES = [cls for _, cls in all_estimators("selector")]


def all_instances():
    return [cls(**params) for cls in ESTIMATOR_CLASSES + SELECTOR_CLASSES for params in cls.get_test_params()]


def expected_failed_checks(estimator):
    if isinstance(estimator, WNNForecaster) and estimator.offset is not None:
        return {"check_regressor_multioutput": "WNN's native form forecasts one step (at `offset`) whatever "
                                               "the number of target columns"}
    return {}


@parametrize_with_checks(all_instances(), expected_failed_checks=expected_failed_checks)
def test_sklearn_compatible(estimator, check):
    check(estimator)


def test_the_registry_lists_every_public_estimator():
    exported = {name for name in weightcast.__all__ if inspect.isclass(getattr(weightcast, name))
                and issubclass(getattr(weightcast, name), BaseEstimator)}
    assert {name for name, _ in all_estimators()} == exported
    assert weightcast.LFD2Forecaster in ESTIMATOR_CLASSES and weightcast.StepSelector in SELECTOR_CLASSES
    assert not set(ESTIMATOR_CLASSES) & set(SELECTOR_CLASSES)
    assert all_estimators(["forecaster", "selector"]) == all_estimators()
