"""The paper's linear farcasters: one linear map over time shared by every coordinate of every sequence.

For each coordinate j of a sequence, ``yhat_j = x_j @ coef_ + intercept_`` where ``x_j`` holds the
selected input steps of that coordinate. Two solvers fit ``coef_`` (n_in, m) and ``intercept_`` (m,):

* ``"lstsq"``: exact (ridge) least squares in float64, one pass over the data through a streaming QR
  factorisation (the normal equations lose about five digits on the nearly collinear LFN inputs);
* ``"paper"``: the paper's objective, element-wise L1 + beta * L_grad, minimised by Adam over
  minibatches of sequences with early stopping on held-out sequences; by default warm-started from
  the exact solution (``init="lstsq"``), or from PyTorch's default ``nn.Linear`` initialisation
  (``init="default"``, the paper's protocol).
"""

import os

import numpy as np
import scipy.linalg
import torch
from sklearn.base import clone
from tqdm.auto import tqdm

from .base import BaseForecaster, data_dtype
from .constraints import Boolean, Integer, Options, Real
from .distributed import LOCAL
from .selection import SELECTOR, AllSelector, FirstLastSelector, IntrospectionSelector, LastSelector, \
    SampledSelector

__all__ = ["LinearFarcaster", "LFD2Forecaster", "LFNForecaster", "LFSForecaster", "LFLForecaster",
           "StreamingLeastSquares", "paper_gradient"]


# Rows per QR update of the exact solver on the CPU: [R; block] stays in cache and reuses its memory.
_QR_BLOCK = 8192
# Rows of one update that each thread of the CPU solver gets at least (fewer: one thread does all).
_THREAD_ROWS = 4 * _QR_BLOCK
# float32 rows: the fewest rows an update needs for the float32 products (four of their float32 sums, see
# kernels.PRODUCT_ROWS; smaller updates go through the QR), the rows sampled to whiten them (in runs of
# contiguous rows), and the largest condition number of the correlation matrix of an update's whitened inputs
# that is accepted.
_FLOAT32_MIN_ROWS = 16384
_SAMPLE_ROWS, _SAMPLE_RUN = 4096, 256
_WHITENED_COND = 16.0
# Values per part of a slab in the paper solver's passes on the CPU (4 MB of float32: few calls, still in cache).
_CACHE_VALUES = 2 ** 20

_POOL = []  # the CPU solver's worker threads, started on first use and shared by every fit
_BLAS = []  # a threadpoolctl controller of the BLAS libraries, made on first use


def _thread_pool():
    if not _POOL:
        from concurrent.futures import ThreadPoolExecutor

        _POOL.append(ThreadPoolExecutor(max_workers=max(1, os.cpu_count() or 1), thread_name_prefix="weightcast-qr"))
    return _POOL[0]


def _one_blas_thread():
    """A context in which BLAS and LAPACK run one thread each. The CPU solver's calls are small (cache-sized
    blocks): a multi-threaded BLAS loses far more in synchronisation than it gains on them (40 times slower
    for LFN on a busy two-core machine); the solver shares the rows between its own threads instead."""
    if not _BLAS:
        from threadpoolctl import ThreadpoolController

        _BLAS.append(ThreadpoolController())
    return _BLAS[0].limit(limits=1, user_api="blas")


