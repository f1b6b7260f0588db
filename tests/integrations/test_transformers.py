"""The Hugging Face callbacks, in a real transformers.Trainer on a 1-layer BERT built from a config (no downloads)."""

import numpy as np
import pytest
import torch

transformers = pytest.importorskip("transformers")
pytest.importorskip("accelerate")  # the Trainer needs it

from weightcast.integrations.transformers import (  # noqa: E402
    FarcastCallback, WeightAveragingCallback, WeightRecorderCallback)
from weightcast.io import open_sequences, read_metadata  # noqa: E402
from weightcast.training import flatten_parameters, load_flat_parameters  # noqa: E402

from ._helpers import (  # noqa: E402
    assert_same_state, linear_forecaster, recorded, snapshot_after_each_step, torch_ema_after_each_step)

CONFIG = dict(vocab_size=32, hidden_size=8, num_hidden_layers=1, num_attention_heads=2, intermediate_size=16,
              max_position_embeddings=16, num_labels=2)


def _model(seed=0):
    torch.manual_seed(seed)
    return transformers.AutoModelForSequenceClassification.from_config(transformers.BertConfig(**CONFIG))


def _data(n=16, length=6):
    generator = torch.Generator().manual_seed(1)
    ids = torch.randint(0, CONFIG["vocab_size"], (n, length), generator=generator)
    return [dict(input_ids=ids[i], attention_mask=torch.ones(length, dtype=torch.long), labels=int(ids[i, 0]) % 2)
            for i in range(n)]


class FailAt(transformers.TrainerCallback):
    """Raises at the end of optimizer step ``step``."""

    def __init__(self, step):
        self.step = step

    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step == self.step:
            raise RuntimeError("simulated failure")


def _trainer(tmp_path, model, callbacks, max_steps, accumulate=1):
    args = transformers.TrainingArguments(
        output_dir=str(tmp_path / "out"), max_steps=max_steps, per_device_train_batch_size=2,
        gradient_accumulation_steps=accumulate, learning_rate=0.05, report_to=[], use_cpu=True, save_strategy="no",
        logging_strategy="no", disable_tqdm=True)
    optimizer = torch.optim.AdamW(model.parameters(), lr=0.05)
    model.after_steps = snapshot_after_each_step(optimizer, model)
    return transformers.Trainer(model=model, args=args, train_dataset=_data(), callbacks=callbacks,
                                optimizers=(optimizer, None))


@pytest.mark.parametrize("accumulate", [1, 2])
def test_records_w0_and_every_kth_optimizer_step(tmp_path, accumulate):
    path = tmp_path / "run.h5"
    model = _model()
    w0 = flatten_parameters(model).numpy()
    trainer = _trainer(tmp_path, model, [WeightRecorderCallback(path, every=2)], max_steps=4, accumulate=accumulate)
    trainer.train()
    assert trainer.state.global_step == 4 and len(model.after_steps) == 4   # 4 or 8 batches, 4 optimizer steps
    view = open_sequences(path)
    assert view.shape == (1, 3, w0.size)                                     # w_0, w_2, w_4
    np.testing.assert_array_equal(view[0, 0], w0)
    np.testing.assert_array_equal(recorded(view)[1:], np.stack(model.after_steps[1::2]))
    meta = read_metadata(path)
    assert meta["steps"].tolist() == [0, 2, 4] and meta["complete"]
    assert meta["param_names"] == [name for name, _ in model.named_parameters()]
    final = _model(seed=5)
    load_flat_parameters(final, open_sequences(path)[0, -1])
    for (name, p), (_, q) in zip(model.named_parameters(), final.named_parameters()):
        torch.testing.assert_close(p, q, rtol=0, atol=0, msg=name)


