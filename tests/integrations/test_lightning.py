"""The Lightning callbacks, in a real lightning.pytorch Trainer on a tiny module (a few optimizer steps each)."""

import signal
from types import SimpleNamespace

import numpy as np
import pytest
import torch

pl = pytest.importorskip("lightning.pytorch")

from weightcast.integrations.lightning import (  # noqa: E402
    FarcastCallback, WeightAveragingCallback, WeightRecorderCallback)
from weightcast.io import open_sequences, read_metadata  # noqa: E402
from weightcast.training import flatten_parameters, load_flat_parameters  # noqa: E402

from ._helpers import (  # noqa: E402
    assert_same_state, linear_forecaster, recorded, snapshot_after_each_step, torch_ema_after_each_step)


class Tiny(pl.LightningModule):
    """A 2-layer regression net; ``fail_at`` raises that exception before optimizer step ``fail_at + 1``."""

    def __init__(self, seed=0, fail_at=None, error=RuntimeError):
        super().__init__()
        torch.manual_seed(seed)
        self.net = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.Tanh(), torch.nn.Linear(3, 1))
        self.fail_at, self.error = fail_at, error

    def training_step(self, batch, batch_idx):
        if self.trainer.global_step == self.fail_at:
            raise self.error("simulated failure in training_step")
        x, y = batch
        return torch.nn.functional.mse_loss(self.net(x), y)

    def configure_optimizers(self):
        optimizer = torch.optim.SGD(self.parameters(), lr=0.1)
        self.after_steps = snapshot_after_each_step(optimizer, self)
        return optimizer


D = 4 * 3 + 3 + 3 + 1   # parameters of Tiny


class Metrics(pl.loggers.Logger):
    """A logger that keeps what it is sent."""

    def __init__(self):
        super().__init__()
        self.logged = []

    name = property(lambda self: "metrics")
    version = property(lambda self: 0)

    def log_hyperparams(self, params, *args, **kwargs):
        pass

    def log_metrics(self, metrics, step=None):
        self.logged.append((step, dict(metrics)))


def _data(n=16):
    generator = torch.Generator().manual_seed(1)
    dataset = torch.utils.data.TensorDataset(torch.randn(n, 4, generator=generator),
                                             torch.randn(n, 1, generator=generator))
    return torch.utils.data.DataLoader(dataset, batch_size=2)


def _fit(module, callbacks, max_steps, logger=False, **options):
    trainer = pl.Trainer(max_steps=max_steps, callbacks=callbacks, accelerator="cpu", devices=1, logger=logger,
                         enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
                         **options)
    trainer.fit(module, _data())
    return trainer


@pytest.mark.parametrize("accumulate", [1, 2])
def test_records_w0_and_every_kth_optimizer_step(tmp_path, accumulate):
    path = tmp_path / "run.h5"
    module = Tiny()
    w0 = flatten_parameters(module).numpy()
    trainer = _fit(module, [WeightRecorderCallback(path, every=2)], max_steps=6, accumulate_grad_batches=accumulate)
    assert trainer.global_step == 6 and len(module.after_steps) == 6   # 6 or 12 batches, 6 optimizer steps
    view = open_sequences(path)
    assert view.shape == (1, 4, D)                                      # w_0, w_2, w_4, w_6
    np.testing.assert_array_equal(view[0, 0], w0)
    np.testing.assert_array_equal(recorded(view)[1:], np.stack(module.after_steps[1::2]))
    meta = read_metadata(path)
    assert meta["steps"].tolist() == [0, 2, 4, 6] and meta["complete"]
    assert meta["param_names"] == [name for name, _ in module.named_parameters()]
    final = Tiny(seed=5)
    load_flat_parameters(final, view[0, -1])
    for (name, p), (_, q) in zip(module.named_parameters(), final.named_parameters()):
        torch.testing.assert_close(p, q, rtol=0, atol=0, msg=name)


def test_one_file_for_several_runs(tmp_path):
    path = tmp_path / "runs.h5"
    callback = WeightRecorderCallback(path, every=1, n_sequences=2)
    modules = [Tiny(seed=seed) for seed in (0, 1)]
    _fit(modules[0], [callback], max_steps=3)
    assert callback.recorder_ is not None          # open between the runs
    _fit(modules[1], [callback], max_steps=3)
    assert callback.recorder_ is None              # closed after the last one
    view = open_sequences(path)
    assert view.shape == (2, 4, D)
    for seq, module in enumerate(modules):
        np.testing.assert_array_equal(view[seq, -1], flatten_parameters(module).numpy())


