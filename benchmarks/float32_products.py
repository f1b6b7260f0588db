"""How close the exact solver's float32 path comes to the float64 QR on real recordings.

For float32 data, large updates of ``solver="lstsq"`` form whitened float32 products instead of the float64 QR
(docs/solvers.md). This fits LFD-2 and LFN exactly on a part of a recording twice, as float32 (that path) and as
float64 (the QR throughout), and prints how many updates took the float32 path or fell back to the QR, the fit
times, the largest and the rms difference of the two forecasts (both computed in float64 from the same inputs)
next to the size of the forecasts and their rms error, and both MSEs.

Usage: python benchmarks/float32_products.py FILE [--runs 3] [--params N] [--inputs 20] [--horizon 30]

``--params N`` takes the last N parameters of each run (the whole run by default); the steps are the first
``--inputs`` (LFD-2 reads the first and the last of them) and the ``--horizon`` after them.
"""

import argparse
import time

import numpy as np
import torch

import weightcast.linear as linear
from weightcast import LFD2Forecaster, LFNForecaster
from weightcast.io import open_sequences


def count_updates():
    """Count the exact solver's float32 updates by the path they take, from now on: the dict it fills."""
    paths = {"float32 products": 0, "fell back to the QR": 0}
    whitened = linear.StreamingLeastSquares._whitened_factors

    def counted(self, *a):
        factors = whitened(self, *a)
        paths["float32 products" if factors is not None else "fell back to the QR"] += 1
        return factors

    linear.StreamingLeastSquares._whitened_factors = counted
    return paths


def fit_both(cls, X, Y):
    """``cls``'s exact forecasts of X fitted from the float32 data (the float32 path) and from the same data as
    float64 (the QR throughout), both predicted in float64, and the two fit times."""
    X64, times, forecasts = X.astype(np.float64), [], []
    for inputs, targets in ((X, Y), (X64, Y.astype(np.float64))):
        started = time.perf_counter()
        model = cls(solver="lstsq").fit(inputs, targets)
        times.append(time.perf_counter() - started)
        forecasts.append(model.predict(X64))
    return forecasts, times


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("file", help="a recording from `weightcast record`")
    parser.add_argument("--runs", type=int, default=3, help="runs (sequences) read from the file")
    parser.add_argument("--params", type=int, default=None, help="the last N parameters (default: all)")
    parser.add_argument("--inputs", type=int, default=20, help="input steps")
    parser.add_argument("--horizon", type=int, default=30, help="target steps after the inputs")
    args = parser.parse_args()
    torch.set_num_threads(1)
    view = open_sequences(args.file, complete_only=True)
    first = 0 if args.params is None else max(0, view.shape[2] - args.params)
    data = np.asarray(view[:args.runs, :args.inputs + args.horizon, first:])
    X, Y = data[:, :args.inputs], data[:, args.inputs:]
    print(f"{args.file}: {X.shape[0]} runs x {X.shape[2]:,} parameters, steps 0-{args.inputs - 1} -> "
          f"{args.inputs}-{args.inputs + args.horizon - 1}")

    paths = count_updates()
    for cls in (LFD2Forecaster, LFNForecaster):
        paths.update(dict.fromkeys(paths, 0))
        (ours, reference), (fast_s, exact_s) = fit_both(cls, X, Y)
        updates = ", ".join(f"{name} {count}" for name, count in paths.items())
        difference = ours - reference
        print(f"  {cls.__name__}: updates: {updates}; fit {fast_s:.2f} s (float64 data: {exact_s:.2f} s); "
              f"forecasts differ by at most {np.abs(difference).max():.1e} "
              f"(rms {np.sqrt(np.mean(difference ** 2)):.1e}) where they reach {np.abs(reference).max():.2f} "
              f"and miss Y by {np.sqrt(np.mean((reference - Y) ** 2)):.1e} rms; "
              f"MSE {np.mean((ours - Y) ** 2):.7e} vs {np.mean((reference - Y) ** 2):.7e}")


if __name__ == "__main__":
    main()
