"""A farcaster that identifies each run's own dynamics and stacks them on a pooled linear map.

Model of one block of coordinates (``block_size`` consecutive parameters of one sequence): the weights
relax towards a fixed point mu at a rate r shared by the block, with minibatch noise that shrinks with the
distance to the fixed point (SGD in the interpolation regime)::

    w_{t+1} - mu = a (w_t - mu) + e_t,   a = 1 - r,
    e_t ~ N(0, kappa^2 |w_t - mu|^2 / b  (I_b + gamma d d^T)),   d the unit direction of the drift.

Per block, the unknowns are mu (b numbers) and a; ``kappa``, ``gamma`` and a Gaussian prior on r are
pooled over all blocks and runs. Given a on a grid, the profile likelihood in mu has a closed form: mu lies
on the line through the drift estimate, at the distance s that balances the drift (which says how far mu
is when a is right) and the size of the noise (which says how far mu is whatever a is); s solves a
quadratic. The forecast is the posterior mean over the rate grid of ``w_n - (1 - a^k) s d``. A pooled
linear map over the selected input steps is then refitted with this forecast as one more column (one
coefficient per output step, least squares on the training runs), so whatever the pooled map already gets
right is kept and the per-run model only adds what it explains beyond it.

Cost is linear in n_params and memory is bounded by a slab: blocks never straddle a slab, and every
pass over the data (the pooled maps' streaming QR, the stacking weights, the forecast) reads it slab by
slab and keeps only small statistics.
"""

import contextlib

import numpy as np
import torch
from sklearn.base import clone
from tqdm.auto import tqdm

from .base import BaseForecaster
from .constraints import Integer, Real
from .linear import LinearFarcaster, StreamingLeastSquares, _forecast, least_squares_rows
from .selection import SELECTOR, FirstLastSelector

__all__ = ["FixedPointFarcaster"]

# Search grid around the data-driven anchors (multiples of kappa0 and of r0).
_KAPPA_FACTORS = (0.7, 1.0, 1.4)
_RATE_FACTORS = (0.8, 1.0, 1.25)
_RATE_STD_FACTORS = (0.06, 0.2)
_GAMMAS = (0.0, 8.0, 64.0)
_TINY = 1e-300


