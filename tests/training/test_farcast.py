import numpy as np
import pytest
import torch

from weightcast import LFD2Forecaster
from weightcast.training import (FarcastAndContinue, JumpGate, LossAwareFarcaster, WeightAverager, batch_loss,
                                 flatten_parameters)


def _linear_runs(d, n_runs=4, n_steps=8):
    """Other runs whose coordinates move linearly, each at its own speed."""
    rng = np.random.default_rng(0)
    start, speed = rng.normal(size=(2, n_runs, 1, d))
    return start + speed * np.arange(n_steps)[None, :, None]


class _Drift(torch.optim.Optimizer):
    """Moves every parameter by +lr per step (a stand-in for training), keeps a state entry."""

    def __init__(self, params, lr=1.0):
        super().__init__(params, dict(lr=lr))

    def step(self):
        for group in self.param_groups:
            for p in group["params"]:
                self.state[p]["n"] = self.state[p].get("n", 0) + 1
                p.data.add_(group["lr"])


@pytest.mark.parametrize("refit", [False, True])
def test_jump_lands_on_the_linear_forecast(refit):
    model = torch.nn.Linear(2, 1)
    opt = _Drift(model.parameters())
    forecaster = LFD2Forecaster(solver="lstsq")
    if not refit:
        forecaster.fit(*np.split(_linear_runs(3), [2], axis=1))
    jump = FarcastAndContinue(model, opt, forecaster, n_input=2, horizon=3, every=2, period=100, refit=refit,
                              n_windows=2)
    steps_needed = 2 * (2 + (3 + 1 if refit else 0))
    for _ in range(steps_needed - 1):
        opt.step()
        assert not jump()
    before = flatten_parameters(model)
    opt.step()
    assert jump()
    # a linear trajectory: +1 per step, snapshots 2 steps apart, 3 snapshots ahead = +1 + 6
    np.testing.assert_allclose(flatten_parameters(model), before + 1 + 6, atol=1e-4)
    assert jump.jumps[0]["step"] == steps_needed and len(opt.state) == 2


def test_reset_clears_the_optimizer_state_and_history_restarts():
    model = torch.nn.Linear(2, 1)
    opt = _Drift(model.parameters())
    forecaster = LFD2Forecaster(solver="lstsq").fit(*np.split(_linear_runs(3), [2], axis=1))
    jump = FarcastAndContinue(model, opt, forecaster, n_input=2, horizon=1, period=1, optimizer_state="reset",
                              max_jumps=2)
    jumped = []
    for _ in range(8):
        opt.step()
        jumped.append(jump())
    assert jumped == [False, True, False, True, False, False, False, False]
    assert len(opt.state) == 2  # refilled by the steps after the last reset


def test_window_average_snapshots():
    model = torch.nn.Linear(1, 1, bias=False)
    opt = _Drift(model.parameters())
    forecaster = LFD2Forecaster(solver="lstsq").fit(*np.split(_linear_runs(1), [2], axis=1))
    jump = FarcastAndContinue(model, opt, forecaster, n_input=2, horizon=1, every=4, average=4, period=4)
    w0 = float(model.weight.detach())
    for _ in range(8):
        opt.step()
        jump()
    # snapshots are the means of steps 1-4 and 5-8 (w0 + 2.5, w0 + 6.5); one snapshot ahead is +4 more
    np.testing.assert_allclose(float(model.weight.detach()), w0 + 10.5, atol=1e-4)