def test_a_failed_run_keeps_its_chunks_and_the_rest_on_close(tmp_path):
    path = tmp_path / "run.h5"
    model = _model()
    callback = WeightRecorderCallback(path, every=1, chunk_steps=3)
    with pytest.raises(RuntimeError, match="simulated failure"):
        _trainer(tmp_path, model, [callback, FailAt(4)], max_steps=8).train()
    # The Trainer does not tell callbacks about exceptions: the full chunk (w_0 .. w_2) is in the file already,
    assert len(recorded(open_sequences(path))) == 3
    callback.close()                                 # the rest once the callback is closed
    weights = recorded(open_sequences(path))
    assert len(weights) == 5
    np.testing.assert_array_equal(weights[1:], np.stack(model.after_steps))


def test_a_run_that_never_ended_is_recorded_afresh_by_the_next(tmp_path):
    path = tmp_path / "run.h5"
    callback = WeightRecorderCallback(path, every=1)
    with pytest.raises(RuntimeError):
        _trainer(tmp_path, _model(), [callback, FailAt(2)], max_steps=4).train()
    model = _model(seed=1)                           # as after auto_find_batch_size's retry, or a second train()
    _trainer(tmp_path, model, [callback], max_steps=4).train()
    weights = recorded(open_sequences(path))
    assert len(weights) == 5
    np.testing.assert_array_equal(weights[-1], flatten_parameters(model).numpy())


def test_a_jump_loads_the_forecast_and_is_logged(tmp_path):
    model = _model()
    d = flatten_parameters(model).numel()
    forecaster = linear_forecaster(d, n_input=2, horizon=3)
    before, after = (WeightRecorderCallback(tmp_path / f"{name}.h5") for name in ("before", "after"))
    farcast = FarcastCallback(forecaster, n_input=2, horizon=3, period=100)
    trainer = _trainer(tmp_path, model, [before, farcast, after], max_steps=2)   # the jump: at step 2, the last
    trainer.train()
    assert [jump["step"] for jump in farcast.jumps_] == [2]
    trained = np.asarray(open_sequences(tmp_path / "before.h5"))                  # w_0 .. w_2 as trained
    np.testing.assert_array_equal(trained[0, 1:], np.stack(model.after_steps))
    forecast = forecaster.predict(trained[:, 1:3], m=3)[0, -1]
    np.testing.assert_allclose(flatten_parameters(model).numpy(), forecast, rtol=1e-6)
    np.testing.assert_array_equal(open_sequences(tmp_path / "after.h5")[0, -1], flatten_parameters(model).numpy())
    logged = [entry for entry in trainer.state.log_history if "farcast_jump_distance" in entry]
    assert len(logged) == 1 and logged[0]["step"] == 2 and logged[0]["farcast_jumps"] == 1
    np.testing.assert_allclose(logged[0]["farcast_jump_distance"], np.linalg.norm(forecast - trained[0, 2]),
                               rtol=1e-5)


def test_jumps_count_optimizer_steps_and_reset_the_adam_state(tmp_path):
    model = _model()
    forecaster = linear_forecaster(flatten_parameters(model).numel(), n_input=2, horizon=1)
    farcast = FarcastCallback(forecaster, n_input=2, horizon=1, period=2, max_jumps=2, optimizer_state="reset")
    trainer = _trainer(tmp_path, model, [farcast], max_steps=4, accumulate=2)
    trainer.train()
    assert [jump["step"] for jump in farcast.jumps_] == [2, 4]
    assert len(trainer.optimizer.state) == 0   # cleared by the jump at the last step


def test_only_process_zero_writes(tmp_path):
    model = _model()
    args = transformers.TrainingArguments(output_dir=str(tmp_path / "out"), use_cpu=True, report_to=[])
    control = transformers.TrainerControl()
    callback = WeightRecorderCallback(tmp_path / "run.h5")
    for zero in (False, True):
        state = transformers.TrainerState(max_steps=3, is_world_process_zero=zero)
        callback.on_train_begin(args, state, control, model=model)
        callback.on_step_end(args, state, control, model=model)
        callback.on_train_end(args, state, control, model=model)
        assert (tmp_path / "run.h5").exists() == zero
    assert open_sequences(tmp_path / "run.h5").shape == (1, 4, flatten_parameters(model).numel())


