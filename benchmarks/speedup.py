"""Speed-up benchmark: backward passes to a validation target, weight forecasts against the averaging baselines.

Protocol (docs/training.md has the measured tables):

* Tasks: ``mnist1d`` (MLP 40-256-256-10 on 40,000 generated MNIST-1D signals: 30,000 train, 2,000 held out,
  4,000 validation; batch 128; 3,000 steps), ``cnn`` (``MnistCNN.of_size("small")`` on the 5,000 wheel digits:
  3,500 train, 500 held out, 1,000 validation; batch 64; 2,000 steps), ``text`` (``TextTransformer.of_size("small")``
  on the review snippets: 9,808 train, 1,000 held out, 2,000 validation; AdamW; batch 32; 2,000 steps).
* Paired seeds: seed s fixes the initialisation and the order of the training batches, identical for every method.
  Extra batches a method draws (for a forecaster's fit) come from a separate generator.
* The validation loss is evaluated every 50 steps on the fixed validation set and smoothed by a trailing mean
  of 3 evaluations. The target of seed s is the best baseline's smoothed validation loss at step N on seed s
  (the best baseline: lowest mean over seeds); a run's score is the cost at the first evaluation that reaches it.
* Cost, in backward passes of one training batch: each training step is 1; a forecaster's loss evaluations on
  n samples (forward + backward) n / batch; a gate's forward passes on n held-out samples n / (3 batch).
  Evaluations of the validation loss are measurement, not cost. Work done on OTHER runs to fit a forecaster
  (``--other-seeds``) is reported apart.
* Baselines, each with its own learning rate tuned on the grid ``1e-3 * 1.4**k`` (widened until the best is
  inside) by the mean smoothed validation loss at N over the tuning seeds (0, 1), then run on seeds 0-4:
  constant-lr Adam (AdamW for text); the EMA of that run's weights (``WeightAverager``, decay tuned over
  0.99 / 0.995 / 0.998 / 0.999, warm-up 10; no backward pass); schedule-free AdamW (5% warm-up); cosine decay to 0 at N
  (5% linear warm-up). Cosine + EMA is an extra reference row.
* Candidates run at the lr and EMA decay tuned for the EMA baseline (see CANDIDATES).

Stages (each run is cached under --out, so stages resume and reuse each other's runs)::

    OMP_NUM_THREADS=1 nice -n 10 python benchmarks/speedup.py tune --task mnist1d --out /work/out/speedup/mnist1d
    OMP_NUM_THREADS=1 nice -n 10 python benchmarks/speedup.py baselines --task mnist1d --out ...
    OMP_NUM_THREADS=1 nice -n 10 python benchmarks/speedup.py candidates --task mnist1d --out ... --names la-eval
    OMP_NUM_THREADS=1 nice -n 10 python benchmarks/speedup.py report --task mnist1d --out ... \\
        --plot docs/speedup_mnist1d.png
"""

import argparse
import copy
import json
import math
import os
import re
import time

import numpy as np
import torch

from weightcast import LinearFarcaster
from weightcast.training import (DMDFarcaster, FarcastAndContinue, JumpGate, LossAwareFarcaster, MnistCNN,
                                 ParameterLayout, PassCounter, TextTransformer, WeightAverager, batch_loss,
                                 cost_to_target, flatten_parameters, load_flat_parameters, smoothed)
from weightcast.training.loops import ClassificationData, evaluate, minibatches, mnist_data, review_data, train_step

TUNE_SEEDS = (0, 1)
SEEDS = (0, 1, 2, 3, 4)
OTHER_SEEDS = (100, 101, 102, 103, 104)
EMA_DECAYS = (0.99, 0.995, 0.998, 0.999)     # tuned for the EMA baselines (warm-up 10)
LONG_AVERAGE = (0.9999, 3)                    # (decay, warm-up): an average over about the last half of the run
EVAL_EVERY, SMOOTH = 50, 3
WARMUP = 0.05                                # of N, for cosine, WSD and schedule-free

TASKS = {
    "mnist1d": dict(steps=3000, batch=128, opt="adam", weight_decay=0.0, grid=range(1, 9)),
    "cnn": dict(steps=2000, batch=64, opt="adam", weight_decay=0.0, grid=range(1, 8)),
    "text": dict(steps=2000, batch=32, opt="adamw", weight_decay=0.01, grid=range(0, 3)),   # widened on demand
}

# name -> (run kind, curve): the baselines; "cosine+ema" is an extra reference, not a target candidate.
BASELINES = {"adam": ("constant", "raw"), "adam+ema": ("constant", "ema"), "schedule-free": ("schedulefree", "raw"),
             "cosine": ("cosine", "raw")}