def test_invalid_settings():
    model = torch.nn.Linear(2, 1)
    opt = _Drift(model.parameters())
    fitted = LFD2Forecaster(solver="lstsq").fit(*np.split(_linear_runs(3), [2], axis=1))
    with pytest.raises(ValueError, match="fitted forecaster"):
        FarcastAndContinue(model, opt, LFD2Forecaster(), n_input=2, horizon=1)
    with pytest.raises(ValueError, match="fitted on 2 input steps"):
        FarcastAndContinue(model, opt, fitted, n_input=3, horizon=1)
    with pytest.raises(ValueError, match="beyond"):
        FarcastAndContinue(model, opt, fitted, n_input=2, horizon=7)
    with pytest.raises(ValueError, match="multiples of every"):
        FarcastAndContinue(model, opt, fitted, n_input=2, horizon=1, every=10, first_jump=75)
    with pytest.raises(ValueError, match="optimizer_state"):
        FarcastAndContinue(model, opt, fitted, n_input=2, horizon=1, optimizer_state="zero")


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(n_input=0), ValueError, "n_input must be >= 1, got 0"),
    (dict(horizon=1.0), TypeError, r"horizon must be an integer, got 1.0 \(float\)"),
    (dict(every=0), ValueError, "every must be >= 1, got 0"),
    (dict(period=True), TypeError, "period must be an integer"),
    (dict(average=-2), ValueError, "average must be >= 1, got -2"),
    (dict(n_windows=0), ValueError, "n_windows must be >= 1, got 0"),
    (dict(first_jump=0), ValueError, "first_jump must be >= 1, got 0"),
    (dict(first_jump="10"), TypeError, "first_jump must be an integer or None"),
    (dict(max_jumps=-1), ValueError, "max_jumps must be >= 0, got -1"),
    (dict(refit=1), TypeError, "refit must be True or False, got 1"),
    (dict(optimizer_state="zero"), ValueError, "optimizer_state must be one of 'keep', 'reset', got 'zero'"),
    (dict(inputs="weights"), ValueError, "inputs must be one of 'snapshots', 'averages'"),
    (dict(averagers="ema"), TypeError, "averagers must be a list of WeightAverager objects"),
    (dict(averagers=[object()]), TypeError, r"averagers\[0\] must be a WeightAverager"),
    (dict(averagers_at_jump="move"), ValueError, "averagers_at_jump must be one of 'keep', 'shift', 'reset'"),
    (dict(gate=lambda model: 0.0), TypeError, "gate must be a JumpGate or None"),
    (dict(gate_reference="ema"), ValueError, "gate_reference must be one of 'weights', 'average'"),
])
def test_parameters_are_checked_by_their_rules(kwargs, error, match):
    model = torch.nn.Linear(2, 1)
    fitted = LFD2Forecaster(solver="lstsq").fit(*np.split(_linear_runs(3), [2], axis=1))
    settings = dict(n_input=2, horizon=1) | kwargs
    with pytest.raises(error, match=match):
        FarcastAndContinue(model, _Drift(model.parameters()), fitted, **settings)


def test_model_optimizer_and_forecaster_are_checked():
    model = torch.nn.Linear(2, 1)
    opt = _Drift(model.parameters())
    fitted = LFD2Forecaster(solver="lstsq").fit(*np.split(_linear_runs(3), [2], axis=1))
    with pytest.raises(TypeError, match="model must be a torch.nn.Module"):
        FarcastAndContinue(model.weight, opt, fitted, n_input=2)
    with pytest.raises(TypeError, match="optimizer must be a torch.optim.Optimizer"):
        FarcastAndContinue(model, "adam", fitted, n_input=2)
    with pytest.raises(TypeError, match="forecaster must be a weightcast forecaster"):
        FarcastAndContinue(model, opt, "lfd2", n_input=2)


def _classifier():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(4, 6), torch.nn.Tanh(), torch.nn.Linear(6, 3), torch.nn.LogSoftmax(1))


def _batch(seed, n=64):
    generator = torch.Generator().manual_seed(seed)
    inputs = torch.randn(n, 4, generator=generator)
    return inputs, (inputs[:, 0] > 0).long() + (inputs[:, 1] > 0.5).long()


