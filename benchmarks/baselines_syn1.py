"""The baselines on the paper authors' Syn-1 data, against the paper's Table 2.

Protocol (the paper's): sequences 0-99 train, 100-149 dev (early stopping), 150-199 test; inputs
w_0 .. w_20, targets w_21 .. w_200; MSE x 1e4 at checkpoints 40 / 80 / 160 / 200, mean (std, ddof 0)
over the 5 sample files, for GD and SGD. A cell passes when our mean is no worse than the paper's
mean + 1 std. The issue asks for at least 6 passing cells of 8 per baseline.

    PYTHONPATH=. python benchmarks/baselines_syn1.py            # about 3 minutes on 2 busy cores
    PYTHONPATH=. python benchmarks/baselines_syn1.py --original # adds the original Introspection (slow)
"""

import argparse
import time
from pathlib import Path

import numpy as np
import torch

from weightcast.baselines import (CurveFitForecaster, DLinearForecaster, IntrospectionForecaster, RMLPForecaster,
                                  WNNForecaster)
from weightcast.metrics import PAPER_SCALE, checkpoint_mse

from _syn1 import DATA_HELP, DEFAULT_DATA, load_sample

CHECKPOINTS = (40, 80, 160, 200)
N_INPUT = 21

# Table 2 of the paper: mean and std at w_40 / w_80 / w_160 / w_200.
PAPER = {
    "Introspection": {"gd": ([.222, 4.63, 45.1, 405], [.023, .41, 3.8, 724]),
                      "sgd": ([12.8, 61.4, 219, 307], [1.6, 13.7, 48, 45])},
    "WNN": {"gd": ([1.75, 15.9, 213, 278], [1.76, 8.2, 62, 60]),
            "sgd": ([14.1, 71.8, 270, 412], [.6, 14.8, 29, 60])},
    "DLinear": {"gd": ([.715, 5.72, 48.1, 81.8], [.119, .42, 3.9, 6.8]),
                "sgd": ([14.2, 68.6, 221, 302], [2.3, 13.6, 43, 53])},
}

# name -> (estimator factory, paper row compared with or None, checkpoints the model forecasts)
MODELS = {
    "RMLP (paper's DLinear)": (lambda: RMLPForecaster(random_state=0), "DLinear", CHECKPOINTS),
    "DLinear": (lambda: DLinearForecaster(random_state=0), "DLinear", CHECKPOINTS),
    "Introspection (linear)": (lambda: IntrospectionForecaster(variant="linear", random_state=0), "Introspection",
                               CHECKPOINTS),
    "WNN (direct, 21 inputs)": (lambda: WNNForecaster(window=21, random_state=0), "WNN", CHECKPOINTS),
    "WNN (native, w_40)": (lambda: WNNForecaster(offset=40 - N_INPUT + 1, window=21, random_state=0), "WNN", (40,)),
    "Curve fit (line, 21 inputs)": (lambda: CurveFitForecaster(), None, CHECKPOINTS),
    "Curve fit (line, last 5)": (lambda: CurveFitForecaster(window=5), None, CHECKPOINTS),
}
ORIGINAL = {"Introspection (original)": (lambda: IntrospectionForecaster(random_state=0), "Introspection",
                                         CHECKPOINTS)}


def evaluate(make, checkpoints, data_dir, optimizer):
    """Test MSE x 1e4 at ``checkpoints`` for each of the 5 samples, and the mean seconds per fit."""
    scores, seconds = [], []
    for sample in range(1, 6):
        S = load_sample(data_dir, optimizer, sample).astype(np.float32)
        X, Y = S[:, :N_INPUT], S[:, N_INPUT:]
        start = time.perf_counter()
        est = make().fit(X[:100], Y[:100], validation_data=(X[100:150], Y[100:150]))
        seconds.append(time.perf_counter() - start)
        Y_pred = est.predict(X[150:])
        if Y_pred.shape[1] == 1:  # a point forecaster: its one step is the (single) checkpoint
            Y_true = Y[150:, [checkpoints[0] - N_INPUT]]
            scores.append(checkpoint_mse(Y_true, Y_pred, (checkpoints[0],), checkpoints[0], PAPER_SCALE))
        else:
            scores.append(checkpoint_mse(Y[150:], Y_pred, checkpoints, N_INPUT, PAPER_SCALE))
    return np.array(scores), float(np.mean(seconds))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help=DATA_HELP)
    parser.add_argument("--original", action="store_true", help="also run the original Introspection network")
    parser.add_argument("--only", nargs="*", help="run only the models whose name starts with one of these")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)  # tiny tensors: more threads only add contention
    models = {**MODELS, **(ORIGINAL if args.original else {})}
    if args.only:
        models = {name: spec for name, spec in models.items() if any(name.startswith(o) for o in args.only)}

    print("Syn-1 (authors' files), test MSE x1e4: ours mean (std) | paper mean (std) -> pass if ours <= paper + std")
    for name, (make, paper_row, checkpoints) in models.items():
        passed = total = 0
        print(f"\n{name}" + (f"  vs paper's {paper_row}" if paper_row else "  (no paper figure)"))
        for optimizer in ("gd", "sgd"):
            scores, seconds = evaluate(make, checkpoints, args.data, optimizer)
            mean, std = scores.mean(axis=0), scores.std(axis=0)
            cells = []
            for j, c in enumerate(checkpoints):
                cell = f"w_{c}: {mean[j]:.3g} ({std[j]:.3g})"
                if paper_row:
                    k = CHECKPOINTS.index(c)
                    p_mean, p_std = PAPER[paper_row][optimizer][0][k], PAPER[paper_row][optimizer][1][k]
                    ok = mean[j] <= p_mean + p_std
                    passed, total = passed + ok, total + 1
                    cell += f" | {p_mean:.3g} ({p_std:.3g}) {'pass' if ok else 'FAIL'}"
                cells.append(cell)
            print(f"  {optimizer.upper():3s} [{seconds:.1f} s/fit]  " + ";  ".join(cells))
        if paper_row:
            print(f"  -> {passed} of {total} cells no worse than the paper + 1 std")


if __name__ == "__main__":
    main()
