"""Shared fixtures: the paper authors' Syn-1 files (from ../shared beside the project root)."""

from pathlib import Path

import numpy as np
import pytest

SYN1_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "syn1_reference"


def load_syn1_reference(optimizer, sample):
    path = SYN1_DIR / f"syn1_3d_{optimizer}_sample{sample}.npy"
    if not path.exists():
        pytest.skip(f"the authors' Syn-1 files are not at {SYN1_DIR}")
    return np.load(path)


@pytest.fixture
def syn1_reference():
    return load_syn1_reference
