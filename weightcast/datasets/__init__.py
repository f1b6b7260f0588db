"""Weight-sequence datasets: synthetic generators, windows and splits."""

from .real import encode_texts, load_mnist_5k, load_review_snippets
from .synthetic import make_syn1, make_syn2
from .windows import WindowView, split_sequences, training_windows

__all__ = ["make_syn1", "make_syn2", "split_sequences", "training_windows", "WindowView", "load_mnist_5k",
           "load_review_snippets", "encode_texts"]
