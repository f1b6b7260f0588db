"""The paper's synthetic weight sequences: Syn-1 (least squares by GD/SGD) and Syn-2 (a small MLP by SGD/Adam).

Both generators are pure numpy, float64 and seeded, so that a given ``seed`` gives the same array on
every machine. Each can also return the training loss at every recorded step (the paper's Table 5
feeds the forecaster (w_i, l_i)).
"""

import numpy as np

from ..constraints import Boolean, Integer, Options, Real

__all__ = ["make_syn1", "make_syn2"]

SYN2_LEARNING_RATES = {"sgd": 0.002, "adam": 0.005}
SYN2_HIDDEN = 10  # Linear(1 -> 10) -> ReLU -> Linear(10 -> 1): 10 + 10 + 10 + 1 = 31 parameters


_SIZE = Integer(low=1)


def _check_sizes(**sizes):
    """Each size is an integer >= 1; returned as Python ints."""
    return [int(_SIZE.check(value, name)) for name, value in sizes.items()]


def make_syn1(optimizer="gd", n_sequences=200, n_steps=201, n_params=3, seed=1, n_points=100,
              return_loss=False):
    """Syn-1: weight sequences of least-squares regression trained by gradient descent or SGD.

    Follows the paper authors' generator exactly, so that ``seed`` 1..5 with the defaults gives their
    published Syn-1 files: numpy's global generator is seeded with ``seed`` to draw every optimum
    ``w*_i ~ N(0, I)``; then, for sequence ``i``, it is seeded with ``i`` (so the features, the start
    and the SGD minibatches do not depend on ``seed``) to draw features ``D ~ N(0, I)`` of shape
    (n_points, n_params), targets ``e = D w*_i`` (no noise) and the start ``w_0 ~ U(0, 1)``. Each update
    is ``w <- w - lr * (D_B^T D_B w - D_B^T e_B)``:

    * ``"gd"``: B is every point and ``lr = 0.01 / lambda_max(D^T D)``;
    * ``"sgd"``: B is the first 8 indices of a fresh permutation of the points at each step, ``lr = 0.001``.

    The global numpy generator's state is saved and restored around the call.

    Parameters
    ----------
    optimizer : {"gd", "sgd"}, default="gd"
    n_sequences : int, default=200
    n_steps : int, default=201
        Recorded weights per sequence, w_0 .. w_{n_steps - 1}.
    n_params : int, default=3
    seed : int, default=1
        The paper's trials use seeds 1 .. 5.
    n_points : int, default=100
        Rows of the regression problem (at least 8 for SGD).
    return_loss : bool, default=False
        Also return the training loss at every recorded step: the mean over all points of
        ``(D w_i - e)^2`` (the update's gradient is that of ``n_points / 2`` times this).

    Returns
    -------
    S : ndarray of shape (n_sequences, n_steps, n_params), float64
    loss : ndarray of shape (n_sequences, n_steps), float64
        Only when ``return_loss`` is True.

    Examples
    --------
    >>> from weightcast.datasets import make_syn1
    >>> S, loss = make_syn1("sgd", n_sequences=4, n_steps=11, return_loss=True)
    >>> S.shape, loss.shape
    ((4, 11, 3), (4, 11))
    >>> bool(loss[:, -1].mean() < loss[:, 0].mean())
    True
    """
    Options("gd", "sgd").check(optimizer, "optimizer")
    n_sequences, n_steps, n_params = _check_sizes(n_sequences=n_sequences, n_steps=n_steps, n_params=n_params)
    n_points = int(Integer(low=8 if optimizer == "sgd" else 1).check(n_points, "n_points"))  # SGD draws 8
    seed = int(Integer(low=0, high=2 ** 32 - 1).check(seed, "seed"))  # numpy's global generator's seeds
    Boolean().check(return_loss, "return_loss")
    batch = 8

    state = np.random.get_state()
    try:
        np.random.seed(seed)
        optima = np.random.randn(n_sequences, n_params)
        S = np.empty((n_sequences, n_steps, n_params))
        loss = np.empty((n_sequences, n_steps))
        for i in range(n_sequences):
            np.random.seed(i)
            D = np.random.randn(n_points, n_params)
            e = D @ optima[i]
            w = np.random.rand(n_params)
            lr = 0.01 / np.linalg.eigvalsh(D.T @ D).max() if optimizer == "gd" else 0.001
            S[i, 0] = w
            for t in range(1, n_steps):
                if optimizer == "gd":
                    D_B, e_B = D, e
                else:
                    rows = np.random.permutation(n_points)[:batch]
                    D_B, e_B = D[rows], e[rows]
                w = w - lr * (D_B.T @ D_B @ w - D_B.T @ e_B)
                S[i, t] = w
            if return_loss:
                loss[i] = np.mean((S[i] @ D.T - e) ** 2, axis=1)
    finally:
        np.random.set_state(state)
    return (S, loss) if return_loss else S