def fixed_point_forecast(W, m, kappa, rate, rate_std, n_rates=40, gamma=0.0):
    """Posterior-mean forecast of the block fixed-point model.

    Parameters
    ----------
    W : tensor of shape (n_blocks, b, n + 1), float64
        Input windows, one block of b coordinates per row, time last.
    m : int
        Steps to forecast.
    kappa, rate, rate_std : float
        Noise-to-distance ratio, prior mean and standard deviation of the per-step rate r = 1 - a.
    n_rates : int
        Points of the rate grid (rate +- 4 rate_std, kept inside (0, 1)).
    gamma : float
        Anisotropy: the noise variance along the drift is (1 + gamma) times the variance across it.

    Returns
    -------
    tensor of shape (n_blocks, b, m)
    """
    n_blocks, b, n1 = W.shape
    n = n1 - 1
    dev, dt = W.device, W.dtype
    if n == 0:  # a single input step shows no drift: the forecast stays put
        return W[:, :, -1:].expand(n_blocks, b, m)
    low = max(rate - 4 * rate_std, rate / 20)
    r = torch.linspace(low, min(rate + 4 * rate_std, 0.99), n_rates, device=dev, dtype=dt)
    a = 1 - r
    # u_t = w_{t+1} - a w_t = (1 - a) mu + e_t; weights 1/var_t relative to the last step: a^(2(n - t)).
    u = W[None, :, :, 1:] - a[:, None, None, None] * W[None, :, :, :-1]          # (G, R, b, n)
    t = torch.arange(n, device=dev, dtype=dt)
    omega = a[:, None] ** (2 * (n - t))[None, :]                                 # (G, n)
    omega_sum = omega.sum(1)
    u_bar = (omega[:, None, None, :] * u).sum(3) / omega_sum[:, None, None]      # (G, R, b)
    resid = (omega[:, None, None, :] * (u - u_bar[..., None]) ** 2).sum((2, 3))  # A: (G, R)
    z0 = W[None, :, :, -1] - u_bar / r[:, None, None]                            # w_n - mu_hat(a)
    dist = z0.norm(dim=2).clamp_min(_TINY)                                       # L
    drift_prec = (r ** 2 * omega_sum)[:, None]                                   # B
    direction = z0 / dist[..., None]                                             # (G, R, b)
    # Noise covariance (kappa^2 s^2 / b) (I + gamma d d^T), d = direction: the part of the residuals
    # and of the drift along u weighs 1 / (1 + gamma).
    along = (omega[:, None, :] * torch.einsum("grbn,grb->grn", u - u_bar[..., None], direction) ** 2).sum(2)
    resid = resid - along + along / (1 + gamma)
    drift_w = drift_prec / (1 + gamma)
    k2 = kappa ** 2
    # d/ds of the profile negative log-likelihood = 0:  n k2 s^2 + B L s - (A + B L^2) = 0 (A, B weighted
    # as above); its positive root, written without the cancellation of (-B L + sqrt(...)) for small kappa.
    c = resid + drift_w * dist ** 2
    s = 2 * c / (drift_w * dist + torch.sqrt((drift_w * dist) ** 2 + 4 * n * k2 * c))
    s = s.clamp_min(_TINY)
    nll = ((resid + drift_w * (dist - s) ** 2) * b / (2 * k2 * s ** 2) + n * b * torch.log(s)
           - b * n * (n + 1) / 2 * torch.log(a)[:, None]
           + 0.5 * b * torch.log(drift_prec * b / (k2 * s ** 2)))                # Laplace term for mu
    log_post = -0.5 * ((r - rate) / rate_std)[:, None] ** 2 - nll
    log_post = torch.nan_to_num(log_post, nan=-np.inf)
    post = torch.softmax(log_post, dim=0)                                        # over the rate grid
    post = torch.nan_to_num(post, nan=1.0 / n_rates)
    steps = torch.arange(1, m + 1, device=dev, dtype=dt)
    decay = 1 - a[:, None] ** steps[None, :]                                     # (G, m)
    shift = torch.einsum("gm,gr,grb->rbm", decay, post * s, direction)
    return W[:, :, -1:] - shift


