"""``weightcast reproduce``: the paper's synthetic experiments (Tables 2, 3, 5, 6 and Fig. 2) in one command.

Everything is generated on the fly (``make_syn1`` reproduces the authors' Syn-1 files, so no data file is
needed). The protocol is the paper's: sequences 0-99 train, 100-149 dev (early stopping), 150-199 test;
inputs w_0 .. w_20 (Table 6: w_0, w_1), targets every later step up to w_200; MSE x 1e4 at the checkpoints
40, 80, 160, 200, mean (std, ddof 0) over trials; trial k uses generator seed k and model seed k.

The models and the paper's figures live in ``MODELS`` (one entry per model); a "tuned" row adds the
library's best linear farcaster chosen by ``GridSearchCV`` on the train + dev sequences only.

Examples
--------
>>> from weightcast.reproduce import TABLES, format_markdown, reproduce
>>> list(TABLES)
['table2', 'table3', 'table5', 'table6', 'fig2']
>>> result = reproduce("table6", trials=1, quick=True, models=["LFL"])   # LFL has no Table 6 row
>>> result["experiments"][0]["rows"]
[]
"""

import inspect
import json
import os
import re
import sys
import tempfile
import time
from dataclasses import dataclass, field

import numpy as np
import torch
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV, KFold
from sklearn.pipeline import Pipeline
from tqdm.auto import tqdm

from ..base import resolve_device
from ..baselines import (CurveFitForecaster, DLinearForecaster, IntrospectionForecaster, RMLPForecaster,
                        WNNForecaster)
from ..datasets import make_syn1, make_syn2, split_sequences
from ..dynamics import FixedPointFarcaster
from ..io.atomic import atomic_output
from ..linear import LFD2Forecaster, LFLForecaster, LFNForecaster, LFSForecaster, LinearFarcaster
from ..metrics import PAPER_SCALE, checkpoint_mse
from ..selection import AllSelector, FirstLastSelector, IntrospectionSelector, LastSelector, StepSelector

__all__ = ["MODELS", "TABLES", "reproduce", "format_markdown", "write_outputs", "register"]

CHECKPOINTS = (40, 80, 160, 200)
N_TRAIN, N_DEV = 100, 50  # then 50 test sequences
QUICK_MAX_EPOCHS = 200
QUICK_BASELINE_EPOCHS = 20
FULL_MAX_EPOCHS = 10_000


# ---------------------------------------------------------------------------------------------- experiments
@dataclass(frozen=True)
class Experiment:
    label: str
    family: str      # "syn1" or "syn2"
    optimizer: str

    def generate(self, seed, with_loss):
        make = make_syn1 if self.family == "syn1" else make_syn2
        return make(self.optimizer, seed=seed, return_loss=with_loss)


EXPERIMENTS = {
    "syn1-gd": Experiment("Syn-1 GD", "syn1", "gd"),
    "syn1-sgd": Experiment("Syn-1 SGD", "syn1", "sgd"),
    "syn2-sgd": Experiment("Syn-2 SGD", "syn2", "sgd"),
    "syn2-adam": Experiment("Syn-2 Adam", "syn2", "adam"),
}


@dataclass(frozen=True)
class Table:
    title: str
    experiments: tuple
    n_input_steps: int = 21
    with_loss: bool = False   # Table 5: every step is (w_i, l_i); errors are measured on the weights only
    figure: bool = False


TABLES = {
    "table2": Table("Table 2: MSE x 1e4 at checkpoints on Syn-1", ("syn1-gd", "syn1-sgd")),
    "table3": Table("Table 3: MSE x 1e4 at checkpoints on Syn-2", ("syn2-sgd", "syn2-adam")),
    "table5": Table("Table 5: farcast with the training loss, inputs (w_i, l_i), MSE x 1e4 on the weights",
                    tuple(EXPERIMENTS), with_loss=True),
    "table6": Table("Table 6: farcast from {w_0, w_1} only, MSE x 1e4", tuple(EXPERIMENTS), n_input_steps=2),
    "fig2": Table("Fig. 2: forecast and true trajectories of one Syn-1 SGD test sequence", ("syn1-sgd",),
                  figure=True),
}


