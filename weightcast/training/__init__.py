"""PyTorch training integration: models, flat parameters, the weight recorder, weight averaging,
farcast-and-continue with loss-aware forecasts and a loss gate, and the scoring of speed-ups."""

from .averaging import WeightAverager
from .dmd import DMDFarcaster
from .farcast import FarcastAndContinue
from .gate import JumpGate, batch_loss
from .lossaware import LossAwareFarcaster
from .models import MnistCNN, TextTransformer
from .params import ParameterLayout, flatten_parameters, load_flat_parameters
from .recorder import WeightRecorder, open_recording  # noqa: F401 (open_recording: deprecated alias)
from .scoring import PassCounter, cost_to_target, first_reach, saving, smoothed

__all__ = ["MnistCNN", "TextTransformer", "ParameterLayout", "flatten_parameters", "load_flat_parameters",
           "WeightRecorder", "WeightAverager", "FarcastAndContinue", "JumpGate", "batch_loss", "LossAwareFarcaster",
           "DMDFarcaster", "PassCounter", "smoothed", "first_reach", "cost_to_target", "saving"]
