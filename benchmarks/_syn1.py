"""The paper authors' Syn-1 files for the benchmarks: read from a folder, or regenerated when absent.

The files (``syn1_3d_{gd,sgd}_sample{1..5}.npy``, float64, (200, 201, 3)) are the authors' published
sequences; they are not shipped with weightcast. ``weightcast.datasets.make_syn1(optimizer, seed=sample)``
reproduces each of them to 1e-12 (tests/datasets/test_synthetic.py), so a benchmark run without them
regenerates the same sequences and prints the same figures (except those at the level of rounding error).
"""

from functools import lru_cache
from pathlib import Path

import numpy as np

from weightcast.datasets import make_syn1

# Where the project's own checkout keeps the authors' files (beside the repository).
DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "syn1_reference"
DATA_HELP = ("folder of the authors' files syn1_3d_{gd,sgd}_sample{1..5}.npy; when they are not there, "
             "make_syn1 regenerates the same sequences")
_said = set()


def load_sample(folder, optimizer, sample):
    """Syn-1 sample ``sample`` (1..5) of ``optimizer`` ("gd" or "sgd"): the authors' file, or make_syn1's copy."""
    path = Path(folder) / f"syn1_3d_{optimizer}_sample{sample}.npy"
    if path.exists():
        return np.load(path)
    if folder not in _said:
        _said.add(folder)
        print(f"(the authors' Syn-1 files are not in {folder}: regenerating them with make_syn1)", flush=True)
    return _generated(optimizer, sample).copy()


@lru_cache(maxsize=None)
def _generated(optimizer, sample):
    return make_syn1(optimizer, seed=sample)
