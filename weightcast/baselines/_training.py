"""What the neural baselines share: the Adam training loop with early stopping over blocks of rows, and
the per-slab forecast.

A baseline's torch module maps blocks of rows laid out (n_sequences, n_params_slab, n_in) to
(n_sequences, n_params_slab, n_out); channel-independent modules treat the middle axis as a batch axis.
Blocks come from :class:`weightcast.rows.RowReader`.
"""

import copy

import numpy as np
import torch
from tqdm.auto import tqdm

from ..base import BaseForecaster
from ..constraints import parameter_constraints

__all__ = ["NeuralForecaster", "row_blocks"]

CHUNK_ROWS = 16384
"""Rows (sequence, parameter) pushed through a channel-independent module at once, in training, evaluation
and predict: bounds activation memory whatever the block size."""


def as_rows(x, y):
    """Blocks (n_sequences, n_steps, n_params_slab) as the modules' rows (n_sequences, n_params_slab, n_steps)."""
    return x.permute(0, 2, 1), y.permute(0, 2, 1)


def row_blocks(reader, seqs):
    """Yield the (inputs, targets) rows of the sequences ``seqs``, one parameter slab at a time."""
    for _, x, y in reader.blocks(seqs):
        yield as_rows(x, y)


class NeuralForecaster(BaseForecaster):
    """Base of the neural baselines (not used directly): fit by Adam over minibatches of sequences,
    one parameter slab at a time, with early stopping on held-out sequences.

    Subclasses store ``m, lr, batch_size, max_epochs, patience, validation_fraction, slab_size, device,
    random_state, verbose`` (their rules are :class:`BaseForecaster`'s), declare their own parameters' rules
    in ``_parameter_constraints`` and implement ``_build_module(n_in, n_out, generator)``; they may override
    ``_input_steps``, ``_output_steps``, ``_loss``, ``_penalty``, ``_lr_factor`` and ``_train_batches``.
    """

    _parameter_constraints = {"patience": parameter_constraints(BaseForecaster)["patience"].or_none()}  # None: no stop

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        # A few epochs of a small network on scikit-learn's generic regression data do not reach
        # R^2 > 0.5; these are models of smooth weight trajectories.
        tags.regressor_tags.poor_score = True
        return tags

    # ------------------------------------------------------------------ hooks
    def _input_steps(self, n_steps):
        """Indices of the input steps the module reads."""
        return np.arange(n_steps)

    def _output_steps(self, n_target_steps):
        """Indices into Y of the steps the module predicts (default: the first ``horizon`` steps)."""
        return np.arange(self._target_horizon(n_target_steps))

    def _loss(self, module, inputs, prediction, targets):
        """The loss of ``prediction``: a mean over the elements of ``targets``."""
        return torch.mean((prediction - targets) ** 2)

    def _penalty(self, module):
        return None

    def _slab_size(self, n_params):
        """Parameters per block; a module that mixes coordinates needs them all at once."""
        return n_params if self._mixes_coordinates() else self.slab_size

    def _lr_factor(self, iteration):
        return 1.0

    def _setting(self, name):
        """The training setting ``name`` (lr, batch_size, max_epochs, patience) as the loop uses it."""
        return getattr(self, name)

    def _train_batches(self, rows, train, generator, epoch):
        """One epoch: every training sequence once, in random minibatches, each slab in turn."""
        order = train[torch.randperm(len(train), generator=generator).numpy()]
        batch_size = self._setting("batch_size")
        for start in range(0, len(order), batch_size):
            yield from row_blocks(rows, order[start:start + batch_size])

    # ------------------------------------------------------------------ fit
    def _fit(self, X, Y, fit):
        device = fit.device
        in_steps = self._input_steps(X.shape[1])
        out_steps = self._output_steps(Y.shape[1])
        generator = self._torch_generator(device)
        seed = int(torch.randint(np.iinfo(np.int32).max, (1,), generator=generator))
        with torch.random.fork_rng(devices=[]):  # default initialisations draw from the global RNG
            torch.manual_seed(seed)
            module = self._build_module(len(in_steps), len(out_steps), generator).to(device)

        read = dict(device=device, dtype=torch.float32, steps=in_steps, target_steps=out_steps)
        if fit.validation_data is not None:
            X_val, Y_val = self._check_validation_data(fit.validation_data, X, Y)
            train, val = np.arange(X.shape[0]), np.arange(X_val.shape[0])
            val_rows = self._reader(X_val, Y_val, names=("validation X", "validation Y"), **read)
        else:
            train, val = self._split_validation(X.shape[0], generator)
            val_rows = None
        rows = self._reader(X, Y, **read)
        val_rows = rows if val_rows is None else val_rows

        self.module_, self.in_steps_, self.out_steps_ = module, in_steps, out_steps
        self.horizon_ = len(out_steps)
        self.history_ = self._train(module, rows, train, val_rows, val, generator)
        self.n_epochs_ = len(self.history_)
        module.eval()

    def _module_for_loading(self, name):
        """An untrained module of the fitted architecture, which :func:`weightcast.load` fills."""
        generator = torch.Generator().manual_seed(0)
        return self._build_module(len(self.in_steps_), len(self.out_steps_), generator).eval()

    def _row_chunks(self, n_sequences, n_params):
        """Index pairs (sequences, parameters) that cover a block in chunks of at most ``CHUNK_ROWS`` rows
        (one chunk, the whole block, for a module that mixes coordinates)."""
        if self._mixes_coordinates():
            yield slice(None), slice(None)
            return
        seq_step = max(1, min(n_sequences, CHUNK_ROWS))
        param_step = max(1, CHUNK_ROWS // seq_step)
        for s in range(0, n_sequences, seq_step):
            for p in range(0, n_params, param_step):
                yield slice(s, s + seq_step), slice(p, p + param_step)

    def _block_loss(self, module, inputs, targets, backward=False):
        """The loss of one block (without regularisers), its rows pushed through ``module`` a chunk at a time;
        with ``backward``, the block's gradient is accumulated too. Each chunk's loss is weighted by its
        share of the block's elements, so the sum is the loss (and gradient) of the whole block at once."""
        total = torch.zeros((), device=targets.device)
        for chunk in self._row_chunks(*inputs.shape[:2]):
            x, y = inputs[chunk], targets[chunk]
            loss = self._loss(module, x, module(x), y) * (y.numel() / targets.numel())
            if backward:
                loss.backward()
            total += loss.detach()
        return float(total)

    def _evaluate(self, module, rows, seqs):
        """Mean training loss (without regularisers) over ``seqs``, weighted by block size."""
        total, count = 0.0, 0
        with torch.no_grad():
            for start in range(0, len(seqs), 256):
                for inputs, targets in row_blocks(rows, seqs[start:start + 256]):
                    total += self._block_loss(module, inputs, targets) * targets.numel()
                    count += targets.numel()
        return total / max(count, 1)

    def _train(self, module, rows, train, val_rows, val, generator):
        optimizer = torch.optim.Adam(module.parameters(), lr=self._setting("lr"))
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, self._lr_factor)
        best_loss, waited = self._evaluate(module, val_rows, val), 0
        best_state = copy.deepcopy(module.state_dict())
        history = []
        patience = self._setting("patience")
        epochs = tqdm(range(1, self._setting("max_epochs") + 1), disable=self.verbose == 0, desc=type(self).__name__,
                      leave=False)
        for epoch in epochs:
            module.train()
            train_total, n_batches = 0.0, 0
            for inputs, targets in self._train_batches(rows, train, generator, epoch):
                optimizer.zero_grad(set_to_none=True)
                loss = self._block_loss(module, inputs, targets, backward=True)
                train_total, n_batches = train_total + loss, n_batches + 1
                penalty = self._penalty(module)
                if penalty is not None:  # once per step, not per chunk
                    penalty.backward()
                    loss += float(penalty.detach())
                if not np.isfinite(loss):
                    raise ValueError(f"{type(self).__name__} diverged: the training loss became "
                                     f"{loss} in epoch {epoch}; lower lr or rescale the data")
                optimizer.step()
                scheduler.step()
            module.eval()
            val_loss = self._evaluate(module, val_rows, val)
            history.append({"epoch": epoch, "train_loss": train_total / max(n_batches, 1),
                            "validation_loss": val_loss})
            epochs.set_postfix(validation_loss=f"{val_loss:.3g}")
            if val_loss < best_loss:
                best_loss, best_state, waited = val_loss, copy.deepcopy(module.state_dict()), 0
            else:
                waited += 1
                if patience is not None and waited >= patience:
                    break
        module.load_state_dict(best_state)  # the initial weights if no epoch improved on them
        return history

    # ------------------------------------------------------------------ forecast
    def _forecast_steps(self):
        return self.in_steps_

    def _slab_forecast(self, m, device, dtype):
        # float64 data is forecast in float64 (a copy of the float32-trained module): results then do not
        # depend, to float32 rounding, on how many sequences are predicted at once.
        module = self.module_.to(device) if dtype == torch.float32 else copy.deepcopy(self.module_).to(device, dtype)

        def forecast(x):
            inputs = x.permute(0, 2, 1)
            outputs = inputs.new_empty((*inputs.shape[:2], m))
            with torch.no_grad():
                for chunk in self._row_chunks(*inputs.shape[:2]):
                    outputs[chunk] = module(inputs[chunk])[..., :m]
            return outputs.permute(0, 2, 1)

        return forecast