# ---------------------------------------------------------------------------------------------- models
def _paper(text):
    """Parse the paper's cells, e.g. ``".207(.021) 4.39(.39)"``, into (means, stds, cells as printed)."""
    cells = re.findall(r"([\d.]+)\s*\(([\d.]+)\)", text)
    return (tuple(float(mean) for mean, _ in cells), tuple(float(std) for _, std in cells),
            tuple(f"{mean} ({std})" for mean, std in cells))


# The authors' Adam learning rates for LFD-2 per experiment, and beta (PROTOCOL.md, "Training").
LFD2_LR = {"syn1-gd": 0.004, "syn1-sgd": 0.006, "syn2-sgd": 0.0055, "syn2-adam": 0.004}
PAPER_BETA = {"syn1-gd": 1e-4}
DEFAULT_BETA = 1e-6


def _paper_protocol(cls, lr, selector=None):
    """A factory of the authors' training protocol: L1 + beta L_grad by Adam from nn.Linear's default
    initialisation, batches of 32 sequences, early stopping on the dev sequences with patience 5."""
    def factory(experiment, random_state, device, max_epochs):
        rate = lr[experiment] if isinstance(lr, dict) else lr
        return cls(selector=selector, solver="paper", init="default", lr=rate,
                   beta=PAPER_BETA.get(experiment, DEFAULT_BETA), batch_size=32, max_epochs=max_epochs,
                   patience=5, device=device, random_state=random_state)
    return factory


def _baseline(make):
    """A factory of a baseline network with its own training settings (BASELINES.md); a quick run caps
    its epochs."""
    def factory(experiment, random_state, device, max_epochs):
        capped = {} if max_epochs == FULL_MAX_EPOCHS else {"max_epochs": QUICK_BASELINE_EPOCHS}
        return make(random_state=random_state, device=device, **capped)
    return factory


def _ours(make):
    """A factory of one of weightcast's own models (no epochs to cap)."""
    def factory(experiment, random_state, device, max_epochs):
        return make(experiment=experiment, random_state=random_state, device=device)
    return factory


def _fixed_point(experiment, random_state, device):
    # GD trajectories are extrapolated exactly from every input step; noisy ones from w_0 and w_n.
    selector = AllSelector() if EXPERIMENTS[experiment].optimizer == "gd" else None
    return FixedPointFarcaster(block_size=3 if experiment.startswith("syn1") else 64, selector=selector,
                               device=device, random_state=random_state)


@dataclass(frozen=True)
class ModelEntry:
    """One row of the tables: ``factory(experiment, random_state, device, max_epochs) -> estimator``
    (None: not implemented yet) and the paper's figures, ``paper[(table, experiment)] = (means, stds, text)``.
    A model appears in the tables for which it has paper figures or that ``tables`` names, and in
    Fig. 2 when ``in_fig2``."""
    name: str
    factory: object
    paper: dict = field(default_factory=dict)
    in_fig2: bool = False
    tables: tuple = ()


def _figures(table, **cells):
    return {(table, experiment.replace("_", "-")): _paper(text) for experiment, text in cells.items()}


