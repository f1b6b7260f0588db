"""Table 2 rows (Syn-1) for the linear farcasters on the paper authors' own files, per solver.

For LFD-2, LFN, LFS and LFL prints MSE x1e4 at w_40 / w_80 / w_160 / w_200 (mean (std, ddof 0) over
the 5 sample files, test sequences 150-199) beside the paper's Table 2, and the median fit time of:
  lstsq     the exact solver on the training sequences 0-99;
  default   the estimator's defaults (paper objective, warm start from lstsq, early stopping on 100-149);
  protocol  the paper's protocol (Adam from PyTorch's default init, the paper's lr and beta, batch 32,
            patience 5 on 100-149, up to 10,000 epochs).
The last lines give the speed ratio protocol / default for LFD-2 measured in this run.

Usage: python benchmarks/syn1_reference.py [--data DIR] [--models lfd2,lfn,lfs,lfl]
"""

import argparse
import statistics
import time
from pathlib import Path

import numpy as np
import torch

from weightcast import (LFD2Forecaster, LFLForecaster, LFNForecaster, LFSForecaster, StepSelector,
                        checkpoint_mse, split_sequences)
from weightcast.metrics import PAPER_SCALE

from _syn1 import DATA_HELP, DEFAULT_DATA, load_sample

CHECKPOINTS = (40, 80, 160, 200)

# The paper's Table 2: mean (std) x1e4 at 40/80/160/200, GD then SGD.
PAPER = {
    "lfd2": {"gd": [(.207, .021), (4.39, .39), (44.9, 5.0), (81.1, 9.6)],
             "sgd": [(11.0, 1.4), (53.0, 8.6), (195, 22), (278, 18)]},
    "lfn": {"gd": [(.619, .561), (5.11, 1.18), (43.8, 4.5), (92.4, 12.0)],
            "sgd": [(12.7, 2.0), (61.7, 9.8), (212, 25), (339, 44)]},
    "lfs": {"gd": [(.373, .062), (5.34, .65), (60.3, 18.7), (205, 112)],
            "sgd": [(103, 118), (513, 536), (1557, 1517), (2025, 1917)]},
    "lfl": {"gd": [(193, 23), (1337, 257), (3787, 353), (4594, 181)],
            "sgd": [(177, 10), (1241, 186), (3615, 203), (4667, 345)]},
}
CLASSES = {"lfd2": LFD2Forecaster, "lfn": LFNForecaster, "lfs": LFSForecaster, "lfl": LFLForecaster}
# The authors' scripts: learning rates per model (LFD-2 per optimizer), and LFS's steps [w_15, w_10, w_6, w_0].
PAPER_LR = {"lfd2": {"gd": 0.004, "sgd": 0.006}, "lfn": 0.001, "lfs": 0.005, "lfl": 0.005}


def paper_protocol(model, optimizer):
    lr = PAPER_LR[model][optimizer] if isinstance(PAPER_LR[model], dict) else PAPER_LR[model]
    selector = StepSelector(steps=(0, 6, 10, 15)) if model == "lfs" else None
    return CLASSES[model](selector=selector, solver="paper", init="default", lr=lr,
                          beta=1e-4 if optimizer == "gd" else 1e-6, batch_size=32, patience=5,
                          max_epochs=10_000, device="cpu", random_state=0)


def solvers(model, optimizer):
    return {
        "lstsq": CLASSES[model](solver="lstsq", device="cpu"),
        "default": CLASSES[model](device="cpu", random_state=0),
        "protocol": paper_protocol(model, optimizer),
    }


def evaluate(estimator, S):
    X, Y = split_sequences(S, n_input_steps=21)
    start = time.perf_counter()
    if estimator.solver == "lstsq":
        estimator.fit(X[:100], Y[:100])
    else:
        estimator.fit(X[:100], Y[:100], validation_data=(X[100:150], Y[100:150]))
    seconds = time.perf_counter() - start
    mse = checkpoint_mse(Y[150:], estimator.predict(X[150:]), CHECKPOINTS, n_input_steps=21, scale=PAPER_SCALE)
    return mse, seconds


def fmt(mean, std):
    def num(x):
        return f"{x:.3g}" if abs(x) >= 1e-3 else f"{x:.1e}"
    return f"{num(mean)} ({num(std)})"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help=DATA_HELP)
    parser.add_argument("--models", default="lfd2,lfn,lfs,lfl")
    args = parser.parse_args(argv)
    models = args.models.split(",")
    # The problems are tiny: more intra-op threads only add overhead (and contention on a shared machine).
    torch.set_num_threads(1)

    # Warm up torch so that the first timed fit does not pay for lazy initialisation.
    warm = load_sample(args.data, "gd", 1)
    evaluate(LFD2Forecaster(device="cpu", random_state=0), warm)

    times = {}
    header = f"| model | solver | {' | '.join(f'GD w{c}' for c in CHECKPOINTS)} | " \
             f"{' | '.join(f'SGD w{c}' for c in CHECKPOINTS)} | median fit s |"
    print(header)
    print("|" + "---|" * (len(CHECKPOINTS) * 2 + 3))
    for model in models:
        print(f"| {model} | paper's Table 2 | "
              + " | ".join(fmt(*PAPER[model][opt][i]) for opt in ("gd", "sgd") for i in range(len(CHECKPOINTS)))
              + " | |")
        for solver in ("lstsq", "default", "protocol"):
            cells, seconds = [], []
            for optimizer in ("gd", "sgd"):
                results = []
                for sample in range(1, 6):
                    S = load_sample(args.data, optimizer, sample)
                    mse, elapsed = evaluate(solvers(model, optimizer)[solver], S)
                    results.append(mse)
                    seconds.append(elapsed)
                results = np.array(results)
                cells += [fmt(m, s) for m, s in zip(results.mean(axis=0), results.std(axis=0))]
            times[model, solver] = statistics.median(seconds)
            print(f"| {model} | {solver} | " + " | ".join(cells) + f" | {times[model, solver]:.4f} |", flush=True)
    for model in models:
        ratio = times[model, "protocol"] / times[model, "default"]
        print(f"{model}: paper protocol / default fit time = {ratio:.1f}x "
              f"(lstsq: {times[model, 'protocol'] / times[model, 'lstsq']:.0f}x)")


if __name__ == "__main__":
    main()