def _mlp_forward(params, x):
    """The 1 -> H -> 1 ReLU network for a stack of sequences.

    params: (n_seq, 3H + 1) flattened [W1 (H x 1), b1 (H), W2 (1 x H), b2 (1)]; x: (n_seq, n_points).
    Returns the prediction (n_seq, n_points) and the hidden pre-activation (n_seq, n_points, H).
    """
    H = (params.shape[1] - 1) // 3
    W1, b1, W2, b2 = params[:, :H], params[:, H:2 * H], params[:, 2 * H:3 * H], params[:, 3 * H]
    hidden = x[:, :, None] * W1[:, None, :] + b1[:, None, :]
    prediction = np.einsum("snh,sh->sn", np.maximum(hidden, 0), W2) + b2[:, None]
    return prediction, hidden


def _mlp_loss_and_grad(params, x, y):
    """Mean squared error of each sequence's network on its points, and its gradient (n_seq, 3H + 1)."""
    H = (params.shape[1] - 1) // 3
    prediction, hidden = _mlp_forward(params, x)
    residual = prediction - y
    loss = np.mean(residual ** 2, axis=1)
    d_pred = 2.0 * residual / x.shape[1]                                   # (n_seq, n_points)
    active = np.maximum(hidden, 0)
    W2 = params[:, 2 * H:3 * H]
    d_hidden = d_pred[:, :, None] * W2[:, None, :] * (hidden > 0)         # (n_seq, n_points, H)
    grad = np.concatenate([
        np.einsum("snh,sn->sh", d_hidden, x),                             # W1
        d_hidden.sum(axis=1),                                             # b1
        np.einsum("sn,snh->sh", d_pred, active),                          # W2
        d_pred.sum(axis=1, keepdims=True),                                # b2
    ], axis=1)
    return loss, grad


