"""Running the reproduced tables from Python."""

import numpy as np
import pytest

from weightcast.reproduce import runner
from weightcast.reproduce.catalogue import MODELS
from weightcast.reproduce.report import format_markdown
from weightcast.reproduce.runner import reproduce


def test_quick_table2_fits_lfd2_as_the_paper_has_it():
    """The README's main job (`reproduce table2 --quick`: one trial, trial 1) shows the paper's LFD-2 within
    the paper's mean + 1 std in all 8 cells: quick runs keep the paper protocol's epochs."""
    result = reproduce("table2", trials=1, quick=True, models=["LFD-2"])
    for block in result["experiments"]:
        row = block["rows"][0]
        limit = np.add(row["paper_mean"], row["paper_std"])
        assert row["model"] == "LFD-2"
        assert np.all(np.asarray(row["mean"]) <= limit), (block["key"], row["mean"], limit)


def test_tuned_row_is_exact_on_gd_and_never_sees_test():
    result = reproduce("table2", trials=1, quick=True, models=["tuned"])
    gd = result["experiments"][0]
    tuned = gd["rows"][-1]
    lfd2_paper = next(e for e in MODELS if e.name == "LFD-2").paper[("table2", "syn1-gd")][0]
    # Least squares on every input step extrapolates GD on a quadratic exactly (Proposition 1).
    assert np.all(np.asarray(tuned["mean"]) <= 1e-2 * np.asarray(lfd2_paper))
    assert "AllSelector" in tuned["chosen"][0]
    text = format_markdown(result)
    assert "Tuned row at or below the paper's best figure in 4 of 4 cells." in text


def test_table5_feeds_the_loss_and_measures_the_weights(tiny, monkeypatch):
    seen = []
    original = runner._fit_predict

    def spy(estimator, data):
        seen.append((data["X_train"].shape, data["n_weights"]))
        return original(estimator, data)

    monkeypatch.setattr(runner, "_fit_predict", spy)
    result = reproduce("table5", trials=1, quick=True, models=["LFD-2"], max_epochs=20)
    assert [block["label"] for block in result["experiments"]] == ["Syn-1 GD", "Syn-1 SGD", "Syn-2 SGD",
                                                                   "Syn-2 Adam"]
    # (w_i, l_i): one more channel than weights, and the errors are over the weights only.
    assert seen == [((100, 21, 4), 3), ((100, 21, 4), 3), ((100, 21, 32), 31), ((100, 21, 32), 31)]
    assert result["experiments"][2]["rows"][0]["paper_mean"] == [1.74, 24.7, 126, 175]


@pytest.mark.parametrize("kwargs, message", [
    (dict(table="table4"), "unknown table 'table4'"),
    (dict(table="table2", trials=0), "trials must be >= 1, got 0"),
    (dict(table="table2", models=["GPT"]), "unknown model"),
    (dict(table="table2", max_epochs=0), "max_epochs must be >= 1, got 0"),
])
def test_python_entry_point_rejects_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        reproduce(**kwargs)
