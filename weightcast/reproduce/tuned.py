"""The tuned row: the library's best linear farcaster or FixedPointFarcaster, chosen by GridSearchCV on the
train + dev sequences only (what a user would run)."""

from sklearn.base import clone
from sklearn.model_selection import GridSearchCV, KFold
from sklearn.pipeline import Pipeline

from ..dynamics import FixedPointFarcaster
from ..linear import LinearFarcaster
from ..metrics import checkpoint_mse
from ..selection import AllSelector, FirstLastSelector, IntrospectionSelector, LastSelector, StepSelector
from .protocols import CHECKPOINTS

__all__ = ["tuned_search", "describe"]

_QUICK_EPOCHS, _FULL_EPOCHS = 200, 2000  # the warm-started paper solver in the grid


class _WeightScorer:
    """Minus the mean checkpoint MSE on the first ``n_weights`` channels (Table 5 also carries the loss)."""

    def __init__(self, n_weights):
        self.n_weights = n_weights

    def __call__(self, estimator, X, Y):
        Y_pred = estimator.predict(X, m=Y.shape[1])
        n = self.n_weights
        return -float(checkpoint_mse(Y[..., :n], Y_pred[..., :n], CHECKPOINTS, X.shape[1]).mean())


def tuned_search(n_input_steps, n_weights, quick, device, random_state, with_loss=False, max_epochs=None):
    """GridSearchCV over the linear farcasters (their selectors, solver, ridge alpha and beta) and
    weightcast's FixedPointFarcaster (its selector and block size).

    Scored by 5-fold (quick: 3-fold, smaller grid) cross-validation over the 150 train + dev sequences
    (scikit-learn's default, what a user would run); the best configuration is then refitted on all
    150. The test sequences are never seen. (The paper's single train/dev split is too noisy to rank
    close candidates.) The model itself is a grid parameter: the step of a one-step Pipeline.
    ``max_epochs`` caps the paper solver's epochs further.
    """
    candidates = [FirstLastSelector(), AllSelector(), IntrospectionSelector(), LastSelector(),
                  StepSelector((0, 1, -1))]
    selectors, seen = [], set()
    for selector in candidates:  # short windows (Table 6) make some selectors coincide or invalid
        try:
            steps = tuple(clone(selector).fit_steps(n_input_steps).steps_)
        except ValueError:
            continue
        if steps not in seen:
            seen.add(steps)
            selectors.append(selector)
    # The paper solver (L1) warm-starts from least squares; L1 is more robust to SGD noise.
    l1_selectors = [s for s in selectors if not isinstance(s, AllSelector)]
    if quick:
        grid = [{"solver": ["lstsq"], "selector": selectors, "alpha": [0.0, 1e-2]},
                {"solver": ["paper"], "selector": l1_selectors[:1], "beta": [1e-6]}]
    else:
        grid = [{"solver": ["lstsq"], "selector": selectors, "alpha": [0.0, 1e-3, 1e-2, 1e-1]},
                {"solver": ["paper"], "selector": l1_selectors, "beta": [0.0, 1e-6, 1e-4]}]
    grid = [{f"forecaster__{key}": values for key, values in entry.items()} for entry in grid]
    # The fixed-point model needs a few steps to see the drift, and blocks of weights only (not the loss).
    if n_input_steps >= 5 and not with_loss:
        fixed_point = [FixedPointFarcaster(selector=selector, block_size=block_size, device=device,
                                           random_state=random_state)
                       for selector in ([FirstLastSelector()] if quick else [FirstLastSelector(), AllSelector()])
                       for block_size in (64,)]
        grid.append({"forecaster": fixed_point})
    epochs = _QUICK_EPOCHS if quick else _FULL_EPOCHS
    epochs = epochs if max_epochs is None else min(epochs, max_epochs)
    base = Pipeline([("forecaster", LinearFarcaster(solver="lstsq", init="lstsq", lr=1e-3, patience=20,
                                                    max_epochs=epochs, device=device,
                                                    random_state=random_state))])
    return GridSearchCV(base, grid, scoring=_WeightScorer(n_weights), cv=KFold(3 if quick else 5),
                        refit=True, error_score="raise")


def describe(params):
    """A short text of the chosen grid point (``best_params_``)."""
    if "forecaster" in params:  # a whole model was chosen
        return " ".join(str(params["forecaster"]).split())
    parts = []
    for key in sorted(params):
        value, name = params[key], key.removeprefix("forecaster__")
        parts.append(f"{name}={value!r}" if not hasattr(value, "get_params") else f"{name}={value}")
    return "LinearFarcaster: " + ", ".join(parts)
