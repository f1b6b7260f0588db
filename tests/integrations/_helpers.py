"""What the framework tests share: a forecaster for jumps, and the optimizer steps as torch reports them."""

import numpy as np
import torch

from weightcast import LFD2Forecaster
from weightcast.io import read_metadata
from weightcast.training import flatten_parameters


def linear_forecaster(n_params, n_input=2, horizon=3):
    """LFD-2 fitted on other runs whose coordinates move linearly (any run's forecast is then known)."""
    rng = np.random.default_rng(0)
    start, speed = rng.normal(size=(2, 4, 1, n_params))
    runs = start + speed * np.arange(n_input + horizon)[None, :, None]
    return LFD2Forecaster(solver="lstsq").fit(runs[:, :n_input], runs[:, n_input:])


def snapshot_after_each_step(optimizer, model):
    """The weights after every ``optimizer.step()``, collected by torch's own step hook (ground truth)."""
    snapshots = []
    optimizer.register_step_post_hook(lambda *_: snapshots.append(flatten_parameters(model).numpy()))
    return snapshots


def recorded(view):
    """The snapshots of a one-run recording that are in the file (the file counts them)."""
    return np.asarray(view[0, :int(read_metadata(view.path, view.dataset)["recorded"][0])])