@pytest.mark.parametrize("error", [RuntimeError, KeyboardInterrupt])
def test_a_failed_run_leaves_every_snapshot_so_far(tmp_path, error):
    path = tmp_path / "run.h5"
    callback = WeightRecorderCallback(path, every=1, chunk_steps=16)  # nothing written before the end...
    module = Tiny(fail_at=3, error=error)
    sigint = signal.getsignal(signal.SIGINT)
    try:
        # Lightning turns Ctrl-C into exit status 1 (after telling the callbacks), other errors it re-raises.
        with pytest.raises(SystemExit if error is KeyboardInterrupt else RuntimeError):
            _fit(module, [callback], max_steps=6)
    finally:
        signal.signal(signal.SIGINT, sigint)       # Lightning ignores further Ctrl-C while it shuts down
    assert callback.recorder_ is None               # ...but on_exception closed the file
    weights = recorded(open_sequences(path))
    assert len(weights) == 4                        # w_0 and the 3 steps taken
    np.testing.assert_array_equal(weights[1:], np.stack(module.after_steps))


def test_a_run_past_n_steps_is_recorded_up_to_n_steps_with_a_warning(tmp_path):
    path = tmp_path / "run.h5"
    module = Tiny()
    with pytest.warns(UserWarning, match="full at optimizer step 3"):
        _fit(module, [WeightRecorderCallback(path, n_steps=3)], max_steps=5)
    np.testing.assert_array_equal(open_sequences(path)[0, -1], module.after_steps[1])


def test_an_unknown_number_of_steps_needs_n_steps(tmp_path):
    class Stream(torch.utils.data.IterableDataset):
        def __iter__(self):
            return iter([(torch.zeros(4), torch.zeros(1))] * 4)

    trainer = pl.Trainer(max_epochs=1, callbacks=[WeightRecorderCallback(tmp_path / "run.h5")], accelerator="cpu",
                         logger=False, enable_checkpointing=False, enable_progress_bar=False,
                         enable_model_summary=False)
    with pytest.raises(ValueError, match="pass n_steps="):
        trainer.fit(Tiny(), torch.utils.data.DataLoader(Stream(), batch_size=2))


def test_a_jump_loads_the_forecast_and_is_logged(tmp_path):
    module = Tiny()
    d = flatten_parameters(module).numel()
    forecaster = linear_forecaster(d, n_input=2, horizon=3)
    before, after = (WeightRecorderCallback(tmp_path / f"{name}.h5") for name in ("before", "after"))
    farcast = FarcastCallback(forecaster, n_input=2, horizon=3, period=100)
    logger = Metrics()
    # The jump comes at step 2, the last one.
    _fit(module, [before, farcast, after], max_steps=2, logger=logger, log_every_n_steps=1)
    assert [jump["step"] for jump in farcast.jumps_] == [2]
    trained = np.asarray(open_sequences(tmp_path / "before.h5"))         # w_0 .. w_2 as training made them
    np.testing.assert_array_equal(trained[0, 1:], np.stack(module.after_steps))
    forecast = forecaster.predict(trained[:, 1:3], m=3)[0, -1]
    np.testing.assert_allclose(flatten_parameters(module).numpy(), forecast, rtol=1e-6)
    np.testing.assert_array_equal(open_sequences(tmp_path / "after.h5")[0, -1], flatten_parameters(module).numpy())
    jumps = [(step, m) for step, m in logger.logged if "farcast/jump_distance" in m]
    assert len(jumps) == 1 and jumps[0][0] == 2 and jumps[0][1]["farcast/jumps"] == 1
    np.testing.assert_allclose(jumps[0][1]["farcast/jump_distance"], np.linalg.norm(forecast - trained[0, 2]),
                               rtol=1e-5)


def test_counts_optimizer_steps_under_accumulation_for_jumps():
    module = Tiny()
    forecaster = linear_forecaster(flatten_parameters(module).numel(), n_input=2, horizon=1)
    farcast = FarcastCallback(forecaster, n_input=2, horizon=1, period=2, max_jumps=2)
    _fit(module, [farcast], max_steps=5, accumulate_grad_batches=2)
    assert [jump["step"] for jump in farcast.jumps_] == [2, 4]


def test_only_global_rank_zero_writes(tmp_path):
    module = Tiny()
    trainer = SimpleNamespace(strategy=None, global_step=0, estimated_stepping_batches=4, is_global_zero=False)
    callback = WeightRecorderCallback(tmp_path / "run.h5")
    callback.on_train_start(trainer, module)
    trainer.global_step = 1
    callback.on_train_batch_end(trainer, module, None, None, 0)
    callback.on_train_end(trainer, module)
    assert not (tmp_path / "run.h5").exists()
    trainer.is_global_zero, trainer.global_step = True, 0
    callback.on_train_start(trainer, module)
    callback.on_train_end(trainer, module)
    assert open_sequences(tmp_path / "run.h5").shape == (1, 5, D)


