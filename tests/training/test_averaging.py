"""WeightAverager: torch's EMA, evaluated, swapped in, kept."""

import pytest
import torch
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from weightcast.training import WeightAverager, flatten_parameters


def _net():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4), torch.nn.ReLU(), torch.nn.Linear(4, 2))


def _train(model, averagers, n_steps=15):
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    generator = torch.Generator().manual_seed(1)
    for _ in range(n_steps):
        optimizer.zero_grad()
        model(torch.randn(8, 3, generator=generator)).pow(2).mean().backward()
        optimizer.step()
        for averager in averagers:
            averager.update() if isinstance(averager, WeightAverager) else averager.update_parameters(model)


@pytest.mark.parametrize("use_buffers", [True, False])
def test_constant_decay_matches_torch_averaged_model(use_buffers):
    model = _net()
    ours = WeightAverager(model, decay=0.8, warmup=None, use_buffers=use_buffers)
    torch_ema = AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(0.8), use_buffers=use_buffers)
    _train(model, [ours, torch_ema])
    for a, b in zip(ours.averaged_model.state_dict().values(), torch_ema.module.state_dict().values()):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    assert ours.n_updates == 15


def test_warmup_follows_its_formula():
    model = torch.nn.Linear(1, 1, bias=False)
    averager = WeightAverager(model, decay=0.9, warmup=10)
    values = [3.0, 5.0, -1.0, 2.0]
    expected = None
    for n, value in enumerate(values):
        with torch.no_grad():
            model.weight.fill_(value)
        averager.update()
        if n == 0:
            expected = value                               # the first update copies
        else:
            decay = min(0.9, (1 + n) / (10 + n))
            expected = decay * expected + (1 - decay) * value
        assert float(averager.averaged_model.weight.detach()) == pytest.approx(expected, rel=1e-6)


def test_swapped_copy_to_and_reset():
    model = _net()
    averager = WeightAverager(model, decay=0.5)
    _train(model, [averager])
    own, averaged = flatten_parameters(model), averager.flat()
    assert not torch.equal(own, averaged)
    with averager.swapped() as swapped:
        assert swapped is model and torch.equal(flatten_parameters(model), averaged)
    assert torch.equal(flatten_parameters(model), own)
    averager.copy_to()
    assert torch.equal(flatten_parameters(model), averaged)
    with torch.no_grad():
        model[0].weight.add_(1.0)
    averager.reset()
    assert torch.equal(averager.flat(), flatten_parameters(model)) and averager.n_updates == 1


def test_state_dict_round_trip():
    model = _net()
    averager = WeightAverager(model, decay=0.7)
    _train(model, [averager], n_steps=3)
    other = WeightAverager(_net(), decay=0.7)
    other.load_state_dict(averager.state_dict())
    assert torch.equal(other.flat(), averager.flat()) and other.n_updates == 3


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(decay=1.0), ValueError, "decay must be < 1, got 1.0"),
    (dict(decay=-0.1), ValueError, "decay must be >= 0, got -0.1"),
    (dict(warmup=0.5), ValueError, "warmup must be >= 1, got 0.5"),
    (dict(warmup="10"), TypeError, "warmup must be a finite real number or None"),
    (dict(decay=True), TypeError, "decay must be a finite real number, got True"),
    (dict(use_buffers=None), TypeError, "use_buffers must be True or False"),
])
def test_bad_settings(kwargs, error, match):
    with pytest.raises(error, match=match):
        WeightAverager(torch.nn.Linear(1, 1), **kwargs)
    with pytest.raises(TypeError, match="torch.nn.Module"):
        WeightAverager("model")
