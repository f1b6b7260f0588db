"""WNN, the Weight Nowcaster Network (Jang et al., ICML 2023): two streams (window values and their
differences) with the ActNet activation, on windows normalised per coordinate, and a tanh residual output."""

import math

import numpy as np
import torch
from torch import nn

from ..constraints import Integer, Real
from ._training import NeuralForecaster

__all__ = ["WNNForecaster", "wnn_normalize"]


def wnn_normalize(window):
    """WNN's per-window normalisation over the last axis: ``z = (w - w[0]) / s`` with
    ``s = 2 * (max - min + 1e-8 + 1e-5)``. Returns ``z`` and ``(shift, scale)`` for the inverse
    ``w = z * scale + shift``."""
    shift = window[..., :1]
    scale = 2 * (window.amax(dim=-1, keepdim=True) - window.amin(dim=-1, keepdim=True) + 1e-8 + 1e-5)
    return (window - shift) / scale, (shift, scale)


def _variance_scaling_(layer, generator, scale=0.1):
    """Keras' VarianceScaling(scale, fan_in, uniform) for the weights, zero biases."""
    limit = math.sqrt(3 * scale / layer.in_features)
    nn.init.uniform_(layer.weight, -limit, limit, generator=generator)
    nn.init.zeros_(layer.bias)


def _glorot_(layer, generator):
    """Keras' default Dense initialisation."""
    nn.init.xavier_uniform_(layer.weight, generator=generator)
    nn.init.zeros_(layer.bias)


class _ActNet(nn.Module):
    """x -> A(h) + B(h) * exp(C(h) * x), with h = ReLU(Dense(x)) a narrow summary of x."""

    def __init__(self, width, hidden, generator):
        super().__init__()
        self.gate, self.a, self.b, self.c = (nn.Linear(width, hidden), nn.Linear(hidden, width),
                                             nn.Linear(hidden, width), nn.Linear(hidden, width))
        for layer in (self.gate, self.a, self.b, self.c):
            _glorot_(layer, generator)

    def forward(self, x):
        h = torch.relu(self.gate(x))
        return self.a(h) + self.b(h) * torch.exp(self.c(h) * x)


class _Stream(nn.Module):
    def __init__(self, n_in, generator):
        super().__init__()
        self.dense_in, self.act, self.dense_out = nn.Linear(n_in, 64), _ActNet(64, 8, generator), nn.Linear(64, 32)
        _variance_scaling_(self.dense_in, generator)
        _variance_scaling_(self.dense_out, generator)

    def forward(self, x):
        return nn.functional.leaky_relu(self.dense_out(self.act(self.dense_in(x))), 0.3)


class _WNNModule(nn.Module):
    def __init__(self, window, bounds, generator):
        super().__init__()
        self.window = window
        self.values, self.differences = _Stream(window, generator), _Stream(window - 1, generator)
        self.head = nn.Linear(64, len(bounds))
        _glorot_(self.head, generator)
        self.register_buffer("bounds", torch.as_tensor(bounds, dtype=torch.float32))

    def regularized_layers(self):
        return (self.values.dense_in, self.values.dense_out, self.differences.dense_in, self.differences.dense_out)

    def delta(self, z):
        features = torch.cat([self.values(z), self.differences(z[..., 1:] - z[..., :-1])], dim=-1)
        return torch.tanh(self.head(features)) * self.bounds

    def forward(self, x):
        z, (shift, scale) = wnn_normalize(x[..., -self.window:])
        return (z[..., -1:] + self.delta(z)) * scale + shift


