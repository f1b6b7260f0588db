"""scikit-learn's own estimator checks over every weightcast estimator and selector (via the 2-D lift)."""

from sklearn.utils.estimator_checks import parametrize_with_checks

from weightcast.baselines import (CurveFitForecaster, DLinearForecaster, IntrospectionForecaster, RMLPForecaster,
                                  WNNForecaster)
from weightcast import (
    AllSelector,
    FixedPointFarcaster,
    FirstLastSelector,
    IntrospectionSelector,
    LastSelector,
    LFD2Forecaster,
    LFLForecaster,
    LFNForecaster,
    LFSForecaster,
    LinearFarcaster,
    SampledSelector,
    StepSelector,
)

ESTIMATOR_CLASSES = [LinearFarcaster, LFD2Forecaster, LFNForecaster, LFSForecaster, LFLForecaster]
ESTIMATOR_CLASSES += [FixedPointFarcaster]
ESTIMATOR_CLASSES += [DLinearForecaster, RMLPForecaster, IntrospectionForecaster, WNNForecaster, CurveFitForecaster]
SELECTOR_CLASSES = [AllSelector, FirstLastSelector, LastSelector, SampledSelector, IntrospectionSelector,
                    StepSelector]


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
