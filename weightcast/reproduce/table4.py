"""Table 4 of the paper on recorded training runs: every model of the table on a real CNN and a text transformer.

Protocols (files written by ``weightcast record``):

* ``"cnn"``: 10 runs x 101 snapshots; runs 0-4 train, 5-6 dev (early stopping), 7-9 test; inputs w_0 .. w_10
  (11 steps), targets w_11 .. w_100; MSE at the absolute steps 20, 40, 80, 100.
* ``"text"``: one run of 60 snapshots; the window w_0 .. w_29 trains, w_30 .. w_59 tests; inputs the first
  5 snapshots of a window, targets the next 25; MSE at the 15th, 20th, 25th and 30th snapshot of the test
  window (1-based, as the paper counts; window positions 14, 19, 24, 29). There are no dev runs: the
  iterative fits monitor their training window for early stopping.

Every model is fitted on lazy views of the recording (:class:`weightcast.io.SequenceView`), so memory is
bounded by the slab, not by the parameter count. The test windows' input steps and checkpoint steps are copied
once into two small scratch files (the recording's chunks hold 16 steps, so reading a few steps from it reads
whole chunks); each model forecasts from the first into a temporary file (``predict(out=)``), and the
checkpoint MSE is computed from that file and the second slab by slab. Every slab is read through
:class:`weightcast.rows.RowReader`.

``sec/epoch`` is the wall time of the fit divided by the epochs it ran: one epoch is one pass of Adam steps
over the training windows plus the early-stopping evaluation (one-off passes, such as the exact warm start of
the paper solver or the evaluation before the first epoch, are spread over the epochs). For the exact solver
it is the fit time, one pass over the training windows.

With a ``time_budget``, each iterative fit is first timed for one epoch on the first slab of coordinates
(in memory); its epochs are then capped so that the fit fits the budget, and a model of which not even
one epoch fits is n/a, with the measured time.
"""

import os
import resource
import shutil
import tempfile
import time
from dataclasses import dataclass

import numpy as np
from sklearn.base import clone

from ..baselines import DLinearForecaster, IntrospectionForecaster, RMLPForecaster, WNNForecaster
from ..io.hdf5 import SequenceWriter, open_sequences
from ..linear import LFD2Forecaster, LFLForecaster, LFNForecaster, LFSForecaster
from ..metrics import PAPER_SCALE, checkpoint_mse
from ..rows import RowReader
from .protocols import DEFAULT_BETA, LFD2_LR, PAPER_LR

__all__ = ["PROTOCOLS", "MODELS", "PAPER_MODELS", "PAPER_TABLE4", "table4", "format_table4"]

# Each split is (sequences, first step of their window); checkpoints are window positions.
PROTOCOLS = {
    "cnn": dict(n_steps=101, n_in=11, window=101, train=((0, 1, 2, 3, 4), 0), dev=((5, 6), 0), test=((7, 8, 9), 0),
                checkpoints=(20, 40, 80, 100), labels=(20, 40, 80, 100), max_epochs=100),
    "text": dict(n_steps=60, n_in=5, window=30, train=((0,), 0), dev=None, test=((0,), 30),
                 checkpoints=(14, 19, 24, 29), labels=(15, 20, 25, 30), max_epochs=10),
}

# The paper's Table 4 (MSE x 1e4; None: "NA", the model failed for memory) and its sec/epoch column
# ("*": the model outputs a single time step).
PAPER_TABLE4 = {
    "Introspection": ((9.59, .646, 7.58, 1.68), (.229, .723, .264, .528), "1.28*"),
    "WNN": ((5.11, 10.9, 1.92, 7.40), None, ">10*"),
    "LFN": ((.183, .629, 1.37, 1.59), (.109, .0485, .147, .300), "6.75"),
    "DLinear": (None, None, ">10"),
    "LFS": ((.292, .749, 1.37, 1.78), (.664, .129, .0343, .146), "6.89"),
    "LFL": ((.179, .693, 1.39, 1.68), (.0764, .134, .377, .0288), "3.19"),
    "LFD-2": ((.137, .599, 1.29, 1.60), (.0955, .194, .0803, .00985), "9.42"),
}


