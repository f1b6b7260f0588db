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


@pytest.fixture(autouse=True, scope="session")
def _one_torch_thread():
    """Tests push tiny tensors: extra intra-op threads only add contention on a shared 2-core machine."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
