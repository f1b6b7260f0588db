"""weightcast: farcast neural-network weight trajectories with scikit-learn estimators backed by PyTorch.

The public names are imported lazily (PEP 562): ``import weightcast`` is cheap, and a name's module
(with torch and scikit-learn) is imported the first time the name is used.
"""

from ._lazy import lazy_names as _lazy_names
from ._version import __version__
from .io.allowlist import register_persistable as _register_persistable

# public name -> the module that defines it
_MODULES = {
    "LinearFarcaster": ".linear",
    "LFD2Forecaster": ".linear",
    "LFNForecaster": ".linear",
    "LFSForecaster": ".linear",
    "LFLForecaster": ".linear",
    "FixedPointFarcaster": ".dynamics",
    "AllSelector": ".selection",
    "FirstLastSelector": ".selection",
    "LastSelector": ".selection",
    "SampledSelector": ".selection",
    "IntrospectionSelector": ".selection",
    "StepSelector": ".selection",
    "checkpoint_mse": ".metrics",
    "CheckpointScorer": ".metrics",
    "make_checkpoint_scorer": ".metrics",
    "split_sequences": ".datasets",
    "save": ".io.persistence",
    "load": ".io.persistence",
    "DLinearForecaster": ".baselines",
    "RMLPForecaster": ".baselines",
    "IntrospectionForecaster": ".baselines",
    "WNNForecaster": ".baselines",
    "CurveFitForecaster": ".baselines",
}

__all__ = ["__version__", *_MODULES]
__getattr__, __dir__ = _lazy_names(__name__, _MODULES)

# Model files name these classes "weightcast.<Class>" (the allow-list keeps only estimator classes).
for _name, _module in _MODULES.items():
    if _name[0].isupper():
        _register_persistable(name=f"weightcast.{_name}", module=f"weightcast{_module}", attribute=_name)
del _name, _module