REFERENCES = {"cosine+ema": ("cosine", "ema"), "wsd": ("wsd", "raw")}   # wsd: warm-up, stable, linear decay
                                                                       # to 0 over the last 20% (--references)

# Farcast-and-continue candidates (all at the EMA baseline's lr and decay, constant lr):
# la-eval: the evaluated weights are a loss-aware combination of [w, 4 averages (feature_specs)], its 4 free
#   coefficients (affine, extrapolation allowed) refitted every `refit` steps on a fresh training batch of
#   `fit_batches` batches with `max_evals` forward+backward passes, reused in between. No jump: training goes on.
# la-other: the same combination, coefficients fitted once per phase (every 250 steps) on 5 OTHER runs (zero cost).
# landing: where a linear lr decay to 0 over 20% of N would land, forecast by a LinearFarcaster (least squares)
#   from the same 5 inputs, fitted on branches of 5 OTHER runs (at 20/40/60/80% of N); evaluated as the model.
# la-jump: every `period` steps the raw weights jump to the loss-aware combination (gated), then training goes on.
# dmd-jump: per-layer DMD (PDT mask) on 5 window-mean snapshots `every` steps apart, forecast `horizon`
#   snapshots ahead, every `period` steps from `first`; the EMAs keep averaging; gated unless gate=0.
CANDIDATES = {
    "la-eval": dict(type="la-eval", refit=200, fit_batches=2, max_evals=5),
    "la-eval-cheap": dict(type="la-eval", refit=500, fit_batches=1, max_evals=4),
    "la-eval-big": dict(type="la-eval", refit=500, fit_batches=8, max_evals=5),
    "la-other": dict(type="la-other", phase=250, fit_samples=1024, max_evals=20),
    "landing": dict(type="landing", decay=0.2, branches=(0.2, 0.4, 0.6, 0.8)),
    "la-jump": dict(type="la-jump", period=500, fit_batches=2, max_evals=5, gate=512),
    "dmd-jump": dict(type="dmd-jump", every=100, n_input=5, horizon=5, period=500, first=1000, gate=512),
    "dmd-jump-ungated": dict(type="dmd-jump", every=100, n_input=5, horizon=5, period=500, first=1000, gate=0),
    # Second round (after the first MNIST-1D screen): the gate's reference is the EMA baseline's model (a jump
    # must beat the model that is evaluated, not the noisy raw weights); DMD on snapshots of that EMA instead of
    # window means, forecast `horizon` snapshots of `spacing` steps ahead and evaluated as the model (no jump).
    "la-jump-ema-gate": dict(type="la-jump", period=500, fit_batches=2, max_evals=5, gate=512, reference="average"),
    "dmd-jump-ema-gate": dict(type="dmd-jump", every=100, n_input=5, horizon=5, period=500, first=1000, gate=512,
                              reference="average"),
    "dmd-eval": dict(type="dmd-eval", spacing=200, n_input=5, horizon=1),
    "dmd-eval-h2": dict(type="dmd-eval", spacing=200, n_input=5, horizon=2),
}


def lr_of(k):
    return 1e-3 * 1.4 ** k


def feature_specs(base_decay):
    """The averages a forecaster reads after the current weights, as (decay, warm-up): the EMA baseline's own
    first, then others with distinct time scales. With warm-up 10 the decay after n updates is at most
    (1 + n) / (10 + n), so over N <= 3,000 steps decays 0.998 and 0.999 give the same average."""
    long_window = base_decay in (0.998, 0.999)
    others = [d for d in (0.99, 0.995, 0.999) if d != base_decay and not (long_window and d == 0.999)]
    return [(base_decay, 10)] + [(d, 10) for d in others] + [LONG_AVERAGE]


def averager_name(decay, warmup):
    return f"ema{decay}" if warmup == 10 else f"avg{decay}-w{warmup}"


# ---------------------------------------------------------------------------------------------- tasks
def _mnist1d():
    from mnist1d.data import get_dataset_args, make_dataset   # generates the signals; nothing is downloaded

    args = get_dataset_args()
    args.num_samples = 40_000
    data = make_dataset(args)     # 32,000 "train" + 8,000 "test" signals (seeded by args.seed = 42)
    x, y = torch.tensor(data["x"], dtype=torch.float32), torch.tensor(data["y"], dtype=torch.int64)
    xt, yt = torch.tensor(data["x_test"], dtype=torch.float32), torch.tensor(data["y_test"], dtype=torch.int64)
    return ClassificationData(x[:30_000], y[:30_000], xt[:4000], yt[:4000]), (x[30_000:], y[30_000:])


def _held_out(data, n_held):
    """Split the last ``n_held`` training examples off as the held-out (gate) set."""
    n = len(data.y_train) - n_held
    held = (data.X_train[n:], data.y_train[n:])
    return ClassificationData(data.X_train[:n], data.y_train[:n], data.X_val, data.y_val), held


