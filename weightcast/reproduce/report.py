"""The reproduced tables as Markdown, ours beside the paper's figures."""

import numpy as np

from .catalogue import TUNED

__all__ = ["format_markdown", "format_value"]


def format_value(value):
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


def _settings(result):
    """What the figures are: how many trials, and what a quick or capped run changed."""
    if result["trials"] == 1:
        ours = "ours: one trial (so no std)"
    else:
        ours = f"ours: mean (std) over {result['trials']} trials"
    lines = [f"MSE x 1e4 on the 50 test sequences at steps {', '.join(map(str, result['checkpoints']))}; "
             f"{ours}, paper's figure (mean (std) over 5 trials) in brackets; bold: our best per column.", ""]
    if result["quick"]:
        grid = result.get("tuned_grid")
        size = f" ({grid['settings']} settings, {grid['folds']}-fold cross-validation)" if grid else ""
        left_out = result.get("left_out")
        rows = f"; rows left out: {', '.join(left_out)} (run without --quick for them)" if left_out else ""
        trials = "one trial" if result["trials"] == 1 else f"{result['trials']} trials"
        lines += [f"Quick run: {trials}, a smaller grid for the tuned row{size}{rows}. Every row shown is "
                  "fitted with its full protocol.", ""]
    if result.get("max_epochs") is not None:
        lines += [f"Iterative fits stop after at most {result['max_epochs']} epochs, so these figures are "
                  "not the protocols'.", ""]
    return lines


def format_markdown(result, command=None):
    """The result as Markdown: one table per experiment, ours ("mean (std)", or the value of a single
    trial) beside the paper's figure."""
    lines = [f"## {result['title']}", ""]
    if command:
        lines += [f"Command: `{command}`", ""]
    lines += _settings(result)
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
                ours = format_value(row["mean"][j])
                if result["trials"] > 1:
                    ours += f" ({format_value(row['std'][j])})"
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
            if len(choices) > 1:
                lines += ["Tuned choice per trial: " + "; ".join(
                    f"trial {k + 1}: {choice}" for k, choice in enumerate(tuned["chosen"])), ""]
            else:
                every = " (every trial)" if len(tuned["chosen"]) > 1 else ""
                lines += [f"Tuned choice{every}: {choices[0]}", ""]
    if result["table"] == "fig2":
        lines += ["![forecast vs true trajectories](fig2.png)", ""]
    lines.append(f"Run time: {result['seconds']:.0f} s.")
    return "\n".join(lines) + "\n"
