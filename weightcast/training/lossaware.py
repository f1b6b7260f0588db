"""A loss-aware farcaster: a shared linear map over snapshot vectors whose few coefficients minimise a loss.

The forecast is ``w = sum_k coef_k v_k (+ intercept_)``, the same shared linear map over time as the paper's
farcasters, but its K coefficients are chosen to minimise the training loss of the forecast weights, not their
distance to recorded future weights. The snapshot vectors ``v_k`` can be any K weight vectors of a run: the
current weights, moving averages with several decays, snapshots some steps apart.

The loss is minimised in the K-dimensional space of the coefficients by L-BFGS, each evaluation one forward
and backward pass of the network at the forecast weights (the gradient of the loss with respect to the
coefficients is ``V g``, ``g`` the gradient with respect to the weights). The coefficients are whitened first
(moving them by a unit changes the weights by a unit), because moving averages of one run are nearly
collinear; combinations that do not move the weights at all (identical snapshots) are left out.
"""

import numbers

import numpy as np
import torch

from .params import flatten_parameters, load_flat_parameters

__all__ = ["LossAwareFarcaster"]


def _flat_grad(model):
    return torch.cat([(torch.zeros_like(p) if p.grad is None else p.grad).reshape(-1).to("cpu", torch.float32)
                      for p in model.parameters()])


