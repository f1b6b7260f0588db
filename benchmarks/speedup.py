"""Farcast-and-continue vs plain Adam tuned on a fine learning-rate grid: backward passes to the same loss.

Protocol (see docs/training.md):
1. Plain Adam on the task for --steps N backward passes, 3 seeds, for every lr of a grid with steps of 1.4x.
   The validation loss is evaluated every --eval-every steps and smoothed by a trailing mean of 3 evaluations.
2. The target of seed s is the smoothed validation loss at step N of the lr that is best at N (mean over seeds).
   The plain reference is the lr of the grid that reaches the targets in the fewest backward passes (mean over
   seeds), scored by first reach on the smoothed curve (never the plain step count N itself).
3. Forecasters that read other runs are fitted on 5 more plain runs (seeds 100-104) at the tuned lr.
4. Each farcast-and-continue configuration runs the same 3 seeds at the tuned lr; its backward passes and
   training wall time (forecasting and fitting overhead included, evaluations excluded) to first reach each
   seed's target are compared with the plain reference. At the first jump, the validation loss of the forecast
   weights is compared with that of the true (plain-run) weights at the step the forecast stands for.

    OMP_NUM_THREADS=1 nice -n 10 python benchmarks/speedup.py --task cnn --size small
"""

import argparse
import json
import time

import numpy as np
import torch

from weightcast import LFD2Forecaster, LFNForecaster
from weightcast.training import FarcastAndContinue, MnistCNN, TextTransformer, flatten_parameters
from weightcast.training.loops import evaluate, minibatches, mnist_data, review_data, train_step

SEEDS = (0, 1, 2)
OTHER_SEEDS = (100, 101, 102, 103, 104)
FORECASTERS = {"LFD-2": LFD2Forecaster, "LFN": LFNForecaster}

# name -> options of one farcast-and-continue configuration (snapshots every `every` steps).
CONFIGS = {
    "other-lfd2": dict(fit="other", model="LFD-2", every=10, n_input=2, horizon=2, period=40, average=1),
    "other-lfd2-avg": dict(fit="other", model="LFD-2", every=10, n_input=2, horizon=2, period=40, average=10),
    "other-lfd2-avg-from40": dict(fit="other", model="LFD-2", every=10, n_input=2, horizon=2, period=40, average=10,
                                  first_jump=40),
    "other-lfd2-avg-h1": dict(fit="other", model="LFD-2", every=10, n_input=2, horizon=1, period=20, average=10,
                              first_jump=40),
    "other-lfd2-avg-reset": dict(fit="other", model="LFD-2", every=10, n_input=2, horizon=2, period=40, average=10,
                                 first_jump=40, optimizer_state="reset"),
    "other-lfd2-avg-late": dict(fit="other", model="LFD-2", every=10, n_input=2, horizon=4, period=10**9,
                                average=10, first_jump="half"),
    "own-lfd2-avg": dict(fit="own", model="LFD-2", every=10, n_input=2, horizon=2, period=40, average=10),
    "paper-protocol": dict(fit="other-first", model="LFD-2", every=1, n_input=11, horizon=60, period=10**9,
                           average=1),
}


class Task:
    def __init__(self, name, size):
        self.name, self.size = name, size
        if name == "cnn":
            self.data = mnist_data()
            self.build = lambda: MnistCNN.of_size(size)
            self.optimizer = torch.optim.Adam
            self.batch_size = 64
        else:
            self.data = review_data(vocab_size=TextTransformer.of_size(size).token_embedding.num_embeddings)
            self.build = lambda: TextTransformer.of_size(size)
            self.optimizer = torch.optim.AdamW
            self.batch_size = 32

    def run(self, lr, seed, n_steps, eval_every, make_jumper=None, snapshot_every=None, average=1):
        torch.manual_seed(seed)
        model = self.build()
        optimizer = self.optimizer(model.parameters(), lr=lr)
        batches = minibatches(self.data, self.batch_size, seed)
        jumper = make_jumper(model, optimizer) if make_jumper else None
        curve, train_seconds, snapshots, recent = [], 0.0, [], []
        jump_losses = []
        for step in range(1, n_steps + 1):
            started = time.perf_counter()
            train_step(model, optimizer, next(batches))
            jumped = jumper() if jumper else False
            train_seconds += time.perf_counter() - started
            if jumped:
                jump_losses.append((step, evaluate(model, self.data.X_val, self.data.y_val)[0]))
            if snapshot_every:
                recent = (recent + [flatten_parameters(model)])[-average:]
                if step % snapshot_every == 0:
                    snapshots.append(torch.stack(recent).mean(0).numpy())
            if step % eval_every == 0:
                curve.append((step, evaluate(model, self.data.X_val, self.data.y_val)[0], train_seconds))
        return dict(curve=curve, jumps=jumper.jumps if jumper else [], jump_losses=jump_losses,
                    snapshots=np.stack(snapshots) if snapshots else None)


