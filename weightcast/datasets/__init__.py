"""Weight-sequence datasets: synthetic generators, windows and splits."""

from .synthetic import make_syn1, make_syn2
from .windows import split_sequences

__all__ = ["make_syn1", "make_syn2", "split_sequences"]