MODELS = [
    # The paper's Introspection row is its linear per-horizon variant; the original network is
    # IntrospectionForecaster(variant="original") (docs/baselines.md).
    ModelEntry("Introspection", _baseline(lambda **kw: IntrospectionForecaster(variant="linear", **kw)), {
        **_figures("table2", syn1_gd=".222(.023) 4.63(.41) 45.1(3.8) 405(724)",
                   syn1_sgd="12.8(1.6) 61.4(13.7) 219(48) 307(45)"),
        **_figures("table3", syn2_sgd="13.0(.8) 55.6(40.3) 158(51) 234(50)",
                   syn2_adam="12.5(4.9) 53.1(19.9) 85.3(21.4) 104(39)")}),
    ModelEntry("WNN", _baseline(lambda **kw: WNNForecaster(window=21, **kw)), {
        **_figures("table2", syn1_gd="1.75(1.76) 15.9(8.2) 213(62) 278(60)",
                   syn1_sgd="14.1(.6) 71.8(14.8) 270(29) 412(60)"),
        **_figures("table3", syn2_sgd="1.30(.20) 21.9(2.0) 109(8) 176(66)",
                   syn2_adam="4.52(3.53) 9.27(2.26) 44.4(27.9) 74.0(47.8)")}),
    ModelEntry("LFN", _paper_protocol(LFNForecaster, 0.001), {
        **_figures("table2", syn1_gd=".619(.561) 5.11(1.18) 43.8(4.5) 92.4(12.0)",
                   syn1_sgd="12.7(2.0) 61.7(9.8) 212(25) 339(44)"),
        **_figures("table3", syn2_sgd="2.20(.50) 25.6(3.50) 123(13) 173(20)",
                   syn2_adam="7.88(3.42) 42.6(19.8) 103(25) 129(30)")}, in_fig2=True),
    # The paper's "DLinear" is a RevIN + MLP network (BASELINES.md); the real DLinear is the row below.
    ModelEntry("DLinear", _baseline(RMLPForecaster), {
        **_figures("table2", syn1_gd=".715(.119) 5.72(.42) 48.1(3.9) 81.8(6.8)",
                   syn1_sgd="14.2(2.3) 68.6(13.6) 221(43) 302(53)"),
        **_figures("table3", syn2_sgd="4.99(.21) 31.6(2.3) 126(9) 168(13)",
                   syn2_adam="2.60(.25) 12.7(.9) 37.2(3.4) 45.6(4.9)")}, in_fig2=True),
    # The authors' LFS code reads [w_t, w_0.7t, w_0.4t, w_0] with t = 15 (PROTOCOL.md).
    ModelEntry("LFS", _paper_protocol(LFSForecaster, 0.005, StepSelector((0, 6, 10, 15))), {
        **_figures("table2", syn1_gd=".373(.062) 5.34(.65) 60.3(18.7) 205(112)",
                   syn1_sgd="103(118) 513(536) 1557(1517) 2025(1917)"),
        **_figures("table3", syn2_sgd="5.41(4.59) 43.0(22.0) 166(37) 207(39)",
                   syn2_adam="11.1(5.3) 54.7(13.6) 108(22) 122(24)")}, in_fig2=True),
    ModelEntry("LFL", _paper_protocol(LFLForecaster, 0.005), {
        **_figures("table2", syn1_gd="193(23) 1337(257) 3787(353) 4594(181)",
                   syn1_sgd="177(10) 1241(186) 3615(203) 4667(345)"),
        **_figures("table3", syn2_sgd="8.97(.49) 61.7(5.5) 195(22) 243(27)",
                   syn2_adam="7.68(1.86) 43.2(9.7) 101(16) 117(17)")}),
    ModelEntry("LFD-2", _paper_protocol(LFD2Forecaster, LFD2_LR), {
        **_figures("table2", syn1_gd=".207(.021) 4.39(.39) 44.9(5.0) 81.1(9.6)",
                   syn1_sgd="11.0(1.4) 53.0(8.6) 195(22) 278(18)"),
        **_figures("table3", syn2_sgd="1.83(.40) 26.2(3.6) 123(12) 168(21)",
                   syn2_adam="1.13(.65) 16.3(11.0) 49.6(20.4) 60.2(11.1)"),
        **_figures("table5", syn1_gd=".196(.015) 4.42(.47) 43.8(5.5) 78.0(6.7)",
                   syn1_sgd="10.9(1.3) 52.9(8.5) 194(23) 278(18)",
                   syn2_sgd="1.74(.12) 24.7(1.5) 126(9) 175(5)",
                   syn2_adam=".799(.229) 13.5(5.7) 37.4(4.4) 54.7(11.1)"),
        **_figures("table6", syn1_gd="247(15) 1625(85) 4765(220) 6017(190)",
                   syn1_sgd="230(14) 1486(103) 4419(188) 5710(279)",
                   syn2_sgd="12.6(1.1) 75.2(4.4) 235(24) 294(32)",
                   syn2_adam="14.5(2.6) 72.5(15.2) 163(27) 186(29)")}, in_fig2=True),
    ModelEntry("DLinear (decomposition)", _baseline(DLinearForecaster), tables=("table2", "table3")),
    ModelEntry("Curve fit (line)", _ours(lambda experiment, **kw: CurveFitForecaster(**kw)),
               tables=("table2", "table3")),
    ModelEntry("FixedPoint (ours)", _ours(_fixed_point), tables=("table2", "table3"), in_fig2=True),
]