def test_farcast_needs_a_single_optimizer():
    class Two(Tiny):
        def configure_optimizers(self):
            return [torch.optim.SGD(self.net[i].parameters(), lr=0.1) for i in (0, 2)]

        def training_step(self, batch, batch_idx):
            return None

    Two.automatic_optimization = False
    forecaster = linear_forecaster(D)
    with pytest.raises(ValueError, match="one optimizer; the LightningModule configured 2"):
        _fit(Two(), [FarcastCallback(forecaster, n_input=2, horizon=3)], max_steps=2)


# ---------------------------------------------------------------------------------------------- weight averaging
class Averaged(Tiny):
    """Tiny with torch's own EMA of its net beside the callback's; each validation notes the weights it ran on,
    torch's EMA of that moment and the optimizer steps so far."""

    def __init__(self, decay, seed=0):
        super().__init__(seed)
        self.decay = decay
        self.validated = []

    def configure_optimizers(self):
        optimizer = super().configure_optimizers()
        # not a submodule: it is no parameter of the LightningModule
        object.__setattr__(self, "torch_ema", torch_ema_after_each_step(optimizer, self.net, self.decay))
        return optimizer

    def validation_step(self, batch, batch_idx):
        if batch_idx == 0:
            self.validated.append(dict(weights=flatten_parameters(self), torch_ema=flatten_parameters(
                self.torch_ema.module), steps=len(self.after_steps)))


def _fit_averaged(module, averaging, max_steps, **options):
    trainer = pl.Trainer(max_steps=max_steps, callbacks=[averaging], accelerator="cpu", devices=1, logger=False,
                         enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
                         num_sanity_val_steps=0, **options)
    trainer.fit(module, _data(), _data(4))
    return trainer


@pytest.mark.parametrize("accumulate", [1, 2])
def test_the_average_is_torchs_ema_and_validation_runs_on_it(accumulate):
    module = Averaged(decay=0.8)
    averaging = WeightAveragingCallback(decay=0.8, warmup=None, keep=False)
    _fit_averaged(module, averaging, max_steps=6, accumulate_grad_batches=accumulate, val_check_interval=4)
    assert averaging.averager_.n_updates == 6 == len(module.after_steps)
    assert_same_state(averaging.averaged_model_.net, module.torch_ema.module)
    assert [seen["steps"] for seen in module.validated] == list(range(4 // accumulate, 7, 4 // accumulate))
    for seen in module.validated:            # the average of that moment, not the trained weights
        assert torch.equal(seen["weights"], seen["torch_ema"])
        assert not np.array_equal(seen["weights"].numpy(), module.after_steps[seen["steps"] - 1])
    # training went on from the trained weights, and keep=False leaves the model as trained
    np.testing.assert_array_equal(flatten_parameters(module).numpy(), module.after_steps[-1])


def test_keep_leaves_the_average_in_the_model():
    module = Averaged(decay=0.8)
    _fit_averaged(module, WeightAveragingCallback(decay=0.8, warmup=None), max_steps=4)
    assert_same_state(module.net, module.torch_ema.module)
    assert not np.array_equal(flatten_parameters(module).numpy(), module.after_steps[-1])


def test_evaluate_weights_and_the_checkpoint_state():
    module = Averaged(decay=0.5)
    averaging = WeightAveragingCallback(decay=0.5, warmup=None, evaluate="weights", keep=False)
    _fit_averaged(module, averaging, max_steps=4, val_check_interval=4)
    np.testing.assert_array_equal(module.validated[0]["weights"].numpy(), module.after_steps[3])   # as trained
    resumed = WeightAveragingCallback(decay=0.5, warmup=None, keep=False)
    resumed.load_state_dict(averaging.state_dict())
    again = Averaged(decay=0.5, seed=1)
    _fit_averaged(again, resumed, max_steps=2)
    assert resumed.averager_.n_updates == 4 + 2                                   # the restored average goes on
    assert WeightAveragingCallback().state_dict() == {}


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(decay=1.0), ValueError, "decay must be < 1, got 1.0"),
    (dict(warmup=0), ValueError, "warmup must be >= 1, got 0"),
    (dict(evaluate="raw"), ValueError, "evaluate must be one of 'average', 'weights', got 'raw'"),
    (dict(keep="yes"), TypeError, "keep must be True or False, got 'yes'"),
])
def test_bad_averaging_options(kwargs, error, match):
    with pytest.raises(error, match=match):
        WeightAveragingCallback(**kwargs)
