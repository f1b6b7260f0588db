"""How far the recorded weights move: the MSE x1e4 of "no change" (persistence, the last input step carried
forward) at Table 4's checkpoints, the scale against which the Table 4 figures of a recording read.

Usage: python benchmarks/table4_persistence.py FILE --protocol cnn|text
"""

import argparse

import numpy as np

from weightcast.io import open_sequences
from weightcast.metrics import PAPER_SCALE

# protocol -> (test sequences, last input step, checkpoint steps), as in `weightcast reproduce table4`.
PROTOCOLS = {"cnn": (slice(7, 10), 10, (20, 40, 80, 100)), "text": (slice(0, 1), 34, (44, 49, 54, 59))}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("file", help="a recording from `weightcast record`")
    parser.add_argument("--protocol", choices=sorted(PROTOCOLS), default="cnn")
    args = parser.parse_args()
    seqs, last, checkpoints = PROTOCOLS[args.protocol]
    view = open_sequences(args.file)
    base = np.asarray(view[seqs, last:last + 1, :], dtype=np.float64)
    mse = [float(np.mean((np.asarray(view[seqs, s:s + 1, :], dtype=np.float64) - base) ** 2)) * PAPER_SCALE
           for s in checkpoints]
    print(f"{args.file} ({args.protocol}): persistence MSE x1e4 at steps {checkpoints}: "
          + " / ".join(f"{v:.4g}" for v in mse))


if __name__ == "__main__":
    main()
