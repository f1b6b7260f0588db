"""PyTorch training integration: models, flat parameters, the weight recorder, farcast-and-continue."""

from .farcast import FarcastAndContinue
from .models import MnistCNN, TextTransformer
from .params import ParameterLayout, flatten_parameters, load_flat_parameters
from .recorder import WeightRecorder, open_recording  # noqa: F401 (open_recording: deprecated alias)

__all__ = ["MnistCNN", "TextTransformer", "ParameterLayout", "flatten_parameters", "load_flat_parameters",
           "WeightRecorder", "FarcastAndContinue"]
