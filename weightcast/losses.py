"""The farcasting paper's losses, as differentiable torch functions.

Layout: predictions and targets are (batch, n_params, m) - one row per coordinate, time last.
"""

import torch

__all__ = ["prediction_loss", "gradient_penalty"]


def prediction_loss(Y_pred, Y_true):
    """L_pred: the element-wise mean absolute error over (batch, n_params, m)."""
    return (Y_pred - Y_true).abs().mean()


def gradient_penalty(Y_pred, first_step, second_step):
    """L_grad as the authors' code computes it, for one batch of sequences.

    For each sequence i: how much the L1 norm of the last predicted change, sum_j |yhat_{i,j,m} -
    yhat_{i,j,m-1}|, exceeds the first observed change sum_j |w_{i,j,1} - w_{i,j,0}|; the penalty is the
    mean over the batch of that excess (zero when the forecast moves no faster than training began).

    Parameters
    ----------
    Y_pred : tensor of shape (batch, n_params, m), m >= 2
    first_step, second_step : tensors of shape (batch, n_params): w_0 and w_1 of each sequence.
    """
    if Y_pred.shape[-1] < 2:
        raise ValueError(f"the gradient penalty needs at least 2 predicted steps, got {Y_pred.shape[-1]}")
    predicted_change = (Y_pred[..., -1] - Y_pred[..., -2]).abs().sum(dim=1)
    first_change = (second_step - first_step).abs().sum(dim=1)
    return torch.relu(predicted_change - first_change).mean()
