"""``weightcast plot``: look at a few coordinates of a run, and at a model's forecast of it.

    weightcast plot DATA -o plot.png [--model MODEL] [--sequence 0] [--params 3 17 | --sample 4]

Without a model: the recorded trajectories of the chosen coordinates. With a model: the same, with the
forecast (dashed) from the model's input steps on, and a second panel with the forecast's MSE over every
parameter of the run at each step, the checkpoints marked. Needs matplotlib (the ``plot`` extra).
"""

from ._common import DATA_FILES, HelpFormatter, add_dataset, default_checkpoints, parse_checkpoints

__all__ = ["register", "run", "plot_file"]

MISSING_MATPLOTLIB = "drawing needs matplotlib, which is not installed: pip install 'weightcast[plot]'"


def register(subparsers):
    parser = subparsers.add_parser(
        "plot", formatter_class=HelpFormatter, help="draw a run's trajectories (and a model's forecast) as a PNG",
        description="Draw the recorded trajectories of a few coordinates of one run; with --model, also its "
                    "forecast and the forecast's error at each step. Writes a PNG (needs matplotlib: "
                    "pip install 'weightcast[plot]').")
    parser.add_argument("data", help=f"runs (n_sequences, n_steps, n_params): {DATA_FILES}")
    parser.add_argument("-o", "--out", required=True, metavar="PNG", help="image file to write")
    parser.add_argument("--model", default=None,
                        help="a model file: add its forecast of the run and the error panel (default: none)")
    parser.add_argument("--sequence", type=int, default=0, help="which run (sequence index)")
    parser.add_argument("--params", type=int, nargs="+", default=None, metavar="INDEX",
                        help="flat parameter indices to draw (default: --sample of them at random)")
    parser.add_argument("--sample", type=int, default=4, help="how many coordinates to draw at random")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random choice of coordinates")
    parser.add_argument("--checkpoints", type=parse_checkpoints, nargs="+", default=None, metavar="STEP",
                        help="steps marked in the error panel (default: four steps spread over the forecast)")
    add_dataset(parser)
    parser.add_argument("--device", default=None, help="auto, cpu or cuda (default: the model's own device setting)")
    parser.set_defaults(func=run)


def _choose_params(n_params, params, sample, seed):
    import numpy as np

    from ..constraints import Integer

    if params is not None:
        bad = [p for p in params if not 0 <= p < n_params]
        if bad:
            raise ValueError(f"--params {bad} out of range: the runs have {n_params} parameters (0..{n_params - 1})")
        return list(dict.fromkeys(params))
    Integer(low=1).check(sample, "--sample")
    if n_params <= sample:
        return list(range(n_params))
    return sorted(np.random.default_rng(seed).choice(n_params, size=sample, replace=False).tolist())


def _labels(path, dataset, params):
    """``tensor[index]`` labels when the file names its parameters (a recording), else ``w[p]``."""
    from pathlib import Path

    import numpy as np

    if Path(path).suffix.lower() not in (".h5", ".hdf5"):
        return [f"w[{p}]" for p in params]
    from ..io.hdf5 import DEFAULT_DATASET, read_metadata

    layout = read_metadata(path, dataset or DEFAULT_DATASET)
    names, shapes = layout["param_names"], layout["param_shapes"]
    if names is None or shapes is None:
        return [f"w[{p}]" for p in params]
    offsets = np.cumsum([0] + [int(np.prod(shape)) for shape in shapes])
    labels = []
    for p in params:
        k = int(np.searchsorted(offsets, p, side="right") - 1)
        within = np.unravel_index(p - offsets[k], shapes[k]) if shapes[k] else ()
        labels.append(f"{names[k]}[{', '.join(map(str, within))}]")
    return labels


def _read_run(S, sequence, steps, params):
    """``S[sequence, steps, params]`` reading only those coordinates from a lazy file."""
    import numpy as np

    if hasattr(S, "read_block"):
        run = S[sequence:sequence + 1, steps]
        return np.concatenate([run.read_block(params=slice(p, p + 1))[0] for p in params], axis=1)
    return np.asarray(S[sequence, steps][:, params])


