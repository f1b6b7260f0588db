"""The ``weightcast`` command."""

import argparse
import sys

from ._version import __version__


def build_parser():
    parser = argparse.ArgumentParser(
        prog="weightcast",
        description="Farcast neural-network weight trajectories (scikit-learn estimators backed by PyTorch).")
    parser.add_argument("--version", action="version", version=f"weightcast {__version__}")
    parser.add_subparsers(dest="command", metavar="COMMAND")
    return parser


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