class StreamingLeastSquares:
    """Exact (ridge) least squares of targets on [inputs, 1], one block of rows at a time: a streaming QR.

    R and Q^T T of the rows seen so far are updated by the QR of [R; new rows] in float64, so the data are
    read once, never held in float64 beyond one block, and the normal equations of the inputs as given
    (which lose about five digits on nearly collinear inputs) are never formed. On the CPU each update is
    LAPACK's QR of a triangle over a block of rows (``dtpqrt``, blocks that stay in cache); the rows of a
    large update are shared between ``n_threads`` threads, each factoring its own part, and their factors
    are merged by one more QR of the stacked triangles (as the ranks of a distributed fit are). On an
    accelerator, torch's QR of a whole slab.

    Large float32 updates on the CPU skip the float64 copy of the targets, which costs more than the QR
    itself: the inputs are first whitened by the QR of a sample of the update's rows (so that their columns
    are orthonormal and nothing cancels), the products with the targets are formed in float32 in blocks of
    4,096 rows by compiled loops that read the targets once (:mod:`weightcast.kernels`) and added in float64,
    and the update's factors follow from its whitened Gram matrix by a
    Cholesky factorisation. Forecasts agree with the float64 QR's to about 1e-6 of the largest forecast (the
    errors do not grow with the collinearity of the inputs; a float32 sum keeps about six digits of the
    targets' size, which parameters far from zero that barely move feel most). An update whose whitened
    inputs are not nearly orthogonal (rank-deficient inputs, a sample that misses rows of another kind) goes
    through the QR instead; so do NaN/inf, float64 data and small updates.

    Parameters
    ----------
    n_in, horizon : int
        Input columns and target columns.
    fit_intercept : bool
        Add a column of ones (the intercept, not penalised).
    alpha : float
        Ridge penalty on the input coefficients, ``||Z w - t||^2 + alpha ||w||^2``.
    device : torch.device
    ridge_rows : bool
        Add the ridge rows (False on all ranks but one of a distributed fit: they count once).
    n_threads : int or None
        Threads of the CPU solver; None: torch's (``torch.get_num_threads()``).
    """

    def __init__(self, n_in, horizon, *, fit_intercept=True, alpha=0.0, device=torch.device("cpu"), ridge_rows=True,
                 n_threads=None):
        self.n_in, self.horizon = n_in, horizon
        self.n_fit = n_in + 1 if fit_intercept else n_in  # columns of [inputs, 1] that are fitted
        self.fit_intercept = fit_intercept
        self.device = device
        self.n_threads = torch.get_num_threads() if n_threads is None else int(n_threads)
        R = np.zeros((self.n_fit, self.n_fit))
        if ridge_rows:
            R[:n_in, :n_in] = np.sqrt(alpha) * np.eye(n_in)
        self.R, self.QtY = torch.as_tensor(R, device=device), torch.zeros(self.n_fit, horizon, dtype=torch.float64,
                                                                          device=device)
        self._buffers = []  # per CPU thread: its reused block buffers

    def update(self, Z, T):
        """Add rows: ``Z`` of shape (n_in, n_rows) and ``T`` (horizon, n_rows), any float dtype, on the device."""
        if self.device.type == "cpu":
            self._update_cpu(Z.numpy(), T.numpy())
        else:
            self._update_device(Z, T)

    def _update_cpu(self, Z, T):
        n_rows = Z.shape[1]
        n_parts = max(1, min(self.n_threads, n_rows // _THREAD_ROWS))
        R, QtY = np.asfortranarray(self.R.numpy()), self.QtY.numpy().copy()
        with _one_blas_thread():
            if Z.dtype == T.dtype == np.float32 and n_rows >= _FLOAT32_MIN_ROWS:
                factors = self._whitened_factors(Z, T, n_parts)
                if factors is not None:
                    R, QtY = _merge_factors([(R, QtY), factors])
                    self.R, self.QtY = torch.from_numpy(R), torch.from_numpy(np.ascontiguousarray(QtY))
                    return
            if n_parts == 1:
                R, QtY = self._blocks_cpu(0, R, QtY, Z, T)
            else:  # whole blocks per thread; the first continues the factors so far, the others start empty
                cuts = [part * n_rows // n_parts // _QR_BLOCK * _QR_BLOCK for part in range(n_parts)] + [n_rows]
                starts = [(R, QtY)] + [(np.zeros((self.n_fit, self.n_fit), order="F"),  # updated in place
                                        np.zeros((self.n_fit, self.horizon))) for _ in range(n_parts - 1)]
                self._buffers += [None] * (n_parts - len(self._buffers))
                futures = [_thread_pool().submit(self._blocks_cpu, part, *starts[part],
                                                 Z[:, cuts[part]:cuts[part + 1]], T[:, cuts[part]:cuts[part + 1]])
                           for part in range(n_parts)]
                R, QtY = _merge_factors([future.result() for future in futures])
        self.R, self.QtY = torch.from_numpy(R), torch.from_numpy(np.ascontiguousarray(QtY))

    def _blocks_cpu(self, part, R, QtY, Z, T):
        """Update the factors ``R`` (Fortran-ordered, overwritten) and ``QtY`` with the rows of Z and T, one
        cache-sized block at a time, in the buffers of thread ``part``; returns the new (R, QtY)."""
        from scipy.linalg.lapack import dtpqrt

        if not self._buffers:
            self._buffers.append(None)
        if self._buffers[part] is None:  # rows of [Z, 1] as columns: the transposed block is the
            self._buffers[part] = (np.empty((self.n_fit, _QR_BLOCK)), np.empty((self.horizon, _QR_BLOCK)))
        Zb, Tb = self._buffers[part]  # Fortran-ordered matrix LAPACK reads
        n_rows, n_in, n_fit = Z.shape[1], self.n_in, self.n_fit
        # Every step releases the GIL (the casts, dtpqrt, np.dot; not numpy's @), so threads run in parallel.
        with np.errstate(invalid="ignore", over="ignore"):  # NaN/inf reach the factors: see finite()
            for start in range(0, n_rows, _QR_BLOCK):
                rows = min(_QR_BLOCK, n_rows - start)
                block, targets = Zb[:, :rows], Tb[:, :rows]
                block[:n_in] = Z[:, start:start + rows]  # the cast to float64, in cache
                if self.fit_intercept:
                    block[n_in] = 1  # (dtpqrt leaves its reflectors in the buffer)
                targets[...] = T[:, start:start + rows]
                # [R; block^T] = Q [R'; 0] with Q = I - [I; V] Tf [I; V]^T: only the top of Q^T [QtY; T] is kept.
                R, V, Tf, info = dtpqrt(0, n_fit, R, block.T, overwrite_a=True, overwrite_b=True)
                QtY -= np.dot(Tf.T, QtY + np.dot(targets, V).T)
        return np.triu(R), QtY

    def _whitened_factors(self, Z, T, n_parts):
        """(R, Q^T T) of the float32 rows Z, T from whitened float32 products, or None when the QR must do it."""
        whitening = self._whitening(Z)
        if whitening is None:
            return None
        if n_parts == 1:
            sums = [self._whitened_products(whitening, Z, T)]
        else:
            cuts = [part * Z.shape[1] // n_parts for part in range(n_parts)] + [Z.shape[1]]
            sums = [future.result() for future in [
                _thread_pool().submit(self._whitened_products, whitening, Z[:, cuts[part]:cuts[part + 1]],
                                      T[:, cuts[part]:cuts[part + 1]]) for part in range(n_parts)]]
        G, C = sum(pair[0] for pair in sums), sum(pair[1] for pair in sums)
        if not (np.all(np.isfinite(G)) and np.all(np.isfinite(C))):
            return None  # NaN/inf, or float32 overflow: the float64 QR meets them as before
        # float32 rounding is relative, so a whitened column that is merely larger or smaller than the sample's
        # costs nothing; what would is columns far from orthogonal: the condition of their correlation matrix.
        variances = np.diag(G)
        if not np.all(variances > 0):
            return None
        scale = 1 / np.sqrt(variances)
        eigenvalues = np.linalg.eigvalsh(G * scale[:, None] * scale[None, :])
        if not eigenvalues[0] > eigenvalues[-1] / _WHITENED_COND:
            return None
        # G = L L^T is the Gram matrix of W [Z; 1] with W the whitening: R = (W^-1 L)^T, Q^T T = L^-1 C.
        # (numpy's solve: these matrices are tiny and scipy's triangular solve costs more in its checks.)
        L = np.linalg.cholesky(G)
        return np.asfortranarray(np.linalg.solve(whitening.astype(np.float64), L).T), np.linalg.solve(L, C)

    def _whitening(self, Z):
        """A lower-triangular float32 matrix W with W [Z; 1] of orthonormal rows on a sample of the columns of
        Z (scaled to one per row), or None when the sample is not finite or nearly rank-deficient."""
        # runs of contiguous rows spread over the update: a strided sample would read a cache line per row
        starts = np.linspace(0, Z.shape[1] - _SAMPLE_RUN, _SAMPLE_ROWS // _SAMPLE_RUN).astype(int)
        design = np.empty((len(starts) * _SAMPLE_RUN, self.n_fit))
        for run, start in enumerate(starts):
            design[run * _SAMPLE_RUN:(run + 1) * _SAMPLE_RUN, :self.n_in] = Z[:, start:start + _SAMPLE_RUN].T
        if self.fit_intercept:
            design[:, self.n_in] = 1
        if not np.all(np.isfinite(design)):
            return None
        R = np.linalg.qr(design, mode="r")
        diagonal = np.abs(np.diag(R))
        if not diagonal.min() > 1e-6 * diagonal.max():  # rank-deficient inputs: the QR finds the minimum norm
            return None
        return (np.tril(np.linalg.inv(R).T) * np.sqrt(design.shape[0])).astype(np.float32)  # exactly triangular

    def _whitened_products(self, whitening, Z, T):
        """The float64 sums of W [Z; 1] (W [Z; 1])^T and W [Z; 1] T^T over the rows of Z and T, formed in float32
        (compiled loops: the GIL is released, so the solver's threads run in parallel)."""
        from .kernels import whitened_products  # numba: imported when first needed

        # W is lower triangular (the inverse of a QR's R, transposed): the ones column only adds to the last row.
        return whitened_products(np.ascontiguousarray(whitening[:, :self.n_in]),
                                 whitening[-1, -1] if self.fit_intercept else None, Z, T)

    def _update_device(self, Z, T):
        f64 = dict(device=self.device, dtype=torch.float64)
        A = torch.empty(self.n_fit + Z.shape[1], self.n_fit, **f64)  # [R; Z] (a whole slab: GPUs like it big)
        A[:self.n_fit] = self.R
        A[self.n_fit:, :self.n_in] = Z.T
        if self.fit_intercept:
            A[self.n_fit:, self.n_in] = 1
        Q, self.R = torch.linalg.qr(A)
        self.QtY = Q[:self.n_fit].T @ self.QtY + Q[self.n_fit:].T @ T.T.to(torch.float64)

    def finite(self):
        """False when a NaN or inf reached the factors (from the data, or an overflow)."""
        return bool(torch.isfinite(self.R).all() and torch.isfinite(self.QtY).all())

    def solve(self, reducer=LOCAL):
        """The solution W of shape (n_in + 1, horizon), intercept last (0 without one), as a float64 array."""
        R, QtY = reducer.combine_qr(self.R, self.QtY)  # other ranks' rows
        # R is tiny: solve on the CPU with an SVD-based solver that tolerates rank deficiency.
        R, QtY = R.cpu().numpy(), QtY.cpu().numpy()
        if not (np.all(np.isfinite(R)) and np.all(np.isfinite(QtY))):
            raise ValueError("the least-squares factors overflow float64: the data are too large; rescale X and Y")
        solution = scipy.linalg.lstsq(R, QtY, lapack_driver="gelsd")[0]
        W = np.zeros((self.n_in + 1, self.horizon))
        W[:self.n_fit] = solution
        return W


def _merge_factors(factors):
    """One (R, Q^T T) for the rows behind several: the QR of the stacked [R_i, (Q^T T)_i] (no normal equations)."""
    stacked = np.vstack([np.hstack(pair) for pair in factors])
    n_fit = factors[0][0].shape[0]
    with np.errstate(invalid="ignore", over="ignore"):  # NaN/inf are detected later (finite())
        Q, R = np.linalg.qr(stacked[:, :n_fit])
    return np.asfortranarray(R), Q.T @ stacked[:, n_fit:]


def design_rows(x, steps):
    """The time-major design rows of a block x (n_sequences, n_steps, n_params): (n_in, n_sequences * n_params)."""
    selected = x if steps is None else x[:, steps]
    return selected.transpose(0, 1).reshape(selected.shape[1], -1)


def least_squares_rows(x, y, device):
    """Yield ``(Z, T)`` for :meth:`StreamingLeastSquares.update` from blocks x, y (n_sequences, steps, slab):
    on the CPU, wide slabs one sequence at a time (views: a slab-sized copy costs more in fresh pages than
    the QR saves in calls), otherwise the whole block at once."""
    if device.type == "cpu" and (x.shape[0] == 1 or x.shape[2] >= _QR_BLOCK // 4):
        for seq in range(x.shape[0]):
            yield x[seq], y[seq]
    else:
        yield design_rows(x, None), design_rows(y, None)


def time_major(blocks, piece=None):
    """``(slab, x, y)`` blocks as the time-major pairs ``(x, y)`` (n_steps, n_sequences, n_params) that
    :func:`paper_gradient` and the residuals take; with ``piece``, cut into parts of at most that many
    parameters (so that the passes over a part stay in cache)."""
    for _, x, y in blocks:
        step = x.shape[2] if piece is None else piece
        for start in range(0, x.shape[2], step):
            part = slice(start, start + step)
            yield x[:, :, part].transpose(0, 1), None if y is None else y[:, :, part].transpose(0, 1)


def _piece(device, n_sequences, horizon):
    """Parameters per part of a slab in the paper solver's passes: cache-sized on the CPU, whole slabs elsewhere."""
    return max(1, _CACHE_VALUES // max(1, n_sequences * horizon)) if device.type == "cpu" else None


def _forecast(Xt, W, out=None):
    """The map applied to time-major inputs: (n_in, ...) -> (m, ...), the intercept being ``W[-1]``.

    ``out``, a tensor with as many elements as the result, is filled instead of a fresh one.
    """
    X2 = Xt.reshape(Xt.shape[0], -1)  # a view when there is one sequence, as at scale
    shape = (W.shape[1], X2.shape[1])
    out = out.view(shape) if out is not None and out.numel() == shape[0] * shape[1] else None
    pred = torch.addmm(W[-1][:, None], W[:-1].T, X2, out=out)
    return pred.view((W.shape[1],) + tuple(Xt.shape[1:]))


def _abs_sum(values, scratch):
    """sum |values|, through the reused buffer ``scratch[0]`` (torch's own L1 norm is several times slower)."""
    if scratch[0] is None or scratch[0].shape != values.shape or scratch[0].dtype != values.dtype:
        scratch[0] = torch.empty_like(values)
    return torch.abs(values, out=scratch[0]).sum()


def _residual_norm(Xt, Tt, W, power, out=None, scratch=None):
    """sum |Xt-forecast - Tt| ** power (1 or 2), a float64 scalar tensor on the data's device (so that a loop over
    slabs never waits for an accelerator), and the residual tensor, without temporaries (``scratch``: a
    one-item list holding a reused buffer, for the L1 norm)."""
    residual = _forecast(Xt, W, out).sub_(Tt)
    if power == 2:
        return torch.linalg.vector_norm(residual).double() ** 2, residual
    return _abs_sum(residual, [None] if scratch is None else scratch).double(), residual


def paper_gradient(W, blocks, first_change, beta, n_params, reducer=LOCAL, power=None):
    """Gradient of the paper's loss L_pred + beta * L_grad for one minibatch of sequences.

    Analytic, so that it accumulates over parameter slabs in one pass: L_pred is a sum over rows, and
    L_grad needs per sequence only the running sum of |last predicted change| and the sum of its
    sub-gradients, combined once every slab has been seen.

    Parameters
    ----------
    W : tensor (n_in + 1, m), the map with the intercept as last row.
    blocks : iterable of (Xt, Tt), the batch's time-major blocks (:func:`time_major`), one per slab.
    first_change : tensor (batch,) of ||w_1 - w_0||_1, or None for no penalty.
    beta : float
    n_params : int, parameters per sequence (the mean of L_pred runs over all of them).
    reducer : adds the sums over other ranks' parameters (n_params is then the global count).
    power : {1, 2} or None
        Also return the sum of |residual| ** power (the monitored loss, from the same pass).

    Returns
    -------
    grad : tensor like W
    l1_total : float, sum of |residual| over the batch (for the training-loss history)
    power_total : float, only when ``power`` is given
    """
    grad = torch.zeros_like(W)
    penalised = first_change is not None and W.shape[1] >= 2
    n_sequences, change, change_grad = 0, 0.0, 0.0
    l1_total = power_total = torch.zeros((), dtype=torch.float64, device=W.device)  # no host sync per slab
    residual, scratch = None, [None]
    for Xt, Tt in blocks:
        n_sequences = Xt.shape[1]
        l1, residual = _residual_norm(Xt, Tt, W, 1, out=residual, scratch=scratch)  # (m, n_sequences, slab)
        l1_total = l1_total + l1
        if power == 2:
            power_total = power_total + torch.linalg.vector_norm(residual).double() ** 2
        sign = residual.sign_()
        grad[:-1] += Xt.reshape(Xt.shape[0], -1) @ sign.view(sign.shape[0], -1).T
        grad[-1] += sign.sum(dim=(1, 2))
        if penalised:  # per sequence: ||yhat_m - yhat_{m-1}||_1 and its sub-gradient
            last_change = _forecast(Xt, W[:, -1:] - W[:, -2:-1])[0]  # (n_sequences, n_params_slab)
            change = change + last_change.abs().sum(dim=1, dtype=torch.float64)
            last_sign = last_change.sign_()
            change_grad = change_grad + torch.cat([torch.einsum("knp,np->nk", Xt, last_sign),
                                                   last_sign.sum(dim=1)[:, None]], dim=1)
    grad, l1_total, power_total, change, change_grad = reducer.sum(  # other ranks' parameters
        grad, float(l1_total), float(power_total), change, change_grad)
    grad /= n_sequences * n_params * W.shape[1]
    if penalised:
        active = (change > first_change).to(W.dtype)
        penalty_grad = beta / n_sequences * (active[:, None] * change_grad).sum(dim=0)
        grad[:, -1] += penalty_grad
        grad[:, -2] -= penalty_grad
    if power is None:
        return grad, l1_total
    return grad, l1_total, (l1_total if power == 1 else power_total)


class LinearFarcaster(BaseForecaster):
    """One linear map from selected input steps to m future steps, shared by all coordinates.

    Parameters
    ----------
    selector : step selector or None, default=None
        Which input steps the map reads (a transformer from :mod:`weightcast.selection`). None means
        the class's own default: every step for ``LinearFarcaster`` and ``LFNForecaster``.
    m : int or None, default=None
        Horizon: number of target steps to fit and to predict by default. None uses every step of Y.
    solver : {"paper", "lstsq"}, default="paper"
        ``"lstsq"``: exact least squares (ridge with ``alpha``). ``"paper"``: L1 + beta * L_grad by Adam.
    init : {"lstsq", "default"}, default="lstsq"
        Start of the paper solver: the exact least-squares solution, or PyTorch's default
        ``nn.Linear`` initialisation (the paper's protocol, many more epochs).
    alpha : float, default=0.0
        Ridge penalty on the coefficients (not the intercept) of the exact solution, as in
        :class:`sklearn.linear_model.Ridge`: ``||Z w - y||^2 + alpha ||w||^2`` summed over rows.
    beta : float, default=1e-6
        Weight of the paper's gradient-norm penalty L_grad (paper solver only).
    fit_intercept : bool, default=True
        Learn an intercept per output step (the paper's ``nn.Linear`` has one).
    lr : float, default=1e-3
        Adam learning rate (paper solver). The paper used 0.004-0.006 for LFD-2 from its default init.
    batch_size : int, default=32
        Sequences per Adam step (paper solver).
    max_epochs : int, default=1000
        Upper bound on the epochs of the paper solver.
    patience : int, default=5
        Epochs without improvement of the validation L1 loss before the paper solver stops; the best
        weights seen are restored.
    validation_fraction : float, default=0.2
        Share of the sequences held out for early stopping when ``fit`` gets no ``validation_data``.
        With 0, or a single sequence, the training sequences are monitored instead.
    validation_loss : {"l1", "mse"}, default="l1"
        What early stopping monitors on the held-out sequences: the paper's L_pred (element-wise mean
        absolute error), or the mean squared error that checkpoint scores use.
    slab_size : int, default=1048576
        Parameters read at a time; bounds memory independently of n_params.
    device : str, default="auto"
        "auto" (CUDA when available), "cpu" or "cuda".
    random_state : int, RandomState instance or None, default=None
        Seeds the initialisation, the validation split and the minibatch order.
    verbose : int, default=0
        0 is silent; 1 shows a progress bar over epochs.

    Attributes
    ----------
    coef_ : ndarray of shape (n_in, m)
        Coefficient of each selected input step (rows, in ``steps_`` order) for each output step.
    intercept_ : ndarray of shape (m,)
    steps_ : ndarray of int
        The input steps read, indices into the input window.
    selector_ : fitted selector
    horizon_ : int
        Number of output steps fitted.
    n_features_in_ : int
        Number of input time steps (the 2-D lift makes time steps scikit-learn's features).
    n_params_in_ : int
        Number of parameters per step.
    n_epochs_ : int
        Epochs run by the paper solver (0 for ``"lstsq"``).
    history_ : list of dict
        Per epoch: ``epoch``, ``train_loss`` (L_pred), ``validation_loss`` (as chosen by ``validation_loss``).
    device_ : torch.device

    Examples
    --------
    >>> import numpy as np
    >>> from weightcast import LinearFarcaster, split_sequences
    >>> t = np.arange(30.0)
    >>> S = np.stack([np.outer(0.9 ** t, [1.0, -2.0]) + c for c in (0.0, 1.0, 3.0)])  # (3, 30, 2)
    >>> X, Y = split_sequences(S, n_input_steps=10)
    >>> est = LinearFarcaster(solver="lstsq").fit(X, Y)
    >>> np.allclose(est.predict(X), Y)
    True
    """

    _parameter_constraints = {
        "selector": SELECTOR,
        "solver": Options("paper", "lstsq"),
        "init": Options("lstsq", "default"),
        "alpha": Real(low=0),
        "beta": Real(low=0),
        "fit_intercept": Boolean(),
        "validation_loss": Options("l1", "mse"),
    }

    def __init__(self, selector=None, m=None, solver="paper", init="lstsq", alpha=0.0, beta=1e-6,
                 fit_intercept=True, lr=1e-3, batch_size=32, max_epochs=1000, patience=5,
                 validation_fraction=0.2, validation_loss="l1", slab_size=1_048_576, device="auto",
                 random_state=None, verbose=0):
        self.selector = selector
        self.m = m
        self.solver = solver
        self.init = init
        self.alpha = alpha
        self.beta = beta
        self.fit_intercept = fit_intercept
        self.lr = lr
        self.batch_size = batch_size
        self.max_epochs = max_epochs
        self.patience = patience
        self.validation_fraction = validation_fraction
        self.validation_loss = validation_loss
        self.slab_size = slab_size
        self.device = device
        self.random_state = random_state
        self.verbose = verbose

    @classmethod
    def get_test_params(cls):
        return [{"solver": "lstsq", "device": "cpu"},
                {"solver": "paper", "max_epochs": 3, "device": "cpu", "random_state": 0}]

    def _default_selector(self):
        return AllSelector()

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        # A map that reads only some input steps is a poor general regressor (scikit-learn's checks
        # score it on generic features); that is the model, not a defect.
        selector = self._default_selector() if self.selector is None else self.selector
        tags.regressor_tags.poor_score = not isinstance(selector, AllSelector)
        return tags

    # ------------------------------------------------------------------ fit
    _collective = True  # fit(..., reducer=TorchDistributedReducer()) combines the ranks' parameters

    def _fit(self, X, Y, fit):
        device, reducer = fit.device, fit.reducer
        horizon = self._target_horizon(Y.shape[1])
        Y = Y[:, :horizon]
        selector = self._default_selector() if self.selector is None else clone(self.selector)
        selector.fit_steps(X.shape[1])
        steps = selector.steps_
        generator = self._torch_generator(device)
        reducer.agree(generator, n_sequences=X.shape[0], n_input_steps=X.shape[1], horizon=horizon,
                      steps=steps, params=self.get_params(deep=False))

        if self.solver == "lstsq":
            W = self._solve_lstsq(X, Y, steps, device, reducer=reducer)
            history = []
        else:
            if self.beta > 0 and horizon >= 2 and X.shape[1] < 2:
                raise ValueError(f"beta={self.beta} > 0 needs w_0 and w_1 for the gradient penalty, but X has "
                                 f"{X.shape[1]} input step(s) (n_features={X.shape[1]}); set beta=0")
            W, history = self._solve_paper(X, Y, steps, device, generator, fit.validation_data, reducer)
        if not np.all(np.isfinite(W)):
            raise ValueError(f"the {self.solver!r} solver produced non-finite coefficients: the data overflow "
                             "its float32/float64 arithmetic; rescale X and Y")
        self._set_solution(W, selector, horizon, history)

    def _set_solution(self, W, selector, horizon, history=()):
        """The fitted attributes of the map ``W`` (n_in + 1, horizon), intercept last."""
        self.selector_ = selector
        self.steps_ = selector.steps_
        self.horizon_ = horizon
        self.coef_ = W[:-1]
        self.intercept_ = W[-1]
        self.history_ = list(history)
        self.n_epochs_ = len(self.history_)

    def _intercept_mask(self, n_columns, device, dtype):
        """1 for the columns of W that are fitted, 0 for a disabled intercept."""
        mask = torch.ones(n_columns, 1, device=device, dtype=dtype)
        if not self.fit_intercept:
            mask[-1] = 0
        return mask

    def _solve_lstsq(self, X, Y, steps, device, seqs=None, reducer=LOCAL):
        """Exact (ridge) least squares by a streaming QR (:class:`StreamingLeastSquares`): one pass, float64.

        Y is not checked block by block: a NaN or inf reaches the factors, and only then is the data read
        again to name it.
        """
        solver = StreamingLeastSquares(len(steps), Y.shape[1], fit_intercept=self.fit_intercept, alpha=self.alpha,
                                       device=device, ridge_rows=reducer.rank == 0)
        rows = self._reader(X, Y, device=device, steps=steps, check_y=False,
                            progress="exact fit" if self.verbose > 0 else None)
        for _, x, y in rows.blocks(seqs):
            for Z, T in least_squares_rows(x, y, device):
                solver.update(Z, T)
        if not solver.finite():
            rows.find_non_finite()  # names a NaN or inf of the data, if that is the cause
        return solver.solve(reducer)

    def _solve_paper(self, X, Y, steps, device, generator, validation_data, reducer=LOCAL):
        """Adam on L1 + beta * L_grad over minibatches of sequences, with early stopping.

        A minibatch reads its sequences' slabs once (L_grad combines a sequence's sums over every slab
        before the step), so an epoch reads each training sequence once and each held-out one once.
        """
        # float32 as in the paper, unless the data are float64: the exact warm start of a map over nearly
        # collinear steps (LFN) cancels large coefficients and loses everything when rounded to float32.
        dtype = torch.float64 if data_dtype(X) == np.float64 else torch.float32
        if validation_data is not None:
            X_val, Y_val = self._check_validation_data(validation_data, X, Y)
            train = np.arange(X.shape[0])
            val_rows = self._reader(X_val, Y_val, device=device, dtype=dtype, steps=steps,
                                    names=("validation X", "validation Y"))
            val_seqs = np.arange(X_val.shape[0])
        else:
            train, val_seqs = self._split_validation(X.shape[0], generator)
            val_rows = None
        rows = self._reader(X, Y, device=device, dtype=dtype, steps=steps,
                            progress="epoch" if self.verbose > 1 else None)
        val_rows = rows if val_rows is None else val_rows
        n_columns, horizon, n_params = len(steps) + 1, Y.shape[1], X.shape[2]
        reducer.agree(n_validation_sequences=len(val_seqs))
        n_params = reducer.sum(n_params)  # the global parameter count
        mask = self._intercept_mask(n_columns, device, dtype)

        if self.init == "lstsq":
            W0 = torch.as_tensor(self._solve_lstsq(X, Y, steps, device, train, reducer), dtype=dtype)
        else:  # nn.Linear's default: U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for weights and bias
            bound = 1.0 / np.sqrt(n_columns - 1)
            W0 = (torch.rand(n_columns, horizon, generator=generator, dtype=dtype) * 2 - 1) * bound
        W = (W0.to(device) * mask).requires_grad_(True)
        optimizer = torch.optim.Adam([W], lr=self.lr)
        first_change = self._first_change(X, device, reducer) if self.beta > 0 and horizon >= 2 else None

        def first_change_of(batch):
            return None if first_change is None else first_change[torch.as_tensor(batch, device=device)]

        power = 2 if self.validation_loss == "mse" else 1
        n_values = n_params * horizon

        def monitored_loss():
            total, residual, scratch = 0.0, None, [None]
            with torch.no_grad():
                blocks = val_rows.blocks(val_seqs, desc="validation")
                for Xt, Tt in time_major(blocks, _piece(device, len(val_seqs), horizon)):
                    loss, residual = _residual_norm(Xt, Tt, W, power, out=residual, scratch=scratch)
                    total = total + loss
                total = reducer.sum(float(total))  # other ranks' parameters
            return total / (len(val_seqs) * n_values)

        history = []
        best = {"loss": np.inf, "W": W.detach().clone(), "waited": 0}

        def record(epoch, train_loss, loss, W_epoch):
            """Keep the best weights seen; True when patience has run out."""
            if epoch > 0:
                history.append({"epoch": epoch, "train_loss": train_loss, "validation_loss": loss})
            if epoch == 0 or loss < best["loss"]:
                best.update(loss=loss, W=W_epoch, waited=0)
                return False
            best["waited"] += 1
            return best["waited"] >= self.patience

        # Monitoring the training sequences with one minibatch per epoch (one long run, as at DistilBERT
        # scale): the pass of epoch e also gives the loss of the weights epoch e - 1 ended with, so an
        # epoch reads the data once, and only the final weights need a pass of their own.
        fused = val_rows is rows and np.array_equal(val_seqs, train) and len(train) <= self.batch_size
        if not fused:
            record(0, None, monitored_loss(), W.detach().clone())
        pending = (0, None, W.detach().clone())  # fused: the epoch whose loss the next pass measures
        stopped = False
        epochs = tqdm(range(1, self.max_epochs + 1), disable=self.verbose == 0, desc="epochs", leave=False)
        for epoch in epochs:
            order = train[torch.randperm(len(train), generator=generator).numpy()]
            train_total = 0.0
            for start in range(0, len(order), self.batch_size):
                batch = np.sort(order[start:start + self.batch_size])  # sorted: sequential file reads
                with torch.no_grad():
                    grad, batch_total, batch_power = paper_gradient(
                        W, time_major(rows.blocks(batch, desc="epoch"), _piece(device, len(batch), horizon)),
                        first_change_of(batch), self.beta, n_params,
                        reducer, power=power)
                train_total += batch_total
                if fused and record(*pending[:2], batch_power / (len(train) * n_values), pending[2]):
                    stopped = True
                    break
                W.grad = grad * mask
                optimizer.step()
            if stopped:
                break
            train_loss = train_total / (len(train) * n_values)
            if fused:
                pending = (epoch, train_loss, W.detach().clone())
            elif record(epoch, train_loss, monitored_loss(), W.detach().clone()):
                break
        if fused and not stopped and pending[0] > 0:
            record(*pending[:2], monitored_loss(), pending[2])
        return best["W"].cpu().numpy(), history

    def _first_change(self, X, device, reducer=LOCAL):
        """Per sequence, ||w_1 - w_0||_1 over all parameters (the reference of L_grad), in float64."""
        total = torch.zeros(X.shape[0], device=device, dtype=torch.float64)
        for _, first_two, _ in self._reader(X, device=device, dtype=torch.float64, steps=[0, 1]).blocks():
            total += (first_two[:, 1] - first_two[:, 0]).abs().sum(dim=1)
        return reducer.sum(total)  # other ranks' params

    def _validate_loaded_state(self):
        """Called by :func:`weightcast.load`: the restored arrays must fit together."""
        n_in = len(self.steps_)
        for name, shape in (("coef_", (n_in, self.horizon_)), ("intercept_", (self.horizon_,))):
            value = getattr(self, name)
            if not (isinstance(value, np.ndarray) and value.dtype.kind == "f" and value.shape == shape):
                raise ValueError(f"{name} must be a float array of shape {shape}")
        if self.steps_.dtype.kind not in "iu" or np.any((self.steps_ < 0) | (self.steps_ >= self.n_features_in_)):
            raise ValueError(f"steps_ {self.steps_} do not index a window of {self.n_features_in_} steps")

    # ------------------------------------------------------------------ forecast
    def _forecast_steps(self):
        return self.steps_

    def _forecast_dtype(self, dtype):
        # The wider of the data's and the coefficients' precision (float32 coefficients must not round float64 X).
        return torch.float64 if np.result_type(self.coef_, dtype) == np.float64 else torch.float32

    def _slab_forecast(self, m, device, dtype):
        W = torch.as_tensor(np.vstack([self.coef_, self.intercept_[None]])[:, :m], device=device).to(dtype)
        scratch = [None]  # one output buffer for every slab: spares the page faults of fresh ones

        def forecast(x):  # valid until the next call: the caller copies it out first
            scratch[0] = _forecast(x.transpose(0, 1), W, out=scratch[0])
            return scratch[0].transpose(0, 1)

        return forecast


class LFD2Forecaster(LinearFarcaster):
    """LFD-2: the linear farcaster on the first and last input steps, w_0 and w_n (the paper's model).

    Parameters are those of :class:`LinearFarcaster`; ``selector=None`` means :class:`FirstLastSelector`.

    Examples
    --------
    >>> import numpy as np
    >>> from weightcast import LFD2Forecaster, split_sequences
    >>> rng = np.random.default_rng(0)
    >>> S = np.cumsum(rng.normal(size=(20, 41, 5)), axis=1).astype(np.float32)
    >>> X, Y = split_sequences(S, n_input_steps=21)
    >>> LFD2Forecaster(random_state=0).fit(X, Y).predict(X, m=5).shape
    (20, 5, 5)
    """

    def _default_selector(self):
        return FirstLastSelector()


class LFNForecaster(LinearFarcaster):
    """LFN: the linear farcaster on every input step, w_0 .. w_n.

    ``selector=None`` means :class:`AllSelector`. With ``solver="lstsq"`` it extrapolates gradient descent
    on a quadratic to rounding error (Proposition 1 of the paper, with every step as input).
    """


class LFSForecaster(LinearFarcaster):
    """LFS: the linear farcaster on a few sampled input steps.

    Parameters are those of :class:`LinearFarcaster`, and ``k``:

    k : int or None, default=None
        The paper's sampling: the map reads ``k`` input steps drawn uniformly without replacement, seeded
        by ``random_state`` (:class:`SampledSelector`), so ``GridSearchCV(LFSForecaster(), {"k": [2, 3, 5]})``
        tunes it. None (with ``selector=None``) means :class:`IntrospectionSelector`: [w_n, w_0.7n, w_0.4n,
        w_0], deterministic (the authors' code uses this pattern with n drawn at random). Give either ``k``
        or an explicit ``selector`` (whose own parameters, such as ``selector__k``, are then tuned), not both.

    Examples
    --------
    >>> import numpy as np
    >>> from weightcast import LFSForecaster, split_sequences
    >>> rng = np.random.default_rng(0)
    >>> S = np.cumsum(rng.normal(size=(20, 31, 4)), axis=1)
    >>> X, Y = split_sequences(S, n_input_steps=21)
    >>> LFSForecaster(k=3, solver="lstsq", random_state=0).fit(X, Y).steps_.shape
    (3,)
    """

    _parameter_constraints = {"k": Integer(low=1, none=True)}

    def __init__(self, selector=None, k=None, m=None, solver="paper", init="lstsq", alpha=0.0, beta=1e-6,
                 fit_intercept=True, lr=1e-3, batch_size=32, max_epochs=1000, patience=5,
                 validation_fraction=0.2, validation_loss="l1", slab_size=1_048_576, device="auto",
                 random_state=None, verbose=0):
        super().__init__(selector=selector, m=m, solver=solver, init=init, alpha=alpha, beta=beta,
                         fit_intercept=fit_intercept, lr=lr, batch_size=batch_size, max_epochs=max_epochs,
                         patience=patience, validation_fraction=validation_fraction,
                         validation_loss=validation_loss, slab_size=slab_size, device=device,
                         random_state=random_state, verbose=verbose)
        self.k = k

    @classmethod
    def get_test_params(cls):
        return super().get_test_params() + [{"k": 2, "solver": "lstsq", "device": "cpu", "random_state": 0}]

    def _fit(self, X, Y, fit):
        if self.k is not None and self.selector is not None:
            raise ValueError(f"LFSForecaster got both k={self.k} and selector={self.selector!r}: give k for the "
                             "paper's uniform draw of k steps, or a selector (and tune its own parameters, such "
                             "as selector__k), not both")
        super()._fit(X, Y, fit)

    def _default_selector(self):
        if self.k is None:
            return IntrospectionSelector()
        return SampledSelector(k=self.k, random_state=self.random_state)


class LFLForecaster(LinearFarcaster):
    """LFL: the linear farcaster on the last input step, w_n, only. ``selector=None`` means :class:`LastSelector`."""

    def _default_selector(self):
        return LastSelector()
