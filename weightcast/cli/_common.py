"""What every command shares: the help formatter, renamed options, and the texts about data files.

Nothing here (nor in any command's ``register``) imports torch, scikit-learn, h5py or the models: a
command imports them inside its ``run`` function, so that ``weightcast --help`` answers at once.
"""

import argparse

__all__ = ["HelpFormatter", "Renamed", "DATA_FILES", "add_dataset", "add_verbose", "default_checkpoints",
           "integer_type", "parse_checkpoints"]

DATA_FILES = ".npy (memory-mapped) or .h5/.hdf5 (a weight-sequence file or a recording, read lazily)"


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows each option's default, except where there is none to show (None, flags) or the help says it."""

    def _get_help_string(self, action):
        text = action.help or ""
        if action.default is None or action.default is False or "default" in text:
            return text
        return super()._get_help_string(action)


class Renamed(argparse.Action):
    """An option's old spelling: a hidden option that fails with the new one (no silent alias)."""

    def __init__(self, option_strings, dest, new, **kwargs):
        super().__init__(option_strings, dest=argparse.SUPPRESS, nargs="?", default=argparse.SUPPRESS,
                         help=argparse.SUPPRESS)
        self.new = new

    def __call__(self, parser, namespace, values, option_string=None):
        parser.error(f"{option_string} was renamed to {self.new}")


def add_dataset(parser):
    parser.add_argument("--dataset", default=None, metavar="NAME",
                        help="dataset inside an HDF5 file (default: 'weights')")


def add_verbose(parser, what):
    parser.add_argument("-v", "--verbose", action="store_true", help=f"show progress bars while {what}")


def integer_type(metavar, low=1):
    """An argparse ``type``: an integer >= ``low``, checked by the rule the library's parameters use
    (:class:`weightcast.constraints.Integer`); the message names the option's ``metavar``:
    ``argument --trials: N must be >= 1, got 0``."""
    def parse(text):
        from ..constraints import Integer  # here, not at import: `weightcast --help` stays light

        try:
            value = int(text)
        except ValueError:
            value = text  # the rule names what it got
        try:
            return Integer(low=low).check(value, metavar)
        except (TypeError, ValueError) as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    parse.__name__ = f"integer >= {low}"
    return parse


parse_checkpoints = integer_type("STEP")
"""``--checkpoints`` values: steps >= 1."""


def default_checkpoints(n_input_steps, m):
    """Four steps spread over a forecast of ``m`` steps after ``n_input_steps`` inputs, the last step included
    (inputs w_0..w_20 and m = 180: steps 65, 110, 155, 200)."""
    last = n_input_steps - 1
    return sorted({last + max(1, round(m * k / 4)) for k in range(1, 5)})