def smoothed(curve, width=3):
    losses = np.array([loss for _, loss, _ in curve])
    return np.array([losses[max(0, i - width + 1):i + 1].mean() for i in range(len(losses))])


def first_reach(curve, target):
    """(backward passes, training seconds) at the first evaluation whose smoothed loss is <= target."""
    hits = np.flatnonzero(smoothed(curve) <= target + 1e-12)
    if hits.size == 0:
        return None, None
    step, _, seconds = curve[hits[0]]
    return step, seconds


def fit_forecaster(config, other_runs):
    """Windows of snapshots from the other runs -> a least-squares forecaster."""
    n_in, h = config["n_input"], config["horizon"]
    windows = []
    for snaps in other_runs:
        phases = [0] if config["fit"] == "other-first" else range(len(snaps) - n_in - h + 1)
        windows += [snaps[j:j + n_in + h] for j in phases]
    windows = np.stack(windows)
    return FORECASTERS[config["model"]](solver="lstsq").fit(windows[:, :n_in], windows[:, n_in:])


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--task", choices=["cnn", "text"], default="cnn")
    parser.add_argument("--size", default="small")
    parser.add_argument("--steps", type=int, default=150)
    parser.add_argument("--eval-every", type=int, default=10)
    parser.add_argument("--lrs", type=float, nargs="+", default=[3.92e-3 * 1.4 ** k for k in range(3)],
                        help="starting grid; widened by 1.4x steps until the best lr is inside it")
    parser.add_argument("--configs", nargs="+", choices=list(CONFIGS),
                        default=["other-lfd2-avg-from40", "other-lfd2-avg-late", "paper-protocol"])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--json", help="write every curve and figure here")
    parser.add_argument("--plain-from", help="a --json file of an earlier run whose plain-Adam curves to reuse")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    task = Task(args.task, args.size)
    N, E = args.steps, args.eval_every
    n_params = sum(p.numel() for p in task.build().parameters())
    print(f"task {args.task} ({args.size}, {n_params:,} parameters), {N} steps, evaluation every {E}, seeds {SEEDS}")

    plain, final = {}, {}
    if args.plain_from:  # reuse the plain-Adam curves of an earlier --json (same task, size, steps, seeds)
        with open(args.plain_from) as handle:
            for lr, curves in json.load(handle)["plain"].items():
                plain[float(lr)] = [dict(curve=[tuple(point) for point in curve]) for curve in curves]
                final[float(lr)] = np.mean([smoothed(r["curve"])[-1] for r in plain[float(lr)]])
    lrs = sorted(set(args.lrs) | set(plain))
    while True:  # widen the grid by 1.4x steps until the best lr is inside it
        for lr in lrs:
            if lr not in plain:
                plain[lr] = [task.run(lr, s, N, E) for s in SEEDS]
                final[lr] = np.mean([smoothed(r["curve"])[-1] for r in plain[lr]])
                print(f"  plain lr {lr:.3g}: mean smoothed validation loss at step {N}: {final[lr]:.4f}", flush=True)
        best_lr = min(final, key=final.get)
        if len(lrs) >= 8:
            print(f"  the grid reached 8 learning rates and the best ({best_lr:.3g}) is still at its edge")
            break
        if best_lr == max(lrs):
            lrs.append(best_lr * 1.4)
        elif best_lr == min(lrs):
            lrs.insert(0, best_lr / 1.4)
        else:
            break
    targets = [smoothed(r["curve"])[-1] for r in plain[best_lr]]
    print("\nplain Adam: lr, mean smoothed validation loss at step N, mean backward passes to the targets")
    reach = {}
    for lr, runs in plain.items():
        steps = [first_reach(r["curve"], t)[0] for r, t in zip(runs, targets)]
        reach[lr] = np.mean([s if s is not None else np.inf for s in steps])
        print(f"  lr {lr:.3g}: loss {final[lr]:.4f}, steps to targets {steps}")
    ref_lr = min(reach, key=reach.get)
    ref = [first_reach(r["curve"], t) for r, t in zip(plain[ref_lr], targets)]
    print(f"targets (lr {best_lr:.3g} at step {N}): {[round(t, 4) for t in targets]}; "
          f"reference: lr {ref_lr:.3g}, {np.mean([s for s, _ in ref]):.1f} backward passes, "
          f"{np.mean([t for _, t in ref]):.2f} s of training")

    results = dict(plain={str(lr): [r["curve"] for r in runs] for lr, runs in plain.items()}, best_lr=best_lr,
                   ref_lr=ref_lr, targets=targets, configs={})
    other_cache = {}
    print("\nfarcast-and-continue at lr %.3g: backward passes saved vs the reference (mean over seeds)" % ref_lr)
    for name in args.configs:
        config = dict(CONFIGS[name])
        forecaster, fit_seconds = None, 0.0
        if config["fit"].startswith("other"):
            key = (config["every"], config["average"])
            if key not in other_cache:
                other_cache[key] = [task.run(ref_lr, s, N, N, snapshot_every=config["every"],
                                             average=config["average"])["snapshots"] for s in OTHER_SEEDS]
            started = time.perf_counter()
            forecaster = fit_forecaster(config, other_cache[key])
            fit_seconds = time.perf_counter() - started
        else:
            forecaster = FORECASTERS[config["model"]](solver="lstsq")
        # None: once the history is full; "half": the snapshot step nearest below N / 2
        first_jump = config.get("first_jump")
        if first_jump == "half":
            first_jump = N // 2 // config["every"] * config["every"]
        make = lambda model, opt: FarcastAndContinue(
            model, opt, forecaster, n_input=config["n_input"], horizon=config["horizon"], every=config["every"],
            period=config["period"], first_jump=first_jump, average=config["average"],
            refit=config["fit"] == "own", optimizer_state=config.get("optimizer_state", "keep"))
        runs = [task.run(ref_lr, s, N, E, make_jumper=make) for s in SEEDS]
        reached = [first_reach(r["curve"], t) for r, t in zip(runs, targets)]
        saved, walls = [], []   # None where the target was not reached within N backward passes
        for (steps, seconds), (ref_steps, ref_seconds) in zip(reached, ref):
            saved.append(1 - steps / ref_steps if steps else None)
            walls.append(1 - (seconds + fit_seconds) / ref_seconds if steps else None)
        # The first jump: forecast weights vs the true weights of the same seed at the step they stand for.
        lead = config["horizon"] * config["every"]
        forecast_vs_true = []
        for r, p in zip(runs, plain[ref_lr]):
            if r["jump_losses"]:
                step, loss = r["jump_losses"][0]
                true = dict((s, l) for s, l, _ in p["curve"]).get(step + lead)
                before = dict((s, l) for s, l, _ in p["curve"]).get(step)
                forecast_vs_true.append((step, round(loss, 4), true and round(true, 4), before and round(before, 4)))
        n_jumps = [len(r["jumps"]) for r in runs]
        mean = lambda xs: "not reached on every seed" if None in xs else f"{np.mean(xs):+.1%}"
        print(f"  {name}: steps to target {[s for s, _ in reached]} (None: not within {N}) -> saved {mean(saved)}; "
              f"wall time saved {mean(walls)}; "
              f"jumps {n_jumps}; first jump (step, forecast loss, true loss at step+{lead}, loss at step) "
              f"{forecast_vs_true}", flush=True)
        results["configs"][name] = dict(config=config, steps=[s for s, _ in reached], saved=saved, wall_saved=walls,
                                        jumps=n_jumps, forecast_vs_true=forecast_vs_true, fit_seconds=fit_seconds,
                                        curves=[r["curve"] for r in runs])
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(results, handle, default=float)


if __name__ == "__main__":
    main()
