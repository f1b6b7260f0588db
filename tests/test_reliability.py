"""Faults: interrupted fits and writes, and inputs that are never modified."""

import hashlib
import os

import numpy as np
import pytest
import scipy.linalg
import torch
from sklearn.exceptions import NotFittedError

from weightcast import LFD2Forecaster, LinearFarcaster, SampledSelector, StepSelector, split_sequences
from weightcast.io import atomic_output
from weightcast.io.files import write_data

RNG = np.random.default_rng(0)
S_OLD = np.cumsum(RNG.normal(size=(8, 30, 3)), axis=1)
S_NEW = np.cumsum(RNG.normal(size=(5, 16, 2)), axis=1)
X_OLD, Y_OLD = split_sequences(S_OLD, 21)
X_NEW, Y_NEW = split_sequences(S_NEW, 10)


def _interrupt(*args, **kwargs):
    raise KeyboardInterrupt


def _interrupt_adam_after(monkeypatch, n_steps):
    calls = []
    real_step = torch.optim.Adam.step

    def step(self, *args, **kwargs):
        calls.append(1)
        if len(calls) > n_steps:
            raise KeyboardInterrupt
        return real_step(self, *args, **kwargs)
    monkeypatch.setattr(torch.optim.Adam, "step", step)


def _snapshot(est):
    return {key: (value.copy() if isinstance(value, np.ndarray) else value) for key, value in vars(est).items()}


def _same_state(est, snapshot):
    assert set(vars(est)) == set(snapshot)
    for key, value in snapshot.items():
        if isinstance(value, np.ndarray):
            np.testing.assert_array_equal(getattr(est, key), value)
        elif key != "selector_":
            assert getattr(est, key) == value, key


@pytest.mark.parametrize("solver", ["lstsq", "paper"])
def test_interrupted_fit_of_an_unfitted_estimator_leaves_it_unfitted(solver, monkeypatch):
    est = LFD2Forecaster(solver=solver, max_epochs=50, patience=50, random_state=0, device="cpu")
    before = _snapshot(est)
    if solver == "lstsq":
        monkeypatch.setattr(scipy.linalg, "lstsq", _interrupt)
    else:
        _interrupt_adam_after(monkeypatch, 3)
    with pytest.raises(KeyboardInterrupt):
        est.fit(X_NEW, Y_NEW)
    _same_state(est, before)
    with pytest.raises(NotFittedError):
        est.predict(X_NEW)


@pytest.mark.parametrize("solver", ["lstsq", "paper"])
def test_interrupted_refit_keeps_the_previous_fit(solver, monkeypatch):
    est = LFD2Forecaster(solver=solver, max_epochs=50, patience=50, random_state=0, device="cpu")
    est.fit(X_OLD, Y_OLD)
    expected = est.predict(X_OLD)
    before = _snapshot(est)
    if solver == "lstsq":
        monkeypatch.setattr(scipy.linalg, "lstsq", _interrupt)
    else:
        _interrupt_adam_after(monkeypatch, 3)
    with pytest.raises(KeyboardInterrupt):
        est.fit(X_NEW, Y_NEW)  # other steps and parameters: a half-updated state would not predict X_OLD
    _same_state(est, before)
    np.testing.assert_array_equal(est.predict(X_OLD), expected)


def test_failed_refit_keeps_the_previous_fit():
    est = LinearFarcaster(solver="lstsq", m=9).fit(X_OLD, Y_OLD)
    expected = est.predict(X_OLD)
    with pytest.raises(ValueError, match="m=9"):
        est.fit(X_NEW, Y_NEW[:, :4])  # validation passes, the horizon check fails later
    assert est.n_params_in_ == 3 and est.n_features_in_ == 21
    np.testing.assert_array_equal(est.predict(X_OLD), expected)


def test_failed_selector_refit_keeps_the_previous_fit():
    sel = SampledSelector(k=5, random_state=0).fit(np.zeros((2, 21)))
    steps = sel.steps_.copy()
    with pytest.raises(ValueError, match="k=5"):
        sel.fit(np.zeros((2, 3)))
    assert sel.n_features_in_ == 21
    np.testing.assert_array_equal(sel.steps_, steps)
    with pytest.raises(ValueError):
        StepSelector(steps=(0, 40)).fit_steps(10)


def _digest(array):
    return hashlib.sha256(np.ascontiguousarray(array).tobytes()).hexdigest()


@pytest.mark.parametrize("solver", ["lstsq", "paper"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_inputs_are_read_only_and_never_modified(solver, dtype):
    X, Y = X_OLD.astype(dtype), Y_OLD.astype(dtype)
    X_val, Y_val = X[:3].copy(), Y[:3].copy()
    for array in (X, Y, X_val, Y_val):
        array.setflags(write=False)  # any in-place write would raise
    digests = [_digest(a) for a in (X, Y, X_val, Y_val)]
    est = LFD2Forecaster(solver=solver, max_epochs=3, random_state=0, device="cpu")
    est.fit(X, Y, validation_data=(X_val, Y_val) if solver == "paper" else None)
    est.predict(X)
    assert [_digest(a) for a in (X, Y, X_val, Y_val)] == digests


def test_memory_mapped_read_only_input(tmp_path):
    np.save(tmp_path / "S.npy", S_OLD)
    S = np.load(tmp_path / "S.npy", mmap_mode="r")
    X, Y = split_sequences(S, 21)
    est = LFD2Forecaster(solver="lstsq").fit(X, Y)
    np.testing.assert_allclose(est.predict(X), LFD2Forecaster(solver="lstsq").fit(X_OLD, Y_OLD).predict(X_OLD))


def test_atomic_output_interrupted_leaves_the_previous_file(tmp_path):
    target = tmp_path / "out.npy"
    write_data(target, np.arange(3))
    with pytest.raises(KeyboardInterrupt):
        with atomic_output(target) as tmp:
            with open(tmp, "wb") as f:
                f.write(b"half a fi")
            raise KeyboardInterrupt
    np.testing.assert_array_equal(np.load(target), np.arange(3))
    assert os.listdir(tmp_path) == ["out.npy"]


def test_interrupted_forecast_write_leaves_nothing(tmp_path, monkeypatch):
    real_save = np.save

    def half_save(file, array, **kwargs):
        real_save(file, array[: len(array) // 2], **kwargs)
        raise KeyboardInterrupt
    monkeypatch.setattr(np, "save", half_save)
    with pytest.raises(KeyboardInterrupt):
        write_data(tmp_path / "forecast.npy", np.ones((10, 4)))
    assert os.listdir(tmp_path) == []


def test_atomic_output_refuses_bad_targets(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        with atomic_output(tmp_path / "no" / "such" / "dir.npy"):
            pass
    with pytest.raises(ValueError, match="is a directory"):
        with atomic_output(tmp_path):
            pass
