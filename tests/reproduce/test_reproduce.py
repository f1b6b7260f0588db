"""`weightcast reproduce`: the CLI end to end (a tiny quick run), the Python entry point, bad arguments."""

import dataclasses
import json

import numpy as np
import pytest

from weightcast.cli import main
from weightcast.reproduce import catalogue, runner
from weightcast.reproduce.catalogue import MODELS
from weightcast.reproduce.outputs import write_outputs
from weightcast.reproduce.protocols import TABLES
from weightcast.reproduce.report import format_markdown
from weightcast.reproduce.runner import reproduce


@pytest.fixture
def tiny(monkeypatch):
    """Keep only LFD-2 among the paper-protocol models (tests pass max_epochs=20): the plumbing is under
    test here. DLinear stays as a row without a factory, to test how a model that is not implemented is shown."""
    kept = [e if e.name == "LFD-2" else dataclasses.replace(e, factory=None)
            for e in MODELS if e.name in ("LFD-2", "DLinear")]
    monkeypatch.setattr(catalogue, "MODELS", kept)


def test_cli_quick_run_end_to_end(tiny, tmp_path, capsys):
    assert main(["reproduce", "table2", "--quick", "--trials", "1", "--max-epochs", "20", "-o", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "### Syn-1 GD" in out and "### Syn-1 SGD" in out
    assert "[.207 (.021)]" in out                         # the paper's LFD-2 figure beside ours
    assert "DLinear (not implemented yet)" in out
    written = json.loads((tmp_path / "table2.json").read_text())
    assert (tmp_path / "table2.md").read_text() == out.rstrip("\n") + "\n" or "### Syn-1 GD" in (
        tmp_path / "table2.md").read_text()
    assert [block["key"] for block in written["experiments"]] == ["syn1-gd", "syn1-sgd"]
    rows = {row["model"]: row for row in written["experiments"][0]["rows"]}
    assert set(rows) == {"DLinear", "LFD-2", "tuned"}
    assert rows["LFD-2"]["implemented"] and not rows["DLinear"]["implemented"]
    assert len(rows["LFD-2"]["mean"]) == 4 and np.all(np.isfinite(rows["LFD-2"]["mean"]))
    assert rows["LFD-2"]["paper_mean"] == [0.207, 4.39, 44.9, 81.1]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no leftover temporary file


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


def test_fig2_writes_the_trajectories_and_a_png(tiny, tmp_path):
    pytest.importorskip("matplotlib")
    result = reproduce("fig2", quick=True, max_epochs=20)
    written = write_outputs(result, str(tmp_path))
    assert sorted(p.rsplit("/", 1)[1] for p in written) == ["fig2.json", "fig2.md", "fig2.png"]
    block = result["experiments"][0]
    assert np.asarray(block["true"]).shape == (201, 3)
    assert {name: np.asarray(f).shape for name, f in block["forecasts"].items()} == {
        "LFD-2": (180, 3), "tuned": (180, 3)}
    assert (tmp_path / "fig2.png").read_bytes()[:4] == b"\x89PNG"


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


def test_every_paper_figure_has_four_cells():
    for entry in MODELS:
        for (table, experiment), (means, stds, text) in entry.paper.items():
            assert table in TABLES and experiment in TABLES[table].experiments
            assert len(means) == len(stds) == len(text) == 4, (entry.name, table, experiment)


@pytest.mark.parametrize("argv, message", [
    (["reproduce", "table9"], "invalid choice: 'table9'"),
    (["reproduce", "table2", "--trials", "0"], "--trials: must be an integer >= 1, got 0"),
    (["reproduce", "table2", "--trials", "two"], "--trials: must be an integer >= 1, got 'two'"),
])
def test_cli_rejects_bad_arguments(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


def test_cli_rejects_an_unwritable_out_before_working(tmp_path, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    assert main(["reproduce", "table2", "--quick", "--out", str(blocker / "results")]) == 2
    captured = capsys.readouterr()
    assert "weightcast reproduce: error: cannot write results to --out" in captured.err
    assert captured.out == ""


def test_cli_rejects_an_unknown_device(tmp_path, capsys):
    assert main(["reproduce", "table2", "--quick", "--device", "tpu", "--out", str(tmp_path)]) == 2
    assert "unknown device 'tpu'" in capsys.readouterr().err


@pytest.mark.parametrize("kwargs, message", [
    (dict(table="table4"), "unknown table 'table4'"),
    (dict(table="table2", trials=0), "trials must be an integer >= 1"),
    (dict(table="table2", models=["GPT"]), "unknown model"),
])
def test_python_entry_point_rejects_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        reproduce(**kwargs)


def test_fixed_point_row_reads_every_step_on_gd_only():
    entry = next(e for e in MODELS if e.name == "FixedPoint (ours)")
    selectors = {experiment: entry.factory(experiment, 1, "cpu", 10).selector
                 for experiment in ("syn1-gd", "syn1-sgd", "syn2-sgd", "syn2-adam")}
    assert type(selectors["syn1-gd"]).__name__ == "AllSelector"
    assert all(selectors[e] is None for e in ("syn1-sgd", "syn2-sgd", "syn2-adam"))  # LFD-2's steps