class MLP(torch.nn.Sequential):
    def __init__(self):
        super().__init__(torch.nn.Linear(40, 256), torch.nn.ReLU(), torch.nn.Linear(256, 256), torch.nn.ReLU(),
                         torch.nn.Linear(256, 10), torch.nn.LogSoftmax(1))


class Task:
    def __init__(self, name):
        self.name = name
        self.__dict__.update(TASKS[name])
        if name == "mnist1d":
            self.data, self.held = _mnist1d()
            self.build = MLP
        elif name == "cnn":
            self.data, self.held = _held_out(mnist_data(), 500)
            self.build = lambda: MnistCNN.of_size("small")
        else:
            self.data, self.held = _held_out(review_data(vocab_size=5000), 1000)
            self.build = lambda: TextTransformer.of_size("small")

    def optimizer(self, kind, params, lr):
        warmup = int(WARMUP * self.steps)
        if kind == "schedulefree":
            import schedulefree

            return schedulefree.AdamWScheduleFree(params, lr=lr, warmup_steps=warmup,
                                                  weight_decay=self.weight_decay), None
        if self.opt == "adam":
            optimizer = torch.optim.Adam(params, lr=lr)
        else:
            optimizer = torch.optim.AdamW(params, lr=lr, weight_decay=self.weight_decay)
        N = self.steps
        if kind == "constant":
            return optimizer, None
        if kind == "cosine":
            factor = lambda t: (t + 1) / warmup if t < warmup else 0.5 * (1 + math.cos(math.pi * (t - warmup)
                                                                                        / (N - warmup)))
        elif kind == "wsd":
            decay = int(0.2 * N)
            factor = lambda t: (t + 1) / warmup if t < warmup else min(1.0, (N - t) / decay)
        else:
            raise ValueError(kind)
        return optimizer, torch.optim.lr_scheduler.LambdaLR(optimizer, factor)

    def sample_loss(self, generator, n_samples):
        """A training-loss function (eval mode, with gradients) on a fresh batch from ``generator``."""
        index = torch.randint(len(self.data.y_train), (n_samples,), generator=generator)
        return batch_loss(self.data.X_train[index], self.data.y_train[index], grad=True)

    def val_loss(self, model):
        return evaluate(model, self.data.X_val, self.data.y_val)[0]


# ---------------------------------------------------------------------------------------------- one run
def _decay_of(curve):
    return float(curve[3:]) if curve.startswith("ema") else None