def make_syn2(optimizer="sgd", n_sequences=200, n_steps=201, seed=1, n_points=100, batch_size=64, lr=None,
              return_loss=False):
    """Syn-2: weight sequences of a 1 -> 10 -> 1 ReLU network (31 parameters) trained by SGD or Adam.

    Follows the paper's text. For each sequence ``i``: ``w* ~ N(0, 1)``, ``n_points`` inputs
    ``x ~ N(0, 1)``, targets ``y = x w*`` (no noise), mean squared error, PyTorch's default
    ``nn.Linear`` initialisation (weights and biases ``U(-1/sqrt(fan_in), 1/sqrt(fan_in))``), and
    minibatches of ``batch_size`` from a fresh permutation of the points each epoch (with the
    defaults, steps of 64 and 36 points alternate). The weights are recorded before each step,
    flattened as [W1 (10 x 1), b1 (10), W2 (1 x 10), b2 (1)].

    Unlike the authors' generator it builds the optimizer it is asked for (theirs swaps SGD and Adam),
    uses the paper's learning rates (SGD 0.002, Adam 0.005, where theirs uses 0.002 for both) and is
    seeded: sequence ``i`` draws everything from ``numpy.random.default_rng([seed, i])``. Adam is
    PyTorch's (betas 0.9, 0.999, eps 1e-8, bias corrected); all arithmetic is float64.

    Parameters
    ----------
    optimizer : {"sgd", "adam"}, default="sgd"
    n_sequences : int, default=200
    n_steps : int, default=201
        Recorded weights per sequence, w_0 .. w_{n_steps - 1}.
    seed : int, default=1
    n_points : int, default=100
    batch_size : int, default=64
    lr : float or None, default=None
        None uses the paper's rate for the optimizer (SGD 0.002, Adam 0.005).
    return_loss : bool, default=False
        Also return the training loss (mean squared error over all points) at every recorded step.

    Returns
    -------
    S : ndarray of shape (n_sequences, n_steps, 31), float64
    loss : ndarray of shape (n_sequences, n_steps), float64
        Only when ``return_loss`` is True.

    Examples
    --------
    >>> from weightcast.datasets import make_syn2
    >>> S = make_syn2("adam", n_sequences=3, n_steps=21, seed=0)
    >>> S.shape
    (3, 21, 31)
    >>> bool((make_syn2("adam", n_sequences=3, n_steps=21, seed=0) == S).all())
    True
    """
    Options("sgd", "adam").check(optimizer, "optimizer")
    n_sequences, n_steps, n_points, batch_size = _check_sizes(n_sequences=n_sequences, n_steps=n_steps,
                                                              n_points=n_points, batch_size=batch_size)
    seed = int(Integer(low=0).check(seed, "seed"))
    lr = SYN2_LEARNING_RATES[optimizer] if Real(low=0, low_open=True, none=True).check(lr, "lr") is None else lr
    Boolean().check(return_loss, "return_loss")

    H = SYN2_HIDDEN
    batch_size = min(batch_size, n_points)
    steps_per_epoch = -(-n_points // batch_size)
    n_epochs = -(-(n_steps - 1) // steps_per_epoch)
    x = np.empty((n_sequences, n_points))
    optima = np.empty(n_sequences)
    params = np.empty((n_sequences, 3 * H + 1))
    orders = np.empty((n_sequences, max(n_epochs, 0), n_points), dtype=np.intp)
    for i in range(n_sequences):
        rng = np.random.default_rng([seed, i])
        optima[i] = rng.standard_normal()
        x[i] = rng.standard_normal(n_points)
        params[i] = np.concatenate([rng.uniform(-1, 1, H), rng.uniform(-1, 1, H),          # fan_in 1
                                    rng.uniform(-1, 1, H + 1) / np.sqrt(H)])              # fan_in H
        for epoch in range(n_epochs):
            orders[i, epoch] = rng.permutation(n_points)
    y = x * optima[:, None]

    S = np.empty((n_sequences, n_steps, 3 * H + 1))
    loss = np.empty((n_sequences, n_steps))
    first_moment, second_moment = np.zeros_like(params), np.zeros_like(params)
    beta1, beta2, eps = 0.9, 0.999, 1e-8
    rows = np.arange(n_sequences)[:, None]
    for t in range(n_steps):
        S[:, t] = params
        if return_loss:
            loss[:, t] = _mlp_loss_and_grad(params, x, y)[0]
        if t == n_steps - 1:
            break
        epoch, position = divmod(t, steps_per_epoch)
        batch = orders[:, epoch, position * batch_size:(position + 1) * batch_size]
        _, grad = _mlp_loss_and_grad(params, x[rows, batch], y[rows, batch])
        if optimizer == "sgd":
            params = params - lr * grad
        else:
            step = t + 1
            first_moment = beta1 * first_moment + (1 - beta1) * grad
            second_moment = beta2 * second_moment + (1 - beta2) * grad ** 2
            denominator = np.sqrt(second_moment) / np.sqrt(1 - beta2 ** step) + eps
            params = params - (lr / (1 - beta1 ** step)) * first_moment / denominator
    return (S, loss) if return_loss else S
