"""DLinear (Zeng et al., AAAI 2023): a moving-average trend/remainder split, one linear map over time
for each part, shared by every coordinate."""

import torch
from torch import nn

from ..constraints import Integer, Options
from ._training import NeuralForecaster

__all__ = ["DLinearForecaster", "moving_average"]


def moving_average(x, kernel_size):
    """Moving average over the last axis, stride 1, after repeating the first and last values.

    The series is padded with ``(kernel_size - 1) // 2`` copies of its first value in front and the
    rest of ``kernel_size - 1`` copies of its last value behind, so the output has the input's length
    (for the odd kernels of the original, the padding is symmetric).
    """
    front = (kernel_size - 1) // 2
    back = kernel_size - 1 - front
    padded = torch.cat([x[..., :1].expand(*x.shape[:-1], front), x, x[..., -1:].expand(*x.shape[:-1], back)],
                       dim=-1)
    return padded.unfold(-1, kernel_size, 1).mean(dim=-1)


class _DLinearModule(nn.Module):
    def __init__(self, n_in, n_out, kernel_size, normalization):
        super().__init__()
        self.kernel_size, self.normalization = kernel_size, normalization
        self.seasonal = nn.Linear(n_in, n_out)
        self.trend = nn.Linear(n_in, n_out)

    def forward(self, x):
        last = x[..., -1:] if self.normalization == "last" else None
        if last is not None:
            x = x - last
        trend = moving_average(x, self.kernel_size)
        out = self.seasonal(x - trend) + self.trend(trend)
        return out if last is None else out + last


class DLinearForecaster(NeuralForecaster):
    """DLinear: ``Linear_S(x - trend) + Linear_T(trend)`` with ``trend`` a moving average over time.

    Each coordinate's input window is split into a trend (moving average with replicate padding) and
    a remainder; two linear maps over time (n_in -> m), shared by every coordinate, forecast each part
    and are summed. Trained with the MSE by Adam on minibatches of sequences, with early stopping.

    Parameters
    ----------
    m : int or None, default=None
        Horizon: number of target steps to fit and to predict by default. None uses every step of Y.
    kernel_size : int, default=25
        Width of the moving average (the original's 25; any width >= 1 works for any window length).
    normalization : {None, "last"}, default=None
        ``"last"``: subtract each window's last value before the maps and add it back after (NLinear's
        normalisation). None: the original DLinear.
    lr : float, default=0.005
        Adam learning rate (the original's).
    batch_size : int, default=32
        Sequences per Adam step (each step covers all of their coordinates, one slab at a time).
    max_epochs : int, default=1000
    patience : int or None, default=20
        Epochs without a better validation MSE before stopping (the best weights are restored); None
        runs every epoch.
    validation_fraction : float, default=0.2
        Share of the sequences held out for early stopping when ``fit`` gets no ``validation_data``.
    slab_size : int, default=1048576
        Parameters read at a time; bounds memory independently of n_params.
    device : str, default="auto"
    random_state : int, RandomState instance or None, default=None
        Seeds the initialisation, the validation split and the minibatch order.
    verbose : int, default=0
        0 is silent; 1 shows a progress bar over epochs.

    Attributes
    ----------
    module_ : torch.nn.Module
        The fitted network (``seasonal`` and ``trend`` linear maps).
    horizon_ : int
    n_features_in_ : int
        Number of input time steps.
    n_params_in_ : int
    history_ : list of dict
        Per epoch: ``epoch``, ``train_loss``, ``validation_loss`` (MSE).
    n_epochs_ : int
    device_ : torch.device

    Examples
    --------
    >>> import numpy as np
    >>> from weightcast.baselines import DLinearForecaster
    >>> rng = np.random.default_rng(0)
    >>> S = np.cumsum(rng.normal(size=(16, 30, 3)), axis=1)  # 16 sequences, 30 steps, 3 parameters
    >>> est = DLinearForecaster(max_epochs=20, random_state=0).fit(S[:, :20], S[:, 20:])
    >>> est.predict(S[:, :20], m=4).shape
    (16, 4, 3)
    """

    _parameter_constraints = {"kernel_size": Integer(low=1), "normalization": Options("last", none=True)}

    def __init__(self, m=None, kernel_size=25, normalization=None, lr=0.005, batch_size=32, max_epochs=1000,
                 patience=20, validation_fraction=0.2, slab_size=1_048_576, device="auto", random_state=None,
                 verbose=0):
        self.m = m
        self.kernel_size = kernel_size
        self.normalization = normalization
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
        return [{"max_epochs": 3, "device": "cpu", "random_state": 0},
                {"kernel_size": 3, "normalization": "last", "max_epochs": 3, "device": "cpu", "random_state": 0}]

    def _build_module(self, n_in, n_out, generator):
        return _DLinearModule(n_in, n_out, self.kernel_size, self.normalization)
