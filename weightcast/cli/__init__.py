"""The ``weightcast`` command.

Each subcommand lives beside the code it drives and provides ``register(subparsers)``, which adds its
parser and sets ``func`` (called with the parsed arguments; returns the exit status).
"""

import argparse
import importlib
import sys

from .._version import __version__

# Modules that provide subcommands; listed here so that `weightcast --help` shows them all.
SUBCOMMAND_MODULES = [
    "weightcast.reproduce",
    "weightcast.io.commands",
    "weightcast.training.record",
]


def build_parser():
    parser = argparse.ArgumentParser(
        prog="weightcast",
        description="Farcast neural-network weight trajectories (scikit-learn estimators backed by PyTorch).")
    parser.add_argument("--version", action="version", version=f"weightcast {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in SUBCOMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
    return parser


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    try:
        return args.func(args)
    except (ValueError, TypeError, FileNotFoundError, PermissionError) as exc:
        print(f"weightcast {args.command}: error: {exc}", file=sys.stderr)
        return 2