@dataclass(frozen=True)
class Model:
    """A row of the table: ``build(solver, n_in, **common)`` makes the estimator; linear farcasters get one
    row per solver, the networks one ("adam")."""
    name: str
    build: object
    linear: bool
    note: str = ""


def _linear(cls, lr):
    def build(solver, n_in, max_epochs, **common):
        # "paper": L1 + beta L_grad by Adam at the paper's rate, warm-started from the exact solution,
        # patience 5; the paper's own start (nn.Linear's initialisation) needs thousands of epochs here.
        return cls(solver=solver, lr=lr, beta=DEFAULT_BETA, batch_size=32, patience=5, max_epochs=max_epochs,
                   validation_fraction=0.0, **common)
    return build


def _network(make):
    def build(solver, n_in, **common):
        return make(n_in, **common)
    return build


MODELS = {
    # The paper's rows, in its order; their settings are those of the synthetic tables (docs/baselines.md).
    "Introspection": Model("Introspection", _network(
        lambda n_in, **kw: IntrospectionForecaster(variant="linear", **kw)), False,
        "the paper's linear per-step form on [w_n, w_0.7n, w_0.4n, w_0]"),
    "WNN": Model("WNN", _network(lambda n_in, **kw: WNNForecaster(window=n_in, **kw)), False,
                 "every input step as its window, one output per target step"),
    "LFN": Model("LFN", _linear(LFNForecaster, PAPER_LR["LFN"]), True),
    "DLinear": Model("DLinear", _network(lambda n_in, **kw: RMLPForecaster(**kw)), False,
                     "the paper's RevIN + MLP model, which mixes coordinates"),
    "LFS": Model("LFS", _linear(LFSForecaster, PAPER_LR["LFS"]), True, "inputs [w_n, w_0.7n, w_0.4n, w_0]"),
    "LFL": Model("LFL", _linear(LFLForecaster, PAPER_LR["LFL"]), True),
    "LFD-2": Model("LFD-2", _linear(LFD2Forecaster, LFD2_LR["syn2-adam"]), True),
    # Extra rows, not in the paper's table.
    "DLinear-CI": Model("DLinear-CI", _network(lambda n_in, **kw: RMLPForecaster(channel_mixing=False, **kw)),
                        False, "extra: the paper's DLinear without its coordinate MLP (channel independent)"),
    "DLinear-decomposition": Model("DLinear-decomposition", _network(lambda n_in, **kw: DLinearForecaster(**kw)),
                                   False, "extra: the real DLinear (moving-average trend + remainder)"),
}
PAPER_MODELS = tuple(name for name in MODELS if name in PAPER_TABLE4)


def _check_file(weights, protocol, name):
    """The protocol's sequences and steps of the view ``weights``, every one of them recorded."""
    splits = [spec for spec in (protocol["train"], protocol["dev"], protocol["test"]) if spec]
    needed = max(max(seqs) for seqs, _ in splits) + 1
    if weights.shape[0] < needed or weights.shape[1] < protocol["n_steps"]:
        raise ValueError(f"{weights.path} holds {weights.shape[0]} sequence(s) x {weights.shape[1]} steps; "
                         f"the {name} protocol needs {needed} x {protocol['n_steps']}")
    used = weights[:needed, :protocol["n_steps"]]
    short = used.incomplete_sequences.tolist()
    if short:  # each run has its role in the protocol (train, dev, test): none can be skipped
        raise ValueError(f"{weights.path}: sequence(s) {short} were not recorded to the end (a killed or unfinished "
                         f"run); the {name} protocol needs sequences 0-{needed - 1} with {protocol['n_steps']} steps "
                         "each: record them again")
    return used