def test_a_rejected_gated_jump_changes_nothing():
    model = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.LogSoftmax(1))
    opt = torch.optim.Adam(model.parameters(), lr=0.1)
    generator = torch.Generator().manual_seed(0)
    inputs, targets = torch.randn(32, 2, generator=generator), torch.randint(0, 2, (32,), generator=generator)

    class Wild:                         # a "fitted" forecaster that proposes a far-away point
        n_features_in_ = 2

        def predict(self, X, m=1):
            return np.repeat(X[:, -1:] + 100.0 * np.sign(np.sin(np.arange(X.shape[2]) + 1.0)), m, axis=1)

    gate = JumpGate(batch_loss(inputs, targets))
    jump = FarcastAndContinue(model, opt, Wild(), n_input=2, period=2, gate=gate)
    for _ in range(4):
        opt.zero_grad(); torch.nn.functional.nll_loss(model(inputs), targets).backward(); opt.step()
        before = flatten_parameters(model)
        state = {k: v.clone() for k, v in opt.state[model[0].weight].items()}
        assert not jump()
    assert torch.equal(flatten_parameters(model), before)
    assert all(torch.equal(v, state[k]) for k, v in opt.state[model[0].weight].items())
    assert [j["accepted"] for j in jump.jumps] == [False, False]
    assert all(j["loss_after"] > j["loss_before"] for j in jump.jumps)
    assert len(jump._snapshots) == 2          # a rejected jump keeps the history


def test_loss_aware_jump_from_averages_lowers_the_training_loss():
    model = _classifier()
    opt = torch.optim.Adam(model.parameters(), lr=0.05)
    averagers = [WeightAverager(model, decay=d) for d in (0.8, 0.95)]
    losses = (batch_loss(*_batch(100 + i), grad=True) for i in range(1000))
    jump = FarcastAndContinue(model, opt, LossAwareFarcaster(max_evals=6), n_input=3, inputs="averages",
                              averagers=averagers, period=20, loss_fn=losses)
    for step in range(60):
        opt.zero_grad(); torch.nn.functional.nll_loss(model(_batch(step)[0]), _batch(step)[1]).backward(); opt.step()
        for a in averagers:
            a.update()
        jump()
    assert [j["step"] for j in jump.jumps] == [20, 40, 60]
    for j in jump.jumps:
        assert j["fit_loss"] <= j["fit_loss_start"] and j["fit_evaluations"] <= 6
        assert sum(j["coef"]) == pytest.approx(1.0)
    assert jump.n_fit_evaluations == sum(j["fit_evaluations"] for j in jump.jumps)


def test_averagers_follow_a_jump():
    model = torch.nn.Linear(2, 1)
    opt = _Drift(model.parameters())
    forecaster = LFD2Forecaster(solver="lstsq").fit(*np.split(_linear_runs(3), [2], axis=1))
    shifted, reset = WeightAverager(model, decay=0.5), WeightAverager(model, decay=0.5)
    jumps = [FarcastAndContinue(model, opt, forecaster, n_input=2, horizon=1, period=100, averagers=[a],
                                averagers_at_jump=how) for a, how in ((shifted, "shift"), (reset, "reset"))]
    opt.step(); shifted.update(); reset.update(); jumps[0](); jumps[1]()
    opt.step(); shifted.update(); reset.update()
    before, averaged = flatten_parameters(model), shifted.flat()
    assert jumps[0]()                      # jumps at step 2 (shifts `shifted`) ...
    moved = flatten_parameters(model) - before
    np.testing.assert_allclose(shifted.flat(), averaged + moved, atol=1e-5)
    assert jumps[1]()                      # ... then the second loop jumps again (resets `reset`)
    np.testing.assert_allclose(reset.flat(), flatten_parameters(model), atol=0)


def test_new_settings_are_checked():
    model = torch.nn.Linear(2, 1)
    opt = _Drift(model.parameters())
    averager = WeightAverager(model)
    with pytest.raises(ValueError, match="needs loss_fn"):
        FarcastAndContinue(model, opt, LossAwareFarcaster(), n_input=2, inputs="averages", averagers=[averager])
    with pytest.raises(ValueError, match="needs averagers"):
        FarcastAndContinue(model, opt, LossAwareFarcaster(), n_input=2, inputs="averages", loss_fn=lambda m: 0)
    with pytest.raises(ValueError, match="2 vectors"):
        FarcastAndContinue(model, opt, LossAwareFarcaster(), n_input=3, inputs="averages", averagers=[averager],
                           loss_fn=lambda m: 0)
    with pytest.raises(TypeError, match="WeightAverager"):
        FarcastAndContinue(model, opt, LossAwareFarcaster(), n_input=2, averagers=["ema"], loss_fn=lambda m: 0)
    with pytest.raises(ValueError, match="inputs"):
        FarcastAndContinue(model, opt, LossAwareFarcaster(), n_input=2, inputs="history", loss_fn=lambda m: 0)