def train(task, kind, lr, seed, decays=EMA_DECAYS, candidate=None, base_decay=None, other=None):
    """One training run; returns its validation curves (raw weights and each EMA), costs and jump log."""
    N, B = task.steps, task.batch
    torch.manual_seed(seed)
    model = task.build()
    optimizer, schedule = task.optimizer(kind, model.parameters(), lr)
    batches = minibatches(task.data, B, seed)
    draws = torch.Generator().manual_seed(10_000 + seed)    # a forecaster's own batches, apart from training's
    # With warm-up 10 the decay after n updates is min(decay, (1 + n) / (10 + n)): decays above that bound at n = N
    # give the same average all run long, so only the first of them is kept (its curve stands for the others).
    cap = (1 + N) / (10 + N)
    same = [d for d in decays if d > cap]
    averagers = {averager_name(d, 10): WeightAverager(model, decay=d) for d in decays if d not in same[1:]}
    features = []
    for d, warmup in feature_specs(base_decay) if candidate else ():
        name = averager_name(d, warmup)
        averagers.setdefault(name, WeightAverager(model, decay=d, warmup=warmup))
        features.append(averagers[name])
    base = averagers[averager_name(base_decay, 10)] if candidate else None
    scratch = copy.deepcopy(model)
    counter = PassCounter(B)
    spec = CANDIDATES[candidate] if candidate else {}
    init = np.eye(1 + len(features))[1] if candidate else None     # start at the EMA baseline's model
    jumper, gate, la = None, None, None
    if spec.get("type") in ("la-eval", "la-jump"):
        la = LossAwareFarcaster(init=init, max_evals=spec["max_evals"])
    if spec.get("gate"):
        gate = JumpGate(batch_loss(*(t[:spec["gate"]] for t in task.held)))
    if spec.get("type") == "la-jump":
        losses = (task.sample_loss(draws, spec["fit_batches"] * B) for _ in iter(int, 1))
        jumper = FarcastAndContinue(model, optimizer, la, n_input=1 + len(features), inputs="averages",
                                    averagers=features, period=spec["period"], loss_fn=losses, gate=gate,
                                    gate_reference=spec.get("reference", "weights"))
        fit_samples = spec["fit_batches"] * B
    elif spec.get("type") == "dmd-jump":
        sizes = ParameterLayout.from_model(model).sizes
        dmd = DMDFarcaster(groups=sizes).fit(np.zeros((1, spec["n_input"], 1)))
        jumper = FarcastAndContinue(model, optimizer, dmd, n_input=spec["n_input"], horizon=spec["horizon"],
                                    every=spec["every"], average=spec["every"], period=spec["period"],
                                    first_jump=spec["first"], gate=gate, averagers=[base],
                                    gate_reference=spec.get("reference", "weights"))   # the averages keep averaging
        fit_samples = 0
    if spec.get("type") == "dmd-eval":
        dmd = DMDFarcaster(groups=ParameterLayout.from_model(model).sizes).fit(np.zeros((1, spec["n_input"], 1)))
        history = {}                                              # eval step -> the EMA baseline's weights
    coef = init
    # Candidate runs evaluate their forecast, the raw weights and the EMA baseline's model only.
    shown = [averager_name(base_decay, 10)] if candidate else list(averagers)
    curves = {"raw": []} | {name: [] for name in shown} | ({"forecast": []} if candidate else {})
    costs, jump_log, seconds = [], [], 0.0
    gate_evals = fit_evals = 0
    for step in range(1, N + 1):
        started = time.perf_counter()
        if kind == "schedulefree":
            optimizer.train()
        train_step(model, optimizer, next(batches))
        counter.training_step()
        if schedule is not None:
            schedule.step()
        for averager in averagers.values():
            averager.update()
        if jumper is not None:
            saved, saved_ema = flatten_parameters(model), base.flat()
            n_tried = len(jumper.jumps)
            jumper()
            if len(jumper.jumps) > n_tried:   # measurement, outside the timed training
                seconds += time.perf_counter() - started
                record = dict(jumper.jumps[-1])
                load_flat_parameters(scratch, saved)
                record.update(val_before=task.val_loss(scratch), val_after=task.val_loss(model))
                load_flat_parameters(scratch, saved_ema)
                record.update(val_ema=task.val_loss(scratch))     # what the EMA baseline evaluates here
                jump_log.append(record)
                started = time.perf_counter()
            for _ in range(jumper.n_fit_evaluations - fit_evals):
                counter.backward(fit_samples)
            for _ in range((gate.n_evaluations if gate else 0) - gate_evals):
                counter.forward(spec["gate"])
            fit_evals, gate_evals = jumper.n_fit_evaluations, gate.n_evaluations if gate else 0
        if spec.get("type") == "la-eval" and step % spec["refit"] == 0:
            V = torch.stack([flatten_parameters(model)] + [a.flat() for a in features])
            la.fit(scratch, V, task.sample_loss(draws, spec["fit_batches"] * B))
            for _ in range(la.n_evaluations_):
                counter.backward(spec["fit_batches"] * B)
            coef = la.coef_
        seconds += time.perf_counter() - started
        if step % EVAL_EVERY:
            continue
        if kind == "schedulefree":
            optimizer.eval()     # the model now holds schedule-free's averaged weights
        curves["raw"].append(task.val_loss(model))
        for name in shown:
            curves[name].append(task.val_loss(averagers[name].averaged_model))
        if candidate:
            V = torch.stack([flatten_parameters(model)] + [a.flat() for a in features])
            if spec["type"] == "la-other":
                coef = other.coef_at(step, init)
                weights = torch.from_numpy(coef).float() @ V
            elif spec["type"] == "landing":
                weights = torch.from_numpy(other.predict(V.numpy()[None], m=1)[0, 0].astype(np.float32))
            elif spec["type"] == "la-eval":
                weights = torch.from_numpy(np.asarray(coef)).float() @ V
            elif spec["type"] == "dmd-eval":
                history[step] = base.flat()
                needed = [step - i * spec["spacing"] for i in range(spec["n_input"] - 1, -1, -1)]
                for old_step in [t for t in history if t < needed[0]]:
                    del history[old_step]
                if needed[0] in history:
                    X = torch.stack([history[t] for t in needed]).numpy()[None]
                    weights = torch.from_numpy(dmd.predict(X, m=spec["horizon"])[0, -1].astype(np.float32))
                else:
                    weights = history[step]
            else:       # jump candidates: their forecast curve is the base EMA of the jumped run
                weights = base.flat()
            load_flat_parameters(scratch, weights)
            curves["forecast"].append(task.val_loss(scratch))
        costs.append(counter.total)
    for d in same[1:] if not candidate else ():
        curves[averager_name(d, 10)] = curves[averager_name(same[0], 10)]
    return dict(task=task.name, kind=kind, lr=lr, seed=seed, candidate=candidate,
                steps=list(range(EVAL_EVERY, N + 1, EVAL_EVERY)), curves=curves, costs=costs,
                jumps=jump_log, train_seconds=seconds,
                coef=None if coef is None else np.asarray(coef).tolist())


