"""The Lightning callbacks, in a real lightning.pytorch Trainer on a tiny module (a few optimizer steps each)."""

import signal
from types import SimpleNamespace

import numpy as np
import pytest
import torch

pl = pytest.importorskip("lightning.pytorch")

from weightcast.integrations.lightning import FarcastCallback, WeightRecorderCallback  # noqa: E402
from weightcast.io import open_sequences, read_metadata  # noqa: E402
from weightcast.training import flatten_parameters, load_flat_parameters  # noqa: E402

from ._helpers import linear_forecaster, recorded, snapshot_after_each_step  # noqa: E402


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
