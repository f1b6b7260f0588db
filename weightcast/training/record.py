"""Train the paper's networks on the bundled real data and record their weights (``weightcast record``)."""

import time

import torch

from ..constraints import Integer, Options, Real
from .loops import minibatches, mnist_data, review_data, train_step
from .models import CNN_SIZES, TEXT_SIZES, MnistCNN, TextTransformer
from .recorder import WeightRecorder

__all__ = ["record_cnn", "record_text"]


def _record_runs(path, build_model, load_data, optimizer_cls, lr, n_runs, n_steps, batch_size, seed, overwrite,
                 log=None):
    for name, value in (("n_runs", n_runs), ("n_steps", n_steps), ("batch_size", batch_size)):
        Integer(low=1).check(value, name)
    Real(low=0, low_open=True).check(lr, "lr")
    Integer(low=0).check(seed, "seed")
    data = load_data()  # after the checks: loading takes a while
    torch.manual_seed(seed)
    recorder = None
    try:
        for run in range(n_runs):
            torch.manual_seed(seed + run)  # initialisation and dropout of this run
            model = build_model()
            if recorder is None:
                recorder = WeightRecorder(path, model, n_steps=n_steps, n_sequences=n_runs, overwrite=overwrite)
            optimizer = optimizer_cls(model.parameters(), lr=lr)
            batches = minibatches(data, batch_size, seed=seed + run)
            started = time.perf_counter()
            recorder.start(model)
            loss = float("nan")
            for _ in range(n_steps - 1):
                loss = train_step(model, optimizer, next(batches))
                recorder()
            if log:
                log(f"run {run + 1}/{n_runs}: {n_steps - 1} steps in {time.perf_counter() - started:.1f} s, "
                    f"last training loss {loss:.4f}")
    finally:
        if recorder is not None:
            recorder.close()
    return path


def record_cnn(path, size="paper", n_runs=10, n_steps=101, lr=1e-3, batch_size=64, seed=0, overwrite=False,
               log=None):
    """Train the MNIST CNN with Adam from ``n_runs`` seeds and record w_0 .. w_{n_steps-1} of each run."""
    Options(*CNN_SIZES).check(size, "size")
    return _record_runs(path, lambda: MnistCNN.of_size(size), mnist_data, torch.optim.Adam, lr, n_runs, n_steps,
                        batch_size, seed, overwrite, log)


def record_text(path, size="small", n_runs=1, n_steps=60, lr=1e-3, batch_size=32, seed=0, overwrite=False,
                log=None):
    """Train the transformer text classifier with AdamW on the review snippets and record its weights."""
    config = TEXT_SIZES[Options(*TEXT_SIZES).check(size, "size")]

    def load_data():
        return review_data(vocab_size=config["vocab_size"], max_len=min(config["max_len"], 64))

    return _record_runs(path, lambda: TextTransformer.of_size(size), load_data, torch.optim.AdamW, lr, n_runs,
                        n_steps, batch_size, seed, overwrite, log)
