"""The networks whose training runs are recorded: the paper's MNIST CNN and a transformer text
classifier (with a DistilBERT-shaped configuration), each with smaller variants for quick runs."""

import math

import torch
from torch import nn

__all__ = ["MnistCNN", "TextTransformer", "CNN_SIZES", "TEXT_SIZES", "count_parameters"]

# (conv1 channels, conv2 channels, hidden units). "paper" is the classic PyTorch MNIST example net.
CNN_SIZES = {"paper": (32, 64, 128), "small": (8, 16, 32), "tiny": (2, 4, 8)}

# (vocab, dim, layers, heads, ffn, max_len, classes). "distilbert" has DistilBERT's shapes (and a
# pre-classifier with 9 outputs, the count of 66,960,393 the paper reports); "small" is the default.
TEXT_SIZES = {
    "distilbert": dict(vocab_size=30522, dim=768, n_layers=6, n_heads=12, ffn_dim=3072, max_len=512, n_classes=9),
    "small": dict(vocab_size=5000, dim=64, n_layers=2, n_heads=4, ffn_dim=128, max_len=32, n_classes=2),
    "tiny": dict(vocab_size=500, dim=16, n_layers=1, n_heads=2, ffn_dim=32, max_len=16, n_classes=2),
}


def count_parameters(model):
    return sum(p.numel() for p in model.parameters())


class MnistCNN(nn.Module):
    """conv(1->c1, 3x3) - ReLU - conv(c1->c2, 3x3) - ReLU - max-pool 2 - dropout 0.25 - fc(144*c2 -> hidden)
    - ReLU - dropout 0.5 - fc(hidden -> 10), log-softmax output.

    With the default (32, 64, 128) this is the classic PyTorch MNIST example: 1,199,882 parameters.

    Examples
    --------
    >>> sum(p.numel() for p in MnistCNN().parameters())
    1199882
    """

    def __init__(self, conv1=32, conv2=64, hidden=128):
        super().__init__()
        self.conv1 = nn.Conv2d(1, conv1, 3)
        self.conv2 = nn.Conv2d(conv1, conv2, 3)
        self.dropout1 = nn.Dropout(0.25)
        self.dropout2 = nn.Dropout(0.5)
        self.fc1 = nn.Linear(12 * 12 * conv2, hidden)
        self.fc2 = nn.Linear(hidden, 10)

    @classmethod
    def of_size(cls, size="paper"):
        if size not in CNN_SIZES:
            raise ValueError(f"unknown CNN size {size!r}; choose one of {sorted(CNN_SIZES)}")
        return cls(*CNN_SIZES[size])

    def forward(self, x):
        x = torch.relu(self.conv1(x))
        x = torch.relu(self.conv2(x))
        x = self.dropout1(torch.max_pool2d(x, 2)).flatten(1)
        x = self.dropout2(torch.relu(self.fc1(x)))
        return torch.log_softmax(self.fc2(x), dim=1)


class TextTransformer(nn.Module):
    """A DistilBERT-like encoder classifier: token + position embeddings, LayerNorm, post-norm
    transformer layers (GELU), the first ([CLS]) position -> pre-classifier (dim -> dim, ReLU) -> classes.

    ``TextTransformer.of_size("distilbert")`` has DistilBERT-for-sequence-classification's shapes,
    66,960,393 parameters (9 classes); token id 0 is padding.

    Examples
    --------
    >>> sum(p.numel() for p in TextTransformer.of_size("distilbert").parameters())
    66960393
    """

    def __init__(self, vocab_size=5000, dim=64, n_layers=2, n_heads=4, ffn_dim=128, max_len=32, n_classes=2,
                 dropout=0.1):
        super().__init__()
        self.token_embedding = nn.Embedding(vocab_size, dim, padding_idx=0)
        self.position_embedding = nn.Embedding(max_len, dim)
        self.embedding_norm = nn.LayerNorm(dim, eps=1e-12)
        self.dropout = nn.Dropout(dropout)
        layer = nn.TransformerEncoderLayer(dim, n_heads, ffn_dim, dropout=dropout, activation="gelu",
                                           batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, n_layers, enable_nested_tensor=False)
        self.pre_classifier = nn.Linear(dim, dim)
        self.classifier = nn.Linear(dim, n_classes)
        self.max_len = max_len

    @classmethod
    def of_size(cls, size="small"):
        if size not in TEXT_SIZES:
            raise ValueError(f"unknown text model size {size!r}; choose one of {sorted(TEXT_SIZES)}")
        return cls(**TEXT_SIZES[size])

    def forward(self, ids):
        if ids.shape[1] > self.max_len:
            raise ValueError(f"token sequences of length {ids.shape[1]} exceed max_len={self.max_len}")
        positions = torch.arange(ids.shape[1], device=ids.device)
        x = self.embedding_norm(self.token_embedding(ids) + self.position_embedding(positions))
        x = self.encoder(self.dropout(x), src_key_padding_mask=ids == 0)
        x = self.dropout(torch.relu(self.pre_classifier(x[:, 0])))
        return torch.log_softmax(self.classifier(x), dim=1)
