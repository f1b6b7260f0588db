"""Why the direct multi-step WNN needs a growing output bound: the error of a perfect forecaster whose
forecast is clipped to WNN's reach, on the authors' Syn-1 test sequences (150-199, inputs w_0..w_20).

WNN forecasts ``(z[-1] + bound * tanh(.)) * s + w[0]`` with ``s = 2 * (range of the window + 1e-8 + 1e-5)``,
so it can move at most ``bound * s`` from the last input. Clipping the true future to that reach gives
the smallest error any such WNN can have. Prints MSE x1e4 at w_40/80/160/200, mean over the 5 samples.

    PYTHONPATH=. python benchmarks/wnn_bound_syn1.py [--data DIR]
"""

import argparse
from pathlib import Path

import numpy as np

from _syn1 import DATA_HELP, DEFAULT_DATA, load_sample

COLUMNS = [40 - 21, 80 - 21, 160 - 21, 200 - 21]


def clipped_error(S, window, growing):
    X, Y = S[150:, :21], S[150:, 21:]
    w = X[:, 21 - window:]
    shift, scale = w[:, 0], 2 * (w.max(axis=1) - w.min(axis=1) + 1e-8 + 1e-5)
    z, z_last = (Y - shift[:, None]) / scale[:, None], (w[:, -1] - shift) / scale
    steps = np.arange(1, Y.shape[1] + 1)
    bound = np.maximum(1.0, steps / (window - 1)) if growing else np.ones_like(steps, dtype=float)
    z = np.clip(z, z_last[:, None] - bound[None, :, None], z_last[:, None] + bound[None, :, None])
    return (((z * scale[:, None] + shift[:, None]) - Y) ** 2).mean(axis=(0, 2))[COLUMNS] * 1e4


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help=DATA_HELP)
    args = parser.parse_args(argv)
    print("MSE x1e4 of the truth clipped to WNN's reach, w_40 / w_80 / w_160 / w_200")
    for optimizer in ("gd", "sgd"):
        for window in (5, 21):
            for growing in (False, True):
                errors = [clipped_error(load_sample(args.data, optimizer, k), window, growing)
                          for k in range(1, 6)]
                label = "max(1, j / (window - 1))" if growing else "1"
                print(f"{optimizer.upper():3s} window {window:2d} bound {label:24s} "
                      + " / ".join(f"{e:.3g}" for e in np.mean(errors, axis=0)))


if __name__ == "__main__":
    main()
