"""`weightcast plot`: trajectories, forecast and error of one run as a PNG."""

import sys

import numpy as np
import pytest

from weightcast import LFD2Forecaster, split_sequences
from weightcast.cli import main
from weightcast.cli.plot import plot_file

S = np.cumsum(np.random.default_rng(0).normal(size=(6, 30, 5)), axis=1).astype(np.float32)


@pytest.fixture
def files(tmp_path):
    np.save(tmp_path / "S.npy", S)
    LFD2Forecaster(solver="lstsq").fit(*split_sequences(S, 10)).save(tmp_path / "m.wcm")
    return tmp_path


def test_plot_a_run_and_a_forecast(files, capsys):
    pytest.importorskip("matplotlib")
    assert main(["plot", str(files / "S.npy"), "-o", str(files / "run.png"), "--params", "1", "3"]) == 0
    assert (files / "run.png").read_bytes()[:4] == b"\x89PNG"
    assert "drew run 0 (w[1], w[3])" in capsys.readouterr().out
    drawn = plot_file(files / "S.npy", files / "forecast.png", model=files / "m.wcm", sequence=2, sample=2,
                      checkpoints=[15, 29])
    assert (files / "forecast.png").read_bytes()[:4] == b"\x89PNG"
    assert len(drawn["params"]) == 2 and drawn["checkpoints"] == [15, 29] and len(drawn["mse"]) == 2
    assert not [p for p in files.iterdir() if p.name.startswith(".")]


def test_parameter_names_of_a_recording_label_the_lines(tmp_path):
    pytest.importorskip("matplotlib")
    from weightcast.io import write_sequences
    write_sequences(tmp_path / "run.h5", S, param_names=["w", "b"], param_shapes=[(2, 2), (1,)])
    drawn = plot_file(tmp_path / "run.h5", tmp_path / "run.png", params=[0, 3, 4])
    assert drawn["labels"] == ["w[0, 0]", "w[1, 1]", "b[0]"]


@pytest.mark.parametrize("argv, message", [
    (["--params", "9"], "--params [9] out of range: the runs have 5 parameters"),
    (["--sequence", "6"], "--sequence 6 out of range"),
    (["--model", "{tmp}/m.wcm", "--checkpoints", "5"], "checkpoint(s) [5] are outside the forecast"),
])
def test_bad_choices_are_clear_errors(files, capsys, argv, message):
    pytest.importorskip("matplotlib")
    argv = [a.format(tmp=files) for a in argv]
    assert main(["plot", str(files / "S.npy"), "-o", str(files / "p.png"), *argv]) == 2
    assert message in capsys.readouterr().err
    assert not (files / "p.png").exists()


def test_without_matplotlib_the_message_says_how_to_get_it(files, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "matplotlib", None)   # import matplotlib now raises ImportError
    assert main(["plot", str(files / "S.npy"), "-o", str(files / "p.png")]) == 2
    assert "pip install 'weightcast[plot]'" in capsys.readouterr().err
