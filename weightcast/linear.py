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

import numbers

import numpy as np
import scipy.linalg
import torch
from sklearn.base import clone
from tqdm.auto import tqdm

from .base import BaseForecaster, atomic_fit, iter_param_slabs, read_rows, _check_positive_int
from .distributed import LOCAL, collective_fit
from .selection import AllSelector, FirstLastSelector, IntrospectionSelector, LastSelector, _BaseSelector

__all__ = ["LinearFarcaster", "LFD2Forecaster", "LFNForecaster", "LFSForecaster", "LFLForecaster"]


class _Rows:
    """Design rows [selected input steps, 1] and target rows of some sequences, slab by slab.

    When one slab holds every parameter the rows are read once and kept on the device.
    """

    def __init__(self, X, Y, steps, slab_size, device, dtype):
        self.X, self.Y, self.steps = X, Y, steps
        self.device, self.dtype = device, dtype
        self.slabs = list(iter_param_slabs(X.shape[2], slab_size))
        self._cached = self._read(np.arange(X.shape[0]), self.slabs[0]) if len(self.slabs) == 1 else None

    def _read(self, seqs, params):
        Z = read_rows(self.X, seqs, self.steps, params, self.device, self.dtype)
        Z = torch.cat([Z, torch.ones(Z.shape[:2] + (1,), device=self.device, dtype=self.dtype)], dim=2)
        T = None if self.Y is None else read_rows(self.Y, seqs, slice(None), params, self.device, self.dtype)
        return Z, T

    def blocks(self, seqs):
        """Yield (Z, T) of shapes (len(seqs), n_params_slab, n_in + 1) and (len(seqs), n_params_slab, m)."""
        if self._cached is not None:
            index = torch.as_tensor(seqs, device=self.device)
            yield self._cached[0][index], None if self._cached[1] is None else self._cached[1][index]
            return
        for params in self.slabs:
            yield self._read(np.asarray(seqs), params)


