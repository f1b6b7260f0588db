"""Weight-sequence datasets: synthetic generators, windows and splits."""

from .real import encode_texts, load_mnist_5k, load_review_snippets
from .synthetic import make_syn1, make_syn2
from .windows import split_sequences

__all__ = ["make_syn1", "make_syn2", "split_sequences", "load_mnist_5k", "load_review_snippets", "encode_texts"]
