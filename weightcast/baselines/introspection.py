"""Introspection (Sinha et al., 2017): a tiny network from [w_t, w_0.7t, w_0.4t, w_0] to a later weight,
here one such network per forecast step, trained on coordinates sampled by how far they moved."""

import torch
from torch import nn

from ..constraints import Integer, Options, Real, parameter_constraints
from ..selection import IntrospectionSelector
from ._training import NeuralForecaster, as_rows

__all__ = ["IntrospectionForecaster"]

STRATA = ((0.5, 1.0, 10), (0.25, 0.5, 5), (0.0, 0.25, 5))
"""(low quantile, high quantile, share) of |w_t - w_0|: the original's 10 / 5 / 5 coordinates out of 20."""


class _PerStepNetworks(nn.Module):
    """``n_out`` independent networks n_in -> hidden (ReLU) -> 1, evaluated together; hidden = 0 is
    one linear model n_in -> 1 per step. Inputs and outputs are multiplied by ``scale`` inside."""

    def __init__(self, n_in, n_out, hidden_size, scale, generator):
        super().__init__()
        self.scale = scale

        def weight(*shape):
            return nn.Parameter(nn.init.trunc_normal_(torch.empty(*shape), std=0.1, a=-0.2, b=0.2,
                                                      generator=generator))

        if hidden_size:
            self.w1, self.b1 = weight(n_out, n_in, hidden_size), nn.Parameter(torch.full((n_out, hidden_size), 0.1))
            self.w2, self.b2 = weight(n_out, hidden_size), nn.Parameter(torch.full((n_out,), 0.1))
        else:
            self.w1, self.b1 = None, None
            self.w2, self.b2 = weight(n_out, n_in), nn.Parameter(torch.full((n_out,), 0.1))

    def forward(self, x):  # (n_sequences, n_params, n_in) -> (n_sequences, n_params, n_out)
        rows = x.reshape(-1, x.shape[-1]) * self.scale
        if self.w1 is not None:  # all first layers as one matmul (much faster than an einsum backward)
            n_out, n_in, hidden = self.w1.shape
            h = torch.relu(rows @ self.w1.permute(1, 0, 2).reshape(n_in, n_out * hidden) + self.b1.reshape(-1))
            out = (h.view(-1, n_out, hidden) * self.w2).sum(dim=-1)
        else:
            out = rows @ self.w2.T
        return ((out + self.b2) / self.scale).view(*x.shape[:-1], -1)


