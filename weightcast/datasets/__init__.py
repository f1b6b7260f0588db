"""Weight-sequence datasets: windows and splits."""

from .windows import split_sequences

__all__ = ["split_sequences"]
