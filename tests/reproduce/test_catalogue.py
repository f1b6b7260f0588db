"""The rows of the reproduced tables."""

import pytest

from weightcast.reproduce.catalogue import MODELS, PAPER_MAX_EPOCHS, models_for
from weightcast.reproduce.protocols import PAPER_FIGURES


def test_fixed_point_row_reads_every_step_on_gd_only():
    entry = next(e for e in MODELS if e.name == "FixedPoint (ours)")
    selectors = {experiment: entry.factory(experiment, 1, "cpu").selector
                 for experiment in ("syn1-gd", "syn1-sgd", "syn2-sgd", "syn2-adam")}
    assert type(selectors["syn1-gd"]).__name__ == "AllSelector"
    assert all(selectors[e] is None for e in ("syn1-sgd", "syn2-sgd", "syn2-adam"))  # LFD-2's steps


def test_paper_protocol_rows_keep_their_epochs_unless_capped():
    entry = next(e for e in MODELS if e.name == "LFD-2")
    assert entry.factory("syn1-gd", 1, "cpu").max_epochs == PAPER_MAX_EPOCHS
    assert entry.factory("syn1-gd", 1, "cpu", max_epochs=20).max_epochs == 20
    assert entry.paper == PAPER_FIGURES["LFD-2"]


def test_quick_rows_are_the_paper_linear_farcasters_and_ours():
    assert [e.name for e in models_for("table2", quick=True)] == ["LFN", "LFS", "LFL", "LFD-2", "FixedPoint (ours)"]
    assert [e.name for e in models_for("table2", ["WNN"], quick=True)] == ["WNN"]   # named rows win
    with pytest.raises(ValueError, match="unknown model"):
        models_for("table2", ["GPT"])