def _windows(weights, split, n_in, window):
    """Lazy views (X, Y) of the split's windows: the first ``n_in`` steps and the rest (nothing is read)."""
    seqs, start = split
    runs = weights[list(seqs)]
    return runs[:, start:start + n_in], runs[:, start + n_in:start + window]


def _peak_rss_gib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 20  # KiB on Linux


def _history_summary(history):
    """First and last training / validation loss and the best epoch, from an estimator's ``history_``."""
    if not history:
        return None
    val = [h["validation_loss"] for h in history]
    lowest = int(np.argmin(val))
    return dict(first_train_loss=history[0]["train_loss"], last_train_loss=history[-1]["train_loss"],
                first_validation_loss=val[0], last_validation_loss=val[-1], lowest_validation_loss=val[lowest],
                lowest_validation_epoch=history[lowest]["epoch"])


def _mixer_memory(estimator, n_params):
    """Why the paper's DLinear cannot run here: the size of its MLP over coordinates
    (n_params -> hidden -> n_params, biases included)."""
    weights = 2 * n_params * estimator.hidden_size + estimator.hidden_size + n_params
    return (f"its MLP over the {n_params:,} coordinates would hold {weights:,} weights: "
            f"{_gib(weights * 4)} GiB in float32, {_gib(weights * 16)} GiB with Adam's gradient and two moments, "
            "before activations")


def _gib(n_bytes):
    value = n_bytes / 2 ** 30
    return f"{value:,.1f}" if value >= 1 else f"{value:.2g}"


def _scratch_space(directory, n_bytes):
    free = shutil.disk_usage(directory).free
    if free < n_bytes * 1.05:
        raise ValueError(f"the test windows and each forecast of them are written to temporary files of "
                         f"{n_bytes / 2 ** 30:.1f} GiB in all in {directory}, which has only {free / 2 ** 30:.1f} GiB "
                         "free: give scratch_dir (the CLI's --scratch-dir) or TMPDIR a folder with more space")


