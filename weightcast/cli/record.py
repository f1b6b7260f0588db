"""``weightcast record cnn|text``: train the paper's networks on the bundled real data and record their weights.

    weightcast record cnn -o cnn.h5 [--runs 10] [--steps 101]
    weightcast record text --size distilbert -o text.h5 [--warmup-steps 60 --warmup-lr 1e-3 --lr 1e-4]
"""

import os

from ._common import HelpFormatter, Renamed

__all__ = ["register", "run", "NETWORKS"]

# network -> (default size, sizes, the defaults of weightcast.training.record_<network>); the parser
# states them without importing torch (tests/cli/test_record.py checks them against the code).
NETWORKS = {
    "cnn": ("paper", ("paper", "small", "tiny"), dict(n_runs=10, n_steps=101, lr=1e-3, batch_size=64)),
    "text": ("small", ("distilbert", "small", "tiny"), dict(n_runs=1, n_steps=60, lr=1e-3, batch_size=32)),
}


def register(subparsers):
    parser = subparsers.add_parser(
        "record", formatter_class=HelpFormatter,
        help="train a network on the bundled real data and record its weights",
        description="Train the paper's MNIST CNN (Adam) or a transformer text classifier (AdamW) and record "
                    "every step's weights into a crash-safe HDF5 file (run r uses seed + r). Ctrl-C keeps "
                    "every snapshot recorded so far and says which runs are complete.")
    parser.add_argument("network", choices=list(NETWORKS), help="cnn: MNIST digits; text: review snippets")
    parser.add_argument("-o", "--out", required=True, metavar="FILE", help="HDF5 file to write")
    parser.add_argument("--output", action=Renamed, new="-o/--out")
    parser.add_argument("--size", default=None,
                        help="cnn: paper (1,199,882 parameters), small or tiny (default: paper); text: "
                             "distilbert (66,960,393 parameters), small or tiny (default: small)")
    parser.add_argument("--runs", dest="n_runs", type=int, default=None,
                        help="training runs, one seed each (default: cnn 10, text 1)")
    parser.add_argument("--steps", dest="n_steps", type=int, default=None,
                        help="snapshots per run, w_0 included (default: cnn 101, text 60)")
    parser.add_argument("--lr", type=float, default=None,
                        help="learning rate of the recorded steps (default: 1e-3)")
    parser.add_argument("--warmup-steps", type=int, default=0, metavar="W",
                        help="unrecorded training steps before w_0, with an optimizer of their own; the "
                             "recorded steps then start from these trained weights with a fresh optimizer "
                             "(a stand-in for fine-tuning a pretrained model)")
    parser.add_argument("--warmup-lr", type=float, default=None, metavar="LR",
                        help="learning rate of the warm-up steps (default: --lr)")
    parser.add_argument("--batch-size", type=int, default=None, help="(default: cnn 64, text 32)")
    parser.add_argument("--seed", type=int, default=0, help="run r uses seed + r")
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing output file")
    parser.set_defaults(func=run, interrupted=kept_after_interrupt)


def run(args):
    import torch

    from ..training.models import CNN_SIZES, TEXT_SIZES, MnistCNN, TextTransformer, count_parameters
    from ..training.record import record_cnn, record_text

    torch.set_num_threads(args.threads)
    record, model_cls, sizes = {"cnn": (record_cnn, MnistCNN, CNN_SIZES),
                                "text": (record_text, TextTransformer, TEXT_SIZES)}[args.network]
    default_size, _, defaults = NETWORKS[args.network]
    size = args.size or default_size
    if size not in sizes:
        raise ValueError(f"unknown --size {size!r} for {args.network}; choose one of {sorted(sizes)}")
    options = {key: value if getattr(args, key) is None else getattr(args, key) for key, value in defaults.items()}
    if args.warmup_steps < 0:
        raise ValueError(f"--warmup-steps must be >= 0, got {args.warmup_steps}")
    if args.warmup_lr is not None and not args.warmup_lr > 0:
        raise ValueError(f"--warmup-lr must be > 0, got {args.warmup_lr}")
    if os.path.exists(args.out) and not args.overwrite:
        raise ValueError(f"{args.out} already exists; pass --overwrite to replace it")
    n_params = count_parameters(model_cls.of_size(size))
    print(f"recording {options['n_runs']} run(s) x {options['n_steps']} snapshots of the {size} {args.network} "
          f"({n_params:,} parameters, {options['n_runs'] * options['n_steps'] * n_params * 4 / 2**30:.2f} GiB) "
          f"to {args.out}"
          + (f" after {args.warmup_steps} unrecorded warm-up steps" if args.warmup_steps else ""))
    args.started = True  # from here on, an interruption leaves a file
    record(args.out, size=size, seed=args.seed, warmup_steps=args.warmup_steps, warmup_lr=args.warmup_lr,
           overwrite=args.overwrite, log=print, **options)
    return 0


def kept_after_interrupt(args):
    """Which runs the file holds whole, read from the file itself."""
    if not getattr(args, "started", False) or not os.path.exists(args.out):
        return "nothing was recorded"
    from ..io.hdf5 import read_metadata

    meta = read_metadata(args.out)
    counts, n_steps = meta["recorded"].tolist(), meta["shape"][1]
    complete = [run for run, count in enumerate(counts) if count == n_steps]
    partial = [(run, count) for run, count in enumerate(counts) if 0 < count < n_steps]
    parts = [f"{len(complete)} complete run(s) of {n_steps} snapshots"
             + (f" ({_ranges(complete)})" if complete else "")]
    parts += [f"run {run} stopped after {count} of {n_steps} snapshots" for run, count in partial]
    return f"{args.out} keeps " + ", ".join(parts)


def _ranges(indices):
    """``[0, 1, 2, 5]`` -> ``"runs 0-2, 5"``."""
    spans, start = [], None
    for i, value in enumerate(indices):
        if start is None:
            start = value
        if i + 1 == len(indices) or indices[i + 1] != value + 1:
            spans.append(f"{start}" if start == value else f"{start}-{value}")
            start = None
    return ("run " if len(indices) == 1 else "runs ") + ", ".join(spans)
