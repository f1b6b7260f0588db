import torch

from weightcast.training import MnistCNN, TextTransformer
from weightcast.training.models import count_parameters


def test_paper_parameter_counts():
    assert count_parameters(MnistCNN()) == 1_199_882
    assert count_parameters(TextTransformer.of_size("distilbert")) == 66_960_393


def test_small_variants_run():
    torch.manual_seed(0)
    out = MnistCNN.of_size("tiny")(torch.zeros(3, 1, 28, 28))
    assert out.shape == (3, 10) and torch.allclose(out.exp().sum(1), torch.ones(3))
    ids = torch.tensor([[2, 5, 7, 0], [2, 9, 0, 0]])
    out = TextTransformer.of_size("tiny")(ids)
    assert out.shape == (2, 2) and torch.isfinite(out).all()