def table4(path, protocol="cnn", models=None, solvers=("lstsq",), max_epochs=None, slab_size=131072, device="auto",
           random_state=0, scratch_dir=None, time_budget=None, log=None):
    """Fit each model of Table 4 on a recorded file with the paper's protocol and score it.

    Parameters
    ----------
    path : str or Path
        A file written by ``weightcast record cnn`` (protocol ``"cnn"``) or ``record text`` (``"text"``).
    protocol : {"cnn", "text"}
    models : sequence of str or None
        Keys of :data:`MODELS`; None: the paper's seven rows and the extra ones.
    solvers : sequence of {"lstsq", "paper"}
        Each linear farcaster is fitted with each solver ("lstsq": exact least squares, one pass; "paper":
        L1 + beta L_grad by Adam from the exact start, early stopping with patience 5).
    max_epochs : int or None
        Cap on the epochs of every iterative fit (paper solver and networks); None: the protocol's cap
        (100 for the CNN, 10 for the text run, whose epochs each pass over every one of its parameters).
    slab_size : int
        Parameters read at a time when fitting and scoring (memory is bounded by it).
    scratch_dir : str or None
        Where the temporary forecast files go (default: the system's temporary folder).
    time_budget : float or None
        Seconds allowed for each iterative fit (None: no limit). One epoch on the first slab of coordinates
        is timed first; the epochs are capped to fit the budget, or the row is n/a with the measured time.

    Returns
    -------
    rows : list of dict
        ``model``, ``solver``, ``mse`` (x1e4 at each checkpoint, or None), ``na`` (why not, or None),
        ``fit_seconds``, ``epochs``, ``sec_per_epoch``, ``predict_seconds``, ``history`` (loss summary),
        ``peak_rss_gib`` (of the process so far), ``checkpoints`` (labels), ``estimator`` (its repr),
        ``epoch_cap`` (the cap on the epochs of an iterative fit) and ``probe`` (the timing that set it, or None).
    """
    if protocol not in PROTOCOLS:
        raise ValueError(f"unknown protocol {protocol!r}; choose one of {sorted(PROTOCOLS)}")
    if time_budget is not None and not time_budget > 0:
        raise ValueError(f"time_budget must be a number of seconds > 0, got {time_budget!r}")
    models = tuple(MODELS) if models is None else tuple(models)
    unknown = [m for m in models if m not in MODELS]
    if unknown:
        raise ValueError(f"unknown model(s) {unknown}; choose from {list(MODELS)}")
    unknown = [s for s in solvers if s not in ("lstsq", "paper")]
    if unknown:
        raise ValueError(f"unknown solver(s) {unknown}; choose from ['lstsq', 'paper']")
    spec = PROTOCOLS[protocol]
    max_epochs = spec["max_epochs"] if max_epochs is None else max_epochs
    say = log or (lambda message: None)
    # open_sequences refuses truncated or damaged files; _check_file refuses runs that stop short
    weights = _check_file(open_sequences(path), spec, protocol)
    n_in, window = spec["n_in"], spec["window"]
    X, Y = _windows(weights, spec["train"], n_in, window)
    dev = _windows(weights, spec["dev"], n_in, window) if spec["dev"] else None
    n_params = weights.shape[2]
    columns = np.asarray(spec["checkpoints"]) - n_in  # of the forecast
    # scratch files: the test inputs and checkpoints (kept), and one model's forecast at a time
    per_step = len(spec["test"][0]) * n_params * np.dtype(weights.dtype).itemsize
    forecast_bytes = per_step * (window - n_in)
    scratch = tempfile.mkdtemp(prefix="weightcast-table4-", dir=scratch_dir)
    say(f"{protocol} protocol on {path}: {len(spec['train'][0])} training window(s) of {n_in} + {window - n_in} "
        f"steps x {n_params:,} parameters; every iterative fit capped at {max_epochs} epochs; forecasts go to "
        f"{scratch} ({forecast_bytes / 2 ** 30:.2f} GiB each, deleted after scoring)")
    common = dict(slab_size=slab_size, device=device, random_state=random_state)
    rows = []
    test = None
    try:
        _scratch_space(scratch, forecast_bytes + per_step * (n_in + len(columns)))
        test = _test_copies(weights, spec, scratch, slab_size)
        for name in models:
            model = MODELS[name]
            for solver in (solvers if model.linear else ("adam",)):
                estimator = model.build(solver, n_in, max_epochs=max_epochs, **common)
                probe = None
                if time_budget is not None and solver != "lstsq":
                    probe = _probe(estimator, X, Y, dev, slab_size, time_budget)
                say(f"{name} ({solver}): {estimator!r}" + (f"; {probe['text']}" if probe else ""))
                if probe is not None and probe["epochs"] == 0:
                    row = _not_run(estimator, name, solver, spec, probe)
                else:
                    if probe is not None:
                        estimator.set_params(max_epochs=probe["epochs"])
                    row = _run(estimator, name, solver, X, Y, dev, test, columns, spec, scratch, weights.path,
                               slab_size)
                row.update(epoch_cap=None if solver == "lstsq" else estimator.max_epochs, probe=probe)
                if row["na"] and isinstance(estimator, RMLPForecaster) and estimator.channel_mixing:
                    row["na"] += "; " + _mixer_memory(estimator, n_params)
                rows.append(row)
                _log_row(say, row)
    finally:
        weights.close()
        for view in test or ():
            view.close()
        shutil.rmtree(scratch, ignore_errors=True)
    return rows


