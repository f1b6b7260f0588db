import numpy as np
import pytest
import torch

from weightcast.training import ParameterLayout, flatten_parameters, load_flat_parameters


def _net():
    return torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.ReLU(), torch.nn.Linear(4, 2))


def test_flatten_and_load_round_trip():
    torch.manual_seed(0)
    a, b = _net(), _net()
    vector = flatten_parameters(a)
    layout = ParameterLayout.from_model(a)
    assert vector.dtype == torch.float32 and vector.shape == (layout.n_params,) == (26,)
    assert layout.names == ("0.weight", "0.bias", "2.weight", "2.bias")
    assert layout.offsets == (0, 12, 16, 24)
    load_flat_parameters(b, vector.numpy(), layout)
    for p, q in zip(a.parameters(), b.parameters()):
        assert torch.equal(p, q)


def test_flatten_is_a_copy():
    net = _net()
    vector = flatten_parameters(net)
    with torch.no_grad():
        net[0].bias.add_(1.0)
    assert not torch.equal(vector[12:16], net[0].bias)


def test_load_checks_names_shapes_size_and_values():
    net = _net()
    layout = ParameterLayout.from_model(net)
    other = torch.nn.Sequential(torch.nn.Linear(3, 5), torch.nn.ReLU(), torch.nn.Linear(5, 2))
    with pytest.raises(ValueError, match=r"'0.weight' of shape \(4, 3\).*\(5, 3\)"):
        load_flat_parameters(other, np.zeros(32), layout)
    renamed = torch.nn.Sequential(torch.nn.Linear(3, 4))
    with pytest.raises(ValueError, match="'2.weight'"):
        load_flat_parameters(renamed, np.zeros(16), layout)
    with pytest.raises(ValueError, match="26 parameters.*shape \\(25,\\)"):
        load_flat_parameters(net, np.zeros(25))
    with pytest.raises(ValueError, match="NaN"):
        load_flat_parameters(net, np.full(26, np.nan))
    with pytest.raises(ValueError, match="no parameters"):
        ParameterLayout.from_model(torch.nn.ReLU())


def test_layout_from_a_weight_sequence_file(tmp_path):
    from weightcast.io import open_sequences, write_sequences
    net = _net()
    layout = ParameterLayout.from_model(net)
    path = tmp_path / "runs.h5"
    write_sequences(path, np.zeros((1, 2, 26), np.float32), param_names=layout.names, param_shapes=layout.shapes)
    assert ParameterLayout.from_file(path) == layout == ParameterLayout.from_file(open_sequences(path))
    write_sequences(tmp_path / "bare.h5", np.zeros((1, 2, 26), np.float32))
    with pytest.raises(ValueError, match=r"bare\.h5.*no parameter names"):
        ParameterLayout.from_file(tmp_path / "bare.h5")


def test_the_model_and_layout_arguments_are_checked():
    with pytest.raises(TypeError, match="model must be a torch.nn.Module, got 'net'"):
        ParameterLayout.from_model("net")
    with pytest.raises(TypeError, match="model must be a torch.nn.Module"):
        flatten_parameters(np.zeros(3))
    with pytest.raises(TypeError, match="layout must be a ParameterLayout or None"):
        load_flat_parameters(_net(), flatten_parameters(_net()), layout=("0.weight",))