def test_recipe_fit_on_other_runs_then_farcast_and_continue(tmp_path):
    """The paper's protocol end to end: record other runs, cut them into windows, fit, jump in a new run."""
    from weightcast.datasets import training_windows
    from weightcast.io import write_sequences

    generator = torch.Generator().manual_seed(0)
    inputs = torch.randn(64, 3, generator=generator) * torch.tensor([1.0, 0.7, 0.5])
    targets = inputs @ torch.tensor([1.0, -2.0, 0.5]) + 0.3

    def run(seed, n_steps, jump=None):
        torch.manual_seed(seed)
        model = torch.nn.Linear(3, 1)
        opt = torch.optim.SGD(model.parameters(), lr=0.05)
        weights, losses = [flatten_parameters(model).numpy()], []
        for _ in range(n_steps):
            opt.zero_grad()
            loss = (model(inputs)[:, 0] - targets).pow(2).mean()
            loss.backward()
            opt.step()
            losses.append(float(loss.detach()))
            if jump is not None:
                jump(model, opt)
            weights.append(flatten_parameters(model).numpy())
        return np.stack(weights), losses

    recorded = write_sequences(tmp_path / "other_runs.h5", np.stack([run(s, 60)[0] for s in range(1, 6)]))
    X, Y = training_windows(recorded, n_input=2, m=4, spacing=5)         # [w_s, w_s+5] -> w_s+10 .. w_s+25
    forecaster = LFD2Forecaster(solver="lstsq").fit(X, Y)
    loss_fn = batch_loss(inputs, targets, loss=lambda out, y: (out[:, 0] - y).pow(2).mean())
    state = {}

    def jump(model, opt):
        if "loop" not in state:
            state["loop"] = FarcastAndContinue(model, opt, forecaster, n_input=2, horizon=4, every=5, period=20,
                                               max_jumps=1, gate=JumpGate(loss_fn))
        state["loop"]()

    _, plain = run(0, 30)
    _, jumped = run(0, 30, jump)
    loop = state["loop"]
    assert [j["step"] for j in loop.jumps] == [10] and loop.jumps[0]["accepted"]
    assert jumped[15] < plain[25]                 # 5 steps after a 20-step jump it is ahead of the plain run


def test_gate_against_the_average_rejects_jumps_that_do_not_beat_it():
    model = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.LogSoftmax(1))
    opt = torch.optim.SGD(model.parameters(), lr=0.5)
    generator = torch.Generator().manual_seed(0)
    inputs, targets = torch.randn(64, 2, generator=generator), torch.randint(0, 2, (64,), generator=generator)
    averager = WeightAverager(model, decay=0.9)

    class Stay:                         # proposes the last snapshot itself: never better than the average here
        n_features_in_ = 1

        def predict(self, X, m=1):
            return np.repeat(X[:, -1:], m, axis=1)

    gate = JumpGate(batch_loss(inputs, targets))
    jump = FarcastAndContinue(model, opt, Stay(), n_input=1, period=5, averagers=[averager], gate=gate,
                              gate_reference="average")
    averaged, own = [], []
    for _ in range(20):
        opt.zero_grad(); torch.nn.functional.nll_loss(model(inputs), targets).backward(); opt.step()
        averager.update()
        own.append(gate.loss_fn(model))
        averaged.append(gate.loss_fn(averager.averaged_model))
        jump()
    assert [j["step"] for j in jump.jumps] == [1, 6, 11, 16]
    for record in jump.jumps:
        assert record["loss_before"] == averaged[record["step"] - 1]     # the reference is the average
        assert record["loss_after"] == own[record["step"] - 1]           # the proposal: the weights as they are
        assert record["accepted"] == (record["loss_after"] <= record["loss_before"])
    with pytest.raises(ValueError, match="needs a gate and averagers"):
        FarcastAndContinue(model, opt, Stay(), n_input=1, gate=gate, gate_reference="average")
    with pytest.raises(ValueError, match="gate_reference"):
        FarcastAndContinue(model, opt, Stay(), n_input=1, gate=gate, gate_reference="ema")