TUNED = "tuned"


def _models_for(table_name, only=None):
    if TABLES[table_name].figure:
        chosen = [entry for entry in MODELS if entry.in_fig2]
    else:
        experiments = TABLES[table_name].experiments
        chosen = [entry for entry in MODELS
                  if table_name in entry.tables or any((table_name, e) in entry.paper for e in experiments)]
    if only is not None:
        unknown = sorted(set(only) - {entry.name for entry in MODELS} - {TUNED})
        if unknown:
            raise ValueError(f"unknown model(s) {unknown}: choose from {[e.name for e in MODELS] + [TUNED]}")
        chosen = [entry for entry in chosen if entry.name in only]
    return chosen


# ---------------------------------------------------------------------------------------------- tuned row
class _WeightScorer:
    """Minus the mean checkpoint MSE on the first ``n_weights`` channels (Table 5 also carries the loss)."""

    def __init__(self, n_weights):
        self.n_weights = n_weights

    def __call__(self, estimator, X, Y):
        Y_pred = estimator.predict(X, m=Y.shape[1])
        n = self.n_weights
        return -float(checkpoint_mse(Y[..., :n], Y_pred[..., :n], CHECKPOINTS, X.shape[1]).mean())


def _tuned_search(n_input_steps, n_weights, quick, device, random_state, with_loss=False):
    """GridSearchCV over the linear farcasters (their selectors, solver, ridge alpha and beta) and
    weightcast's FixedPointFarcaster (its selector and block size).

    Scored by 5-fold (quick: 3-fold) cross-validation over the 150 train + dev sequences
    (scikit-learn's default, what a user would run); the best configuration is then refitted on all
    150. The test sequences are never seen. (The paper's single train/dev split is too noisy to rank
    close candidates.) The model itself is a grid parameter: the step of a one-step Pipeline.
    """
    candidates = [FirstLastSelector(), AllSelector(), IntrospectionSelector(), LastSelector(),
                  StepSelector((0, 1, -1))]
    selectors, seen = [], set()
    for selector in candidates:  # short windows (Table 6) make some selectors coincide or invalid
        try:
            steps = tuple(clone(selector).fit_steps(n_input_steps).steps_)
        except ValueError:
            continue
        if steps not in seen:
            seen.add(steps)
            selectors.append(selector)
    # The paper solver (L1) warm-starts from least squares; L1 is more robust to SGD noise.
    l1_selectors = [s for s in selectors if not isinstance(s, AllSelector)]
    if quick:
        grid = [{"solver": ["lstsq"], "selector": selectors, "alpha": [0.0, 1e-2]},
                {"solver": ["paper"], "selector": l1_selectors[:1], "beta": [1e-6]}]
    else:
        grid = [{"solver": ["lstsq"], "selector": selectors, "alpha": [0.0, 1e-3, 1e-2, 1e-1]},
                {"solver": ["paper"], "selector": l1_selectors, "beta": [0.0, 1e-6, 1e-4]}]
    grid = [{f"forecaster__{key}": values for key, values in entry.items()} for entry in grid]
    # The fixed-point model needs a few steps to see the drift, and blocks of weights only (not the loss).
    if n_input_steps >= 5 and not with_loss:
        fixed_point = [FixedPointFarcaster(selector=selector, block_size=block_size, device=device,
                                           random_state=random_state)
                       for selector in ([FirstLastSelector()] if quick else [FirstLastSelector(), AllSelector()])
                       for block_size in (64,)]
        grid.append({"forecaster": fixed_point})
    base = Pipeline([("forecaster", LinearFarcaster(solver="lstsq", init="lstsq", lr=1e-3, patience=20,
                                                    max_epochs=QUICK_MAX_EPOCHS if quick else 2000,
                                                    device=device, random_state=random_state))])
    return GridSearchCV(base, grid, scoring=_WeightScorer(n_weights), cv=KFold(3 if quick else 5),
                        refit=True, error_score="raise")


def _describe(params):
    if "forecaster" in params:  # a whole model was chosen
        return " ".join(str(params["forecaster"]).split())
    parts = []
    for key in sorted(params):
        value, name = params[key], key.removeprefix("forecaster__")
        parts.append(f"{name}={value!r}" if not hasattr(value, "get_params") else f"{name}={value}")
    return "LinearFarcaster: " + ", ".join(parts)


