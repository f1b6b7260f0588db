"""The reproduced tables as Markdown."""

from weightcast.reproduce.report import format_markdown, format_value


def _result(trials, per_trial, quick=False, left_out=()):
    mean = [sum(column) / len(column) for column in zip(*per_trial)]
    std = [0.0] * 4 if trials == 1 else [1.0] * 4
    row = {"model": "LFD-2", "implemented": True, "paper_mean": [.207, 4.39, 44.9, 81.1],
           "paper_std": [.021, .39, 5.0, 9.6],
           "paper_text": [".207 (.021)", "4.39 (.39)", "44.9 (5.0)", "81.1 (9.6)"],
           "mean": mean, "std": std, "per_trial": per_trial, "seconds": 1.0}
    return {"table": "table2", "title": "Table 2", "checkpoints": [40, 80, 160, 200], "trials": trials,
            "quick": quick, "max_epochs": None, "seconds": 3.0, "left_out": list(left_out),
            "tuned_grid": {"settings": 12, "folds": 3},
            "experiments": [{"key": "syn1-gd", "label": "Syn-1 GD", "rows": [row], "paper_best": None}]}


def test_one_trial_shows_values_without_a_std():
    text = format_markdown(_result(1, [[.198, 4.47, 41.2, 72.2]], quick=True, left_out=["WNN"]))
    assert "| LFD-2 | **.198** [.207 (.021)] | **4.47** [4.39 (.39)] |" in text
    assert "(0)" not in text and "one trial (so no std)" in text
    assert "Quick run: one trial, a smaller grid for the tuned row (12 settings, 3-fold cross-validation); " \
           "rows left out: WNN" in text


def test_several_trials_show_mean_and_std():
    text = format_markdown(_result(2, [[.198, 4.47, 41.2, 72.2], [.2, 4.5, 41.0, 72.0]]))
    assert "**.199 (1.00)** [.207 (.021)]" in text and "mean (std) over 2 trials" in text


def test_values_in_the_papers_style():
    assert [format_value(v) for v in (0, 2e-5, .2071, 4.391, 44.93, 278.4)] == ["0", "2.0e-05", ".207", "4.39",
                                                                               "44.9", "278"]
