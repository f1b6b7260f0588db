"""Shared fixtures: the paper authors' Syn-1 files (from ../shared beside the project root), and a tiny
model catalogue for the reproduce plumbing."""

import dataclasses
import os
from pathlib import Path

import numpy as np
import pytest
from hypothesis import settings

# Property tests draw the same examples on every run, so that CI is reproducible (a random draw once found a
# damaged file on which HDF5 hangs); WEIGHTCAST_FUZZ_RANDOM=1 draws fresh ones.
settings.register_profile("weightcast", derandomize=not os.environ.get("WEIGHTCAST_FUZZ_RANDOM"), database=None)
settings.load_profile("weightcast")

SYN1_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "syn1_reference"


def load_syn1_reference(optimizer, sample):
    path = SYN1_DIR / f"syn1_3d_{optimizer}_sample{sample}.npy"
    if not path.exists():
        pytest.skip(f"the authors' Syn-1 files are not at {SYN1_DIR}")
    return np.load(path)


@pytest.fixture
def syn1_reference():
    return load_syn1_reference


@pytest.fixture
def tiny(monkeypatch):
    """Keep only LFD-2 among the paper-protocol models (tests pass max_epochs=20): the plumbing is under
    test here. DLinear stays as a row without a factory, to test how a model that is not implemented is shown."""
    from weightcast.reproduce import catalogue

    kept = [e if e.name == "LFD-2" else dataclasses.replace(e, factory=None, in_quick=True)
            for e in catalogue.MODELS if e.name in ("LFD-2", "DLinear")]
    monkeypatch.setattr(catalogue, "MODELS", kept)
