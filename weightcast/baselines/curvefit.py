"""Per-coordinate curve-fit extrapolation: a least-squares polynomial in time through each coordinate's
last input steps, evaluated at the future steps (the trivial baseline of weight-prediction papers)."""

import numpy as np
import torch

from ..base import BaseForecaster
from ..constraints import Integer
from ..rows import check_finite, is_lazy

__all__ = ["CurveFitForecaster"]


class CurveFitForecaster(BaseForecaster):
    """Extrapolate every coordinate by its own least-squares polynomial in time.

    For each coordinate of each sequence, a polynomial of degree ``degree`` is fitted to its last
    ``window`` input values (at steps ..., n-1, n) and evaluated at steps n+1 .. n+m. Nothing is
    learned across coordinates: the fit is a fixed linear map of the window, ``coef_``
    (window, m), computed once from the step numbers; ``fit`` only checks the data and the horizon.

    Parameters
    ----------
    degree : int, default=1
        Polynomial degree (1: a straight line, Kamarthi & Pittner's per-weight linear fit).
    window : int or None, default=None
        Input steps fitted (the last ones); None uses every input step. Must exceed ``degree``.
    m : int or None, default=None
        Horizon: number of target steps to predict by default. None uses every step of Y.
    slab_size : int, default=1048576
        Parameters read at a time in predict.
    device : str, default="auto"
    random_state : None, default=None
        Unused (the fit is deterministic); kept for the common forecaster interface.
    verbose : int, default=0
        Unused.

    Attributes
    ----------
    coef_ : ndarray of shape (window, m)
        Forecast step j is ``x[-window:] @ coef_[:, j]`` for each coordinate's inputs x.
    in_steps_ : ndarray of int
    horizon_ : int
    n_features_in_ : int
    n_params_in_ : int
    device_ : torch.device

    Examples
    --------
    >>> import numpy as np
    >>> from weightcast.baselines import CurveFitForecaster
    >>> t = np.arange(12.0)
    >>> S = np.stack([np.outer(t, [1.0, -0.5]) + 3, np.outer(t, [2.0, 0.0])])  # straight lines, (2, 12, 2)
    >>> est = CurveFitForecaster(window=4).fit(S[:, :8], S[:, 8:])
    >>> np.allclose(est.predict(S[:, :8]), S[:, 8:])
    True
    """

    _parameter_constraints = {"degree": Integer(low=0), "window": Integer(low=1, none=True)}

    def __init__(self, degree=1, window=None, m=None, slab_size=1_048_576, device="auto", random_state=None,
                 verbose=0):
        self.degree = degree
        self.window = window
        self.m = m
        self.slab_size = slab_size
        self.device = device
        self.random_state = random_state
        self.verbose = verbose

    @classmethod
    def get_test_params(cls):
        return [{"device": "cpu"}, {"degree": 0, "window": 1, "device": "cpu"}]

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.regressor_tags.poor_score = True  # extrapolates each row on its own; learns nothing from y
        return tags

    def _fit(self, X, Y, fit):
        """Check the window and set the horizon; the extrapolation map depends only on the step numbers."""
        if not is_lazy(Y):  # Y is never read (a lazy one is not read just to be checked)
            check_finite(Y, "Y")
        n_steps = X.shape[1]
        window = n_steps if self.window is None else self.window
        if window > n_steps:
            raise ValueError(f"window={window} exceeds the {n_steps} input steps of X (n_features={n_steps})")
        if window <= self.degree:
            raise ValueError(f"a degree-{self.degree} fit needs more than {self.degree} points, but it gets "
                             f"{window} (window={self.window}, n_features={n_steps})")
        horizon = self._target_horizon(Y.shape[1])
        # Time is centred on the window so the Vandermonde matrices stay well conditioned.
        past = np.arange(1 - window, 1, dtype=np.float64)
        future = np.arange(1, horizon + 1, dtype=np.float64)
        powers = np.arange(self.degree + 1)
        fit_map = np.linalg.pinv(past[:, None] ** powers)  # (degree + 1, window): polynomial coefficients
        self.coef_ = np.ascontiguousarray(((future[:, None] ** powers) @ fit_map).T)
        self.in_steps_ = np.arange(n_steps - window, n_steps)
        self.horizon_ = horizon

    def _forecast_steps(self):
        return self.in_steps_

    def _forecast_dtype(self, dtype):
        return torch.float64

    def _slab_forecast(self, m, device, dtype):
        coef = torch.as_tensor(np.ascontiguousarray(self.coef_[:, :m]), device=device, dtype=dtype)
        return lambda x: (x.permute(0, 2, 1) @ coef).permute(0, 2, 1)
