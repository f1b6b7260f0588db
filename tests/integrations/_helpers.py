"""What the framework tests share: a forecaster for jumps, the optimizer steps as torch reports them, and
torch's own moving average of the weights."""

import numpy as np
import torch
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

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


def torch_ema_after_each_step(optimizer, model, decay):
    """torch's own EMA of ``model`` (``AveragedModel`` with ``get_ema_multi_avg_fn``), updated by a step hook."""
    ema = AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(decay))
    optimizer.register_step_post_hook(lambda *_: ema.update_parameters(model))
    return ema


def assert_same_state(module, reference):
    """Every parameter and buffer of ``module`` equals ``reference``'s, bit for bit."""
    ours, theirs = module.state_dict(), reference.state_dict()
    assert list(ours) == list(theirs)
    for name in ours:
        torch.testing.assert_close(ours[name], theirs[name], rtol=0, atol=0, msg=name)
