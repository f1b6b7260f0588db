"""The weightcast command: help and version."""

import subprocess
import sys

import pytest

from weightcast import __version__
from weightcast.cli import main


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
