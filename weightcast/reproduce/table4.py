"""Table 4 of the paper on recorded training runs: the linear farcasters on a real CNN and a text transformer.

Protocols (files written by ``weightcast record``):

* ``"cnn"``: 10 runs x 101 snapshots; runs 0-4 train, 5-6 dev, 7-9 test; inputs w_0 .. w_10 (11 steps),
  targets w_11 .. w_100; MSE at the absolute steps 20, 40, 80, 100.
* ``"text"``: one run of 60 snapshots; the window w_0 .. w_29 trains, w_30 .. w_59 tests; inputs the first
  5 snapshots of a window, targets the next 25; MSE at the 15th, 20th, 25th and 30th snapshot of the test
  window (1-based, as the paper counts; window positions 14, 19, 24, 29).

The forecast is scored streaming: parameter slab by slab, reading from the file only the input steps and
the checkpoint steps, so memory is bounded by the slab (the training windows are read into memory to fit).
"""

import time

import numpy as np
import torch

from ..linear import LFD2Forecaster, LFLForecaster, LFNForecaster, LFSForecaster
from ..metrics import PAPER_SCALE
from ..io.hdf5 import open_sequences

__all__ = ["PROTOCOLS", "MODELS", "table4", "format_table4"]

# windows are (sequence, first step); checkpoints are window positions.
PROTOCOLS = {
    "cnn": dict(n_steps=101, n_in=11, train=[(s, 0) for s in range(5)], dev=[(5, 0), (6, 0)],
                test=[(7, 0), (8, 0), (9, 0)], window=101, checkpoints=(20, 40, 80, 100), labels=(20, 40, 80, 100)),
    "text": dict(n_steps=60, n_in=5, train=[(0, 0)], dev=[], test=[(0, 30)], window=30,
                 checkpoints=(14, 19, 24, 29), labels=(15, 20, 25, 30)),
}

MODELS = {"LFD-2": LFD2Forecaster, "LFN": LFNForecaster, "LFS": LFSForecaster, "LFL": LFLForecaster}


def _read_windows(weights, windows, first, stop):
    """Stack weights[seq, start + first : start + stop] of each window (one read per window)."""
    return np.stack([weights[seq, start + first:start + stop] for seq, start in windows])


def _check_file(weights, protocol, name):
    """The protocol's sequences and steps of the view ``weights``, every one of them recorded."""
    windows = protocol["train"] + protocol["dev"] + protocol["test"]
    needed = max(seq for seq, _ in windows) + 1
    if weights.shape[0] < needed or weights.shape[1] < protocol["n_steps"]:
        raise ValueError(f"{weights.path} holds {weights.shape[0]} sequence(s) x {weights.shape[1]} steps; "
                         f"the {name} protocol needs {needed} x {protocol['n_steps']}")
    used = weights[:needed, :protocol["n_steps"]]
    short = used.incomplete_sequences.tolist()
    if short:  # each run has its role in the protocol (train, dev, test): none can be skipped
        raise ValueError(f"{weights.path}: sequence(s) {short} were not recorded to the end (a killed or unfinished "
                         f"run); the {name} protocol needs sequences 0-{needed - 1} with {protocol['n_steps']} steps "
                         "each: record them again")
    return used


def _score(estimator, weights, test, n_in, checkpoints, slab_size, device):
    """Sum of squared errors at each checkpoint over the test windows, one parameter slab at a time."""
    coef = torch.as_tensor(estimator.coef_, dtype=torch.float64, device=device)
    intercept = torch.as_tensor(estimator.intercept_, dtype=torch.float64, device=device)
    columns = [c - n_in for c in checkpoints]
    n_params = weights.shape[2]
    sse = np.zeros(len(checkpoints))
    for seq, start in test:
        for p0 in range(0, n_params, slab_size):
            p1 = min(p0 + slab_size, n_params)
            inputs = weights.read_block([seq], np.arange(start, start + n_in), slice(p0, p1))[0]
            X = torch.as_tensor(inputs, dtype=torch.float64, device=device)
            predicted = X[estimator.steps_].T @ coef[:, columns] + intercept[columns]       # (slab, n_checkpoints)
            targets = weights.read_block([seq], [start + c for c in checkpoints], slice(p0, p1))[0]
            true = torch.as_tensor(targets, dtype=torch.float64, device=device)
            sse += ((predicted - true.T) ** 2).sum(0).cpu().numpy()
    return sse / (len(test) * n_params)


