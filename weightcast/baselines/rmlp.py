"""The farcasting paper's "DLinear": a RevIN-normalised MLP mixer (RMLP-like), which mixes coordinates."""

import torch
from torch import nn

from ..constraints import Boolean, Integer, Real
from ._training import NeuralForecaster

__all__ = ["RMLPForecaster", "revin_normalize"]


def revin_normalize(x, eps=1e-5):
    """RevIN without affine parameters: per row, subtract the mean over time and divide by the std.

    Returns the normalised rows and the ``(mean, std)`` that :func:`revin_denormalize` undoes.
    """
    mean = x.mean(dim=-1, keepdim=True)
    std = torch.sqrt(x.var(dim=-1, keepdim=True, unbiased=False) + eps)
    return (x - mean) / std, (mean, std)


def revin_denormalize(z, stats):
    mean, std = stats
    return z * std + mean


def _mlp(width, hidden_size):
    return nn.Sequential(nn.Linear(width, hidden_size), nn.GELU(), nn.Linear(hidden_size, width))


class _RMLPModule(nn.Module):
    def __init__(self, n_in, n_out, n_params, hidden_size, channel_mixing, eps, generator):
        super().__init__()
        self.eps = eps
        self.time_mlp = _mlp(n_in, hidden_size)
        self.channel_mlp = _mlp(n_params, hidden_size) if channel_mixing else None
        self.head = nn.Linear(n_in, n_out)
        for layer in self.modules():
            if isinstance(layer, nn.Linear):
                nn.init.xavier_uniform_(layer.weight, generator=generator)
                nn.init.zeros_(layer.bias)

    def forward(self, x):  # (n_sequences, n_params, n_in)
        z, stats = revin_normalize(x, self.eps)
        z = z + self.time_mlp(z)
        if self.channel_mlp is not None:
            z = z + self.channel_mlp(z.transpose(1, 2)).transpose(1, 2)
        return revin_denormalize(self.head(z), stats)


class RMLPForecaster(NeuralForecaster):
    """The model the farcasting paper calls "DLinear": RevIN, a residual MLP over time, a residual MLP
    over coordinates, and a linear head over time.

    For each sequence, every coordinate's window is normalised by its own mean and standard deviation
    over time (RevIN, no affine parameters); then ``z + MLP_time(z)`` (n_in -> hidden -> n_in, GELU),
    ``z + MLP_coord(z)`` across the coordinates of the same sequence (n_params -> hidden -> n_params,
    GELU), a linear map over time (n_in -> m) and the inverse normalisation. Xavier-uniform weights,
    zero biases, MSE loss, Adam over minibatches of sequences, early stopping.

    The coordinate MLP ties the model to one n_params and holds about ``2 * hidden_size * n_params``
    weights, and every block must hold all coordinates of its sequences: so with
    ``channel_mixing=True`` fitting refuses n_params above ``max_params``. ``channel_mixing=False``
    drops it; the model is then channel independent and streams parameter slabs like the others.

    Parameters
    ----------
    m : int or None, default=None
        Horizon: number of target steps to fit and to predict by default. None uses every step of Y.
    hidden_size : int, default=512
        Width of both MLPs (the paper's 512).
    channel_mixing : bool, default=True
        Include the MLP over coordinates (the paper's model). False is the scalable form.
    max_params : int, default=4096
        Largest n_params accepted with ``channel_mixing=True``.
    eps : float, default=1e-5
        Added to the variance in RevIN.
    lr : float, default=0.001
    batch_size : int, default=32
        Sequences per Adam step.
    max_epochs : int, default=1000
    patience : int or None, default=20
        Epochs without a better validation MSE before stopping (best weights restored); None runs all.
    validation_fraction : float, default=0.2
    slab_size : int, default=1048576
        Parameters read at a time (``channel_mixing=False`` only; the mixer reads all of them).
    device : str, default="auto"
    random_state : int, RandomState instance or None, default=None
    verbose : int, default=0

    Attributes
    ----------
    module_ : torch.nn.Module
    horizon_ : int
    n_features_in_ : int
        Number of input time steps.
    n_params_in_ : int
    history_ : list of dict
    n_epochs_ : int
    device_ : torch.device

    Examples
    --------
    >>> import numpy as np
    >>> from weightcast.baselines import RMLPForecaster
    >>> rng = np.random.default_rng(0)
    >>> S = np.cumsum(rng.normal(size=(16, 30, 3)), axis=1)
    >>> est = RMLPForecaster(hidden_size=16, max_epochs=5, random_state=0).fit(S[:, :20], S[:, 20:])
    >>> est.predict(S[:, :20], m=4).shape
    (16, 4, 3)
    """

    _parameter_constraints = {"hidden_size": Integer(low=1), "channel_mixing": Boolean(), "max_params": Integer(low=1),
                              "eps": Real(low=0, low_open=True)}

    def __init__(self, m=None, hidden_size=512, channel_mixing=True, max_params=4096, eps=1e-5, lr=0.001,
                 batch_size=32, max_epochs=1000, patience=20, validation_fraction=0.2, slab_size=1_048_576,
                 device="auto", random_state=None, verbose=0):
        self.m = m
        self.hidden_size = hidden_size
        self.channel_mixing = channel_mixing
        self.max_params = max_params
        self.eps = eps
        self.lr = lr
        self.batch_size = batch_size
        self.max_epochs = max_epochs
        self.patience = patience
        self.validation_fraction = validation_fraction
        self.slab_size = slab_size
        self.device = device
        self.random_state = random_state
        self.verbose = verbose

    @classmethod
    def get_test_params(cls):
        return [{"hidden_size": 8, "max_epochs": 3, "device": "cpu", "random_state": 0},
                {"hidden_size": 8, "channel_mixing": False, "max_epochs": 3, "device": "cpu", "random_state": 0}]

    def _mixes_coordinates(self):
        return self.channel_mixing

    def _build_module(self, n_in, n_out, generator):
        if self.channel_mixing and self.n_params_in_ > self.max_params:
            raise ValueError(f"RMLPForecaster with channel_mixing=True mixes all {self.n_params_in_} parameters "
                             f"of a sequence at once, above max_params={self.max_params}: use "
                             "channel_mixing=False (the scalable form) or raise max_params")
        return _RMLPModule(n_in, n_out, self.n_params_in_, self.hidden_size, self.channel_mixing, self.eps,
                           generator)
