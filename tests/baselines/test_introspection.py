import numpy as np
import pytest
import torch

from weightcast.baselines import IntrospectionForecaster


def data(n_seq=8, n_params=5, seed=0):
    rng = np.random.default_rng(seed)
    return np.cumsum(rng.normal(scale=1e-3, size=(n_seq, 40, n_params)), axis=1).astype(np.float32)


def fitted(variant="original", m=None, **extra):
    S = data()
    est = IntrospectionForecaster(variant=variant, m=m, max_epochs=0, device="cpu", random_state=0, **extra)
    return est.fit(S[:, :21], S[:, 21:]), S


@pytest.mark.parametrize("variant, m, per_step", [("original", 1, 241), ("original", 7, 241), ("linear", 7, 5)])
def test_parameter_count(variant, m, per_step):
    est, _ = fitted(variant, m)
    assert sum(p.numel() for p in est.module_.parameters()) == per_step * m
    assert est.in_steps_.tolist() == [0, 8, 14, 20]


def test_initialisation():
    est, _ = fitted()
    w1 = est.module_.w1.detach()
    assert w1.abs().max() <= 0.2 and 0.05 < float(w1.std()) < 0.1  # N(0, 0.1) truncated at 2 std
    assert torch.all(est.module_.b1 == 0.1) and torch.all(est.module_.b2 == 0.1)


def test_each_step_is_an_independent_4_40_1_network():
    est, S = fitted(m=3)
    net = est.module_
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(torch.randn(p.shape, generator=torch.Generator().manual_seed(p.numel())))
    features = S[:, [0, 8, 14, 20]] * 1000.0  # (seq, 4, params)
    expected = np.empty((8, 3, 5))
    for k in range(3):
        w1, b1 = net.w1[k].detach().numpy(), net.b1[k].detach().numpy()
        w2, b2 = net.w2[k].detach().numpy(), float(net.b2[k].detach())
        hidden = np.maximum(np.einsum("sip,ih->sph", features, w1) + b1, 0)
        expected[:, k] = (hidden @ w2 + b2) / 1000.0
    np.testing.assert_allclose(est.predict(S[:, :21]), expected, rtol=1e-4, atol=1e-6)


def test_stratified_draws():
    """Each step draws 10 coordinates from the half that moved most, 5 from the next quarter, 5 from the rest."""
    rng = np.random.default_rng(3)
    n_seq, n_params = 4, 50
    moved = rng.permutation(n_seq * n_params).reshape(n_seq, n_params).astype(np.float32)
    S = np.zeros((n_seq, 22, n_params), dtype=np.float32)
    S[:, 20] = moved  # |w_20 - w_0| = moved
    est = IntrospectionForecaster(max_epochs=0, device="cpu", random_state=0).fit(S[:, :21], S[:, 21:])
    from weightcast.rows import RowReader
    rows = RowReader(S[:, :21], S[:, 21:], steps=est.in_steps_, target_steps=est.out_steps_, slab_size=10**6)
    batches = est._train_batches(rows, np.arange(n_seq), torch.Generator().manual_seed(0), epoch=1)
    counts = np.zeros(3, dtype=int)
    n_batches = 0
    for inputs, _ in batches:
        change = inputs[0, :, -1].numpy()
        assert inputs.shape == (1, 20, 4)
        rank = change / (n_seq * n_params)
        counts += [np.sum(rank >= 0.5), np.sum((rank >= 0.25) & (rank < 0.5)), np.sum(rank < 0.25)]
        n_batches += 1
    assert n_batches == 1000
    assert counts.tolist() == [10 * n_batches, 5 * n_batches, 5 * n_batches]


def test_learning_rate_schedule():
    est = IntrospectionForecaster()
    assert [est._lr_factor(i) for i in (0, 7999, 8000, 15999, 16000, 29999)] == [1, 1, 0.2, 0.2, 0.1, 0.1]
    assert IntrospectionForecaster(variant="linear")._lr_factor(20000) == 1.0


def test_linear_variant_learns_a_linear_extrapolation():
    """Targets that are exact linear functions of the four features are learned to a small error."""
    t = np.arange(40.0)
    rng = np.random.default_rng(4)
    S = np.stack([np.outer(t, rng.normal(0, 1e-3, 4)) + rng.normal(0, 1e-2, 4) for _ in range(24)])
    est = IntrospectionForecaster(variant="linear", m=5, max_epochs=300, patience=None, device="cpu",
                                  random_state=0).fit(S[:, :21], S[:, 21:])
    error = np.abs(est.predict(S[:, :21]) - S[:, 21:26]).max()
    assert error < 0.05 * np.abs(S[:, 21:26] - S[:, 20:21]).max()


def test_bad_parameters():
    S = data()
    with pytest.raises(ValueError, match="variant"):
        IntrospectionForecaster(variant="nonlinear").fit(S[:, :21], S[:, 21:])
    with pytest.raises(ValueError, match="scale"):
        IntrospectionForecaster(scale=0.0).fit(S[:, :21], S[:, 21:])


@pytest.mark.parametrize("steps_per_epoch, n_epochs", [(10, 1), (2, 3)])
def test_original_variant_draws_from_every_slab(monkeypatch, steps_per_epoch, n_epochs):
    from weightcast.rows import RowReader
    seen = []
    read = RowReader.read

    def recording_read(self, slab, seqs=None):
        seen.append(self.slabs[slab].slice.start)
        return read(self, slab, seqs)

    monkeypatch.setattr(RowReader, "read", recording_read)
    monkeypatch.setattr(IntrospectionForecaster, "_evaluate", lambda *args: 0.0)  # record training reads only
    S = data(n_params=9)  # slabs of 2: starts 0, 2, 4, 6, 8
    IntrospectionForecaster(steps_per_epoch=steps_per_epoch, max_epochs=n_epochs, patience=None, slab_size=2,
                            validation_fraction=0.0, device="cpu", random_state=0).fit(S[:, :21], S[:, 21:])
    assert {0, 2, 4, 6, 8} <= set(seen)