# ---------------------------------------------------------------------------------------------- other runs
class OtherRuns:
    """What forecasters learn from OTHER runs (seeds 100-104) at the candidates' lr: loss-aware coefficients per
    phase, and a least-squares map to where an lr decay would land."""

    def __init__(self, task, lr, base_decay, out_dir):
        self.task, self.lr, self.base_decay = task, lr, base_decay
        self.path = os.path.join(out_dir, f"other-{lr:.4g}.npz")
        self._phases = None
        self._landing = None

    def _record(self):
        """Inputs [w, EMAs] of each other run at every 250 steps and at the branch points, and the landings."""
        if os.path.exists(self.path):
            return dict(np.load(self.path))
        task, N, B = self.task, self.task.steps, self.task.batch
        phases = np.arange(250, N + 1, 250)
        branch_steps = (np.array(CANDIDATES["landing"]["branches"]) * N).astype(int)
        decay_steps = int(CANDIDATES["landing"]["decay"] * N)
        V, branch_V, landings = [], [], []
        started = time.perf_counter()
        for seed in OTHER_SEEDS:
            torch.manual_seed(seed)
            model = task.build()
            optimizer, _ = task.optimizer("constant", model.parameters(), self.lr)
            batches = minibatches(task.data, B, seed)
            averagers = [WeightAverager(model, decay=d, warmup=w) for d, w in feature_specs(self.base_decay)]
            stack = lambda: torch.stack([flatten_parameters(model)] + [a.flat() for a in averagers]).numpy()
            run_V, run_branch, run_land = [], [], []
            for step in range(1, N + 1):
                train_step(model, optimizer, next(batches))
                for a in averagers:
                    a.update()
                if step in phases:
                    run_V.append(stack())
                if step in branch_steps:
                    run_branch.append(stack())
                    run_land.append(self._decay_branch(model, optimizer, seed, step, decay_steps))
            V.append(run_V)
            branch_V.append(run_branch)
            landings.append(run_land)
        record = dict(phases=phases, V=np.array(V), branch_V=np.array(branch_V), landings=np.array(landings),
                      seconds=time.perf_counter() - started,
                      backward_passes=len(OTHER_SEEDS) * (N + len(branch_steps) * decay_steps))
        np.savez(self.path, **record)
        return record

    def _decay_branch(self, model, optimizer, seed, step, decay_steps):
        """Continue a copy of the run with the lr decaying linearly to 0 over ``decay_steps``; its end weights."""
        branch = copy.deepcopy(model)
        branch_opt, _ = self.task.optimizer("constant", branch.parameters(), self.lr)
        branch_opt.load_state_dict(optimizer.state_dict())
        schedule = torch.optim.lr_scheduler.LambdaLR(branch_opt, lambda t: max(0.0, 1 - (t + 1) / decay_steps))
        batches = minibatches(self.task.data, self.task.batch, 1000 * seed + step)
        for _ in range(decay_steps):
            train_step(branch, branch_opt, next(batches))
            schedule.step()
        return flatten_parameters(branch).numpy()

    def fit_phases(self):
        """Loss-aware coefficients for every phase, fitted on the other runs' inputs at that phase."""
        record = self._record()
        spec = CANDIDATES["la-other"]
        init = np.eye(1 + len(feature_specs(self.base_decay)))[1]
        scratch = self.task.build()
        draws = torch.Generator().manual_seed(20_000)
        coefs = []
        for p in range(len(record["phases"])):
            bases = [torch.from_numpy(record["V"][r, p]) for r in range(len(OTHER_SEEDS))]
            losses = [self.task.sample_loss(draws, spec["fit_samples"]) for _ in bases]
            est = LossAwareFarcaster(init=init, max_evals=spec["max_evals"]).fit(scratch, bases, losses)
            coefs.append(est.coef_)
        self._phases = (record["phases"], np.array(coefs))
        return self

    def coef_at(self, step, init):
        phases, coefs = self._phases
        done = np.flatnonzero(phases <= step)
        return init if done.size == 0 else coefs[done[-1]]

    def fit_landing(self):
        record = self._record()
        X = record["branch_V"].reshape(-1, *record["branch_V"].shape[2:])           # (runs * branches, 5, d)
        Y = record["landings"].reshape(-1, 1, record["landings"].shape[-1])
        self._landing = LinearFarcaster(solver="lstsq", device="cpu").fit(X, Y)
        return self

    def predict(self, X, m=1):
        return self._landing.predict(X, m=m)