# ---------------------------------------------------------------------------------------------- running
def _fit_predict(estimator, data):
    """Fit on train (dev for early stopping when the estimator takes it), predict the test targets."""
    fit_params = {}
    if "validation_data" in inspect.signature(estimator.fit).parameters:
        fit_params["validation_data"] = (data["X_dev"], data["Y_dev"])
    estimator.fit(data["X_train"], data["Y_train"], **fit_params)
    return estimator.predict(data["X_test"], m=data["Y_test"].shape[1])


def _trial_data(experiment, table, seed):
    S = EXPERIMENTS[experiment].generate(seed, table.with_loss)
    n_weights = (S[0] if table.with_loss else S).shape[2]
    if table.with_loss:
        S = np.concatenate([S[0], S[1][:, :, None]], axis=2)
    X, Y = split_sequences(S, table.n_input_steps)
    train, dev = slice(0, N_TRAIN), slice(N_TRAIN, N_TRAIN + N_DEV)
    test = slice(N_TRAIN + N_DEV, None)
    return {"X_train": X[train], "Y_train": Y[train], "X_dev": X[dev], "Y_dev": Y[dev],
            "X_test": X[test], "Y_test": Y[test], "n_weights": n_weights,
            "X_train_dev": X[:N_TRAIN + N_DEV], "Y_train_dev": Y[:N_TRAIN + N_DEV]}


def _check_table(table):
    if table not in TABLES:
        raise ValueError(f"unknown table {table!r}: choose one of {', '.join(TABLES)}")


def reproduce(table, trials=5, quick=False, device="cpu", models=None, progress=False):
    """Run one of the paper's synthetic experiments and return its results as plain data.

    Parameters
    ----------
    table : {"table2", "table3", "table5", "table6", "fig2"}
    trials : int, default=5
        Trial k (1-based) uses generator seed k and model seed k; the paper reports 5.
    quick : bool, default=False
        A smoke run: at most 200 epochs for the paper-protocol fits and a smaller tuning grid.
    device : str, default="cpu"
        Passed to every forecaster ("auto", "cpu", "cuda").
    models : list of str or None
        Only these rows (names in ``MODELS`` or "tuned"); None runs every model of the table.
    progress : bool, default=False
        Show a progress bar over the fits.

    Returns
    -------
    result : dict
        JSON-ready: settings, and per experiment one row per model with our mean and std per
        checkpoint, every trial's figures and the paper's figures (for ``fig2``, trajectories).
    """
    _check_table(table)
    if isinstance(trials, bool) or not isinstance(trials, (int, np.integer)) or trials < 1:
        raise ValueError(f"trials must be an integer >= 1, got {trials!r}")
    resolve_device(device)
    # The problems are tiny: on a CPU, extra threads only add contention (20-40x slower on a busy 2-core box).
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return _reproduce(table, trials, quick, device, models, progress)
    finally:
        torch.set_num_threads(threads)