class FixedPointFarcaster(BaseForecaster):
    """Per-run fixed-point dynamics with state-dependent noise, stacked on a pooled linear map.

    Each block of ``block_size`` consecutive parameters of a run is modelled as relaxing towards its own
    fixed point at its own rate, with noise proportional to the distance still to go; the run's 21-odd
    input steps identify where the fixed point is from both the drift and the size of the noise. The
    resulting forecast enters a pooled least-squares map over the selected input steps as one more
    column, so the model can only add to what the shared linear map explains on the training runs.

    Parameters
    ----------
    selector : step selector or None, default=None
        Input steps of the pooled linear part (None: :class:`FirstLastSelector`, LFD-2's w_0 and w_n;
        use :class:`AllSelector` for noiseless gradient descent, where LFN is exact).
    m : int or None, default=None
        Horizon: number of target steps to fit and to predict by default. None uses every step of Y.
    block_size : int, default=64
        Coordinates that share a rate and a noise scale (a block never spans two sequences or two slabs).
        1 makes the model fully channel independent.
    kappa : float or None, default=None
        Noise-to-distance ratio ``|e_t| / |w_t - mu|`` (of the noise across the drift). None: chosen with
        the rate prior and ``gamma`` on a grid around an estimate from the training trajectories (least-squares
        training error of the whole model).
    rate, rate_std : float or None, default=None
        Mean and standard deviation of the Gaussian prior on the per-step rate r = 1 - a. None: searched
        like ``kappa``.
    gamma : float or None, default=None
        Anisotropy of the noise: its variance along the drift direction is (1 + gamma) times its variance
        across it. Large values make the distance to the fixed point rest on the noise across the drift,
        which the drift itself does not inform. None: searched over 0, 8 and 64.
    n_rates : int, default=40
        Points of the rate grid the posterior is computed on.
    alpha : float, default=0.0
        Ridge penalty of the pooled linear part (as in :class:`LinearFarcaster`).
    search_params : int, default=65536
        The hyperparameter search sees at most this many parameters (pieces of whole blocks spread evenly
        over the vector; of a file, also of whole chunks), so its cost does not grow with n_params; the
        chosen setting is then refitted on all of them. The search keeps the per-run forecasts of these
        parameters: n_sequences x m x search_params float64 values.
    slab_size : int, default=1048576
        Bounds memory independently of n_params: data are read slab_size parameters at a time, and the
        per-run model works on slab_size / n_rates of them at a time (whole blocks).
    device : str, default="auto"
        "auto" (CUDA when available), "cpu" or "cuda".
    random_state : None, int or RandomState, default=None
        Accepted for a uniform interface; the fit is deterministic.
    verbose : int, default=0
        0 is silent; 1 shows a progress bar over the searched hyperparameters.

    Attributes
    ----------
    linear_ : LinearFarcaster
        Pooled map from the selected input steps to the targets.
    dynamics_linear_ : LinearFarcaster
        Pooled map from the same input steps to the fixed-point forecast (what the forecast does not add).
    stack_coef_ : ndarray of shape (m,)
        Weight of the fixed-point forecast's new part at each output step.
    kappa_, rate_, rate_std_, gamma_ : float
        Hyperparameters used.
    search_ : list of dict
        Every hyperparameter setting tried with its training MSE (on the search subset).
    steps_ : ndarray of int
    horizon_ : int
    block_size_ : int
    n_features_in_ : int
    n_params_in_ : int
    device_ : torch.device

    Examples
    --------
    >>> import numpy as np
    >>> from weightcast import FixedPointFarcaster, split_sequences
    >>> rng = np.random.default_rng(0)
    >>> t = np.arange(60.0)[None, :, None]
    >>> rate = rng.uniform(0.03, 0.06, size=(40, 1, 1))
    >>> mu, w0 = rng.normal(size=(40, 1, 3)), rng.uniform(size=(40, 1, 3))
    >>> S = mu + (1 - rate) ** t * (w0 - mu)
    >>> X, Y = split_sequences(S, n_input_steps=21)
    >>> est = FixedPointFarcaster(block_size=3, device="cpu").fit(X, Y)
    >>> est.predict(X).shape
    (40, 39, 3)
    """

    _parameter_constraints = {
        "selector": SELECTOR,
        "block_size": Integer(low=1),
        "kappa": Real(low=0, low_open=True, none=True),
        "rate": Real(low=0, high=1, low_open=True, high_open=True, none=True),  # a per-step contraction
        "rate_std": Real(low=0, low_open=True, none=True),
        "gamma": Real(low=0, none=True),
        "n_rates": Integer(low=2),
        "alpha": Real(low=0),
        "search_params": Integer(low=1),
    }

    def __init__(self, selector=None, m=None, block_size=64, kappa=None, rate=None, rate_std=None, gamma=None,
                 n_rates=40, alpha=0.0, search_params=65_536, slab_size=1_048_576, device="auto", random_state=None,
                 verbose=0):
        self.selector = selector
        self.m = m
        self.block_size = block_size
        self.kappa = kappa
        self.rate = rate
        self.rate_std = rate_std
        self.gamma = gamma
        self.n_rates = n_rates
        self.alpha = alpha
        self.search_params = search_params
        self.slab_size = slab_size
        self.device = device
        self.random_state = random_state
        self.verbose = verbose

    @classmethod
    def get_test_params(cls):
        return [{"device": "cpu"},
                {"block_size": 1, "kappa": 0.5, "rate": 0.1, "rate_std": 0.05, "gamma": 1.0, "n_rates": 8,
                 "device": "cpu"}]

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        # A forecaster of smooth trajectories is a poor general regressor on scikit-learn's generic data.
        tags.regressor_tags.poor_score = True
        return tags

    # ------------------------------------------------------------------ fit
    def _fit(self, X, Y, fit):
        """Fit the pooled maps and choose the noise and rate hyperparameters on the training runs.

        Every pass reads the data slab by slab. The search runs on at most ``search_params`` parameters
        (whole chunk-aligned pieces of whole blocks, spread over the vector) and keeps their fixed-point
        forecasts (n_sequences x m x search_params values); with more parameters, the chosen setting is
        refitted on all of them in two more passes.
        """
        horizon = self._target_horizon(Y.shape[1])
        Y = Y[:, :horizon]
        selector = FirstLastSelector() if self.selector is None else clone(self.selector)
        selector.fit_steps(X.shape[1])
        self.block_size_ = min(self.block_size, X.shape[2])
        steps = selector.steps_

        ranges = self._search_ranges(X)
        search = self._reader(X, Y, device=fit.device, ranges=ranges, slab_size=self.slab_size)
        cache = []  # the search's fixed-point forecasts, one per dynamics slab
        W_linear = self._pooled_maps(search, steps, horizon)
        candidates = self._candidates(search, fit.device)
        best, self.search_ = None, []
        for config in tqdm(candidates, disable=self.verbose == 0, desc="search", leave=False):
            cache.clear()
            W_dynamics = self._pooled_maps(search, steps, horizon, config, cache)
            coef, mse = self._stack(search, steps, W_linear, W_dynamics, config, cache)
            self.search_.append({**dict(zip(("kappa", "rate", "rate_std", "gamma"), config)), "train_mse": mse})
            if best is None or mse < best[0]:
                best = (mse, config, W_dynamics, coef)
        _, config, W_dynamics, coef = best
        cache.clear()
        if ranges is not None:  # refit the pooled maps and the stacking weights on every parameter
            everything = self._reader(X, Y, device=fit.device, slab_size=self.slab_size)
            W_both = self._pooled_maps(everything, steps, horizon, config, both=True)
            W_linear, W_dynamics = W_both[:, :horizon], W_both[:, horizon:]
            coef, _ = self._stack(everything, steps, W_linear, W_dynamics, config, mse=False)
        self.kappa_, self.rate_, self.rate_std_, self.gamma_ = config
        self.linear_ = self._linear(selector, W_linear, X, horizon)
        self.dynamics_linear_ = self._linear(selector, W_dynamics, X, horizon)
        self.stack_coef_ = coef
        self.selector_ = selector
        self.steps_ = steps
        self.horizon_ = horizon

    def _search_ranges(self, X):
        """The parameters the search sees: None for all, else pieces of whole blocks (and whole chunks of a
        lazy X) spread evenly over the vector, at most ``search_params`` of them."""
        b, n_params = self.block_size_, X.shape[2]
        piece = b
        chunk = getattr(X, "param_chunk", None)
        if chunk and np.lcm(b, int(chunk)) <= self.search_params:
            piece = int(np.lcm(b, int(chunk)))
        keep = self.search_params // piece
        if n_params <= self.search_params or keep == 0:
            return None
        starts = np.unique(np.linspace(0, n_params // piece - 1, keep).round().astype(int)) * piece
        return [slice(int(start), int(start) + piece) for start in starts]

    def _slab_rows(self, reader):
        """Yield ``(x, y)`` in dynamics slabs: whole blocks whose rate-grid tensors stay about one slab."""
        size = self._slab_size(None)
        with contextlib.closing(reader.blocks()) as blocks:
            for _, x, y in blocks:
                for start in range(0, x.shape[2], size):
                    yield x[:, :, start:start + size], y[:, :, start:start + size]

    def _pooled_maps(self, reader, steps, horizon, config=None, cache=None, both=False):
        """Least squares from the selected input steps to Y (``config`` None), to the fixed-point forecast
        of ``config``, or (``both``) to both at once; one pass, streaming QR. ``cache`` collects the forecasts."""
        n_targets = horizon * (2 if both else 1)
        solver = StreamingLeastSquares(len(steps), n_targets, alpha=self.alpha, device=self.device_)
        for x, y in self._slab_rows(reader):
            targets = []
            if config is None or both:
                targets.append(y)
            if config is not None:
                F = self._dynamics_rows(x.to(torch.float64).permute(0, 2, 1), horizon, *config).permute(0, 2, 1)
                targets.append(F)
                if cache is not None:
                    cache.append(F)
            T = torch.cat([t.to(torch.float64) for t in targets], dim=1) if len(targets) > 1 else targets[0]
            for Z, T_rows in least_squares_rows(x[:, steps], T, self.device_):
                solver.update(Z, T_rows)
        if not solver.finite():
            reader.find_non_finite()
        return solver.solve()

    def _stack(self, reader, steps, W_linear, W_dynamics, config, cache=None, mse=True):
        """Least-squares weight, per output step, of the fixed-point forecast's new part (what the pooled map
        of the forecast does not explain) on the pooled map's residual; and the training MSE of the stack.

        One pass of small per-slab sums. The MSE is summed without cancellation: per slab, the squared error
        at the slab's own best weight plus the slab's sum of squares of the new part times the squared
        distance to the weight chosen.
        """
        horizon = W_linear.shape[1]
        f64 = dict(device=self.device_, dtype=torch.float64)
        W_linear, W_dynamics = torch.as_tensor(W_linear, **f64), torch.as_tensor(W_dynamics, **f64)
        num, den, scale = (torch.zeros(horizon, **f64) for _ in range(3))
        parts, n_values = [], 0
        for i, (x, y) in enumerate(self._slab_rows(reader)):
            x = x.to(torch.float64)
            inputs = x[:, steps].transpose(0, 1)
            residual = y.to(torch.float64) - _forecast(inputs, W_linear).transpose(0, 1)
            if cache:
                F = cache[i]
            else:
                F = self._dynamics_rows(x.permute(0, 2, 1), horizon, *config).permute(0, 2, 1)
            new = F - _forecast(inputs, W_dynamics).transpose(0, 1)
            slab_num, slab_den = (new * residual).sum(dim=(0, 2)), (new * new).sum(dim=(0, 2))
            num, den, scale = num + slab_num, den + slab_den, scale + (residual * residual).sum(dim=(0, 2))
            if mse:
                best = torch.where(slab_den > 0, slab_num / torch.where(slab_den > 0, slab_den, 1.0), 0.0)
                error = ((residual - best[None, :, None] * new) ** 2).sum(dim=(0, 2))
                parts.append((best, error, slab_den))
                n_values += residual.numel()
        num, den, scale = num.cpu().numpy(), den.cpu().numpy(), scale.cpu().numpy() + _TINY
        # 0 where the new part is identically zero
        coef = np.where(den > 1e-24 * scale, num / np.where(den > 0, den, 1.0), 0.0)
        if not mse:
            return coef, None
        coef_t = torch.as_tensor(coef, **f64)
        total = sum(float((error + slab_den * (coef_t - best) ** 2).sum()) for best, error, slab_den in parts)
        return coef, total / n_values

    def _linear(self, selector, W, X, horizon):
        """A fitted :class:`LinearFarcaster` holding the pooled map ``W`` (the ``linear_`` attributes)."""
        linear = LinearFarcaster(selector=selector, solver="lstsq", alpha=self.alpha, slab_size=self.slab_size,
                                 device=self.device)
        linear.n_features_in_, linear.n_params_in_ = X.shape[1], X.shape[2]
        linear._y_ndim = linear._X_ndim = 3
        linear.device_ = self.device_
        linear._set_solution(W, selector, horizon)
        return linear

    def _slab_size(self, n_params):
        """Slabs of whole blocks whose rate-grid tensors (n_rates x parameters x steps) hold about as many
        numbers as a slab of the linear farcasters' rows (slab_size x steps)."""
        b = self.block_size_
        return max(b, self.slab_size // self.n_rates // b * b)

    def _slab_unit(self):
        return self.block_size_

    def _dynamics_rows(self, rows, m, kappa, rate, rate_std, gamma):
        n_seq, p, n1 = rows.shape
        b = self.block_size_
        full = p // b * b
        parts = []
        for start, stop, size in ((0, full, b), (full, p, p - full)):
            if stop > start:
                W = rows[:, start:stop].reshape(n_seq * ((stop - start) // size), size, n1)
                F = fixed_point_forecast(W, m, kappa, rate, rate_std, self.n_rates, gamma)
                parts.append(F.reshape(n_seq, stop - start, m))
        return torch.cat(parts, dim=1)

    def _candidates(self, reader, device):
        """Hyperparameter settings to try: the given values, else a grid around anchors from the data."""
        gammas = _GAMMAS if self.gamma is None else (float(self.gamma),)
        if None not in (self.kappa, self.rate, self.rate_std):
            return [(float(self.kappa), float(self.rate), float(self.rate_std), g) for g in gammas]
        with contextlib.closing(self._slab_rows(reader)) as rows:
            kappa0, rate0 = self._anchors(*next(rows), device)
        kappas = [float(self.kappa)] if self.kappa is not None else [kappa0 * f for f in _KAPPA_FACTORS]
        rates = [float(self.rate)] if self.rate is not None else [min(rate0 * f, 0.9) for f in _RATE_FACTORS]
        grid = []
        for kappa in kappas:
            for rate in rates:
                stds = [float(self.rate_std)] if self.rate_std is not None else [rate0 * f for f in _RATE_STD_FACTORS]
                grid.extend((kappa, rate, std, g) for std in stds for g in gammas)
        return grid

    def _anchors(self, x, y, device):
        """Typical rate and noise-to-distance ratio of the training runs' whole trajectories, from the blocks
        ``x`` and ``y`` of the first dynamics slab.

        Per coordinate, w_{t+1} = a w_t + c by least squares gives the rate 1 - a and the fixed point
        c / (1 - a); per block, kappa^2 = sum |e_t|^2 / sum |w_t - mu|^2. Medians over the slab.
        """
        S = torch.cat([x.to(torch.float64), y.to(torch.float64)], dim=1).to(device).permute(0, 2, 1)  # (n, p, T)
        prev, nxt = S[..., :-1], S[..., 1:]
        prev_c, nxt_c = prev - prev.mean(-1, keepdim=True), nxt - nxt.mean(-1, keepdim=True)
        a = (prev_c * nxt_c).sum(-1) / (prev_c ** 2).sum(-1).clamp_min(_TINY)
        c = nxt.mean(-1) - a * prev.mean(-1)
        r = 1 - a
        ok = (r > 1e-6) & (r < 1)
        rate0 = float(r[ok].median()) if bool(ok.any()) else 0.01
        mu = c / r.where(ok, torch.ones_like(r))
        err = ((nxt - a[..., None] * prev - c[..., None]) ** 2).sum(-1)
        dist = ((prev - mu[..., None]) ** 2).sum(-1)
        b = self.block_size_
        full = S.shape[1] // b * b
        if full and bool(ok.any()):
            block_ok = ok[:, :full].reshape(S.shape[0], -1, b).all(-1)
            err_b = err[:, :full].reshape(S.shape[0], -1, b).sum(-1)
            dist_b = dist[:, :full].reshape(S.shape[0], -1, b).sum(-1)
            ratio = (err_b / dist_b.clamp_min(_TINY)).sqrt()[block_ok & (dist_b > 0)]
            kappa0 = float(ratio.median()) if ratio.numel() else 1.0
        else:
            kappa0 = 1.0
        kappa0 = kappa0 if np.isfinite(kappa0) and kappa0 > 0 else 1.0
        return kappa0, min(max(rate0, 1e-6), 0.9)

    # ------------------------------------------------------------------ forecast
    def _forecast_dtype(self, dtype):
        return torch.float64

    def _slab_forecast(self, m, device, dtype):
        """Forecast = pooled map + stack weight x (fixed-point forecast - its pooled map), per slab."""
        f64 = dict(device=device, dtype=torch.float64)
        W_linear = torch.as_tensor(np.vstack([self.linear_.coef_, self.linear_.intercept_[None]])[:, :m], **f64)
        W_dynamics = torch.as_tensor(np.vstack([self.dynamics_linear_.coef_,
                                                self.dynamics_linear_.intercept_[None]])[:, :m], **f64)
        coef = torch.as_tensor(self.stack_coef_[:m], **f64)[None, :, None]
        config = (self.kappa_, self.rate_, self.rate_std_, self.gamma_)

        def forecast(x):
            inputs = x[:, self.steps_].transpose(0, 1)
            F = self._dynamics_rows(x.permute(0, 2, 1), m, *config).permute(0, 2, 1)
            new = F - _forecast(inputs, W_dynamics).transpose(0, 1)
            return _forecast(inputs, W_linear).transpose(0, 1) + coef * new

        return forecast
