"""Where the exact solver's float32 path departs from the float64 QR: parameters far from zero.

For float32 data, large updates of ``solver="lstsq"`` form whitened float32 products with the targets
(docs/solvers.md). A float32 sum of products keeps about six digits of the targets' size, so a parameter whose
value is far from zero compared with its change over the steps (a LayerNorm gain near 1, or an offset of 10
that moves by 1e-6) is forecast less exactly than by the float64 QR of the same float32 data.

This draws random synthetic runs (1 or 2 sequences, 30 steps; the parameters of up to three kinds, each with
its own offset in {0, +-1, +-10}, scale and step-to-step spread, contiguous or interleaved), fits LFD-2 and LFN
exactly on steps 0-4 -> 5-29 from the float32 data and from the same data as float64 (the QR throughout), and
prints, over all cases, the largest difference of the two forecasts relative to the largest forecast, and the
cases whose MSE rose most, next to the float32 rounding floor of the data, ``(eps * rms(Y))^2``.

Usage: python benchmarks/float32_offsets.py [--cases 60] [--seed 2] [--params 20000 70000 300000]
"""

import argparse
import os
import sys

import numpy as np
import torch

from weightcast import LFD2Forecaster, LFNForecaster

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from float32_products import count_updates, fit_both  # noqa: E402

N_STEPS, N_IN = 30, 5


def draw_run(rng, n_params):
    """One random case: (float32 run of shape (n_seq, 30, n_params), a description of its kinds)."""
    n_seq, n_kinds = int(rng.choice([1, 2])), int(rng.integers(1, 4))
    kinds = [(float(rng.choice([0.0, 1.0, 10.0]) * rng.choice([-1, 1])), 10.0 ** rng.uniform(-3, 1),
              10.0 ** rng.uniform(-5, -1)) for _ in range(n_kinds)]
    contiguous = rng.random() < 0.5
    kind_of = rng.integers(0, n_kinds, n_params)
    kind_of = np.sort(kind_of) if contiguous else kind_of
    S = np.empty((n_seq, N_STEPS, n_params))
    steps = np.arange(N_STEPS)[None, :, None]
    for k, (offset, scale, spread) in enumerate(kinds):
        where = kind_of == k
        count = int(where.sum())
        start = offset + scale * rng.standard_normal((n_seq, 1, count))
        drift = scale * spread * rng.standard_normal((n_seq, 1, count))
        noise = 0.1 * scale * spread * np.cumsum(rng.standard_normal((n_seq, N_STEPS, count)), axis=1)
        S[:, :, where] = start + drift * np.sqrt(steps) + noise
    text = ", ".join(f"offset {o:g} scale {s:.1e} spread {p:.1e}" for o, s, p in kinds)
    return S.astype(np.float32), f"{n_seq} seq x {n_params}, {'contiguous' if contiguous else 'interleaved'}: {text}"


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", type=int, default=60, help="random runs drawn")
    parser.add_argument("--seed", type=int, default=2)
    parser.add_argument("--params", type=int, nargs="+", default=[20000, 70000, 300000],
                        help="parameters per run, drawn among these")
    args = parser.parse_args()
    torch.set_num_threads(1)
    paths = count_updates()
    rng = np.random.default_rng(args.seed)
    results = []
    for case in range(args.cases):
        S, text = draw_run(rng, int(rng.choice(args.params)))
        X, Y = S[:, :N_IN], S[:, N_IN:]
        floor = (np.finfo(np.float32).eps * np.sqrt(np.mean(Y.astype(np.float64) ** 2))) ** 2
        for cls in (LFD2Forecaster, LFNForecaster):
            (fast, exact), _ = fit_both(cls, X, Y)
            mse_fast, mse_exact = np.mean((fast - Y) ** 2), np.mean((exact - Y) ** 2)
            results.append((float(np.abs(fast - exact).max() / np.abs(exact).max()), mse_fast / mse_exact,
                            mse_fast, mse_exact, floor, case, cls.__name__, text))
    print(f"{args.cases} cases x 2 models; updates of the float32 fits: "
          + ", ".join(f"{name} {count}" for name, count in paths.items()) + " (the float64 fits take the QR)")
    worst = max(results)
    print(f"largest forecast difference / largest forecast: {worst[0]:.2e} (case {worst[5]}, {worst[6]}; "
          f"{worst[7]})")
    print("MSE of the float32 path over the float64 QR's, largest first:")
    for ratio, mse_fast, mse_exact, floor, case, name, text in sorted(
            (r[1:] for r in results), key=lambda r: -r[0])[:5]:
        print(f"  {ratio:9.6f}  MSE {mse_fast:.3e} vs {mse_exact:.3e}, rounding floor {floor:.1e}  case {case} "
              f"{name}: {text}")
    ratios = np.array([r[1] for r in results])
    print(f"median MSE ratio {np.median(ratios):.8f}; cases within 1% of the QR's MSE: "
          f"{int(np.sum(ratios <= 1.01))} of {len(ratios)}")


if __name__ == "__main__":
    main()