def test_sharded_training_is_refused(tmp_path):
    args = transformers.TrainingArguments(output_dir=str(tmp_path / "out"), use_cpu=True, report_to=[])
    args.deepspeed = "ds_config.json"   # set after construction: constructing it would need deepspeed
    state = transformers.TrainerState(max_steps=3)
    with pytest.raises(ValueError, match="deepspeed= shards them"):
        WeightRecorderCallback(tmp_path / "run.h5").on_train_begin(args, state, transformers.TrainerControl(),
                                                                    model=_model())
    assert not (tmp_path / "run.h5").exists()


# ---------------------------------------------------------------------------------------------- weight averaging
def _averaged_trainer(tmp_path, model, averaging, decay, max_steps, accumulate=1, eval_steps=None):
    """A Trainer evaluating every ``eval_steps`` optimizer steps; the model notes the weights each evaluation
    runs on, torch's EMA of that moment and the optimizer steps so far."""
    args = transformers.TrainingArguments(
        output_dir=str(tmp_path / "out"), max_steps=max_steps, per_device_train_batch_size=2,
        per_device_eval_batch_size=4, gradient_accumulation_steps=accumulate, learning_rate=0.05, report_to=[],
        use_cpu=True, save_strategy="no", logging_strategy="no", disable_tqdm=True,
        eval_strategy="no" if eval_steps is None else "steps", eval_steps=eval_steps)
    optimizer = torch.optim.AdamW(model.parameters(), lr=0.05)
    model.after_steps = snapshot_after_each_step(optimizer, model)
    model.torch_ema = [torch_ema_after_each_step(optimizer, model, decay)]     # a list: not a submodule
    model.evaluated = []

    def note(module, args):
        if not module.training and (not module.evaluated or module.evaluated[-1]["steps"] != len(module.after_steps)):
            module.evaluated.append(dict(weights=flatten_parameters(module), steps=len(module.after_steps),
                                         torch_ema=flatten_parameters(module.torch_ema[0].module)))
    model.register_forward_pre_hook(note)
    return transformers.Trainer(model=model, args=args, train_dataset=_data(), eval_dataset=_data(4),
                                callbacks=[averaging], optimizers=(optimizer, None))


@pytest.mark.parametrize("accumulate", [1, 2])
def test_the_average_is_torchs_ema_and_evaluation_runs_on_it(tmp_path, accumulate):
    model = _model()
    averaging = WeightAveragingCallback(decay=0.7, warmup=None, keep=False)
    _averaged_trainer(tmp_path, model, averaging, 0.7, max_steps=4, accumulate=accumulate, eval_steps=2).train()
    assert averaging.averager_.n_updates == 4 == len(model.after_steps)
    assert_same_state(averaging.averaged_model_, model.torch_ema[0].module)
    assert [seen["steps"] for seen in model.evaluated] == [2, 4]
    for seen in model.evaluated:             # the average of that moment, not the trained weights
        assert torch.equal(seen["weights"], seen["torch_ema"])
        assert not np.array_equal(seen["weights"].numpy(), model.after_steps[seen["steps"] - 1])
    # training went on from the trained weights, and keep=False leaves the model as trained
    np.testing.assert_array_equal(flatten_parameters(model).numpy(), model.after_steps[-1])


def test_keep_leaves_the_average_and_evaluate_weights_the_trained_weights(tmp_path):
    model = _model()
    averaging = WeightAveragingCallback(decay=0.7, warmup=None, evaluate="weights")
    _averaged_trainer(tmp_path, model, averaging, 0.7, max_steps=2, eval_steps=2).train()
    np.testing.assert_array_equal(model.evaluated[0]["weights"].numpy(), model.after_steps[1])
    assert_same_state(model, averaging.averaged_model_)
    assert not np.array_equal(flatten_parameters(model).numpy(), model.after_steps[-1])
    with pytest.raises(ValueError, match="evaluate must be one of 'average', 'weights'"):
        WeightAveragingCallback(evaluate="ema")
