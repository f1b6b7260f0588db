"""`weightcast fit` and `weightcast predict` from the command line."""

import os

import numpy as np
import pytest

from weightcast import LFD2Forecaster, load, split_sequences
from weightcast.cli import fit as fit_command
from weightcast.cli import main

RNG = np.random.default_rng(0)
S = np.cumsum(RNG.normal(size=(6, 30, 4)), axis=1).astype(np.float32)


@pytest.fixture
def data(tmp_path):
    np.save(tmp_path / "S.npy", S)
    return tmp_path / "S.npy"


def test_fit_then_predict(data, tmp_path, capsys):
    model, out = tmp_path / "lfd2.wcm", tmp_path / "forecast.npy"
    assert main(["fit", str(data), "--model", "lfd2", "--n-input-steps", "21", "--m", "6",
                 "-o", str(model)]) == 0
    est = load(model)
    X, Y = split_sequences(S, 21, 6)
    reference = LFD2Forecaster(random_state=0).fit(X, Y)   # the CLI defaults: the Python ones, seed 0
    np.testing.assert_array_equal(est.coef_, reference.coef_)
    assert main(["predict", str(model), str(data), "--out", str(out), "--m", "4"]) == 0
    np.testing.assert_array_equal(np.load(out), reference.predict(X, m=4))
    assert "forecast of shape (6, 4, 4)" in capsys.readouterr().out
    assert sorted(os.listdir(tmp_path)) == ["S.npy", "forecast.npy", "lfd2.wcm"]


@pytest.mark.parametrize("argv, message", [
    (["fit", "{data}", "--n-input-steps", "40", "-o", "{tmp}/m"], "leaves no target step"),
    (["fit", "{tmp}/absent.npy", "--n-input-steps", "5", "-o", "{tmp}/m"], "no data file"),
    (["fit", "{tmp}/data.csv", "--n-input-steps", "5", "-o", "{tmp}/m"], "unsupported file type '.csv'"),
    (["fit", "{data}", "--n-input-steps", "5", "-o", "{tmp}/no/dir/m"], "does not exist"),
    (["fit", "{data}", "--n-input-steps", "5", "--dataset", "w", "-o", "{tmp}/m"], "HDF5"),
    (["predict", "{data}", "{data}", "--out", "{tmp}/p.npy"], "not a weightcast model file"),
    (["predict", "{tmp}/m", "{data}", "--out", "{tmp}/p.txt"], "unsupported file type '.txt'"),
])
def test_errors_exit_2_with_a_message(data, tmp_path, capsys, argv, message):
    assert main(["fit", str(data), "--n-input-steps", "21", "-o", str(tmp_path / "m")]) == 0
    argv = [a.format(data=data, tmp=tmp_path) for a in argv]
    assert main(argv) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "p.npy").exists() and not (tmp_path / "p.txt").exists()


def test_predict_needs_enough_input_steps(data, tmp_path, capsys):
    main(["fit", str(data), "--n-input-steps", "21", "-o", str(tmp_path / "m")])
    np.save(tmp_path / "short.npy", S[:, :10])
    assert main(["predict", str(tmp_path / "m"), str(tmp_path / "short.npy"), "--out", str(tmp_path / "p.npy")]) == 2
    assert "at least 21 input steps" in capsys.readouterr().err


def test_predict_refuses_models_that_do_not_forecast(data, tmp_path, capsys):
    from weightcast import AllSelector, LFLForecaster
    AllSelector().fit(np.zeros((2, 21))).save(tmp_path / "selector.wcm")
    LFLForecaster().save(tmp_path / "unfitted.wcm")
    out = tmp_path / "p.npy"
    assert main(["predict", str(tmp_path / "selector.wcm"), str(data), "--out", str(out)]) == 2
    assert main(["predict", str(tmp_path / "unfitted.wcm"), str(data), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "AllSelector, not a forecaster" in err and "is not fitted" in err and not out.exists()


def test_fit_and_predict_on_hdf5_files(tmp_path):
    from weightcast.io import open_sequences, write_sequences
    rng = np.random.default_rng(0)
    S = np.cumsum(rng.normal(size=(6, 12, 4)), axis=1).astype(np.float32)
    data = tmp_path / "runs.h5"
    write_sequences(data, S)
    model, out = tmp_path / "model.wcm", tmp_path / "forecast.h5"
    assert main(["fit", str(data), "--model", "lfd2", "--n-input-steps", "5", "--solver", "lstsq",
                 "-o", str(model)]) == 0
    assert main(["predict", str(model), str(data), "--out", str(out)]) == 0
    expected = load(model).predict(S[:, :5])
    np.testing.assert_allclose(np.asarray(open_sequences(out)), expected, rtol=1e-6)


def test_old_flag_names_say_what_they_became(data, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["fit", str(data), "--n-input-steps", "21", "--save", str(tmp_path / "m")])
    assert exit_info.value.code == 2
    assert "--save was renamed to -o/--out" in capsys.readouterr().err
    assert not (tmp_path / "m").exists()


@pytest.mark.parametrize("name", sorted(fit_command.MODELS))
def test_cli_defaults_are_the_python_defaults(name):
    """Where the CLI differs (--random-state 0, for repeatable commands), its help says so."""
    import inspect

    import weightcast
    parameters = inspect.signature(getattr(weightcast, fit_command.MODELS[name])).parameters
    assert {key: parameters[key].default for key in fit_command.DEFAULTS} == fit_command.DEFAULTS
    assert parameters["random_state"].default is None


def test_help_names_the_file_types(capsys):
    for command in ("fit", "predict"):
        with pytest.raises(SystemExit):
            main([command, "--help"])
        text = " ".join(capsys.readouterr().out.split())
        assert ".npy" in text and ".h5/.hdf5" in text


def test_verbose_shows_progress(data, tmp_path, capsys):
    assert main(["fit", str(data), "--n-input-steps", "21", "-o", str(tmp_path / "m"), "--verbose"]) == 0
    assert "epochs" in capsys.readouterr().err          # the paper solver's progress bar
    assert main(["fit", str(data), "--n-input-steps", "21", "-o", str(tmp_path / "m")]) == 0
    assert capsys.readouterr().err == ""
