"""Table 4 of the paper on recorded runs (until ``weightcast reproduce table4`` is wired to the same function).

    weightcast record cnn -o cnn.h5                 # 10 runs x 101 snapshots of the 1,199,882-param CNN
    python benchmarks/table4.py cnn.h5 --protocol cnn --solvers lstsq paper
"""

import argparse
import os
import resource

import torch

from weightcast.reproduce.table4 import MODELS, format_table4, table4


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("path")
    parser.add_argument("--protocol", choices=["cnn", "text"], default="cnn")
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    parser.add_argument("--solvers", nargs="+", default=["lstsq"], choices=["lstsq", "paper"])
    parser.add_argument("--max-epochs", type=int, default=100)
    parser.add_argument("--slab-size", type=int, default=131072)
    parser.add_argument("--threads", type=int, default=int(os.environ.get("OMP_NUM_THREADS", 1)))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    rows = table4(args.path, args.protocol, models=args.models, solvers=args.solvers, max_epochs=args.max_epochs,
                  slab_size=args.slab_size, log=print)
    print()
    print(format_table4(rows))
    print(f"\npeak resident memory: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20:.2f} GiB")


if __name__ == "__main__":
    main()