def table4(path, protocol="cnn", models=("LFD-2", "LFN", "LFS", "LFL"), solvers=("lstsq",), max_epochs=100,
           slab_size=131072, device="auto", random_state=0, log=None):
    """Fit each linear farcaster on a recorded file with the paper's protocol and score it.

    Parameters
    ----------
    path : str or Path
        A file written by ``weightcast record cnn`` (protocol ``"cnn"``) or ``record text`` (``"text"``).
    protocol : {"cnn", "text"}
    models : sequence of str
        Keys of :data:`MODELS`.
    solvers : sequence of {"lstsq", "paper"}
        Each model is fitted with each solver ("paper": L1 + beta L_grad by Adam from the least-squares start,
        early stopping on the dev runs, at most ``max_epochs`` epochs).
    slab_size : int
        Parameters per slab when fitting and scoring.

    Returns
    -------
    rows : list of dict
        ``model``, ``solver``, ``mse`` (x1e4 at each checkpoint), ``fit_seconds``, ``epochs``; ``checkpoints`` labels.
    """
    if protocol not in PROTOCOLS:
        raise ValueError(f"unknown protocol {protocol!r}; choose one of {sorted(PROTOCOLS)}")
    unknown = [m for m in models if m not in MODELS]
    if unknown:
        raise ValueError(f"unknown model(s) {unknown}; choose from {sorted(MODELS)}")
    spec = PROTOCOLS[protocol]
    say = log or (lambda message: None)
    rows = []
    # open_sequences refuses truncated or damaged files; _check_file refuses runs that stop short
    weights = _check_file(open_sequences(path), spec, protocol)
    n_in, window = spec["n_in"], spec["window"]
    try:
        started = time.perf_counter()
        X = _read_windows(weights, spec["train"], 0, n_in)
        Y = _read_windows(weights, spec["train"], n_in, window)
        dev = None
        if spec["dev"]:
            dev = (_read_windows(weights, spec["dev"], 0, n_in), _read_windows(weights, spec["dev"], n_in, window))
        say(f"read the training windows {Y.shape[0]} x ({n_in} + {Y.shape[1]}) x {Y.shape[2]:,} in "
            f"{time.perf_counter() - started:.1f} s")
        for name in models:
            for solver in solvers:
                estimator = MODELS[name](solver=solver, max_epochs=max_epochs, slab_size=slab_size, device=device,
                                         random_state=random_state, validation_fraction=0.0)
                started = time.perf_counter()
                estimator.fit(X, Y, **({"validation_data": dev} if dev is not None and solver == "paper" else {}))
                fit_seconds = time.perf_counter() - started
                mse = _score(estimator, weights, spec["test"], n_in, spec["checkpoints"], slab_size,
                             estimator.device_) * PAPER_SCALE
                rows.append(dict(model=name, solver=solver, mse=mse.tolist(), fit_seconds=fit_seconds,
                                 epochs=estimator.n_epochs_, checkpoints=list(spec["labels"])))
                say(format_table4(rows[-1:], header=False))
    finally:
        weights.close()
    return rows


def format_table4(rows, header=True):
    """A markdown table: one row per (model, solver), MSE x1e4 at each checkpoint and the fit time."""
    lines = []
    if header and rows:
        labels = rows[0]["checkpoints"]
        lines.append("| model | solver | " + " | ".join(f"w_{c}" for c in labels) + " | fit s | epochs |")
        lines.append("|---|---|" + "---|" * len(labels) + "---|---|")
    for row in rows:
        cells = " | ".join(f"{value:.4g}" for value in row["mse"])
        lines.append(f"| {row['model']} | {row['solver']} | {cells} | {row['fit_seconds']:.2f} | {row['epochs']} |")
    return "\n".join(lines)
