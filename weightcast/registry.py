"""The public estimators: one list for tests and tools, like scikit-learn's ``all_estimators``.

Public means exported by ``weightcast`` (its ``__all__``); forecasters are regressors, step selectors are
transformers.
"""

from sklearn.base import BaseEstimator, RegressorMixin, TransformerMixin

import weightcast

__all__ = ["all_estimators"]

_TYPES = {"forecaster": RegressorMixin, "selector": TransformerMixin}


def all_estimators(type_filter=None):
    """The public estimator classes, as a sorted list of ``(name, class)``.

    Parameters
    ----------
    type_filter : {"forecaster", "selector"}, list of them, or None
        Only these kinds; None lists every estimator.

    Examples
    --------
    >>> from weightcast.registry import all_estimators
    >>> [name for name, _ in all_estimators("selector")][:2]
    ['AllSelector', 'FirstLastSelector']
    """
    if type_filter is None:
        kinds = list(_TYPES)
    else:
        kinds = [type_filter] if isinstance(type_filter, str) else list(type_filter)
    unknown = [kind for kind in kinds if kind not in _TYPES]
    if unknown:
        raise ValueError(f"unknown type_filter {unknown}: use {sorted(_TYPES)} or None")
    classes = [(name, getattr(weightcast, name)) for name in weightcast.__all__]
    return sorted((name, cls) for name, cls in classes
                  if isinstance(cls, type) and issubclass(cls, BaseEstimator)
                  and any(issubclass(cls, _TYPES[kind]) for kind in kinds))
