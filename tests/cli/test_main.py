"""The weightcast command: help, version, fast start, interruptions."""

import argparse
import subprocess
import sys

import pytest

from weightcast import __version__
from weightcast.cli import build_parser, main


def test_version(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.strip() == f"weightcast {__version__}"


def test_help_without_a_command(capsys):
    assert main([]) == 0
    assert "usage: weightcast" in capsys.readouterr().out


def test_unknown_command_is_an_error(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["no-such-command"])
    assert exit_info.value.code == 2
    assert "invalid choice" in capsys.readouterr().err


def test_runs_as_a_module():
    result = subprocess.run([sys.executable, "-m", "weightcast.cli", "--help"], capture_output=True, text=True)
    assert result.returncode == 0 and "weightcast" in result.stdout


def test_the_command_starts_without_the_heavy_imports():
    """`weightcast --help` must not wait for torch, scikit-learn or h5py: the parsers import none of them."""
    heavy = ("torch", "sklearn", "h5py", "scipy", "weightcast.base", "weightcast.linear",
             "weightcast.reproduce.runner")
    code = ("import sys, weightcast.cli; weightcast.cli.build_parser(); "
            f"print([m for m in {heavy!r} if m in sys.modules])")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def _subcommands():
    action = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return action.choices


@pytest.mark.parametrize("name", ["fit", "predict", "score", "plot", "record", "reproduce"])
def test_every_option_has_help_and_shows_its_default(name):
    parser = _subcommands()[name]
    formatter = parser._get_formatter()
    for action in parser._actions:
        if isinstance(action, argparse._HelpAction) or action.help == argparse.SUPPRESS:
            continue
        assert action.help, f"{name} {action.dest} has no help"
        takes_a_value = action.option_strings and action.nargs != 0 and not action.required
        if takes_a_value:
            text = formatter._get_help_string(action)
            assert "default" in text or "required" in text, f"{name} {action.option_strings} hides its default"


@pytest.mark.parametrize("name", ["fit", "predict", "score", "plot", "record"])
def test_one_output_flag_everywhere(name):
    options = {option for action in _subcommands()[name]._actions for option in action.option_strings
               if action.help != argparse.SUPPRESS}
    assert {"-o", "--out"} <= options
    assert not options & {"--save", "--output"}


def test_interrupted_command_says_what_was_kept_and_exits_130(tmp_path, monkeypatch, capsys):
    import numpy as np

    import weightcast.io.files

    np.save(tmp_path / "S.npy", np.zeros((4, 10, 2), dtype=np.float32))

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(weightcast.io.files, "read_data", interrupted)
    assert main(["fit", str(tmp_path / "S.npy"), "--n-input-steps", "5", "-o", str(tmp_path / "m.wcm")]) == 130
    assert capsys.readouterr().err == "weightcast fit: interrupted; no output was written\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["S.npy"]


@pytest.mark.parametrize("suffix", [".npy", ".h5"])
def test_a_nan_in_a_data_file_is_named_by_file_sequence_step_and_parameter_in_every_command(suffix, tmp_path,
                                                                                           capsys):
    import numpy as np

    from weightcast import LFD2Forecaster
    from weightcast.io.files import write_data

    S = np.cumsum(np.random.default_rng(0).normal(size=(4, 12, 3)), axis=1).astype(np.float32)
    LFD2Forecaster(solver="lstsq").fit(S[:, :6], S[:, 6:]).save(tmp_path / "m.wcm")
    S[2, 5, 1] = np.nan                     # the last input step of run 2
    data = str(tmp_path / f"bad{suffix}")
    write_data(data, S)
    model, out = str(tmp_path / "m.wcm"), str(tmp_path / "out")
    commands = {"fit": ["fit", data, "--n-input-steps", "6", "--solver", "lstsq", "-o", out + ".wcm"],
                "predict": ["predict", model, data, "-o", out + ".npy"],
                "score": ["score", model, data],
                "plot": ["plot", data, "--model", model, "--sequence", "2", "-o", out + ".png"]}
    for name, argv in commands.items():
        if name == "plot":
            pytest.importorskip("matplotlib")
        assert main(argv) == 2, name
        err = capsys.readouterr().err
        assert f"weightcast {name}: error: " in err and "holds NaN at sequence 2, step 5, parameter 1 of " in err
        assert f"bad{suffix}" in err and "imput" not in err.lower(), err
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["m.wcm", f"bad{suffix}"])