def _log_row(say, row):
    say(format_table4([row], header=False) + f"  (peak RSS so far {row['peak_rss_gib']:.2f} GiB)")
    h = row["history"]
    if h:
        say(f"  {row['model']} ({row['solver']}): over {row['epochs']} epochs the training loss went "
            f"{h['first_train_loss']:.4g} -> {h['last_train_loss']:.4g}, the monitored loss "
            f"{h['first_validation_loss']:.4g} -> {h['last_validation_loss']:.4g} (lowest "
            f"{h['lowest_validation_loss']:.4g}, epoch {h['lowest_validation_epoch']}; the fit keeps the weights "
            "with the lowest, its start included)")
    if row["na"]:
        say(f"  {row['model']}: n/a: {row['na']}")


def _test_copies(weights, spec, scratch, slab_size):
    """The test windows' input steps and their steps at the checkpoints, copied into scratch files whose chunks
    hold all of their steps and one slab of parameters (views of them). Both are read together, one slab at a
    time (each chunk of the recording once), and checked: a bad value is named in the recording."""
    seqs, start = spec["test"]
    n_in, positions = spec["n_in"], np.asarray(spec["checkpoints"])
    runs = weights[list(seqs)]
    reader = RowReader(runs[:, start:start + n_in], runs[:, start + positions], slab_size=slab_size,
                       names=("the test window", "the test window"))
    paths = [os.path.join(scratch, name) for name in ("test-inputs.h5", "test-checkpoints.h5")]
    layout = dict(chunk_params=reader.slabs[0].size, dtype=weights.dtype)
    with SequenceWriter(paths[0], len(seqs), weights.shape[2], n_steps=n_in, chunk_steps=n_in, **layout) as inputs, \
            SequenceWriter(paths[1], len(seqs), weights.shape[2], n_steps=len(positions), chunk_steps=len(positions),
                           **layout) as targets:
        for slab, x, y in reader.blocks():
            inputs.write_slab(slab.slice, x)
            targets.write_slab(slab.slice, y)
    return open_sequences(paths[0]), open_sequences(paths[1])


def _checkpoint_mse(forecast, targets, columns, slab_size):
    """MSE x1e4 of the forecast's ``columns`` against ``targets`` (the true values there), slab by slab."""
    predicted = forecast[:, columns]
    try:
        return checkpoint_mse(targets, predicted, np.arange(1, len(columns) + 1), n_input_steps=1, scale=PAPER_SCALE,
                              slab_size=slab_size)
    finally:
        predicted.close()