class WNNForecaster(NeuralForecaster):
    """WNN: a weight nowcaster on the last ``window`` values of each coordinate.

    Each coordinate's window w (oldest first) is normalised as ``z = (w - w[0]) / s`` with
    ``s = 2 * (range(w) + 1e-8 + 1e-5)``. One stream reads z (``window`` inputs), the other its
    differences (``window - 1``); each is Dense(->64), ActNet, Dense(64->32), LeakyReLU(0.3), where
    ``ActNet(x) = A(h) + B(h) * exp(C(h) * x)`` with ``h = ReLU(Dense(64->8)(x))`` and A, B, C
    Dense(8->64). A head Dense(64 -> n_out) with tanh gives ``delta`` and the forecast is
    ``(z[-1] + bound * delta) * s + w[0]``; the loss is the MAE in the normalised space.
    Regularisers: L1 ``kernel_l1`` on the kernels and ``bias_l1`` on the biases of the four stream
    Dense layers, which start from VarianceScaling(0.1, fan_in, uniform); the other layers start
    Glorot-uniform with zero biases. With ``window=5`` and one output: 9,425 parameters.

    ``offset=k`` (an int) is the native form: one output, the step k after the last input (``Y[:, k-1]``),
    with ``bound = 1``; ``predict`` then returns that single step. ``offset=None`` is the direct
    multi-step form: one output per target step j = 1..m, each with ``bound_j = max(1, j / (window - 1))``
    so that a forecast can move as far as the window's own pace carries it (a bound of 1 caps every step
    at twice the window's range, far too little 180 steps ahead).

    Parameters
    ----------
    offset : int or None, default=None
        None: predict all m target steps. An int k: predict only the k-th step after the last input
        (the original WNN has k = 5, one epoch ahead per snapshot).
    window : int, default=5
        Input steps read, the last ones of each window (the original's 5; the farcasting paper fed 21).
    m : int or None, default=None
        Horizon of the multi-step form. None uses every step of Y. Ignored when ``offset`` is an int.
    kernel_l1 : float, default=1e-6
    bias_l1 : float, default=0.1
    lr : float, default=0.001
    batch_size : int, default=32
        Sequences per Adam step.
    max_epochs : int, default=1000
    patience : int or None, default=20
    validation_fraction : float, default=0.2
    slab_size : int, default=1048576
    device : str, default="auto"
    random_state : int, RandomState instance or None, default=None
    verbose : int, default=0

    Attributes
    ----------
    module_ : torch.nn.Module
    out_steps_ : ndarray of int
        Indices into Y of the steps the network predicts.
    horizon_ : int
        Number of output steps (1 for the native form).
    n_features_in_ : int
    n_params_in_ : int
    history_ : list of dict
    n_epochs_ : int
    device_ : torch.device

    Examples
    --------
    >>> import numpy as np
    >>> from weightcast.baselines import WNNForecaster
    >>> rng = np.random.default_rng(0)
    >>> S = np.cumsum(rng.normal(size=(12, 30, 3)), axis=1)
    >>> est = WNNForecaster(offset=5, max_epochs=2, random_state=0).fit(S[:, :20], S[:, 20:])
    >>> est.predict(S[:, :20]).shape, sum(p.numel() for p in est.module_.parameters())
    ((12, 1, 3), 9425)
    """

    _parameter_constraints = {"offset": Integer(low=1, none=True), "window": Integer(low=2),
                              "kernel_l1": Real(low=0), "bias_l1": Real(low=0)}

    def __init__(self, offset=None, window=5, m=None, kernel_l1=1e-6, bias_l1=0.1, lr=0.001, batch_size=32,
                 max_epochs=1000, patience=20, validation_fraction=0.2, slab_size=1_048_576, device="auto",
                 random_state=None, verbose=0):
        self.offset = offset
        self.window = window
        self.m = m
        self.kernel_l1 = kernel_l1
        self.bias_l1 = bias_l1
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
        return [{"window": 2, "max_epochs": 3, "device": "cpu", "random_state": 0},
                {"window": 2, "offset": 1, "max_epochs": 3, "device": "cpu", "random_state": 0}]

    def _input_steps(self, n_steps):
        if n_steps < self.window:
            raise ValueError(f"WNNForecaster(window={self.window}) needs at least {self.window} input steps, "
                             f"but X has {n_steps} (n_features={n_steps})")
        return np.arange(n_steps - self.window, n_steps)

    def _output_steps(self, n_target_steps):
        if self.offset is None:
            return super()._output_steps(n_target_steps)
        if self.offset > n_target_steps:
            raise ValueError(f"offset={self.offset} is beyond the {n_target_steps} target steps of Y")
        return np.array([self.offset - 1])

    def _build_module(self, n_in, n_out, generator):
        if self.offset is None:
            bounds = np.maximum(1.0, np.arange(1, n_out + 1) / (self.window - 1))
        else:
            bounds = np.ones(1)
        return _WNNModule(self.window, bounds, generator)

    def _loss(self, module, inputs, prediction, targets):
        _, (_, scale) = wnn_normalize(inputs)  # the error in each window's normalised units
        return torch.mean(torch.abs(prediction - targets) / scale)

    def _penalty(self, module):
        layers = module.regularized_layers()
        return (self.kernel_l1 * sum(layer.weight.abs().sum() for layer in layers)
                + self.bias_l1 * sum(layer.bias.abs().sum() for layer in layers))

    def _score_steps(self, n_target_steps):
        return self._output_steps(n_target_steps) if self.offset is not None else super()._score_steps(n_target_steps)

    def _predict_horizon(self, m):
        if self.offset is not None and m is None:
            return 1  # the native form predicts its one step whatever the constructor's m
        return super()._predict_horizon(m)
