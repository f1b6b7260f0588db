"""Cutting weight sequences into input windows and target steps."""

import numbers

from ..base import check_sequence_array

__all__ = ["split_sequences"]


def split_sequences(S, n_input_steps, m=None):
    """Split sequences into inputs X = w_0 .. w_{n_in - 1} and targets Y = the next m steps.

    Parameters
    ----------
    S : array of shape (n_sequences, n_steps, n_params) or (n_sequences, n_steps)
    n_input_steps : int
        Number of input steps (21 for the paper's w_0 .. w_20).
    m : int or None
        Number of target steps; None takes every remaining step.

    Returns
    -------
    X : array of shape (n_sequences, n_input_steps, n_params)
    Y : array of shape (n_sequences, m, n_params)

    Examples
    --------
    >>> import numpy as np
    >>> X, Y = split_sequences(np.zeros((4, 201, 3)), n_input_steps=21)
    >>> X.shape, Y.shape
    ((4, 21, 3), (4, 180, 3))
    """
    S = check_sequence_array(S)
    n_steps = S.shape[1]
    for name, value in (("n_input_steps", n_input_steps), ("m", m)):
        if value is None and name == "m":
            continue
        if isinstance(value, bool) or not isinstance(value, numbers.Integral):
            raise TypeError(f"{name} must be an integer, got {value!r}")
        if value < 1:
            raise ValueError(f"{name} must be >= 1, got {value}")
    if n_input_steps >= n_steps:
        raise ValueError(f"n_input_steps={n_input_steps} leaves no target step in sequences of {n_steps} steps")
    m = n_steps - n_input_steps if m is None else m
    if n_input_steps + m > n_steps:
        raise ValueError(f"n_input_steps={n_input_steps} + m={m} exceeds the {n_steps} steps of each sequence")
    return S[:, :n_input_steps], S[:, n_input_steps:n_input_steps + m]
