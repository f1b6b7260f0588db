import numpy as np
import pytest

from weightcast import kernels


def _expected(inputs, offset, Z, T):
    w = inputs.astype(np.float64) @ Z.astype(np.float64)
    if offset is not None:
        w[-1] += np.float32(offset)
    return w @ w.T, w @ T.astype(np.float64).T, w


def _relative_errors(inputs, offset, Z, T):
    G, C = kernels.whitened_products(inputs, offset, Z, T)
    G_expected, C_expected, w = _expected(inputs, offset, Z, T)
    assert G.shape == G_expected.shape and C.shape == C_expected.shape
    assert G.dtype == C.dtype == np.float64
    np.testing.assert_array_equal(G, G.T)
    # each sum against the size of its terms (Cauchy-Schwarz): what a float32 sum can keep
    norms_w, norms_t = np.sqrt((w ** 2).sum(axis=1)), np.sqrt((T.astype(np.float64) ** 2).sum(axis=1))
    return (np.abs(G - G_expected) / np.outer(norms_w, norms_w)).max(), \
        (np.abs(C - C_expected) / np.outer(norms_w, norms_t)).max()


@pytest.mark.parametrize("n_in, with_offset, horizon", [(2, True, 25), (5, True, 25), (2, False, 25), (1, False, 1),
                                                        (4, True, 7), (6, True, 3), (3, False, 4)])
def test_the_sums_match_float64_for_every_tile_remainder(n_in, with_offset, horizon):
    rng = np.random.default_rng(n_in * 10 + horizon)
    n_rows = 2 * kernels.PRODUCT_ROWS + 77  # two whole blocks and a partial one
    n_fit = n_in + with_offset
    inputs = np.tril(rng.normal(size=(n_fit, n_in))).astype(np.float32)
    Z = rng.normal(size=(n_in, n_rows)).astype(np.float32)
    T = (0.5 + rng.normal(size=(horizon, n_rows))).astype(np.float32)
    G_error, C_error = _relative_errors(inputs, 0.7 if with_offset else None, Z, T)
    assert G_error < 1e-6 and C_error < 1e-6


def test_views_with_any_strides_give_the_sums_of_their_copies():
    rng = np.random.default_rng(0)
    n_rows = kernels.PRODUCT_ROWS + 5
    block = rng.normal(size=(2, 30, 3 * n_rows)).astype(np.float32)
    inputs = np.tril(rng.normal(size=(3, 2))).astype(np.float32)
    views = {
        "rows of a 3-D block (a sequence's steps, a slab of parameters)": (block[1, :2, 7:7 + n_rows],
                                                                          block[1, 5:30, 7:7 + n_rows]),
        "every other column": (block[0, :2, ::3][:, :n_rows], block[0, 5:9, ::3][:, :n_rows]),
        "rows in reverse order": (block[0, 1::-1, :n_rows], block[0, 9:4:-1, :n_rows]),
        "one row, every other column": (block[0, :1, ::2][:, :n_rows], block[0, 5:6, ::2][:, :n_rows]),
        "a column-major array": (np.asfortranarray(block[0, :2, :n_rows]), np.asfortranarray(block[0, 5:9, :n_rows])),
    }
    for name, (Z, T) in views.items():
        weights = inputs[:, :Z.shape[0]]
        sums = kernels.whitened_products(weights, 0.25, Z, T)
        copies = kernels.whitened_products(weights, 0.25, np.ascontiguousarray(Z), np.ascontiguousarray(T))
        for ours, expected in zip(sums, copies):
            np.testing.assert_array_equal(ours, expected, err_msg=name)


def test_nan_and_inf_reach_the_sums():
    rng = np.random.default_rng(1)
    Z = rng.normal(size=(2, 3 * kernels.PRODUCT_ROWS)).astype(np.float32)
    T = rng.normal(size=(5, 3 * kernels.PRODUCT_ROWS)).astype(np.float32)
    inputs = np.tril(rng.normal(size=(3, 2))).astype(np.float32)
    T[3, 5000] = np.nan
    G, C = kernels.whitened_products(inputs, 1.0, Z, T)
    assert np.all(np.isfinite(G)) and np.all(np.isnan(C[:, 3])) and np.all(np.isfinite(np.delete(C, 3, axis=1)))
    Z[1, 100] = np.inf
    G, C = kernels.whitened_products(inputs, 1.0, Z, T)
    assert not np.all(np.isfinite(G))