def plot_file(data, out, model=None, sequence=0, params=None, sample=4, seed=0, checkpoints=None, dataset=None,
              device=None):
    """Draw the PNG of ``weightcast plot``; returns what it drew as plain data."""
    import numpy as np

    from ..io.atomic import atomic_output
    from ..io.files import read_data
    from ..metrics import checkpoint_mse

    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise ValueError(MISSING_MATPLOTLIB) from None
    if not str(out).lower().endswith(".png"):
        raise ValueError(f"--out {str(out)!r}: the plot is a PNG image, name it *.png")
    S = read_data(data, dataset)
    if np.ndim(S) == 2:
        S = np.asarray(S)[:, :, None]
    if np.ndim(S) != 3:
        raise ValueError(f"{str(data)!r} has shape {np.shape(S)}: expected runs (n_sequences, n_steps, n_params)")
    n_seq, n_steps, n_params = np.shape(S)
    if not 0 <= sequence < n_seq:
        raise ValueError(f"--sequence {sequence} out of range: {str(data)!r} holds {n_seq} run(s)")
    params = _choose_params(n_params, params, sample, seed)
    labels = _labels(data, dataset, params)
    true = _read_run(S, sequence, slice(None), params)                    # (n_steps, len(params))
    drawn = {"sequence": sequence, "params": params, "labels": labels}

    estimator = None
    if model is not None:
        from .predict import load_forecaster
        estimator = load_forecaster(model, device)
        n_in = estimator.n_features_in_
        m = min(estimator.horizon_, n_steps - n_in)
        if m < 1:
            raise ValueError(f"the runs in {str(data)!r} have {n_steps} steps: no step after the model's {n_in} "
                             "input steps to compare a forecast with")
        forecast = estimator.predict(S[sequence:sequence + 1, :n_in], m=m).reshape(1, m, n_params)
        truth = np.asarray(S[sequence:sequence + 1, n_in:n_in + m]).reshape(1, m, n_params)
        steps = np.arange(n_in, n_in + m)
        per_step = checkpoint_mse(truth, forecast, steps, n_in)
        checkpoints = default_checkpoints(n_in, m) if checkpoints is None else sorted(set(checkpoints))
        outside = [c for c in checkpoints if not n_in <= c < n_in + m]
        if outside:
            raise ValueError(f"checkpoint(s) {outside} are outside the forecast w_{n_in}..w_{n_in + m - 1}")
        drawn.update(n_input_steps=int(n_in), checkpoints=checkpoints,
                     mse=per_step[np.asarray(checkpoints) - n_in].tolist())

    fig, axes = plt.subplots(1, 2 if estimator is not None else 1, figsize=(11 if estimator is not None else 6.5, 4),
                             squeeze=False)
    ax = axes[0][0]
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for j, label in enumerate(labels):
        color = colors[j % len(colors)]
        ax.plot(np.arange(n_steps), true[:, j], color=color, linewidth=1.2, label=f"{label}")
        if estimator is not None:
            ax.plot(steps, forecast[0, :, params[j]], color=color, linestyle="--", linewidth=1.2)
    ax.set_xlabel("step")
    ax.set_ylabel("weight")
    title = f"run {sequence} of {data}"
    if estimator is not None:
        ax.axvspan(0, n_in - 1, color="grey", alpha=0.15, linewidth=0)
        title += f"\nrecorded (solid), {type(estimator).__name__} forecast (dashed) from w_0..w_{n_in - 1} (shaded)"
        err = axes[0][1]
        err.semilogy(steps, np.maximum(per_step, np.finfo(float).tiny), color="black", linewidth=1.2)
        err.plot(checkpoints, np.maximum(per_step[np.asarray(checkpoints) - n_in], np.finfo(float).tiny), "o",
                 color="tab:red")
        for c in checkpoints:
            err.annotate(f"w_{c}: {per_step[c - n_in]:.3g}", (c, per_step[c - n_in]), textcoords="offset points",
                         xytext=(-4, 6), ha="right", fontsize=8)
        err.margins(x=0.08, y=0.12)  # room for the labels of the first and last checkpoints
        err.set_xlabel("step")
        err.set_ylabel(f"MSE over the {n_params:,} parameters")
        err.set_title("forecast error at each step (checkpoints marked)", fontsize=9)
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=8, frameon=False)
    fig.tight_layout()
    with atomic_output(out) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)
    return drawn


def run(args):
    drawn = plot_file(args.data, args.out, args.model, args.sequence, args.params, args.sample, args.seed,
                      args.checkpoints, args.dataset, args.device)
    what = ", ".join(drawn["labels"])
    print(f"drew run {drawn['sequence']} ({what}) to {args.out}")
    return 0
