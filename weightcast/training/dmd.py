"""A cross-coordinate farcaster: per-layer dynamic mode decomposition (DMD) of the snapshots, with a per-weight mask.

Channel-independent forecasters see one coordinate's history at a time. DMD instead looks at all the weights of
a layer together: the motion between snapshots, ``delta_k = w_{k+1} - w_k`` (the constant part of the weights has
no dynamics), is projected on its leading singular vectors and a small linear map ``A`` (``rank x rank``) is fitted
with ``z_{k+1} = A z_k``; the forecast continues the last motion through powers of ``A``. Eigenvalues of ``A`` are
clipped to modulus <= ``max_eigenvalue`` so that no mode grows. As in PDT, a per-weight mask then keeps only the
moves whose sign agrees with the last motion and whose size is at most ``max_ratio`` times the plain linear
extrapolation of it; other weights stay where they are.

Nothing is learned from other runs: ``fit`` only records the number of input snapshots.
"""

import numbers

import numpy as np

__all__ = ["DMDFarcaster"]


class DMDFarcaster:
    """Per-layer DMD forecast of the next snapshots, masked per weight.

    Parameters
    ----------
    groups : sequence of int or None, default=None
        Sizes of consecutive parameter groups analysed separately (e.g. ``ParameterLayout.sizes``, one per
        tensor); None: all parameters as one group.
    rank : int or None, default=None
        Modes kept per group (at most ``n_input - 2``, the number of motion pairs); None: all.
    max_eigenvalue : float, default=1.0
        Eigenvalue moduli above this are clipped to it.
    mask : bool, default=True
        Apply the per-weight sign and size mask.
    max_ratio : float, default=1.0
        Size bound of the mask, in units of the linear extrapolation of the last motion.

    Attributes
    ----------
    n_features_in_ : int
        Input snapshots per forecast.
    masked_fraction_ : float
        Share of the weights the mask held still in the last ``predict``.

    Examples
    --------
    >>> import numpy as np
    >>> t = np.arange(6.0)
    >>> X = (np.outer(0.5 ** t, [1.0, -2.0, 4.0]) + 3.0)[None]        # motion shrinking by half each step
    >>> est = DMDFarcaster().fit(X)
    >>> np.allclose(est.predict(X, m=2)[0], 3.0 + np.outer(0.5 ** np.arange(6.0, 8.0), [1.0, -2.0, 4.0]))
    True
    """

    def __init__(self, groups=None, rank=None, max_eigenvalue=1.0, mask=True, max_ratio=1.0):
        self.groups = groups
        self.rank = rank
        self.max_eigenvalue = max_eigenvalue
        self.mask = mask
        self.max_ratio = max_ratio

    def fit(self, X, Y=None):
        """Record the number of input snapshots (DMD learns nothing from other runs). ``Y`` is ignored."""
        X = np.asarray(X)
        if X.ndim != 3 or X.shape[1] < 3:
            raise ValueError(f"X must have shape (n_sequences, n_input >= 3, n_params), got {X.shape}: DMD needs "
                             "at least two consecutive motions")
        self.n_features_in_ = X.shape[1]
        return self

    def _group_slices(self, n_params):
        sizes = [n_params] if self.groups is None else [int(s) for s in self.groups]
        if any(s < 1 for s in sizes) or sum(sizes) != n_params:
            raise ValueError(f"groups must be positive sizes summing to the {n_params} parameters, "
                             f"got {len(sizes)} groups summing to {sum(sizes)}")
        edges = np.concatenate([[0], np.cumsum(sizes)])
        return [slice(int(a), int(b)) for a, b in zip(edges[:-1], edges[1:])]

    def _forecast_group(self, W, m):
        """W: (n_input, g) snapshots of one group; returns the (m, g) forecast."""
        D = np.diff(W, axis=0).T                                    # (g, n_input - 1) motions
        X1, X2 = D[:, :-1], D[:, 1:]
        U, s, Vh = np.linalg.svd(X1, full_matrices=False)
        keep = s > s[0] * 1e-10 if s.size and s[0] > 0 else np.zeros(0, dtype=bool)
        r = int(keep.sum()) if self.rank is None else min(int(self.rank), int(keep.sum()))
        last = W[-1]
        if r == 0:
            return np.repeat(last[None], m, axis=0)
        U, s, Vh = U[:, :r], s[:r], Vh[:r]
        A = U.T @ X2 @ Vh.T / s                                       # (r, r)
        eigenvalues, modes = np.linalg.eig(A)
        moduli = np.abs(eigenvalues)
        eigenvalues = np.where(moduli > self.max_eigenvalue,
                               eigenvalues * self.max_eigenvalue / np.maximum(moduli, 1e-300), eigenvalues)
        z = np.linalg.solve(modes, U.T @ D[:, -1].astype(complex))    # the last motion in the modes' basis
        powers = eigenvalues[None, :] ** np.arange(1, m + 1)[:, None]   # (m, r)
        moves = np.cumsum(powers, axis=0) * z[None, :]                  # sum of the next motions, per mode
        forecast = last[None] + np.real(moves @ modes.T @ U.T)          # (m, g)
        if self.mask:
            move = forecast - last[None]
            step = D[:, -1][None] * np.arange(1, m + 1)[:, None]       # linear extrapolation of the last motion
            ok = (np.sign(move) == np.sign(step)) & (np.abs(move) <= self.max_ratio * np.abs(step))
            forecast = np.where(ok, forecast, last[None])
            self._held += int((~ok).sum())
        return forecast

    def predict(self, X, m=1):
        """Forecast the ``m`` snapshots after the last of each sequence: (n_sequences, m, n_params)."""
        if not hasattr(self, "n_features_in_"):
            raise ValueError("this DMDFarcaster is not fitted yet: call fit first")
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 3 or X.shape[1] != self.n_features_in_:
            raise ValueError(f"X must have shape (n_sequences, {self.n_features_in_}, n_params), got {X.shape}")
        if isinstance(m, bool) or not isinstance(m, numbers.Integral) or m < 1:
            raise ValueError(f"m must be a positive integer, got {m!r}")
        if not np.all(np.isfinite(X)):
            raise ValueError("X holds NaN or inf")
        self._held = 0
        out = np.empty((X.shape[0], m, X.shape[2]))
        for i, sequence in enumerate(X):
            for group in self._group_slices(X.shape[2]):
                out[i, :, group] = self._forecast_group(sequence[:, group], m)
        self.masked_fraction_ = self._held / out.size
        return out
