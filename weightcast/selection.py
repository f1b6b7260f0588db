"""Step selectors: scikit-learn transformers that keep some time steps (columns) of a sequence window.

They work on 2-D windows (n_sequences, n_steps) and on 3-D ones (n_sequences, n_steps, n_params), alone,
in a Pipeline, or as the ``selector`` of a linear farcaster (which then reads only the kept steps).
"""

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted, validate_data

from .base import atomic_fit, check_random_state
from .constraints import InstanceOf, Integer, ListOf, Real, Seed, validate_params
from .io.persistence import PersistenceMixin

__all__ = [
    "AllSelector",
    "FirstLastSelector",
    "LastSelector",
    "SampledSelector",
    "IntrospectionSelector",
    "StepSelector",
]


_MAX_STEPS = np.iinfo(np.intp).max // 8  # no array of 8-byte values has a longer axis


class _BaseSelector(PersistenceMixin, TransformerMixin, BaseEstimator):
    """Keep the time steps ``steps_`` chosen by ``_choose(n_steps)`` from each window; subclasses declare
    their parameters' rules in ``_parameter_constraints`` (:mod:`weightcast.constraints`)."""

    _parameter_constraints = {}

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.three_d_array = True
        tags.requires_fit = True
        return tags

    @atomic_fit
    def fit(self, X, y=None):
        """Choose the steps for windows shaped like ``X`` (only ``X.shape[1]`` is used)."""
        validate_params(self)
        X = validate_data(self, X, allow_nd=True, dtype="numeric", reset=True)
        return self.fit_steps(X.shape[1])

    @atomic_fit
    def fit_steps(self, n_steps):
        """Choose the steps for windows of ``n_steps`` time steps without looking at data."""
        validate_params(self)
        Integer(low=1).check(n_steps, "n_steps")
        if n_steps > _MAX_STEPS:
            raise ValueError(f"n_steps={n_steps} is more time steps than any array can hold")
        self.n_features_in_ = int(n_steps)
        try:
            self.steps_ = np.asarray(self._choose(int(n_steps)), dtype=np.intp)
        except MemoryError:  # only an absurd n_steps gets here: no such window fits in memory either
            raise ValueError(f"n_steps={n_steps} is too many time steps to index") from None
        return self

    def transform(self, X):
        """Return ``X[:, steps_]``: the kept steps, in increasing order."""
        check_is_fitted(self)
        X = validate_data(self, X, allow_nd=True, dtype="numeric", reset=False)
        return X[:, self.steps_]

    def get_feature_names_out(self, input_features=None):
        check_is_fitted(self)
        return np.asarray([f"w{step}" for step in self.steps_], dtype=object)

    def _validate_loaded_state(self):
        """Called by :func:`weightcast.load`: the restored steps must index the window."""
        steps, n_steps = self.steps_, self.n_features_in_
        if not (isinstance(steps, np.ndarray) and steps.ndim == 1 and steps.dtype.kind in "iu"
                and isinstance(n_steps, int) and np.all((steps >= 0) & (steps < n_steps))):
            raise ValueError(f"steps_ {steps!r} do not index a window of {n_steps!r} steps")

    def _choose(self, n_steps):
        raise NotImplementedError

    @classmethod
    def get_test_params(cls):
        return [{}]


SELECTOR = InstanceOf(_BaseSelector, "a weightcast step selector", none=True)
"""The rule of a forecaster's ``selector`` parameter."""


class AllSelector(_BaseSelector):
    """Keep every step (the LFN input).

    Examples
    --------
    >>> import numpy as np
    >>> AllSelector().fit(np.zeros((2, 4))).steps_
    array([0, 1, 2, 3])
    """

    def _choose(self, n_steps):
        return np.arange(n_steps)


