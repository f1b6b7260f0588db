"""Compiled CPU loops (numba) for the products that BLAS does badly: few rows times a very long inner dimension.

The exact solver's float32 path needs, over millions of rows, the Gram matrix of a few whitened input
columns and their products with the target columns: (n_fit x n_rows) times (n_rows x horizon) with n_fit of
2-6. BLAS packs such skinny operands before it multiplies them, which costs another pass over the targets;
the loops here read each block of targets once, from cache, and keep a 3 x 4 tile of sums in registers.
"""

import numba
import numpy as np
from numpy.lib.stride_tricks import as_strided

__all__ = ["whitened_products"]

# Rows per float32 sum: each block's sums are added in float64 (the accuracy of the exact solver's float32 path).
PRODUCT_ROWS = 4096
_TILE = 3  # whitened rows per tile (the tile's sums, 3 x 4, and its operands fill the 16 AVX registers)
# Reassociation lets LLVM vectorise the sums; no assumption about NaN/inf, which the caller checks for.
_COMPILE = dict(nogil=True, cache=True, fastmath={"reassoc", "contract"})


def whitened_products(inputs, offset, Z, T):
    """The float64 sums of ``w w^T`` and ``w T^T`` over the columns of ``w = inputs @ Z`` (plus ``offset`` added
    to its last row when ``offset`` is not None), formed in float32 over blocks of :data:`PRODUCT_ROWS` rows.

    ``inputs`` (n_fit, n_in), ``Z`` (n_in, n_rows) and ``T`` (horizon, n_rows) are float32; ``Z`` and ``T`` may
    be views with any strides. Releases the GIL. Returns ``(G, C)`` of shapes (n_fit, n_fit), (n_fit, horizon).
    """
    z, z_ld = _flat_rows(Z)
    t, t_ld = _flat_rows(T)
    n_fit = inputs.shape[0]
    padded = np.zeros((-(-n_fit // _TILE) * _TILE, inputs.shape[1]), np.float32)  # zero rows: zero sums, dropped
    padded[:n_fit] = inputs
    G, C = _products(z, z_ld, t, t_ld, T.shape[0], Z.shape[1], padded, n_fit,
                     np.float32(0 if offset is None else offset), offset is not None, PRODUCT_ROWS)
    G = G[:n_fit, :n_fit]
    return (G + G.T) / 2, C[:n_fit]  # the two halves hold the same products, summed in another order


def _flat_rows(A):
    """A 1-D contiguous view from the first to the last element of the 2-D float32 array A whose row i starts
    at ``i * ld`` (a copy when A's rows are not contiguous or not in order), and ``ld``."""
    item = A.itemsize
    if A.strides[1] != item or A.shape[0] > 1 and (A.strides[0] < A.shape[1] * item or A.strides[0] % item):
        A = np.ascontiguousarray(A)
    ld = A.strides[0] // item if A.shape[0] > 1 else A.shape[1]
    # the elements between the first and the last all lie in A's buffer
    return as_strided(A, shape=((A.shape[0] - 1) * ld + A.shape[1],), strides=(item,)), ld


@numba.njit(**_COMPILE)
def _products(z, z_ld, t, t_ld, horizon, n_rows, inputs, n_fit, offset, add_offset, block):
    n_pad, n_in = inputs.shape
    w = np.zeros((n_pad, block), np.float32)  # the whitened rows of one block (rows past n_fit stay zero)
    flat_w = w.reshape(-1)
    G = np.zeros((n_pad, n_pad))
    C = np.zeros((n_pad, horizon))
    for start in range(0, n_rows, block):
        rows = min(block, n_rows - start)
        for i in range(n_fit):
            row = w[i, :rows]
            row[:] = offset if add_offset and i == n_fit - 1 else 0
            for k in range(n_in):
                a = inputs[i, k]
                if a != 0:  # the whitening is triangular
                    column = z[k * z_ld + start:k * z_ld + start + rows]
                    for r in range(rows):
                        row[r] += a * column[r]
        _add_tiles(w, rows, flat_w, block, 0, n_pad, G)
        _add_tiles(w, rows, t, t_ld, start, horizon, C)
    return G, C


@numba.njit(**_COMPILE)
def _add_tiles(w, rows, source, ld, start, n_source, out):
    """out[i, j] += sum over the first ``rows`` of w[i] * source row j (row j at ``j * ld + start``)."""
    for i in range(0, w.shape[0], _TILE):
        w0, w1, w2 = w[i, :rows], w[i + 1, :rows], w[i + 2, :rows]
        for j in range(0, n_source - 3, 4):
            first = j * ld + start
            sums = _tile_3x4(w0, w1, w2, source[first:first + rows], source[first + ld:first + ld + rows],
                             source[first + 2 * ld:first + 2 * ld + rows],
                             source[first + 3 * ld:first + 3 * ld + rows])
            for q in range(12):
                out[i + q // 4, j + q % 4] += sums[q]
        for j in range(n_source // 4 * 4, n_source):
            first = j * ld + start
            sums = _tile_3x1(w0, w1, w2, source[first:first + rows])
            for q in range(3):
                out[i + q, j] += sums[q]


@numba.njit(**_COMPILE)
def _tile_3x4(w0, w1, w2, s0, s1, s2, s3):
    # written out, not looped over an array: twelve scalars are what LLVM keeps in registers
    a00 = a01 = a02 = a03 = a10 = a11 = a12 = a13 = a20 = a21 = a22 = a23 = np.float32(0)
    for r in range(w0.shape[0]):
        x0, x1, x2 = w0[r], w1[r], w2[r]
        y0, y1, y2, y3 = s0[r], s1[r], s2[r], s3[r]
        a00 += x0 * y0
        a01 += x0 * y1
        a02 += x0 * y2
        a03 += x0 * y3
        a10 += x1 * y0
        a11 += x1 * y1
        a12 += x1 * y2
        a13 += x1 * y3
        a20 += x2 * y0
        a21 += x2 * y1
        a22 += x2 * y2
        a23 += x2 * y3
    return a00, a01, a02, a03, a10, a11, a12, a13, a20, a21, a22, a23


@numba.njit(**_COMPILE)
def _tile_3x1(w0, w1, w2, s0):
    a0 = a1 = a2 = np.float32(0)
    for r in range(w0.shape[0]):
        y = s0[r]
        a0 += w0[r] * y
        a1 += w1[r] * y
        a2 += w2[r] * y
    return a0, a1, a2
