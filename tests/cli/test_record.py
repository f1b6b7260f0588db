"""`weightcast record` from the command line: its stated defaults, renamed flags, interruptions."""

import inspect

import pytest

from weightcast.cli import main
from weightcast.cli import record as command


def test_stated_defaults_are_the_code_defaults():
    from weightcast.training import record
    from weightcast.training.models import CNN_SIZES, TEXT_SIZES
    for network, sizes, function in (("cnn", CNN_SIZES, record.record_cnn), ("text", TEXT_SIZES, record.record_text)):
        default_size, names, defaults = command.NETWORKS[network]
        parameters = inspect.signature(function).parameters
        assert parameters["size"].default == default_size and set(names) == set(sizes)
        assert {key: parameters[key].default for key in defaults} == defaults


def test_old_flag_names_say_what_they_became(tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(["record", "cnn", "--output", str(tmp_path / "r.h5")])
    assert "--output was renamed to -o/--out" in capsys.readouterr().err


def test_ctrl_c_says_which_runs_the_file_keeps(tmp_path, monkeypatch, capsys):
    pytest.importorskip("mlxtend")
    from weightcast.io import read_metadata
    from weightcast.training import record

    calls = {"n": 0}
    train_step = record.train_step

    def interrupted_after_15_steps(*args):
        calls["n"] += 1
        if calls["n"] > 15:     # run 0: 10 steps; run 1: 5 steps, then Ctrl-C
            raise KeyboardInterrupt
        return train_step(*args)

    monkeypatch.setattr(record, "train_step", interrupted_after_15_steps)
    path = tmp_path / "cnn.h5"
    assert main(["record", "cnn", "-o", str(path), "--size", "tiny", "--runs", "3", "--steps", "11"]) == 130
    lines = capsys.readouterr().err.splitlines()
    assert lines == [f"weightcast record: interrupted; {path} keeps 1 complete run(s) of 11 snapshots (run 0), "
                     "run 1 stopped after 6 of 11 snapshots"]
    assert read_metadata(path)["recorded"].tolist() == [11, 6, 0]
