"""The top-level package: lazy public names (PEP 562) that behave like ordinary imports."""

import subprocess
import sys

import pytest

import weightcast


def test_importing_weightcast_imports_no_torch():
    code = "import sys, weightcast, weightcast.io; print('torch' in sys.modules, 'sklearn' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["False", "False"]


def test_public_names_resolve_to_their_modules():
    from weightcast import LFD2Forecaster, load
    from weightcast.io.persistence import load as io_load
    from weightcast.linear import LFD2Forecaster as defined
    assert LFD2Forecaster is defined and weightcast.LFD2Forecaster is defined
    assert load is io_load
    assert set(weightcast.__all__) <= set(dir(weightcast))
    for name in weightcast.__all__:
        assert getattr(weightcast, name) is not None


def test_unknown_names_are_attribute_errors():
    with pytest.raises(AttributeError, match="has no attribute 'NoSuchForecaster'"):
        weightcast.NoSuchForecaster
    with pytest.raises(ImportError):
        from weightcast import NoSuchForecaster  # noqa: F401


def test_a_fresh_process_loads_a_model_through_io_alone(tmp_path):
    """The persistence allow-list knows the public classes before their modules are imported."""
    import numpy as np
    X = np.random.default_rng(0).normal(size=(4, 6, 2))
    weightcast.LFD2Forecaster(solver="lstsq").fit(X, X[:, -2:]).save(tmp_path / "m.wcm")
    code = f"from weightcast.io import load; print(type(load({str(tmp_path / 'm.wcm')!r})).__name__)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "LFD2Forecaster"
