"""The ``weightcast`` command: every subcommand, one module each, and nothing else.

Each module provides ``register(subparsers)``, which adds its parser and sets ``func`` (called with the
parsed arguments; returns the exit status) and optionally ``interrupted`` (what was kept when Ctrl-C
stopped the command, in a few words). Parsers import nothing heavy, so ``weightcast --help`` is fast.
"""

import argparse
import sys

from .._version import __version__
from . import fit, plot, predict, record, reproduce, score
from ._common import HelpFormatter

__all__ = ["main", "build_parser"]

COMMANDS = (fit, predict, score, plot, record, reproduce)
INTERRUPTED = 130  # the shell's status for a command stopped by SIGINT (128 + 2)


def build_parser():
    parser = argparse.ArgumentParser(
        prog="weightcast", formatter_class=HelpFormatter,
        description="Farcast neural-network weight trajectories (scikit-learn estimators backed by PyTorch).")
    parser.add_argument("--version", action="version", version=f"weightcast {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for command in COMMANDS:
        command.register(subparsers)
    return parser


def _kept(args):
    """What an interrupted command leaves behind, in a few words."""
    try:
        return args.interrupted(args) if hasattr(args, "interrupted") else "no output was written"
    except Exception as exc:  # the report must not hide the interruption behind a traceback
        return f"could not tell what was kept ({exc})"


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    try:
        return args.func(args)
    except KeyboardInterrupt:
        print(f"weightcast {args.command}: interrupted; {_kept(args)}", file=sys.stderr)
        return INTERRUPTED
    except (ValueError, TypeError, FileNotFoundError, PermissionError) as exc:
        print(f"weightcast {args.command}: error: {exc}", file=sys.stderr)
        return 2
