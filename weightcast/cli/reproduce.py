"""``weightcast reproduce``: the paper's synthetic tables (2, 3, 5, 6) and Fig. 2, generated on the fly, and
Table 4 on a file written by ``weightcast record``.

    weightcast reproduce table2 --quick
    weightcast reproduce table4 --data cnn.h5 --protocol cnn --solvers lstsq paper
    weightcast reproduce table4 --data text.h5 --protocol text --max-epochs 5
"""

import sys

from ..reproduce.protocols import TABLES
from ._common import HelpFormatter, integer_type

__all__ = ["register", "run"]

TABLE4 = "table4"
# weightcast.reproduce.table4's protocols, models and solvers (tests/cli/test_reproduce.py checks them).
TABLE4_PROTOCOLS = ("cnn", "text")
TABLE4_MODELS = ("Introspection", "WNN", "LFN", "DLinear", "LFS", "LFL", "LFD-2", "DLinear-CI",
                 "DLinear-decomposition")
TABLE4_SOLVERS = ("lstsq", "paper")
TABLE4_MAX_EPOCHS = {"cnn": 100, "text": 10}
# Options that only one kind of table takes (None: not given).
SYNTHETIC_ONLY = ("trials", "quick")
TABLE4_ONLY = ("data", "protocol", "solvers", "slab_size", "threads", "scratch_dir", "time_budget")


_positive_int = integer_type("N")


def _positive_float(text):
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number > 0, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be a number > 0, got {value}")
    return value


def register(subparsers):
    parser = subparsers.add_parser(
        "reproduce", formatter_class=HelpFormatter,
        help="reproduce the paper's tables (2, 3, 5, 6 synthetic; 4 on recorded runs) and Fig. 2",
        description="Generate the paper's synthetic weight sequences, fit every forecaster with the paper's "
                    "protocol plus a tuned linear farcaster, and print the table beside the paper's figures; "
                    "or run Table 4 on runs recorded by `weightcast record`. Writes TABLE.md and TABLE.json "
                    "(and fig2.png) under --out.")
    parser.add_argument("table", choices=list(TABLES) + [TABLE4],
                        help="which table or figure (table4 runs on a file from `weightcast record`)")
    parser.add_argument("-o", "--out", default="results", metavar="DIR", help="folder for the outputs")
    parser.add_argument("--device", default="cpu", help="cpu, cuda or auto")
    parser.add_argument("--models", nargs="+", default=None, metavar="NAME",
                        help="only these rows (default: every row; synthetic tables: names as printed, and "
                             f"'tuned'; table4: {', '.join(TABLE4_MODELS)}; the last two are extra rows, not "
                             "in the paper)")
    parser.add_argument("--max-epochs", type=_positive_int, default=None, metavar="N",
                        help="cap every iterative fit at this many epochs (default: each protocol's own; "
                             "table4: every iterative fit, paper solver and networks, capped at "
                             + ", ".join(f"{n} ({p})" for p, n in TABLE4_MAX_EPOCHS.items()) + ")")
    synthetic = parser.add_argument_group("synthetic tables (2, 3, 5, 6, fig2)")
    synthetic.add_argument("--trials", type=_positive_int, default=None, metavar="N",
                           help="trials (generator and model seeds 1..N) (default: 5, or 1 with --quick; "
                                "fig2 always uses trial 1)")
    synthetic.add_argument("--quick", action="store_true", default=None,
                           help="a first look in well under a minute: one trial; the paper's linear farcasters, "
                                "FixedPoint and the tuned row (with a smaller grid) only; every row keeps its "
                                "full protocol")
    table4 = parser.add_argument_group("table4 (recorded runs)")
    table4.add_argument("--data", metavar="FILE",
                        help="the HDF5 file written by `weightcast record cnn|text` (required for table4)")
    table4.add_argument("--protocol", choices=TABLE4_PROTOCOLS, default=None,
                        help="the paper's CNN protocol (10 runs) or text protocol (one run of 60 steps) "
                             "(default: cnn)")
    table4.add_argument("--solvers", nargs="+", choices=TABLE4_SOLVERS, default=None,
                        help="fit each linear farcaster with each solver (default: lstsq)")
    table4.add_argument("--slab-size", type=_positive_int, default=None, metavar="N",
                        help="parameters per slab when fitting and scoring (default: 131072)")
    table4.add_argument("--threads", type=_positive_int, default=None, metavar="N",
                        help="torch threads (default: torch's own choice)")
    table4.add_argument("--time-budget", type=_positive_float, default=None, metavar="SECONDS",
                        help="time allowed for each iterative fit: one epoch on the first slab of coordinates is "
                             "timed first, the epochs are capped to fit, and a model of which not even one epoch "
                             "fits is n/a with the measured time (default: no limit)")
    table4.add_argument("--scratch-dir", default=None, metavar="DIR",
                        help="folder for the temporary forecast files, one at a time (text run at DistilBERT "
                             "size: 6.2 GiB) (default: the system's temporary folder)")
    parser.set_defaults(func=run)


