"""weightcast: farcast neural-network weight trajectories with scikit-learn estimators backed by PyTorch."""

from ._version import __version__
from .baselines import (CurveFitForecaster, DLinearForecaster, IntrospectionForecaster, RMLPForecaster,
                        WNNForecaster)
from .datasets import split_sequences
from .dynamics import FixedPointFarcaster
from .io.persistence import load, save
from .linear import LFD2Forecaster, LFLForecaster, LFNForecaster, LFSForecaster, LinearFarcaster
from .metrics import CheckpointScorer, checkpoint_mse, make_checkpoint_scorer
from .selection import (
    AllSelector,
    FirstLastSelector,
    IntrospectionSelector,
    LastSelector,
    SampledSelector,
    StepSelector,
)

__all__ = [
    "__version__",
    "LinearFarcaster",
    "LFD2Forecaster",
    "LFNForecaster",
    "LFSForecaster",
    "LFLForecaster",
    "FixedPointFarcaster",
    "AllSelector",
    "FirstLastSelector",
    "LastSelector",
    "SampledSelector",
    "IntrospectionSelector",
    "StepSelector",
    "checkpoint_mse",
    "CheckpointScorer",
    "make_checkpoint_scorer",
    "split_sequences",
    "save",
    "load",
    "DLinearForecaster",
    "RMLPForecaster",
    "IntrospectionForecaster",
    "WNNForecaster",
    "CurveFitForecaster",
]
