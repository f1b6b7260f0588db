"""The training loop helpers of `weightcast record`."""

import pytest
import torch

from weightcast.training.loops import ClassificationData, minibatches


def test_minibatches_refuse_a_batch_larger_than_the_training_set():
    data = ClassificationData(torch.zeros(5, 2), torch.zeros(5), torch.zeros(1, 2), torch.zeros(1))
    assert next(minibatches(data, 5, seed=0))[0].shape == (5, 2)
    with pytest.raises(ValueError, match="batch_size=6 exceeds the 5 training examples"):
        next(minibatches(data, 6, seed=0))  # the generator would otherwise loop forever