def paper_gradient(W, blocks, first_change, beta, n_params, reducer=LOCAL):
    """Gradient of the paper's loss L_pred + beta * L_grad for one minibatch of sequences.

    Analytic, so that it accumulates over parameter slabs in one pass: L_pred is a sum over rows, and
    L_grad needs per sequence only the running sum of |last predicted change| and the sum of its
    sub-gradients, combined once every slab has been seen.

    Parameters
    ----------
    W : tensor (n_in + 1, m), the map with the intercept as last row.
    blocks : iterable of (Z, T), rows of the batch's sequences, one pair per parameter slab.
    first_change : tensor (batch,) of ||w_1 - w_0||_1, or None for no penalty.
    beta : float
    n_params : int, parameters per sequence (the mean of L_pred runs over all of them).
    reducer : adds the sums over other ranks' parameters (n_params is then the global count).

    Returns
    -------
    grad : tensor like W
    l1_total : float, sum of |residual| over the batch (for the training-loss history)
    """
    grad = torch.zeros_like(W)
    penalised = first_change is not None and W.shape[1] >= 2
    n_sequences, l1_total, change, change_grad = 0, 0.0, 0.0, 0.0
    for Z, T in blocks:
        n_sequences = Z.shape[0]
        residual = Z @ W - T
        l1_total += float(residual.abs().sum())
        grad += torch.einsum("bpc,bpm->cm", Z, torch.sign(residual))
        if penalised:
            last_change = Z @ (W[:, -1] - W[:, -2])
            change = change + last_change.abs().sum(dim=1, dtype=torch.float64)
            change_grad = change_grad + torch.einsum("bp,bpc->bc", torch.sign(last_change), Z)
    grad, l1_total, change, change_grad = reducer.sum(grad, l1_total, change, change_grad)  # other ranks
    grad /= n_sequences * n_params * W.shape[1]
    if penalised:
        active = (change > first_change).to(W.dtype)
        penalty_grad = beta / n_sequences * (active[:, None] * change_grad).sum(dim=0)
        grad[:, -1] += penalty_grad
        grad[:, -2] -= penalty_grad
    return grad, l1_total


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
    @atomic_fit
    @collective_fit
    def fit(self, X, Y, validation_data=None, *, reducer=None):
        """Fit the map from the input window ``X`` to the target steps ``Y``.

        Parameters
        ----------
        X : array of shape (n_sequences, n_input_steps, n_params) or (n_sequences, n_input_steps)
        Y : array of shape (n_sequences, m, n_params), (n_sequences, m) or (n_sequences,)
        validation_data : tuple (X_val, Y_val) or None
            Sequences for the paper solver's early stopping. None holds out ``validation_fraction``.
        reducer : None, LocalReducer or TorchDistributedReducer (:mod:`weightcast.distributed`)
            Fit across the ranks of a torch.distributed job, each holding its own parameters of the
            same sequences; every rank gets the same fit (see docs/distributed.md). None: one process.
        """
        self._check_params()
        device = self._check_runtime_params()
        X, Y = self._validate_fit_data(X, Y)
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
            W, history = self._solve_paper(X, Y, steps, device, generator, validation_data, reducer)
        if not np.all(np.isfinite(W)):
            raise ValueError(f"the {self.solver!r} solver produced non-finite coefficients: the data (largest "
                             f"magnitude {max(np.abs(X).max(), np.abs(Y).max()):.3g}) overflow its float32/float64 "
                             "arithmetic; rescale X and Y")

        self.selector_ = selector
        self.steps_ = steps
        self.horizon_ = horizon
        self.coef_ = W[:-1]
        self.intercept_ = W[-1]
        self.history_ = history
        self.n_epochs_ = len(history)
        self.device_ = device
        return self

    def _check_params(self):
        if self.selector is not None and not isinstance(self.selector, _BaseSelector):
            raise TypeError(f"selector must be a weightcast step selector or None, got {self.selector!r}")
        if self.solver not in ("paper", "lstsq"):
            raise ValueError(f"solver must be 'paper' or 'lstsq', got {self.solver!r}")
        if self.validation_loss not in ("mse", "l1"):
            raise ValueError(f"validation_loss must be 'mse' or 'l1', got {self.validation_loss!r}")
        if self.init not in ("lstsq", "default"):
            raise ValueError(f"init must be 'lstsq' or 'default', got {self.init!r}")
        for name in ("alpha", "beta", "lr", "validation_fraction"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, numbers.Real) or not np.isfinite(value):
                raise TypeError(f"{name} must be a finite real number, got {value!r}")
            if value < 0:
                raise ValueError(f"{name} must be >= 0, got {value}")
        if not 0 < self.lr <= 1e30:  # Adam's float32 step overflows far below float64's range
            raise ValueError(f"lr must be > 0 and at most 1e30, got {self.lr}")
        if self.validation_fraction >= 1:
            raise ValueError(f"validation_fraction must be < 1, got {self.validation_fraction}")
        _check_positive_int(self.batch_size, "batch_size")
        _check_positive_int(self.max_epochs, "max_epochs", minimum=0)
        _check_positive_int(self.patience, "patience")

    def _intercept_mask(self, n_columns, device, dtype):
        """1 for the columns of W that are fitted, 0 for a disabled intercept."""
        mask = torch.ones(n_columns, 1, device=device, dtype=dtype)
        if not self.fit_intercept:
            mask[-1] = 0
        return mask

    def _solve_lstsq(self, X, Y, steps, device, seqs=None, reducer=LOCAL):
        """Exact (ridge) least squares by a streaming QR: one pass, float64, rank-deficiency safe."""
        seqs = np.arange(X.shape[0]) if seqs is None else seqs
        n_columns = len(steps) + 1
        R = torch.zeros(n_columns, n_columns, device=device, dtype=torch.float64)
        R[:-1, :-1] = float(np.sqrt(self.alpha)) * torch.eye(n_columns - 1, device=device, dtype=torch.float64)
        if reducer.rank != 0:
            R.zero_()  # the ridge rows count once over all ranks
        QtY = torch.zeros(n_columns, Y.shape[1], device=device, dtype=torch.float64)
        rows = _Rows(X, Y, steps, self.slab_size, device, torch.float64)
        keep = slice(None) if self.fit_intercept else slice(0, -1)
        for Z, T in rows.blocks(seqs):
            Z = Z.reshape(-1, n_columns)[:, keep]
            Q, R_new = torch.linalg.qr(torch.cat([R[keep, keep], Z]))
            QtY_new = Q.T @ torch.cat([QtY[keep], T.reshape(-1, T.shape[-1])])
            R[keep, keep], QtY[keep] = R_new, QtY_new
        R[keep, keep], QtY[keep] = reducer.combine_qr(R[keep, keep], QtY[keep])  # other ranks' rows
        # R is tiny: solve on the CPU with an SVD-based solver that tolerates rank deficiency.
        R_kept, QtY_kept = R[keep, keep].cpu().numpy(), QtY[keep].cpu().numpy()
        if not (np.all(np.isfinite(R_kept)) and np.all(np.isfinite(QtY_kept))):
            raise ValueError("the least-squares factors overflow float64: the data are too large; rescale X and Y")
        solution = scipy.linalg.lstsq(R_kept, QtY_kept, lapack_driver="gelsd")[0]
        W = np.zeros((n_columns, Y.shape[1]))
        W[keep] = solution
        return W

    def _split_validation(self, n_sequences, generator):
        n_val = int(round(self.validation_fraction * n_sequences))
        if n_sequences < 2 or n_val == 0:
            everything = np.arange(n_sequences)
            return everything, everything
        n_val = min(n_val, n_sequences - 1)
        order = torch.randperm(n_sequences, generator=generator).numpy()
        return np.sort(order[n_val:]), np.sort(order[:n_val])

    def _solve_paper(self, X, Y, steps, device, generator, validation_data, reducer=LOCAL):
        """Adam on L1 + beta * L_grad over minibatches of sequences, with early stopping."""
        # float32 as in the paper, unless the data are float64: the exact warm start of a map over nearly
        # collinear steps (LFN) cancels large coefficients and loses everything when rounded to float32.
        dtype = torch.float64 if X.dtype == np.float64 else torch.float32
        if validation_data is not None:
            if not (isinstance(validation_data, (tuple, list)) and len(validation_data) == 2):
                raise TypeError("validation_data must be a tuple (X_val, Y_val)")
            X_val, Y_val = self._validate_validation_data(*validation_data, X, Y)
            train = np.arange(X.shape[0])
            val_rows = _Rows(X_val, Y_val, steps, self.slab_size, device, dtype)
            val_seqs = np.arange(X_val.shape[0])
        else:
            train, val_seqs = self._split_validation(X.shape[0], generator)
            val_rows = None
        rows = _Rows(X, Y, steps, self.slab_size, device, dtype)
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

        def monitored_loss():
            with torch.no_grad():
                total = sum(float((Z @ W - T).abs().pow(power).sum()) for Z, T in val_rows.blocks(val_seqs))
                total = reducer.sum(total)  # other ranks' params
            return total / (len(val_seqs) * n_params * horizon)

        best_loss, best_W, waited = monitored_loss(), W.detach().clone(), 0
        history = []
        epochs = tqdm(range(1, self.max_epochs + 1), disable=self.verbose == 0, desc="epochs", leave=False)
        for epoch in epochs:
            order = train[torch.randperm(len(train), generator=generator).numpy()]
            train_total = 0.0
            for start in range(0, len(order), self.batch_size):
                batch = order[start:start + self.batch_size]
                with torch.no_grad():
                    grad, batch_total = paper_gradient(W, rows.blocks(batch), first_change_of(batch),
                                                       self.beta, n_params, reducer)
                train_total += batch_total
                W.grad = grad * mask
                optimizer.step()
            loss = monitored_loss()
            history.append({"epoch": epoch, "train_loss": train_total / (len(train) * n_params * horizon),
                            "validation_loss": loss})
            if loss < best_loss:
                best_loss, best_W, waited = loss, W.detach().clone(), 0
            else:
                waited += 1
                if waited >= self.patience:
                    break
        return best_W.cpu().numpy(), history

    def _validate_validation_data(self, X_val, Y_val, X, Y):
        probe = clone(self)
        X_val, Y_val = probe._validate_fit_data(X_val, Y_val)
        if X_val.shape[1:] != X.shape[1:] or Y_val.shape[2] != Y.shape[2] or Y_val.shape[1] < Y.shape[1]:
            raise ValueError(f"validation_data must match the training data's steps and parameters: X_val "
                             f"{X_val.shape} vs X {X.shape}, Y_val {Y_val.shape} vs Y {Y.shape}")
        return X_val, Y_val[:, :Y.shape[1]]

    def _first_change(self, X, device, reducer=LOCAL):
        """Per sequence, ||w_1 - w_0||_1 over all parameters (the reference of L_grad), in float64."""
        total = torch.zeros(X.shape[0], device=device, dtype=torch.float64)
        everything = np.arange(X.shape[0])
        for params in iter_param_slabs(X.shape[2], self.slab_size):
            first_two = read_rows(X, everything, [0, 1], params, device, torch.float64)
            total += (first_two[..., 1] - first_two[..., 0]).abs().sum(dim=1)
        total = reducer.sum(total)  # other ranks' params
        return total

    def _validate_loaded_state(self):
        """Called by :func:`weightcast.load`: the restored arrays must fit together."""
        n_in = len(self.steps_)
        for name, shape in (("coef_", (n_in, self.horizon_)), ("intercept_", (self.horizon_,))):
            value = getattr(self, name)
            if not (isinstance(value, np.ndarray) and value.dtype.kind == "f" and value.shape == shape):
                raise ValueError(f"{name} must be a float array of shape {shape}")
        if self.steps_.dtype.kind not in "iu" or np.any((self.steps_ < 0) | (self.steps_ >= self.n_features_in_)):
            raise ValueError(f"steps_ {self.steps_} do not index a window of {self.n_features_in_} steps")

    # ------------------------------------------------------------------ predict
    def predict(self, X, m=None):
        """Forecast the next ``m`` steps of each sequence.

        Parameters
        ----------
        X : array of shape (n_sequences, n_input_steps, n_params) or (n_sequences, n_input_steps)
            The same number of input steps and parameters as in ``fit``.
        m : int or None, default=None
            Steps to forecast, at most the fitted horizon; None uses the constructor's ``m`` or the
            fitted horizon.

        Returns
        -------
        Y_pred : array of shape (n_sequences, m, n_params), or lifted like the ``X``/``Y`` of fit.
        """
        X, X_ndim = self._validate_predict_data(X)
        m = self._predict_horizon(m)
        device = self._check_runtime_params()
        # In the wider of the data's and the coefficients' precision (float32 coefficients must not round float64 X).
        W = np.vstack([self.coef_, self.intercept_[None]])[:, :m].astype(np.result_type(self.coef_, X), copy=False)
        W = torch.as_tensor(W, device=device)
        Y_pred = np.empty((X.shape[0], m, X.shape[2]), dtype=X.dtype)
        everything = np.arange(X.shape[0])
        for params in iter_param_slabs(X.shape[2], self.slab_size):
            Z = read_rows(X, everything, self.steps_, params, device, W.dtype)
            block = Z @ W[:-1] + W[-1]
            Y_pred[:, :, params] = block.permute(0, 2, 1).cpu().numpy()
            if not np.all(np.isfinite(Y_pred[:, :, params])):
                raise ValueError(f"the forecast overflows {X.dtype}: X (largest magnitude {np.abs(X).max():.3g}) is "
                                 "too large for this model's coefficients; rescale X")
        return self._format_prediction(Y_pred, X_ndim)


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

    ``selector=None`` means :class:`IntrospectionSelector`: [w_n, w_0.7n, w_0.4n, w_0], deterministic
    (the authors' code uses this pattern with n drawn at random). For the paper's uniform draw of k steps,
    pass ``selector=SampledSelector(k=4, random_state=0)``; GridSearchCV can then tune ``selector__k``.
    """

    def _default_selector(self):
        return IntrospectionSelector()


class LFLForecaster(LinearFarcaster):
    """LFL: the linear farcaster on the last input step, w_n, only. ``selector=None`` means :class:`LastSelector`."""

    def _default_selector(self):
        return LastSelector()
