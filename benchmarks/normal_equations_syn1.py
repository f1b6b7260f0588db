"""Why the exact solver does not use the normal equations: LFN on the authors' Syn-1 GD files.

LFN maps all 21 input steps w_0..w_20 (plus an intercept) to w_21..w_200. The input steps of a smooth GD
trajectory are nearly collinear, and forming Z^T Z squares their condition number. Prints the test MSE
x1e4 at w_40 / w_80 / w_160 / w_200 (mean over the 5 sample files; train 0-99, test 150-199) of
  streaming QR        LFNForecaster(solver="lstsq"), weightcast's exact solver;
  normal equations    the same least-squares problem solved through Z^T Z in float64 (numpy.linalg.solve);
and the condition number of Z^T Z.

    PYTHONPATH=. python benchmarks/normal_equations_syn1.py [--data DIR]
"""

import argparse
from pathlib import Path

import numpy as np

from weightcast import LFNForecaster, checkpoint_mse, split_sequences
from weightcast.metrics import PAPER_SCALE

from _syn1 import DATA_HELP, DEFAULT_DATA, load_sample

CHECKPOINTS = (40, 80, 160, 200)
N_IN = 21


def rows(X):
    """(sequences, steps, params) -> one row per (sequence, parameter): the steps, then 1 (intercept)."""
    Z = X.transpose(0, 2, 1).reshape(-1, X.shape[1])
    return np.hstack([Z, np.ones((len(Z), 1))])


def normal_equations(X_train, Y_train, X_test):
    Z, T = rows(X_train), Y_train.transpose(0, 2, 1).reshape(-1, Y_train.shape[1])
    gram = Z.T @ Z
    coef = np.linalg.solve(gram, Z.T @ T)
    pred = rows(X_test) @ coef
    return pred.reshape(len(X_test), X_test.shape[2], -1).transpose(0, 2, 1), np.linalg.cond(gram)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help=DATA_HELP)
    args = parser.parse_args(argv)
    qr, normal, conds = [], [], []
    for sample in range(1, 6):
        X, Y = split_sequences(load_sample(args.data, "gd", sample), n_input_steps=N_IN)
        est = LFNForecaster(solver="lstsq", device="cpu").fit(X[:100], Y[:100])
        qr.append(checkpoint_mse(Y[150:], est.predict(X[150:]), CHECKPOINTS, N_IN, PAPER_SCALE))
        pred, cond = normal_equations(X[:100], Y[:100], X[150:])
        normal.append(checkpoint_mse(Y[150:], pred, CHECKPOINTS, N_IN, PAPER_SCALE))
        conds.append(cond)
    print("LFN on Syn-1 GD, test MSE x1e4 at w_40 / w_80 / w_160 / w_200, mean over the 5 files")
    for name, values in (("streaming QR", qr), ("normal equations", normal)):
        print(f"  {name:17s}" + " / ".join(f"{v:.2g}" for v in np.mean(values, axis=0)))
    print(f"  condition number of Z^T Z: {np.median(conds):.1e} (median over the files)")


if __name__ == "__main__":
    main()
