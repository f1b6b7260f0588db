import numpy as np
import pytest
import torch

from weightcast import LFD2Forecaster
from weightcast.training import FarcastAndContinue, flatten_parameters


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