def _check_options(args):
    """Refuse options that the chosen table does not take (rather than ignoring them)."""
    wrong = TABLE4_ONLY if args.table != TABLE4 else SYNTHETIC_ONLY
    given = ["--" + name.replace("_", "-") for name in wrong if getattr(args, name) is not None]
    if given:
        kind = "table4" if args.table != TABLE4 else "the synthetic tables (2, 3, 5, 6, fig2)"
        raise ValueError(f"{', '.join(given)}: only for {kind}, not {args.table}")


def run(args):
    _check_options(args)
    if args.table == TABLE4:
        return _run_table4(args)
    from ..device import resolve_device
    from ..reproduce.outputs import check_output_folder, write_outputs
    from ..reproduce.report import format_markdown
    from ..reproduce.runner import FULL_TRIALS, QUICK_TRIALS, reproduce

    quick = bool(args.quick)
    trials = args.trials if args.trials is not None else (QUICK_TRIALS if quick else FULL_TRIALS)
    trials = 1 if TABLES[args.table].figure else trials  # a figure shows one sequence of one trial
    resolve_device(args.device)
    check_output_folder(args.out)  # fail before the work, not after it
    command = " ".join(["weightcast reproduce", args.table, f"--trials {trials}"]
                       + (["--quick"] if quick else [])
                       + ([f"--device {args.device}"] if args.device != "cpu" else [])
                       + (["--models", *args.models] if args.models else [])
                       + ([f"--max-epochs {args.max_epochs}"] if args.max_epochs else []))
    result = reproduce(args.table, trials=trials, quick=quick, device=args.device, models=args.models,
                       progress=not quick, max_epochs=args.max_epochs)
    written = write_outputs(result, args.out, command=command)
    print(format_markdown(result, command))
    print("Wrote " + ", ".join(written), file=sys.stderr)
    return 0


def _peak_memory():
    try:
        import resource
    except ImportError:  # not on Windows
        return None
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 20  # KiB on Linux -> GiB


def _run_table4(args):
    """Table 4 on recorded runs, streamed from the file (weightcast.reproduce.table4)."""
    import json
    import os

    from ..reproduce.outputs import check_output_folder, write_file
    from ..reproduce.table4 import format_table4, table4

    if args.data is None:
        raise ValueError("table4 needs --data FILE: record runs first with `weightcast record cnn -o FILE`")
    unknown = sorted(set(args.models or ()) - set(TABLE4_MODELS))
    if unknown:
        raise ValueError(f"unknown Table 4 model(s) {unknown}: choose from {', '.join(TABLE4_MODELS)}")
    if args.threads is not None:
        import torch
        torch.set_num_threads(args.threads)
    check_output_folder(args.out)
    protocol = args.protocol or "cnn"
    options = {"models": tuple(args.models or TABLE4_MODELS), "solvers": tuple(args.solvers or ("lstsq",)),
               "max_epochs": args.max_epochs or TABLE4_MAX_EPOCHS[protocol], "device": args.device,
               "scratch_dir": args.scratch_dir, "time_budget": args.time_budget}
    if args.slab_size is not None:
        options["slab_size"] = args.slab_size
    rows = table4(args.data, protocol, log=lambda message: print(message, file=sys.stderr, flush=True), **options)
    command = " ".join(["weightcast reproduce table4 --data", str(args.data), "--protocol", protocol]
                       + (["--solvers", *options["solvers"]] if args.solvers else [])
                       + (["--models", *options["models"]] if args.models else [])
                       + ([f"--max-epochs {args.max_epochs}"] if args.max_epochs else [])
                       + ([f"--slab-size {args.slab_size}"] if args.slab_size else [])
                       + ([f"--time-budget {args.time_budget:g}"] if args.time_budget else []))
    na = [f"- {row['model']}: {row['na']}" for row in rows if row["na"]]
    text = (f"## Table 4 ({protocol}): MSE x 1e4 on the test runs\n\nCommand: `{command}`\n\n"
            + format_table4(rows, protocol=protocol) + "\n"
            + ("\nn/a:\n" + "\n".join(na) + "\n" if na else ""))
    base = os.path.join(args.out, TABLE4)
    write_file(base + ".md", text.encode())
    write_file(base + ".json", json.dumps(rows, indent=1).encode())
    print(text)
    peak = _peak_memory()
    if peak is not None:
        print(f"peak resident memory: {peak:.2f} GiB", file=sys.stderr)
    return 0
