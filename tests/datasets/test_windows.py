"""split_sequences: input windows and targets."""

import numpy as np
import pytest

from weightcast import split_sequences


def test_split_is_a_view_of_the_steps():
    S = np.arange(2 * 10 * 3, dtype=np.float32).reshape(2, 10, 3)
    X, Y = split_sequences(S, n_input_steps=4)
    np.testing.assert_array_equal(X, S[:, :4])
    np.testing.assert_array_equal(Y, S[:, 4:])
    X, Y = split_sequences(S, n_input_steps=4, m=2)
    np.testing.assert_array_equal(Y, S[:, 4:6])
    assert X.dtype == np.float32


def test_two_d_sequences_are_lifted():
    X, Y = split_sequences(np.zeros((3, 10)), n_input_steps=4)
    assert X.shape == (3, 4, 1) and Y.shape == (3, 6, 1)


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(n_input_steps=10), ValueError, "leaves no target step"),
    (dict(n_input_steps=0), ValueError, "n_input_steps must be >= 1"),
    (dict(n_input_steps=4, m=7), ValueError, "exceeds the 10 steps"),
    (dict(n_input_steps=4, m=0), ValueError, "m must be >= 1"),
    (dict(n_input_steps=2.0), TypeError, "n_input_steps must be an integer"),
])
def test_bad_splits_are_named(kwargs, error, match):
    with pytest.raises(error, match=match):
        split_sequences(np.zeros((3, 10, 2)), **kwargs)


def test_bad_arrays_are_named():
    with pytest.raises(ValueError, match="shape"):
        split_sequences(np.zeros((2, 3, 4, 5)), n_input_steps=1)
    with pytest.raises(ValueError, match="NaN"):
        split_sequences(np.full((2, 3, 4), np.nan), n_input_steps=1)
