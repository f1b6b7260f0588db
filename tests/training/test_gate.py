"""JumpGate: a jump that raises the held-out loss is never taken, and a rejected one changes nothing."""

import numpy as np
import pytest
import torch

from weightcast.training import JumpGate, batch_loss, flatten_parameters


def _setup(seed):
    generator = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Linear(8, 3),
                                torch.nn.LogSoftmax(1))
    inputs, targets = torch.randn(32, 4, generator=generator), torch.randint(0, 3, (32,), generator=generator)
    return model, batch_loss(inputs, targets), generator


@pytest.mark.parametrize("seed", range(5))
def test_never_accepts_a_jump_that_raises_the_loss(seed):
    model, loss_fn, generator = _setup(seed)
    gate = JumpGate(loss_fn)
    decisions = []
    for scale in np.geomspace(1e-3, 3.0, 40):
        current = flatten_parameters(model)
        candidate = current + float(scale) * torch.randn(current.shape, generator=generator)
        before = loss_fn(model)
        accepted = gate(model, candidate)
        after = loss_fn(model)
        if accepted:
            assert torch.equal(flatten_parameters(model), candidate)
            assert after <= before
        else:
            assert torch.equal(flatten_parameters(model), current)   # restored bit for bit
            assert loss_fn(model) == before
        decisions.append(accepted)
    assert any(decisions) and not all(decisions)    # the test saw both outcomes
    assert gate.n_evaluations == 2 * len(decisions)
    assert all(h["accepted"] == (h["loss_after"] <= h["loss_before"]) for h in gate.history)


def test_a_rejected_jump_leaves_the_optimizer_and_mode_alone():
    model, loss_fn, _ = _setup(0)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.1)
    model(torch.randn(2, 4)).sum().backward()
    optimizer.step()
    state = {k: v.clone() for k, v in optimizer.state[next(model.parameters())].items()}
    model.train()
    assert not JumpGate(loss_fn)(model, flatten_parameters(model) + 50.0 * torch.randn(
        sum(p.numel() for p in model.parameters()), generator=torch.Generator().manual_seed(3)))
    assert model.training
    for key, value in optimizer.state[next(model.parameters())].items():
        assert torch.equal(value, state[key])


def test_tolerance_and_bad_input():
    model, loss_fn, _ = _setup(1)
    same = flatten_parameters(model)
    assert JumpGate(loss_fn)(model, same)                 # an equal loss is not a rise
    with pytest.raises(ValueError, match="tolerance must be >= 0, got -1.0"):
        JumpGate(loss_fn, tolerance=-1.0)
    with pytest.raises(TypeError, match="tolerance must be a finite real number"):
        JumpGate(loss_fn, tolerance=float("inf"))
    with pytest.raises(TypeError, match="callable"):
        JumpGate(0.5)
    with pytest.raises(ValueError, match="NaN"):
        JumpGate(loss_fn)(model, torch.full_like(same, float("nan")))
    assert torch.equal(flatten_parameters(model), same)


def test_batch_loss_with_gradients():
    model, _, generator = _setup(2)
    loss_fn = batch_loss(torch.randn(5, 4, generator=generator), torch.tensor([0, 1, 2, 0, 1]), grad=True)
    loss = loss_fn(model)
    loss.backward()
    assert loss.ndim == 0 and model[0].weight.grad is not None and loss_fn.n_samples == 5


def test_a_reference_must_be_beaten():
    model, loss_fn, generator = _setup(4)
    current = flatten_parameters(model)
    good = current + 0.01 * torch.randn(current.shape, generator=generator)
    gate = JumpGate(loss_fn)
    # Reference = the candidate itself: an equal loss is accepted; reference better than the candidate: rejected.
    assert gate(model, good, reference=good)
    assert torch.equal(flatten_parameters(model), good)
    worse = good + 5.0 * torch.randn(current.shape, generator=generator)
    assert not gate(model, worse, reference=good)
    assert torch.equal(flatten_parameters(model), good)            # restored to the model's own weights
    assert gate.history[-1]["loss_before"] < gate.history[-1]["loss_after"]
