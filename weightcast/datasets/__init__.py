"""Weight-sequence datasets: windows and splits."""

from .real import encode_texts, load_mnist_5k, load_review_snippets
from .windows import split_sequences

__all__ = ["split_sequences", "load_mnist_5k", "load_review_snippets", "encode_texts"]