# ---------------------------------------------------------------------------------------------- cache and tuning
class Store:
    """Runs cached as JSON files under ``out``: every stage reuses what another already ran."""

    def __init__(self, task, out):
        self.task, self.out = task, out
        os.makedirs(os.path.join(out, "runs"), exist_ok=True)

    def _path(self, kind, k, seed, candidate):
        name = f"{kind}-k{k}-s{seed}" + (f"-{candidate}" if candidate else "")
        if self.task.steps != TASKS[self.task.name]["steps"]:      # a --steps override is cached apart
            name += f"-n{self.task.steps}"
        return os.path.join(self.out, "runs", name + ".json")

    def cached_ks(self, kind):
        names = os.listdir(os.path.join(self.out, "runs"))
        suffix = "" if self.task.steps == TASKS[self.task.name]["steps"] else f"-n{self.task.steps}"
        pattern = re.compile(rf"{re.escape(kind)}-k(-?\d+)-s\d+{re.escape(suffix)}\.json")
        return {int(m.group(1)) for m in map(pattern.fullmatch, names) if m}

    def get(self, kind, k, seed, candidate=None, compute=True, **options):
        path = self._path(kind, k, seed, candidate)
        if os.path.exists(path):
            with open(path) as handle:
                return json.load(handle)
        if not compute:
            return None
        result = train(self.task, kind, lr_of(k), seed, candidate=candidate, **options)
        result["k"] = k
        with open(path + ".tmp", "w") as handle:
            json.dump(result, handle, default=float)
        os.replace(path + ".tmp", path)
        print(f"  ran {kind} lr {lr_of(k):.3g} seed {seed}{' ' + candidate if candidate else ''}: "
              f"{result['train_seconds']:.0f} s", flush=True)
        return result


def final_loss(run, curve):
    return float(smoothed(run["curves"][curve], SMOOTH)[-1])


def best_curve(runs, curve):
    """For 'ema': the EMA decay with the lowest mean final loss; else the curve itself."""
    if curve != "ema":
        return curve
    return min((f"ema{d}" for d in EMA_DECAYS), key=lambda c: np.mean([final_loss(r, c) for r in runs]))


def tune(store, references=("cosine+ema",), seeds=TUNE_SEEDS, compute=True):
    """Per baseline: {k: (curve, mean final loss)} on the tuning seeds, widening the grid until the best is inside."""
    table, chosen = {}, {}
    for name in list(BASELINES) + list(references):
        kind, curve = {**BASELINES, **REFERENCES}[name]
        ks = sorted(set(store.task.grid) | store.cached_ks(kind))
        while True:
            rows = {}
            for k in ks:
                runs = [store.get(kind, k, s, compute=compute) for s in seeds]
                if any(r is None for r in runs):
                    continue
                c = best_curve(runs, curve)
                rows[k] = (c, float(np.mean([final_loss(r, c) for r in runs])))
            if not rows:
                break
            best = min(rows, key=lambda k: rows[k][1])
            if not compute or (min(ks) < best < max(ks)):
                break
            ks = ks + [best + 1] if best == max(ks) else [best - 1] + ks
        table[name] = rows
        if rows:
            best = min(rows, key=lambda k: rows[k][1])
            chosen[name] = (best, rows[best][0])
    return table, chosen


# ---------------------------------------------------------------------------------------------- report
def _fmt(x, spec=".0f"):
    return "never" if x is None else format(x, spec)