def _reproduce(table, trials, quick, device, models, progress):
    spec = TABLES[table]
    if spec.figure:
        trials = 1
    entries = _models_for(table, models)
    with_tuned = models is None or TUNED in models
    max_epochs = QUICK_MAX_EPOCHS if quick else FULL_MAX_EPOCHS
    runnable = [entry for entry in entries if entry.factory is not None]
    if spec.figure and not (runnable or with_tuned):
        raise ValueError(f"{table} needs at least one implemented model; got models={models!r}")
    n_fits = len(spec.experiments) * trials * (len(runnable) + with_tuned)
    bar = tqdm(total=n_fits, desc=f"reproduce {table}", disable=not progress, file=sys.stderr)

    result = {"table": table, "title": spec.title, "checkpoints": list(CHECKPOINTS), "scale": PAPER_SCALE,
              "trials": int(trials), "quick": bool(quick), "device": device,
              "max_epochs": max_epochs, "n_input_steps": spec.n_input_steps, "experiments": []}
    started = time.perf_counter()
    for experiment in spec.experiments:
        rows = {entry.name: [] for entry in runnable}
        rows.update({TUNED: []} if with_tuned else {})
        extra = {entry.name: {"seconds": 0.0} for entry in runnable}
        extra.update({TUNED: {"seconds": 0.0, "chosen": []}} if with_tuned else {})
        forecasts = {}
        for trial in range(1, trials + 1 if runnable or with_tuned else 1):
            data = _trial_data(experiment, spec, seed=trial)
            n = data["n_weights"]
            estimators = [(entry.name, entry.factory(experiment, trial, device, max_epochs)) for entry in runnable]
            if with_tuned:
                estimators.append((TUNED, _tuned_search(spec.n_input_steps, n, quick, device, trial,
                                                        with_loss=spec.with_loss)))
            for name, estimator in estimators:
                bar.set_postfix_str(f"{experiment} trial {trial} {name}")
                tick = time.perf_counter()
                if name == TUNED:
                    estimator.fit(data["X_train_dev"], data["Y_train_dev"])
                    Y_pred = estimator.best_estimator_.predict(data["X_test"], m=data["Y_test"].shape[1])
                    extra[name]["chosen"].append(_describe(estimator.best_params_))
                else:
                    Y_pred = _fit_predict(estimator, data)
                extra[name]["seconds"] += time.perf_counter() - tick
                mse = checkpoint_mse(data["Y_test"][..., :n], Y_pred[..., :n], CHECKPOINTS,
                                     spec.n_input_steps, scale=PAPER_SCALE)
                rows[name].append(mse.tolist())
                if spec.figure:
                    forecasts[name] = Y_pred[0, :, :n].tolist()
                bar.update()
        table_rows = []
        for entry in entries + ([None] if with_tuned else []):
            name = TUNED if entry is None else entry.name
            paper = None if entry is None else entry.paper.get((table, experiment))
            row = {"model": name, "implemented": name in rows,
                   "paper_mean": None if paper is None else list(paper[0]),
                   "paper_std": None if paper is None else list(paper[1]),
                   "paper_text": None if paper is None else list(paper[2])}
            if name in rows:
                figures = np.asarray(rows[name])
                row.update(mean=figures.mean(axis=0).tolist(), std=figures.std(axis=0).tolist(),
                           per_trial=figures.tolist(), **extra[name])
            table_rows.append(row)
        block = {"key": experiment, "label": EXPERIMENTS[experiment].label, "rows": table_rows,
                 "paper_best": _paper_best(table, experiment)}
        if spec.figure:
            block["sequence"] = N_TRAIN + N_DEV
            block["seed"] = 1
            block["true"] = np.concatenate([data["X_test"][0], data["Y_test"][0]])[:, :n].tolist()
            block["forecasts"] = forecasts
        result["experiments"].append(block)
    bar.close()
    result["seconds"] = time.perf_counter() - started
    return result


# ---------------------------------------------------------------------------------------------- output
def _fmt(value):
    """Three significant figures in the paper's style (.207, 4.39, 44.9, 278); scientific when tiny."""
    if value == 0:
        return "0"
    if abs(value) < 1e-3:
        return f"{value:.1e}"
    if abs(value) < 0.9995:
        text = f"{value:#.3g}"
    else:
        decimals = 0 if abs(value) >= 99.95 else 1 if abs(value) >= 9.995 else 2
        text = f"{value:.{decimals}f}"
    return text[1:] if text.startswith("0.") else text


def _paper_best(table, experiment):
    """Per checkpoint, the lowest figure the paper reports for any model in this table and experiment."""
    figures = [entry.paper[(table, experiment)][0] for entry in MODELS if (table, experiment) in entry.paper]
    return np.min(figures, axis=0).tolist() if figures else None


