"""Running a reproduced table: generate each trial's data, fit every row, measure the checkpoint MSE."""

import inspect
import sys
import time

import numpy as np
import torch
from sklearn.model_selection import ParameterGrid
from tqdm.auto import tqdm

from ..constraints import Integer
from ..datasets import make_syn1, make_syn2, split_sequences
from ..device import resolve_device
from ..metrics import PAPER_SCALE, checkpoint_mse
from . import catalogue
from .protocols import CHECKPOINTS, EXPERIMENTS, N_DEV, N_TRAIN, TABLES, check_table, paper_best
from .tuned import describe, tuned_search

__all__ = ["reproduce", "QUICK_TRIALS", "FULL_TRIALS"]

FULL_TRIALS, QUICK_TRIALS = 5, 1


def _generate(experiment, seed, with_loss):
    spec = EXPERIMENTS[experiment]
    make = make_syn1 if spec.family == "syn1" else make_syn2
    return make(spec.optimizer, seed=seed, return_loss=with_loss)


def _trial_data(experiment, table, seed):
    S = _generate(experiment, seed, table.with_loss)
    n_weights = (S[0] if table.with_loss else S).shape[2]
    if table.with_loss:
        S = np.concatenate([S[0], S[1][:, :, None]], axis=2)
    X, Y = split_sequences(S, table.n_input_steps)
    train, dev = slice(0, N_TRAIN), slice(N_TRAIN, N_TRAIN + N_DEV)
    test = slice(N_TRAIN + N_DEV, None)
    return {"X_train": X[train], "Y_train": Y[train], "X_dev": X[dev], "Y_dev": Y[dev],
            "X_test": X[test], "Y_test": Y[test], "n_weights": n_weights,
            "X_train_dev": X[:N_TRAIN + N_DEV], "Y_train_dev": Y[:N_TRAIN + N_DEV]}


def _fit_predict(estimator, data):
    """Fit on train (dev for early stopping when the estimator takes it), predict the test targets."""
    fit_params = {}
    if "validation_data" in inspect.signature(estimator.fit).parameters:
        fit_params["validation_data"] = (data["X_dev"], data["Y_dev"])
    estimator.fit(data["X_train"], data["Y_train"], **fit_params)
    return estimator.predict(data["X_test"], m=data["Y_test"].shape[1])


def reproduce(table, trials=FULL_TRIALS, quick=False, device="cpu", models=None, progress=False, max_epochs=None):
    """Run one of the paper's synthetic experiments and return its results as plain data.

    Parameters
    ----------
    table : {"table2", "table3", "table5", "table6", "fig2"}
    trials : int, default=5
        Trial k (1-based) uses generator seed k and model seed k; the paper reports 5.
    quick : bool, default=False
        A first look: only the paper's linear farcasters, FixedPoint and the tuned row (unless
        ``models`` names rows), and a smaller grid (3-fold cross-validation, fewer settings) for the
        tuned row. Every row is fitted with its full protocol either way (pass ``trials=1`` too for a
        fast run, as ``weightcast reproduce --quick`` does).
    device : str, default="cpu"
        Passed to every forecaster ("auto", "cpu", "cuda").
    models : list of str or None
        Only these rows (names in ``MODELS`` or "tuned"); None runs every model of the table.
    progress : bool, default=False
        Show a progress bar over the fits.
    max_epochs : int or None, default=None
        Cap every iterative fit at this many epochs (a smoke run: then the figures are not the
        protocols'); None keeps each model's own protocol.

    Returns
    -------
    result : dict
        JSON-ready: settings, and per experiment one row per model with our mean and std per
        checkpoint, every trial's figures and the paper's figures (for ``fig2``, trajectories).
    """
    check_table(table)
    Integer(low=1).check(trials, "trials")
    Integer(low=1, none=True).check(max_epochs, "max_epochs")
    resolve_device(device)
    # The problems are tiny: on a CPU, extra threads only add contention (20-40x slower on a busy 2-core box).
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return _reproduce(table, int(trials), quick, device, models, progress, max_epochs)
    finally:
        torch.set_num_threads(threads)


def _reproduce(table, trials, quick, device, models, progress, max_epochs):
    spec = TABLES[table]
    if spec.figure:
        trials = 1
    entries = catalogue.models_for(table, models, quick)
    with_tuned = models is None or catalogue.TUNED in models
    runnable = [entry for entry in entries if entry.factory is not None]
    if spec.figure and not (runnable or with_tuned):
        raise ValueError(f"{table} needs at least one implemented model; got models={models!r}")
    n_fits = len(spec.experiments) * trials * (len(runnable) + with_tuned)
    bar = tqdm(total=n_fits, desc=f"reproduce {table}", disable=not progress, file=sys.stderr)

    result = {"table": table, "title": spec.title, "checkpoints": list(CHECKPOINTS), "scale": PAPER_SCALE,
              "trials": trials, "quick": bool(quick), "device": device, "max_epochs": max_epochs,
              "n_input_steps": spec.n_input_steps, "experiments": [],
              "left_out": [entry.name for entry in catalogue.models_for(table, models) if entry not in entries]}
    started = time.perf_counter()
    for experiment in spec.experiments:
        rows = {entry.name: [] for entry in runnable}
        rows.update({catalogue.TUNED: []} if with_tuned else {})
        extra = {entry.name: {"seconds": 0.0} for entry in runnable}
        extra.update({catalogue.TUNED: {"seconds": 0.0, "chosen": []}} if with_tuned else {})
        forecasts = {}
        for trial in range(1, trials + 1 if runnable or with_tuned else 1):
            data = _trial_data(experiment, spec, seed=trial)
            n = data["n_weights"]
            estimators = [(entry.name, entry.factory(experiment, trial, device, max_epochs)) for entry in runnable]
            if with_tuned:
                search = tuned_search(spec.n_input_steps, n, quick, device, trial, with_loss=spec.with_loss,
                                      max_epochs=max_epochs)
                result["tuned_grid"] = {"settings": len(ParameterGrid(search.param_grid)),
                                        "folds": search.cv.get_n_splits()}
                estimators.append((catalogue.TUNED, search))
            for name, estimator in estimators:
                bar.set_postfix_str(f"{experiment} trial {trial} {name}")
                tick = time.perf_counter()
                if name == catalogue.TUNED:
                    estimator.fit(data["X_train_dev"], data["Y_train_dev"])
                    Y_pred = estimator.best_estimator_.predict(data["X_test"], m=data["Y_test"].shape[1])
                    extra[name]["chosen"].append(describe(estimator.best_params_))
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
            name = catalogue.TUNED if entry is None else entry.name
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
                 "paper_best": paper_best(table, experiment)}
        if spec.figure:
            block["sequence"] = N_TRAIN + N_DEV
            block["seed"] = 1
            block["true"] = np.concatenate([data["X_test"][0], data["Y_test"][0]])[:, :n].tolist()
            block["forecasts"] = forecasts
        result["experiments"].append(block)
    bar.close()
    result["seconds"] = time.perf_counter() - started
    return result
