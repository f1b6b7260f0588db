"""`weightcast score`: checkpoint MSE of a saved model on held-out runs."""

import json

import numpy as np
import pytest

from weightcast import LFD2Forecaster, checkpoint_mse, split_sequences
from weightcast.cli import main
from weightcast.io import write_sequences

RNG = np.random.default_rng(0)
S = np.cumsum(RNG.normal(size=(10, 30, 3)), axis=1).astype(np.float32)


@pytest.fixture
def model(tmp_path):
    est = LFD2Forecaster(solver="lstsq").fit(*split_sequences(S[:6], 10))
    est.save(tmp_path / "m.wcm")
    return est, tmp_path / "m.wcm"


@pytest.mark.parametrize("suffix", [".npy", ".h5"])
def test_score_prints_and_writes_the_checkpoint_mse(model, tmp_path, capsys, suffix):
    est, path = model
    held_out = tmp_path / f"held_out{suffix}"
    np.save(held_out, S[6:]) if suffix == ".npy" else write_sequences(held_out, S[6:])
    argv = ["score", str(path), str(held_out), "--checkpoints", "12", "29", "-o", str(tmp_path / "s.json")]
    assert main(argv) == 0
    X, Y = split_sequences(S[6:], 10)
    expected = checkpoint_mse(Y, est.predict(X), (12, 29), 10)
    out = capsys.readouterr().out
    assert f"| w_12 | {expected[0]:.4g} |" in out and f"| w_29 | {expected[1]:.4g} |" in out
    scores = json.loads((tmp_path / "s.json").read_text())
    assert scores["checkpoints"] == [12, 29] and scores["n_sequences"] == 4
    np.testing.assert_allclose(scores["mse"], expected, rtol=1e-6)


def test_the_json_goes_to_out_and_json_is_no_option(model, tmp_path, capsys):
    _, path = model
    np.save(tmp_path / "held_out.npy", S[6:])
    assert main(["score", str(path), str(tmp_path / "held_out.npy"), "--out", str(tmp_path / "s.json")]) == 0
    assert "| w_" in capsys.readouterr().out                                  # the table still prints
    assert json.loads((tmp_path / "s.json").read_text())["n_sequences"] == 4
    with pytest.raises(SystemExit) as exit_info:
        main(["score", str(path), str(tmp_path / "held_out.npy"), "--json", str(tmp_path / "t.json")])
    assert exit_info.value.code == 2 and "unrecognized arguments: --json" in capsys.readouterr().err
    assert not (tmp_path / "t.json").exists()


def test_default_checkpoints_spread_over_the_forecast(model, tmp_path, capsys):
    _, path = model
    np.save(tmp_path / "held_out.npy", S[6:])
    assert main(["score", str(path), str(tmp_path / "held_out.npy")]) == 0
    out = capsys.readouterr().out
    assert all(f"| w_{c} |" in out for c in (14, 19, 24, 29)), out      # 20 steps after w_0..w_9


def test_checkpoints_outside_the_forecast_are_a_clear_error(model, tmp_path, capsys):
    _, path = model
    np.save(tmp_path / "short.npy", S[6:, :15])
    assert main(["score", str(path), str(tmp_path / "short.npy"), "--checkpoints", "20"]) == 2
    err = capsys.readouterr().err
    assert "checkpoint(s) [20] are outside the forecast" in err and "up to w_14" in err


@pytest.mark.parametrize("value, message", [("0", "argument --checkpoints: STEP must be >= 1, got 0"),
                                            ("x", "argument --checkpoints: STEP must be an integer, got 'x'")])
def test_checkpoints_are_checked_when_parsed(value, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["score", "model.wcm", "runs.npy", "--checkpoints", "20", value])
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err