def format_markdown(result, command=None):
    """The result as Markdown: one table per experiment, ours "mean (std)" beside the paper's figure."""
    lines = [f"## {result['title']}", ""]
    if command:
        lines += [f"Command: `{command}`", ""]
    lines += [f"MSE x 1e4 on the 50 test sequences at steps {', '.join(map(str, result['checkpoints']))}; "
              f"ours: mean (std) over {result['trials']} trial(s), paper's figure in brackets; "
              "bold: our best per column.", ""]
    if result["quick"]:
        lines += [f"Quick run: paper-protocol fits stop after {result['max_epochs']} epochs and the tuning "
                  "grid is reduced, so these figures are not the paper protocol's.", ""]
    for block in result["experiments"]:
        header = ["model"] + [f"w_{c}" for c in result["checkpoints"]]
        lines += [f"### {block['label']}", "", "| " + " | ".join(header) + " |",
                  "|" + "---|" * len(header)]
        measured = [row["mean"] for row in block["rows"] if row["implemented"]]
        best = np.min(measured, axis=0) if measured else None
        for row in block["rows"]:
            cells = [row["model"] + ("" if row["implemented"] else " (not implemented yet)")]
            for j in range(len(result["checkpoints"])):
                paper = "" if row["paper_text"] is None else f" [{row['paper_text'][j]}]"
                if not row["implemented"]:
                    cells.append("n/a" + paper)
                    continue
                ours = f"{_fmt(row['mean'][j])} ({_fmt(row['std'][j])})"
                if row["mean"][j] == best[j]:
                    ours = f"**{ours}**"
                cells.append(ours + paper)
            lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
        reference = block["paper_best"]
        tuned = next((row for row in block["rows"] if row["model"] == TUNED), None)
        if tuned is not None and reference is not None:
            at_or_below = int(np.sum(np.asarray(tuned["mean"]) <= np.asarray(reference)))
            lines += [f"Tuned row at or below the paper's best figure in {at_or_below} of "
                      f"{len(reference)} cells.", ""]
        if tuned is not None:
            choices = sorted(set(tuned["chosen"]), key=tuned["chosen"].index)
            lines += ["Tuned choice per trial: " + "; ".join(
                f"trial {k + 1}: {choice}" for k, choice in enumerate(tuned["chosen"]))
                if len(choices) > 1 else f"Tuned choice (every trial): {choices[0]}", ""]
    if result["table"] == "fig2":
        lines += ["![forecast vs true trajectories](fig2.png)", ""]
    lines.append(f"Run time: {result['seconds']:.0f} s.")
    return "\n".join(lines) + "\n"


def _atomic_write(path, write):
    """Write through a temporary file in the same folder, then rename: never a partly written file."""
    with atomic_output(path) as temporary, open(temporary, "wb") as stream:
        write(stream)


def check_output_folder(out):
    """Create ``out`` if needed and make sure files can be written there (a clear ValueError if not)."""
    try:
        os.makedirs(out, exist_ok=True)
        handle, probe = tempfile.mkstemp(dir=out, prefix=".probe-")
        os.close(handle)
        os.remove(probe)
    except OSError as exc:
        raise ValueError(f"cannot write results to --out {out!r}: {exc.strerror or exc}") from None