def _probe(estimator, X, Y, dev, slab_size, time_budget):
    """Time one epoch of ``estimator`` on the first slab of coordinates and scale it to all of them: the epochs
    that fit in ``time_budget`` seconds (at most the estimator's own cap)."""
    n_params = X.shape[2]
    k = min(n_params, slab_size)

    def one_epoch(width):
        """Seconds of a one-epoch fit on the first ``width`` coordinates, read into memory beforehand."""
        first = [view.read_block(params=slice(0, width)) for view in (X, Y)]
        extra = {"validation_data": [view.read_block(params=slice(0, width)) for view in dev]} if dev else {}
        started = time.perf_counter()
        clone(estimator).set_params(max_epochs=1).fit(*first, **extra)
        return time.perf_counter() - started

    try:
        one_epoch(min(k, 1024))  # untimed: the one-off costs of a first fit
        seconds = one_epoch(k)
    except (ValueError, RuntimeError, MemoryError):
        return dict(seconds=None, epoch_seconds=None, epochs=estimator.max_epochs,
                    text="the one-epoch timing failed; the fit itself will say why")
    epoch_seconds = seconds * n_params / k
    epochs = int(min(estimator.max_epochs, time_budget // epoch_seconds))
    text = (f"one epoch on the first {k:,} coordinates took {seconds:.1f} s, so about {_duration(epoch_seconds)} per "
            f"epoch over all {n_params:,}; a time budget of {_duration(time_budget)} allows {epochs} of the cap of "
            f"{estimator.max_epochs} epochs")
    return dict(seconds=seconds, epoch_seconds=epoch_seconds, epochs=epochs, text=text)


def _not_run(estimator, name, solver, spec, probe):
    return dict(model=name, solver=solver, mse=None, fit_seconds=None, epochs=None, sec_per_epoch=None,
                predict_seconds=None, history=None, checkpoints=list(spec["labels"]), estimator=repr(estimator),
                peak_rss_gib=_peak_rss_gib(),
                na=f"not run: {probe['text']}")


def _duration(seconds):
    return f"{seconds:.0f} s" if seconds < 120 else (f"{seconds / 60:.0f} min" if seconds < 7200 else
                                                     f"{seconds / 3600:.1f} h")


def _run(estimator, name, solver, X, Y, dev, test, columns, spec, scratch, data_path, slab_size):
    """Fit, forecast into a temporary file and score one row; a failure of the model makes the row n/a."""
    row = dict(model=name, solver=solver, mse=None, na=None, fit_seconds=None, epochs=None, sec_per_epoch=None,
               predict_seconds=None, history=None, checkpoints=list(spec["labels"]), estimator=repr(estimator))
    iterative = solver != "lstsq"
    started = time.perf_counter()
    try:
        estimator.fit(X, Y, **({"validation_data": dev} if dev is not None and iterative else {}))
    except (ValueError, RuntimeError, MemoryError) as exc:
        if data_path in str(exc):  # an error about the recording (a bad value, a failed read) stops the table
            raise
        row.update(na=f"{type(exc).__name__}: {exc}", peak_rss_gib=_peak_rss_gib())
        return row
    row["fit_seconds"] = time.perf_counter() - started
    row["epochs"] = int(getattr(estimator, "n_epochs_", 0))
    row["sec_per_epoch"] = row["fit_seconds"] / row["epochs"] if iterative and row["epochs"] else row["fit_seconds"]
    row["history"] = _history_summary(getattr(estimator, "history_", None))
    started = time.perf_counter()
    inputs, targets = test
    forecast = estimator.predict(inputs, out=os.path.join(scratch, f"{name}-{solver}.h5"))
    try:
        mse = _checkpoint_mse(forecast, targets, columns, slab_size)
    finally:
        forecast.close()
        os.remove(forecast.path)
    row.update(mse=mse.tolist(), predict_seconds=time.perf_counter() - started, peak_rss_gib=_peak_rss_gib())
    return row


def _figures(values):
    return " / ".join(f"{v:.3g}" for v in values) if values is not None else "NA"


def format_table4(rows, header=True, protocol=None):
    """A markdown table: one row per (model, solver), MSE x1e4 at each checkpoint or n/a, sec/epoch, epochs and
    fit seconds; with ``protocol``, the paper's figures beside ours."""
    lines = []
    paper = {"cnn": 0, "text": 1}.get(protocol)
    if header and rows:
        labels = rows[0]["checkpoints"]
        extra = " paper (MSE x1e4) |" if paper is not None else ""
        lines.append("| model | solver | " + " | ".join(f"w_{c}" for c in labels) + " | sec/epoch | epochs | fit s |"
                     + extra)
        lines.append("|---|---|" + "---|" * len(labels) + "---|---|---|" + ("---|" if extra else ""))
    shown = set()
    for row in rows:
        if row["mse"] is None:
            cells = " | ".join(["n/a"] * len(row["checkpoints"]))
            timing = "n/a | n/a | n/a"
        else:
            cells = " | ".join(f"{value:.4g}" for value in row["mse"])
            timing = f"{row['sec_per_epoch']:.3g} | {row['epochs']} | {row['fit_seconds']:.1f}"
        line = f"| {row['model']} | {row['solver']} | {cells} | {timing} |"
        if paper is not None:
            figures = PAPER_TABLE4.get(row["model"])
            first = row["model"] not in shown
            shown.add(row["model"])
            line += (f" {_figures(figures[paper])} ({figures[2]} s/epoch) |" if figures and first
                     else (" (not in the paper) |" if first else " |"))
        lines.append(line)
    return "\n".join(lines)
