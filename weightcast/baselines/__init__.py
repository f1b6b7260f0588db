"""The farcasting paper's baselines, as weightcast forecasters with the same fit/predict contract."""

from .curvefit import CurveFitForecaster
from .dlinear import DLinearForecaster
from .introspection import IntrospectionForecaster
from .rmlp import RMLPForecaster
from .wnn import WNNForecaster

__all__ = ["DLinearForecaster", "RMLPForecaster", "IntrospectionForecaster", "WNNForecaster", "CurveFitForecaster"]
