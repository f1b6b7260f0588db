"""Files of a reproduced table: Markdown, JSON and the Fig. 2 PNG, each written atomically."""

import json
import os
import sys
import tempfile

import numpy as np

from ..io.atomic import atomic_output
from .report import format_markdown

__all__ = ["check_output_folder", "write_outputs", "write_file"]


def write_file(path, data):
    """Write ``data`` (bytes, or a function of a binary stream) through a temporary file in the same
    folder, then rename: never a partly written file."""
    with atomic_output(path) as temporary, open(temporary, "wb") as stream:
        if callable(data):
            data(stream)
        else:
            stream.write(data)


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
    write_file(path, lambda stream: fig.savefig(stream, format="png", dpi=110))
    plt.close(fig)
    return True


def write_outputs(result, out, command=None):
    """Write ``<table>.md`` and ``<table>.json`` (and ``fig2.png``) under ``out``; return the paths written."""
    check_output_folder(out)
    base = os.path.join(out, result["table"])
    write_file(base + ".md", format_markdown(result, command).encode())
    write_file(base + ".json", json.dumps(result, indent=1).encode())
    written = [base + ".md", base + ".json"]
    if result["table"] == "fig2":
        if _plot_fig2(result, base + ".png"):
            written.append(base + ".png")
        else:
            print("weightcast reproduce: matplotlib is not installed, so fig2.png was not drawn; "
                  "install it with: pip install 'weightcast[plot]'", file=sys.stderr)
    return written