class IntrospectionForecaster(NeuralForecaster):
    """Introspection's weight-evolution network, one per forecast step.

    Every coordinate's features are its values at the input steps ``[n, floor(0.7 n), floor(0.4 n), 0]``
    of the window (n the last input step), multiplied by ``scale``. For each forecast step k there is
    one network of the original's shape, 4 -> 40 (ReLU) -> 1 (241 parameters), weights drawn from a
    normal with std 0.1 truncated at 2 std, biases 0.1; the m networks are evaluated together and
    trained jointly on the L1 loss in the scaled space.

    ``variant="original"``: each Adam step sees 20 coordinate rows drawn by how far they moved,
    ``|w_n - w_0|`` (10 from the top half, 5 from the 25-50% band, 5 from the bottom quarter), within
    the current block (all training sequences x one parameter slab; each epoch visits every slab);
    learning rate ``lr`` (default 5e-4), x0.2 after 8,000 and x0.1 after 16,000 steps, 30 epochs of
    1,000 steps.
    ``variant="linear"``: the farcasting paper's form, one linear model 4 -> 1 per step (5 parameters
    each), Adam at ``lr`` (default 0.005) on minibatches of sequences.
    Both keep the weights with the best validation loss.

    Parameters
    ----------
    variant : {"original", "linear"}, default="original"
    m : int or None, default=None
        Horizon: number of target steps to fit and to predict by default. None uses every step of Y.
    hidden_size : int, default=40
        Hidden width of each network (``variant="original"``).
    scale : float, default=1000.0
        Multiplies features and targets (the original's x1000).
    lr : float or None, default=None
        Adam learning rate; None means 5e-4 (original) or 0.005 (linear).
    batch_size : int or None, default=None
        Coordinate rows per step (original, default 20) or sequences per step (linear, default 32).
    steps_per_epoch : int, default=1000
        Adam steps between two validations (``variant="original"``, whose "epoch" is this many draws).
    max_epochs : int or None, default=None
        None means 30 (original: 30 x 1000 = the original's 30,000 steps) or 1000 (linear).
    patience : int or None, default=None
        Validations without improvement before stopping; None means none (original) or 20 (linear).
    validation_fraction : float, default=0.2
    slab_size : int, default=1048576
    device : str, default="auto"
    random_state : int, RandomState instance or None, default=None
    verbose : int, default=0

    Attributes
    ----------
    module_ : torch.nn.Module
        The m networks; ``module_.w1[k], b1[k], w2[k], b2[k]`` are step k's.
    in_steps_ : ndarray of int
        The input steps read (increasing order).
    horizon_ : int
    n_features_in_ : int
    n_params_in_ : int
    history_ : list of dict
    n_epochs_ : int
    device_ : torch.device

    Examples
    --------
    >>> import numpy as np
    >>> from weightcast.baselines import IntrospectionForecaster
    >>> rng = np.random.default_rng(0)
    >>> S = np.cumsum(rng.normal(scale=1e-3, size=(10, 30, 4)), axis=1)
    >>> est = IntrospectionForecaster(steps_per_epoch=50, max_epochs=2, random_state=0).fit(S[:, :21], S[:, 21:])
    >>> est.in_steps_.tolist(), est.predict(S[:, :21]).shape
    ([0, 8, 14, 20], (10, 9, 4))
    """

    _parameter_constraints = {
        "variant": Options("original", "linear"),
        "hidden_size": Integer(low=1),
        "scale": Real(low=0, low_open=True),
        "steps_per_epoch": Integer(low=1),
        # None: the variant's own setting (see _setting)
        **{name: rule.or_none() for name, rule in parameter_constraints(NeuralForecaster).items()
           if name in ("lr", "batch_size", "max_epochs", "patience")},
    }

    def __init__(self, variant="original", m=None, hidden_size=40, scale=1000.0, lr=None, batch_size=None,
                 steps_per_epoch=1000, max_epochs=None, patience=None, validation_fraction=0.2,
                 slab_size=1_048_576, device="auto", random_state=None, verbose=0):
        self.variant = variant
        self.m = m
        self.hidden_size = hidden_size
        self.scale = scale
        self.lr = lr
        self.batch_size = batch_size
        self.steps_per_epoch = steps_per_epoch
        self.max_epochs = max_epochs
        self.patience = patience
        self.validation_fraction = validation_fraction
        self.slab_size = slab_size
        self.device = device
        self.random_state = random_state
        self.verbose = verbose

    @classmethod
    def get_test_params(cls):
        return [{"steps_per_epoch": 10, "max_epochs": 2, "hidden_size": 4, "device": "cpu", "random_state": 0},
                {"variant": "linear", "max_epochs": 3, "device": "cpu", "random_state": 0}]

    def _setting(self, name):
        value = getattr(self, name)
        if value is not None:
            return value
        original = self.variant == "original"
        return {"lr": 5e-4 if original else 0.005, "batch_size": 20 if original else 32,
                "max_epochs": 30 if original else 1000, "patience": None if original else 20}[name]

    def _input_steps(self, n_steps):
        return IntrospectionSelector().fit_steps(n_steps).steps_

    def _build_module(self, n_in, n_out, generator):
        hidden = self.hidden_size if self.variant == "original" else 0
        return _PerStepNetworks(n_in, n_out, hidden, float(self.scale), generator)

    def _loss(self, module, inputs, prediction, targets):
        return torch.mean(torch.abs(prediction - targets)) * self.scale

    def _lr_factor(self, iteration):
        if self.variant == "linear":
            return 1.0
        return 1.0 if iteration < 8000 else (0.2 if iteration < 16000 else 0.1)

    def _train_batches(self, rows, train, generator, epoch):
        if self.variant == "linear":
            yield from super()._train_batches(rows, train, generator, epoch)
            return
        # A block is all training sequences x one parameter slab. An epoch spreads its steps_per_epoch
        # draws over the slabs in turn (all of them when there are fewer slabs than draws; otherwise
        # the next epoch continues where this one stopped).
        n_slabs, batch_size = len(rows.slabs), self._setting("batch_size")
        total = sum(share for _, _, share in STRATA)
        first = (epoch - 1) * min(self.steps_per_epoch, n_slabs)
        for i in range(min(self.steps_per_epoch, n_slabs)):
            n_draws = len(range(i, self.steps_per_epoch, n_slabs))
            inputs, targets = as_rows(*rows.read((first + i) % n_slabs, train))
            inputs, targets = inputs.reshape(-1, inputs.shape[-1]), targets.reshape(-1, targets.shape[-1])
            order = torch.argsort((inputs[:, -1] - inputs[:, 0]).abs())  # features run from w_0 to w_n
            n = len(order)
            bands = [(int(low * n), int(high * n), share) for low, high, share in STRATA]
            for _ in range(n_draws):
                picks = []
                for low, high, share in bands:
                    count = max(1, round(share * batch_size / total))
                    if high <= low:  # a tiny block: an empty band draws from all rows
                        low, high = 0, n
                    picks.append(order[low + torch.randint(high - low, (count,), generator=generator)])
                picks = torch.cat(picks)
                yield inputs[picks][None], targets[picks][None]