class LossAwareFarcaster:
    """Forecast weights as a linear combination of K snapshot vectors, chosen to minimise a loss.

    Parameters
    ----------
    init : array-like of shape (K,) or None, default=None
        Starting coefficients; None puts weight 1 on the last vector (the forecast starts at it).
    affine : bool, default=True
        Keep the coefficients summing to their starting sum: the forecast moves within the affine hull of the
        snapshots (it can extrapolate along their differences but not rescale the weights).
    fit_intercept : bool, default=False
        Also fit one constant added to every weight (the ``b`` of the paper's maps; starts at 0).
    max_evals : int, default=8
        Loss evaluations (forward + backward passes) per fit.
    max_move : float or None, default=None
        Bound on the distance (L2, in weight units, per run) between the forecast and the starting point;
        None: unbounded.

    Attributes
    ----------
    coef_ : ndarray of shape (K,)
    intercept_ : float
    loss_start_, loss_ : float
        The loss at the starting coefficients and at the fitted ones (the lowest seen).
    n_evaluations_ : int
        Loss evaluations of the last fit, each one forward + backward pass per run.

    Examples
    --------
    >>> import torch
    >>> torch.manual_seed(0)
    <torch._C.Generator object at ...>
    >>> model = torch.nn.Linear(3, 1, bias=False)
    >>> target = torch.tensor([1.0, 2.0, 3.0])
    >>> loss_fn = lambda m: (m.weight[0] - target).pow(2).sum()
    >>> V = torch.stack([torch.zeros(3), 0.5 * target])       # the target lies on the line through them
    >>> est = LossAwareFarcaster(max_evals=10).fit(model, V, loss_fn)
    >>> est.coef_.round(3).tolist(), est.loss_ < 1e-6
    ([-1.0, 2.0], True)
    >>> est.predict(V).tolist()
    [1.0, 2.0, 3.0]
    """

    def __init__(self, init=None, affine=True, fit_intercept=False, max_evals=8, max_move=None):
        self.init = init
        self.affine = affine
        self.fit_intercept = fit_intercept
        self.max_evals = max_evals
        self.max_move = max_move

    @staticmethod
    def _as_runs(bases):
        runs = [bases] if isinstance(bases, (torch.Tensor, np.ndarray)) else list(bases)
        if not runs:
            raise ValueError("bases must hold at least one (K, n_params) array of snapshot vectors")
        runs = [torch.as_tensor(np.asarray(V) if not isinstance(V, torch.Tensor) else V).to("cpu", torch.float32)
                for V in runs]
        shape = runs[0].shape
        for i, V in enumerate(runs):
            if V.ndim != 2 or V.shape != shape:
                raise ValueError(f"bases[{i}] has shape {tuple(V.shape)}; every run needs (K, n_params) = "
                                 f"{tuple(shape)} with the same K and n_params")
            if not torch.isfinite(V).all():
                raise ValueError(f"bases[{i}] holds NaN or inf")
        return runs

    def _check_params(self, K):
        if isinstance(self.max_evals, bool) or not isinstance(self.max_evals, numbers.Integral) \
                or self.max_evals < 1:
            raise ValueError(f"max_evals must be a positive integer, got {self.max_evals!r}")
        if self.max_move is not None and not (isinstance(self.max_move, numbers.Real) and self.max_move > 0):
            raise ValueError(f"max_move must be a positive number or None, got {self.max_move!r}")
        init = np.eye(K)[-1] if self.init is None else np.asarray(self.init, dtype=np.float64)
        if init.shape != (K,) or not np.all(np.isfinite(init)):
            raise ValueError(f"init must hold K={K} finite coefficients, got {self.init!r}")
        if self.affine and K < 2 and not self.fit_intercept:
            raise ValueError("affine=True with a single snapshot vector leaves nothing to fit")
        return init

    def _directions(self, K):
        """Columns: the coefficient changes allowed (sum zero when affine), then the intercept's."""
        if self.affine:
            C = np.zeros((K, K - 1))
            C[np.arange(K - 1), np.arange(K - 1)] = 1.0
            C[-1, :] = -1.0      # move weight from the last vector to vector j
        else:
            C = np.eye(K)
        if self.fit_intercept:
            C = np.block([[C, np.zeros((K, 1))], [np.zeros((1, C.shape[1])), np.ones((1, 1))]])
        return C

    def fit(self, model, bases, loss_fn):
        """Choose the coefficients that minimise ``loss_fn`` at the forecast weights.

        Parameters
        ----------
        model : torch.nn.Module
            A model of the right shape; its parameters are used as scratch space and restored afterwards.
        bases : array or tensor of shape (K, n_params), or a list of them
            The snapshot vectors (flat, ``flatten_parameters`` order). With a list (several runs, or several
            moments of one run), the mean loss over them is minimised with one set of coefficients.
        loss_fn : callable or list of callables
            ``loss_fn(model) -> scalar tensor`` with gradients: the loss of the model as it stands (e.g. the
            training loss on a batch, in eval mode). A list gives one per entry of ``bases``.
        """
        runs = self._as_runs(bases)
        K, d = runs[0].shape
        loss_fns = list(loss_fn) if isinstance(loss_fn, (list, tuple)) else [loss_fn] * len(runs)
        if len(loss_fns) != len(runs) or not all(callable(f) for f in loss_fns):
            raise ValueError(f"loss_fn must be a callable or a list of {len(runs)} callables")
        init = self._check_params(K)
        C = self._directions(K)
        # Whitening: coefficient change C y moves run r's weights by y^T (C^T [V_r; 1]); G is the mean Gram.
        extended = [torch.cat([V, torch.ones(1, d)]) if self.fit_intercept else V for V in runs]
        U = [torch.from_numpy(C.T).float() @ V for V in extended]
        G = np.mean([(u.double() @ u.double().T).numpy() for u in U], axis=0)
        eigenvalues, eigenvectors = np.linalg.eigh(G)
        # Directions that do not move the weights (identical snapshots) are dropped, not amplified.
        keep = eigenvalues > 1e-12 * max(eigenvalues.max(), 1e-300)
        to_coef = C @ (eigenvectors[:, keep] / np.sqrt(eigenvalues[keep]))   # coefficient change per unit of z
        start = np.concatenate([init, [0.0]]) if self.fit_intercept else init
        saved = flatten_parameters(model)
        z = torch.zeros(to_coef.shape[1], dtype=torch.float64, requires_grad=True)
        best = dict(loss=np.inf, coef=start)
        evaluations = []

        def evaluate(z_value):
            a = start + to_coef @ z_value
            total, grad_a = 0.0, np.zeros(len(a))
            for V, f in zip(extended, loss_fns):
                load_flat_parameters(model, torch.from_numpy(a).float() @ V)
                model.zero_grad(set_to_none=True)
                loss = f(model)
                loss.backward()
                g = _flat_grad(model).double()
                total += float(loss.detach()) / len(runs)
                grad_a += (V.double() @ g).numpy() / len(runs)
            return a, total, grad_a

        def closure():
            z_value = z.detach().numpy().copy()
            if self.max_move is not None and np.linalg.norm(z_value) > self.max_move:
                z_value *= self.max_move / np.linalg.norm(z_value)
            a, loss, grad_a = evaluate(z_value)
            evaluations.append(loss)
            if np.isfinite(loss) and loss < best["loss"]:
                best.update(loss=loss, coef=a)
            z.grad = torch.from_numpy(to_coef.T @ grad_a) if np.isfinite(loss) else torch.zeros_like(z)
            return torch.tensor(loss if np.isfinite(loss) else np.inf, dtype=torch.float64)

        optimizer = torch.optim.LBFGS([z], lr=1.0, max_iter=self.max_evals, max_eval=self.max_evals,
                                      tolerance_grad=0.0, tolerance_change=0.0, history_size=self.max_evals,
                                      line_search_fn="strong_wolfe")
        try:
            optimizer.step(closure)
        finally:
            load_flat_parameters(model, saved)
            model.zero_grad(set_to_none=True)
        coef = best["coef"]
        self.coef_ = coef[:K].copy()
        self.intercept_ = float(coef[K]) if self.fit_intercept else 0.0
        self.loss_start_ = evaluations[0]
        self.loss_ = best["loss"]
        self.n_evaluations_ = len(evaluations)
        return self

    def predict(self, bases):
        """The forecast weights ``coef_ @ bases + intercept_`` (flat float32 tensor), for one (K, n_params) array."""
        if not hasattr(self, "coef_"):
            raise ValueError("this LossAwareFarcaster is not fitted yet: call fit first")
        (V,) = self._as_runs(bases)
        if V.shape[0] != len(self.coef_):
            raise ValueError(f"bases holds {V.shape[0]} snapshot vectors, the coefficients were fitted for "
                             f"{len(self.coef_)}")
        return torch.from_numpy(self.coef_).float() @ V + self.intercept_
