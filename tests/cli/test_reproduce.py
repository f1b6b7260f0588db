"""`weightcast reproduce` from the command line."""

import json

import numpy as np
import pytest

from weightcast.cli import main
from weightcast.cli import reproduce as command


def test_quick_run_end_to_end(tiny, tmp_path, capsys):
    assert main(["reproduce", "table2", "--quick", "--max-epochs", "20", "-o", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "### Syn-1 GD" in out and "### Syn-1 SGD" in out
    assert "[.207 (.021)]" in out                         # the paper's LFD-2 figure beside ours
    assert "DLinear (not implemented yet)" in out
    assert "Iterative fits stop after at most 20 epochs" in out
    written = json.loads((tmp_path / "table2.json").read_text())
    assert "### Syn-1 GD" in (tmp_path / "table2.md").read_text()
    assert [block["key"] for block in written["experiments"]] == ["syn1-gd", "syn1-sgd"]
    assert written["trials"] == 1 and written["quick"]
    rows = {row["model"]: row for row in written["experiments"][0]["rows"]}
    assert set(rows) == {"DLinear", "LFD-2", "tuned"}
    assert rows["LFD-2"]["implemented"] and not rows["DLinear"]["implemented"]
    assert len(rows["LFD-2"]["mean"]) == 4 and np.all(np.isfinite(rows["LFD-2"]["mean"]))
    assert rows["LFD-2"]["paper_mean"] == [0.207, 4.39, 44.9, 81.1]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no leftover temporary file


@pytest.mark.parametrize("argv, message", [
    (["reproduce", "table9"], "invalid choice: 'table9'"),
    (["reproduce", "table2", "--trials", "0"], "argument --trials: N must be >= 1, got 0"),
    (["reproduce", "table2", "--trials", "two"], "argument --trials: N must be an integer, got 'two' (str)"),
])
def test_rejects_bad_arguments(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize("argv, message", [
    (["reproduce", "table2", "--data", "x.h5", "--solvers", "paper"],
     "--data, --solvers: only for table4, not table2"),
    (["reproduce", "table4", "--quick", "--data", "x.h5"], "--quick: only for the synthetic tables"),
    (["reproduce", "table4", "--data", "x.h5", "--models", "RNN"], "unknown Table 4 model(s) ['RNN']"),
    (["reproduce", "table2", "--quick", "--device", "tpu"], "device must be 'auto', 'cpu', 'cuda' or 'cuda:N'"),
])
def test_options_of_the_other_kind_of_table_are_refused(argv, message, tmp_path, capsys):
    assert main(argv + ["-o", str(tmp_path)]) == 2
    assert message in capsys.readouterr().err


def test_rejects_an_unwritable_out_before_working(tmp_path, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    assert main(["reproduce", "table2", "--quick", "--out", str(blocker / "results")]) == 2
    captured = capsys.readouterr()
    assert "weightcast reproduce: error: cannot write results to --out" in captured.err
    assert captured.out == ""


def test_table4_options_match_the_code():
    """The parser states Table 4's choices without importing it; they must be the code's."""
    import inspect

    from weightcast.reproduce import table4
    assert set(command.TABLE4_PROTOCOLS) == set(table4.PROTOCOLS)
    assert command.TABLE4_MODELS == tuple(table4.MODELS)  # in the table's order
    defaults = inspect.signature(table4.table4).parameters
    assert defaults["max_epochs"].default is None  # each protocol's own cap, which the parser states
    assert command.TABLE4_MAX_EPOCHS == {name: spec["max_epochs"] for name, spec in table4.PROTOCOLS.items()}
    assert "131072" in command.__doc__ + open(command.__file__).read() and defaults["slab_size"].default == 131072