class FirstLastSelector(_BaseSelector):
    """Keep the first and the last step, w_0 and w_n (the LFD-2 input).

    Examples
    --------
    >>> import numpy as np
    >>> FirstLastSelector().fit(np.zeros((2, 21))).steps_
    array([ 0, 20])
    """

    def _choose(self, n_steps):
        return np.unique([0, n_steps - 1])


class LastSelector(_BaseSelector):
    """Keep only the last step, w_n (the LFL input)."""

    def _choose(self, n_steps):
        return np.array([n_steps - 1])


class SampledSelector(_BaseSelector):
    """Keep ``k`` steps drawn uniformly without replacement (the paper's LFS input).

    Parameters
    ----------
    k : int, default=4
        Number of steps to keep; at most the number of input steps.
    random_state : int, RandomState instance or None, default=None
        Seeds the draw, so that a repeated fit keeps the same steps.

    Examples
    --------
    >>> import numpy as np
    >>> SampledSelector(k=3, random_state=0).fit(np.zeros((2, 21))).steps_.shape
    (3,)
    """

    _parameter_constraints = {"k": Integer(low=1), "random_state": Seed()}

    def __init__(self, k=4, random_state=None):
        self.k = k
        self.random_state = random_state

    def _choose(self, n_steps):
        if self.k > n_steps:
            raise ValueError(f"k={self.k} steps cannot be drawn from a window of {n_steps} step(s) "
                             f"(n_features={n_steps}); use k <= {n_steps}")
        rng = check_random_state(self.random_state)
        return np.sort(rng.choice(n_steps, size=self.k, replace=False))

    @classmethod
    def get_test_params(cls):
        return [{"k": 1, "random_state": 0}]


class IntrospectionSelector(_BaseSelector):
    """Keep the steps floor(f * n) for each fraction f, with n the last input step.

    The default fractions (1, 0.7, 0.4, 0) give [w_n, w_0.7n, w_0.4n, w_0], the pattern of the
    Introspection paper that the farcasting authors' LFS code uses (there with n drawn at random).
    Repeated steps (short windows) are kept once.

    Examples
    --------
    >>> import numpy as np
    >>> IntrospectionSelector().fit(np.zeros((2, 21))).steps_
    array([ 0,  8, 14, 20])
    """

    _parameter_constraints = {"fractions": ListOf(Real(low=0, high=1), "numbers in [0, 1]")}

    def __init__(self, fractions=(1.0, 0.7, 0.4, 0.0)):
        self.fractions = fractions

    def _choose(self, n_steps):
        fractions = np.asarray(self.fractions, dtype=float)
        # The small offset keeps 0.7 * 20 = 13.999... at step 14.
        steps = np.floor(fractions * (n_steps - 1) + 1e-9).astype(int)
        return np.unique(np.minimum(steps, n_steps - 1))


class StepSelector(_BaseSelector):
    """Keep explicitly given steps; negative steps count from the end (-1 is the last input step).

    Examples
    --------
    >>> import numpy as np
    >>> StepSelector(steps=(0, 10, -1)).fit(np.zeros((2, 21))).steps_
    array([ 0, 10, 20])
    """

    _parameter_constraints = {"steps": ListOf(Integer(low=-_MAX_STEPS, high=_MAX_STEPS), "integers")}

    def __init__(self, steps=(0, -1)):
        self.steps = steps

    def _choose(self, n_steps):
        steps = np.asarray(self.steps, dtype=np.int64)
        if np.any((steps >= n_steps) | (steps < -n_steps)):
            raise ValueError(f"steps {list(steps)} do not fit a window of {n_steps} input step(s) "
                             f"(n_features={n_steps}): valid steps are {-n_steps}..{n_steps - 1}")
        resolved = np.where(steps < 0, steps + n_steps, steps)
        if np.unique(resolved).size != resolved.size:
            raise ValueError(f"steps {list(steps)} name the same step twice in a window of {n_steps} steps")
        return np.sort(resolved)

    @classmethod
    def get_test_params(cls):
        return [{"steps": (0,)}]