def _plot_fig2(result, path):
    """Draw forecast vs true trajectories (one panel per model). Returns False without matplotlib."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    block = result["experiments"][0]
    names = list(block["forecasts"])
    true = np.asarray(block["true"])
    n_in = result["n_input_steps"]
    fig, axes = plt.subplots(1, len(names), figsize=(3.6 * len(names), 3.2), sharey=True, squeeze=False)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    steps = np.arange(len(true))
    for ax, name in zip(axes[0], names):
        forecast = np.asarray(block["forecasts"][name])
        for j in range(true.shape[1]):
            ax.plot(steps, true[:, j], color=colors[j % len(colors)], linewidth=1.2,
                    label=f"w[{j}] true" if ax is axes[0][0] else None)
            ax.plot(steps[n_in:], forecast[:, j], color=colors[j % len(colors)], linestyle="--",
                    linewidth=1.2, label=f"w[{j}] forecast" if ax is axes[0][0] else None)
        ax.axvline(n_in - 1, color="grey", linewidth=0.8)
        ax.set_title(name)
        ax.set_xlabel("step")
    axes[0][0].set_ylabel("weight")
    fig.legend(loc="lower center", ncol=2 * true.shape[1], fontsize=8, frameon=False)
    fig.suptitle(f"{block['label']}, test sequence {block['sequence']} (seed {block['seed']}): "
                 f"inputs w_0..w_{n_in - 1} (left of the grey line), forecast w_{n_in}..w_{len(true) - 1} "
                 "(dashed)", fontsize=9)
    fig.tight_layout(rect=(0, 0.08, 1, 1))
    _atomic_write(path, lambda stream: fig.savefig(stream, format="png", dpi=110))
    plt.close(fig)
    return True


def write_outputs(result, out, command=None):
    """Write ``<table>.md`` and ``<table>.json`` (and ``fig2.png``) under ``out``; return the paths written."""
    check_output_folder(out)
    base = os.path.join(out, result["table"])
    markdown = format_markdown(result, command)
    _atomic_write(base + ".md", lambda stream: stream.write(markdown.encode()))
    _atomic_write(base + ".json", lambda stream: stream.write(json.dumps(result, indent=1).encode()))
    written = [base + ".md", base + ".json"]
    if result["table"] == "fig2":
        if _plot_fig2(result, base + ".png"):
            written.append(base + ".png")
        else:
            print("weightcast reproduce: matplotlib is not installed, so fig2.png was not drawn; "
                  "install it with: pip install 'weightcast[plot]'", file=sys.stderr)
    return written


# ---------------------------------------------------------------------------------------------- CLI
def _trials_argument(text):
    import argparse
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be an integer >= 1, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be an integer >= 1, got {value}")
    return value


def register(subparsers):
    parser = subparsers.add_parser(
        "reproduce", help="reproduce the paper's synthetic tables (2, 3, 5, 6) and Fig. 2",
        description="Generate the paper's synthetic weight sequences, fit every forecaster with the paper's "
                    "protocol plus a tuned linear farcaster, and print the table beside the paper's figures. "
                    "Writes TABLE.md and TABLE.json (and fig2.png) under --out.")
    parser.add_argument("table", choices=list(TABLES) + ["table4"],
                        help="which table or figure (table4 runs on a file from `weightcast record`)")
    parser.add_argument("--trials", type=_trials_argument, default=None,
                        help="trials (generator and model seeds 1..N); default 5, or 1 with --quick; "
                             "fig2 always uses trial 1")
    parser.add_argument("--quick", action="store_true",
                        help="a fast smoke run (under a minute): capped epochs, smaller tuning grid")
    parser.add_argument("--out", default="results", help="folder for the outputs (default: results)")
    parser.add_argument("--device", default="cpu", help="'cpu' (default), 'cuda' or 'auto'")
    parser.add_argument("--data", help="table4: the HDF5 file written by `weightcast record cnn|text`")
    parser.add_argument("--protocol", choices=["cnn", "text"], default="cnn",
                        help="table4: the paper's CNN protocol (10 runs) or text protocol (one run of 60 steps)")
    parser.set_defaults(func=_run)


def _run_table4(args):
    """Table 4 on recorded runs, streamed from the file (weightcast.reproduce.table4)."""
    from .table4 import format_table4, table4
    if args.data is None:
        raise ValueError("table4 needs --data FILE: record runs first with `weightcast record cnn -o FILE`")
    check_output_folder(args.out)
    say = None if args.quick else (lambda message: print(message, file=sys.stderr))
    rows = table4(args.data, args.protocol, device=args.device, log=say)
    text = (f"## Table 4 ({args.protocol}): MSE x 1e4 on the test runs, exact least squares\n\n"
            f"Command: `weightcast reproduce table4 --data {args.data} --protocol {args.protocol}`\n\n"
            + format_table4(rows) + "\n")
    base = os.path.join(args.out, "table4")
    _atomic_write(base + ".md", lambda stream: stream.write(text.encode()))
    _atomic_write(base + ".json", lambda stream: stream.write(json.dumps(rows, indent=1).encode()))
    print(text)
    return 0


def _run(args):
    if args.table == "table4":
        return _run_table4(args)
    trials = args.trials if args.trials is not None else (1 if args.quick else 5)
    trials = 1 if TABLES[args.table].figure else trials  # a figure shows one sequence of one trial
    resolve_device(args.device)
    check_output_folder(args.out)  # fail before the work, not after it
    command = " ".join(["weightcast reproduce", args.table, f"--trials {trials}"]
                       + (["--quick"] if args.quick else []) + ([f"--device {args.device}"]
                                                              if args.device != "cpu" else []))
    result = reproduce(args.table, trials=trials, quick=args.quick, device=args.device,
                       progress=not args.quick)
    written = write_outputs(result, args.out, command=command)
    print(format_markdown(result, command))
    print("Wrote " + ", ".join(written), file=sys.stderr)
    return 0
