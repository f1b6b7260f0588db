"""Syn-1 SGD: is the L1 fit (the paper's objective) really better than least squares, or is it test-set luck?

The paper's test set is 50 sequences. make_syn1 seeds sequence i with i, so asking for more sequences keeps
the authors' first 200 and adds fresh ones: fit on the 150 train + dev sequences, then score on the authors'
50 test sequences and on 800 fresh ones. Prints MSE x 1e4 at w_40 / w_80 / w_160 / w_200, mean over seeds 1..5.

Run: PYTHONPATH=. python benchmarks/syn1_sgd_l1_vs_lstsq.py   (about a minute on one core)
"""

import numpy as np
import torch

from weightcast import FirstLastSelector, LinearFarcaster, StepSelector, split_sequences
from weightcast.datasets import make_syn1
from weightcast.metrics import PAPER_SCALE, checkpoint_mse

CHECKPOINTS = (40, 80, 160, 200)


def main():
    torch.set_num_threads(1)
    l1 = dict(solver="paper", lr=1e-3, patience=20, max_epochs=2000, beta=0.0, device="cpu", random_state=0)
    candidates = {
        "least squares, LFD-2": LinearFarcaster(FirstLastSelector(), solver="lstsq"),
        "least squares, [w_0, w_1, w_20], alpha 0.01": LinearFarcaster(StepSelector((0, 1, -1)), solver="lstsq",
                                                                      alpha=0.01),
        "L1 (paper solver), LFD-2": LinearFarcaster(FirstLastSelector(), **l1),
        "L1 (paper solver), [w_0, w_1, w_20]": LinearFarcaster(StepSelector((0, 1, -1)), **l1),
    }
    scores = {name: {"test": [], "fresh": []} for name in candidates}
    for seed in range(1, 6):
        X, Y = split_sequences(make_syn1("sgd", seed=seed, n_sequences=1000), n_input_steps=21)
        for name, estimator in candidates.items():
            estimator.fit(X[:150], Y[:150])
            for part, rows in (("test", slice(150, 200)), ("fresh", slice(200, None))):
                scores[name][part].append(checkpoint_mse(Y[rows], estimator.predict(X[rows]), CHECKPOINTS, 21,
                                                         scale=PAPER_SCALE))
    print("| model (fitted on the 150 train + dev sequences) | authors' 50 test sequences | 800 fresh sequences |")
    print("|---|---|---|")
    for name, parts in scores.items():
        cells = [" / ".join(f"{v:.3g}" for v in np.mean(parts[p], axis=0)) for p in ("test", "fresh")]
        print(f"| {name} | {cells[0]} | {cells[1]} |")


if __name__ == "__main__":
    main()