def report(store, chosen, names, seeds=SEEDS, plot=None, summary_path=None):
    task = store.task
    rows = {}    # method -> (runs, curve)
    for name, (k, curve) in chosen.items():
        kind = {**BASELINES, **REFERENCES}[name][0]
        rows[name] = ([store.get(kind, k, s, compute=False) for s in seeds], curve)
    k_ema, c_ema = chosen["adam+ema"]
    for name in names:
        rows[name] = ([store.get("constant", k_ema, s, candidate=name, compute=False) for s in seeds], "forecast")
    rows = {n: (runs, c) for n, (runs, c) in rows.items() if all(r is not None for r in runs)}
    finals = {n: [final_loss(r, c) for r in runs] for n, (runs, c) in rows.items()}
    best = min(BASELINES, key=lambda n: np.mean(finals[n]) if n in finals else np.inf)
    targets = finals[best]

    def costs_to(name, target_of):
        runs, curve = rows[name]
        return [cost_to_target(r["curves"][curve], r["costs"], t, SMOOTH) for r, t in zip(runs, target_of)]

    def overhead_at(name, target_of):
        runs, curve = rows[name]
        out = []
        for r, t in zip(runs, target_of):
            c = cost_to_target(r["curves"][curve], r["costs"], t, SMOOTH)
            if c is None:
                out.append(None)
            else:
                i = int(np.flatnonzero(np.isclose(r["costs"], c))[0])
                out.append(c - r["steps"][i])
        return out

    def paired_saving(cost, base):
        pairs = [(c, b) for c, b in zip(cost, base)]
        if any(c is None for c, _ in pairs) or any(b is None for _, b in pairs):
            return None
        return float(np.mean([1 - c / b for c, b in pairs]))

    N = task.steps
    lines = [f"task {task.name}: N = {N}, target = best baseline '{best}' (lr {lr_of(chosen[best][0]):.3g}, "
             f"{chosen[best][1]}) smoothed validation loss at N per seed: {[round(t, 4) for t in targets]}", ""]
    header = "| method | lr (model evaluated) | val at N (mean) | cost to target per seed | mean | overhead (% of N) | " + \
             " | ".join(f"saved vs {b}" for b in BASELINES if b in rows) + " |"
    lines += [header, "|" + "---|" * (header.count("|") - 1)]
    summary = dict(task=task.name, N=N, best=best, targets=targets, methods={})
    cost_of = {n: costs_to(n, targets) for n in rows}
    for name, (runs, curve) in rows.items():
        costs = cost_of[name]
        savings = {b: paired_saving(costs, cost_of[b]) for b in BASELINES if b in rows}
        over = overhead_at(name, targets)
        mean = None if None in costs else float(np.mean(costs))
        run_over = float(np.mean([r["costs"][-1] - r["steps"][-1] for r in runs])) / N   # over the whole run
        lines.append(f"| {name} | {runs[0]['lr']:.3g} ({curve}) | {np.mean(finals[name]):.4f} | "
                     f"{', '.join(_fmt(c) for c in costs)} | {_fmt(mean)} | {run_over:.1%} | "
                     + " | ".join("n/a" if s is None else f"{s:+.1%}" for s in savings.values()) + " |")
        summary["methods"][name] = dict(lr=runs[0]["lr"], curve=curve, final=finals[name], costs=costs,
                                        overhead_at_target=over, overhead_of_run=run_over, savings=savings)
    # Each baseline's own loss at N as the target: how much sooner every method gets there.
    lines += ["", "Each baseline's own smoothed loss at N as the target: mean cost to reach it (saved vs that "
              "baseline, paired)", ""]
    for b in [b for b in BASELINES if b in rows]:
        base_cost = costs_to(b, finals[b])
        cells = []
        for name in rows:
            c = costs_to(name, finals[b])
            s = paired_saving(c, base_cost)
            cells.append(f"{name}: {_fmt(None if None in c else float(np.mean(c)))}"
                         f" ({'n/a' if s is None else f'{s:+.1%}'})")
        lines.append(f"- target = {b} at N: " + "; ".join(cells))
        summary.setdefault("own_targets", {})[b] = {n: costs_to(n, finals[b]) for n in rows}
    # Forecasts evaluated as the model: their validation loss minus that of the same run's EMA baseline model.
    lines += ["", "Forecast weights minus the same run's EMA (validation loss, mean over the evaluations of the second "
              "half of training and over seeds; min .. max over evaluations)", ""]
    for name in names:
        if name not in rows or CANDIDATES[name]["type"] not in ("la-eval", "la-other", "landing", "dmd-eval"):
            continue
        runs, _ = rows[name]
        base_name = averager_name(_decay_of(c_ema), 10)
        d = np.array([np.array(r["curves"]["forecast"]) - np.array(r["curves"][base_name]) for r in runs])
        half = d[:, d.shape[1] // 2:]
        lines.append(f"- {name}: {half.mean():+.4f} ({half.min():+.4f} .. {half.max():+.4f}); better than the EMA at "
                     f"{(half < 0).mean():.0%} of those evaluations")
        summary["methods"][name]["forecast_minus_ema"] = d.tolist()
    # Jumps: what they did to the loss, at the jump and 250 steps later against the same seed without jumps.
    lines += ["", "Jumps (validation loss; 'EMA' is the EMA baseline's model at the same step of the same run)", ""]
    base_runs, base_curve = rows["adam+ema"]
    for name in names:
        if name not in rows:
            continue
        runs, curve = rows[name]
        jumps = [dict(j, seed=r["seed"]) for r in runs for j in r["jumps"]]
        if not jumps:
            continue
        accepted = [j for j in jumps if j["accepted"]]
        later = []
        for r, b in zip(runs, base_runs):
            for j in r["jumps"]:
                i = r["steps"].index(j["step"] + 250) if j["step"] + 250 in r["steps"] else None
                if j["accepted"] and i is not None:
                    later.append(r["curves"][curve][i] - b["curves"][base_curve][i])
        lines.append(f"- {name}: {len(accepted)} of {len(jumps)} jumps accepted. Raw weights at accepted jumps: "
                     f"{_mean_change(accepted, 'val_before')}; jump target minus the EMA at that step: "
                     f"{_mean_change(accepted, 'val_ema')}; gate batch, all proposed: {_mean_gate(jumps)}; "
                     f"250 steps after an accepted jump, its evaluated model minus the EMA baseline's (same seed): "
                     + ("(none)" if not later else f"{np.mean(later):+.4f} ({min(later):+.4f} .. {max(later):+.4f})"))
        summary["methods"][name]["jumps"] = jumps
    text = "\n".join(lines)
    print(text)
    if summary_path:
        with open(summary_path, "w") as handle:
            json.dump(summary, handle, indent=1, default=float)
    if plot:
        _plot(rows, targets, task, plot)
    return summary


def _mean_change(jumps, reference):
    if not jumps:
        return "(none)"
    d = [j["val_after"] - j[reference] for j in jumps]
    return f"{np.mean(d):+.4f} on average ({min(d):+.4f} .. {max(d):+.4f})"


def _mean_gate(jumps):
    gated = [j for j in jumps if "loss_after" in j]
    if not gated:
        return "(ungated)"
    d = [j["loss_after"] - j["loss_before"] for j in gated]
    return f"{np.mean(d):+.4f} on average ({min(d):+.4f} .. {max(d):+.4f})"


def _plot(rows, targets, task, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 5))
    colors = plt.get_cmap("tab20").colors
    for i, (name, (runs, curve)) in enumerate(rows.items()):
        mean = np.mean([smoothed(r["curves"][curve], SMOOTH) for r in runs], axis=0)
        style = dict(linewidth=2.2) if name in BASELINES else \
            dict(linewidth=1.2) if name in REFERENCES else dict(linewidth=1.0, linestyle="--")
        ax.plot(runs[0]["steps"], mean, label=name, color=colors[(2 * i) % 20 + (2 * i) // 20], **style)
    ax.axhline(np.mean(targets), color="k", linewidth=0.8, linestyle=":", label="target (mean)")
    ax.set_yscale("log")
    lo = min(np.mean(targets) * 0.9, ax.get_ylim()[0])
    ax.set_ylim(lo, np.mean(targets) * 2.5)
    ax.set_xlabel("training step")
    ax.set_ylabel(f"validation loss (smoothed over {SMOOTH} evaluations, mean of {len(targets)} seeds)")
    ax.set_title(f"{task.name}: validation loss per method")
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    print(f"plot written to {path}")


# ---------------------------------------------------------------------------------------------- main
def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("stage", choices=["tune", "baselines", "candidates", "report"])
    parser.add_argument("--task", choices=list(TASKS), required=True)
    parser.add_argument("--out", required=True, help="folder for the cached runs and the summary")
    parser.add_argument("--names", nargs="+", default=[], choices=list(CANDIDATES),
                        help="candidates (candidates and report stages)")
    parser.add_argument("--seeds", type=int, nargs="+", default=list(SEEDS))
    parser.add_argument("--references", nargs="*", default=["cosine+ema"], choices=list(REFERENCES),
                        help="extra reference rows besides the baselines")
    parser.add_argument("--plot", help="PNG of the smoothed validation curves (report stage)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--steps", type=int, help="override N (quick checks only; the documented runs use the "
                        "task's N)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    task = Task(args.task)
    if args.steps:
        task.steps = args.steps
    store = Store(task, args.out)
    n_params = sum(p.numel() for p in task.build().parameters())
    print(f"task {task.name}: {n_params:,} parameters, N = {task.steps}, batch {task.batch}", flush=True)
    table, chosen = tune(store, args.references, compute=args.stage == "tune")
    for name, rows in table.items():
        print(f"  {name}: " + ", ".join(f"lr {lr_of(k):.3g} {c} {v:.4f}" for k, (c, v) in sorted(rows.items())))
    print("  chosen: " + ", ".join(f"{n} lr {lr_of(k):.3g} ({c})" for n, (k, c) in chosen.items()), flush=True)
    if args.stage == "baselines":
        for name, (k, curve) in chosen.items():
            kind = {**BASELINES, **REFERENCES}[name][0]
            for s in args.seeds:
                store.get(kind, k, s)
    elif args.stage == "candidates":
        k, curve = chosen["adam+ema"]
        decay = _decay_of(curve)
        for name in args.names:
            other = None
            kind_ = CANDIDATES[name]["type"]
            if kind_ in ("la-other", "landing"):
                other = OtherRuns(task, lr_of(k), decay, args.out)
                other = other.fit_phases() if kind_ == "la-other" else other.fit_landing()
            for s in args.seeds:
                store.get("constant", k, s, candidate=name, base_decay=decay, other=other)
    elif args.stage == "report":
        report(store, chosen, args.names, seeds=args.seeds, plot=args.plot,
               summary_path=os.path.join(args.out, "summary.json"))


if __name__ == "__main__":
    main()
