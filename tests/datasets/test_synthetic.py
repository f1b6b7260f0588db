"""Syn-1 and Syn-2 generators: shapes, determinism, the authors' files, and Syn-2 against torch's own optimizers."""

import numpy as np
import pytest
import torch

from weightcast.datasets import make_syn1, make_syn2


@pytest.mark.parametrize("optimizer", ["gd", "sgd"])
@pytest.mark.parametrize("sample", [1, 2, 3, 4, 5])
def test_make_syn1_reproduces_the_authors_files(optimizer, sample, syn1_reference):
    reference = syn1_reference(optimizer, sample)
    S = make_syn1(optimizer, seed=sample)
    assert S.shape == reference.shape == (200, 201, 3)
    np.testing.assert_allclose(S, reference, rtol=0, atol=1e-12)


@pytest.mark.parametrize("optimizer", ["gd", "sgd"])
def test_make_syn1_shapes_determinism_and_loss(optimizer):
    state = np.random.get_state()
    S, loss = make_syn1(optimizer, n_sequences=5, n_steps=31, n_params=4, seed=7, return_loss=True)
    assert S.shape == (5, 31, 4) and loss.shape == (5, 31)
    assert np.array_equal(make_syn1(optimizer, n_sequences=5, n_steps=31, n_params=4, seed=7), S)
    assert not np.array_equal(make_syn1(optimizer, n_sequences=5, n_steps=31, n_params=4, seed=8), S)
    # The global numpy generator is left as it was.
    assert np.array_equal(np.random.get_state()[1], state[1])
    # Least squares without noise: the loss falls towards zero.
    assert np.all(loss[:, -1] < loss[:, 0])
    # The loss is the mean squared residual at w_i, recomputed here from the documented recipe.
    np.random.seed(2)
    D = np.random.randn(100, 4)
    np.random.seed(7)
    optimum = np.random.randn(5, 4)[2]
    np.testing.assert_allclose(loss[2], np.mean((S[2] @ D.T - D @ optimum) ** 2, axis=1))


def _torch_syn2_sequence(optimizer, seed, i, n_steps):
    """Sequence i of make_syn2 rebuilt with torch.nn and torch.optim, from the documented recipe."""
    rng = np.random.default_rng([seed, i])
    optimum = rng.standard_normal()
    x = torch.tensor(rng.standard_normal(100))[:, None]
    y = x * optimum
    init = torch.tensor(np.concatenate([rng.uniform(-1, 1, 10), rng.uniform(-1, 1, 10),
                                        rng.uniform(-1, 1, 11) / np.sqrt(10)]))
    net = torch.nn.Sequential(torch.nn.Linear(1, 10), torch.nn.ReLU(), torch.nn.Linear(10, 1)).double()
    torch.nn.utils.vector_to_parameters(init, net.parameters())
    orders = [rng.permutation(100) for _ in range(n_steps)]
    opt = (torch.optim.SGD(net.parameters(), lr=0.002) if optimizer == "sgd"
           else torch.optim.Adam(net.parameters(), lr=0.005))
    trajectory = []
    for t in range(n_steps):
        trajectory.append(torch.nn.utils.parameters_to_vector(net.parameters()).detach().numpy().copy())
        epoch, position = divmod(t, 2)
        batch = orders[epoch][position * 64:(position + 1) * 64]
        opt.zero_grad()
        torch.nn.functional.mse_loss(net(x[batch]), y[batch]).backward()
        opt.step()
    return np.array(trajectory)


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_make_syn2_matches_torch_optimizers(optimizer):
    S, loss = make_syn2(optimizer, n_sequences=3, n_steps=41, seed=4, return_loss=True)
    assert S.shape == (3, 41, 31) and loss.shape == (3, 41)
    np.testing.assert_allclose(S[2], _torch_syn2_sequence(optimizer, 4, 2, 41), rtol=0, atol=1e-12)
    assert loss[:, -1].mean() < loss[:, 0].mean()


def test_make_syn2_determinism_and_independence_of_sequences():
    S = make_syn2("adam", n_sequences=4, n_steps=11, seed=1)
    assert np.array_equal(S, make_syn2("adam", n_sequences=4, n_steps=11, seed=1))
    assert not np.array_equal(S, make_syn2("adam", n_sequences=4, n_steps=11, seed=2))
    # Sequence i depends on (seed, i) only, not on how many sequences are drawn.
    np.testing.assert_array_equal(make_syn2("adam", n_sequences=2, n_steps=11, seed=1), S[:2])
    assert make_syn2("sgd", n_sequences=1, n_steps=1).shape == (1, 1, 31)


@pytest.mark.parametrize("call, error", [
    (lambda: make_syn1("adam"), "optimizer must be one of"),
    (lambda: make_syn2("gd"), "optimizer must be one of"),
    (lambda: make_syn1(n_sequences=0), "n_sequences must be >= 1"),
    (lambda: make_syn1("sgd", n_points=4), "n_points must be >= 8"),
    (lambda: make_syn2(lr=-1.0), "lr must be > 0, got -1.0"),
    (lambda: make_syn1(seed=2 ** 32), "seed must be <= 4294967295"),
])
def test_generators_reject_bad_arguments(call, error):
    with pytest.raises(ValueError, match=error):
        call()


def test_generators_reject_non_integer_sizes():
    with pytest.raises(TypeError, match="n_steps must be an integer"):
        make_syn2(n_steps=2.5)
