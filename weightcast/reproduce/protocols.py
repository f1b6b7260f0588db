"""The paper's synthetic protocols and its published figures: plain data, no model and no torch.

Split by sequence: 0-99 train, 100-149 dev (early stopping), 150-199 test; inputs w_0 .. w_20 (Table 6:
w_0, w_1), targets every later step up to w_200; MSE x 1e4 at the checkpoints 40, 80, 160, 200,
mean (std, ddof 0) over trials; trial k uses generator seed k and model seed k.
"""

import re
from dataclasses import dataclass

__all__ = ["CHECKPOINTS", "N_TRAIN", "N_DEV", "EXPERIMENTS", "TABLES", "PAPER_FIGURES", "LFD2_LR", "PAPER_LR",
           "PAPER_BETA", "DEFAULT_BETA", "LFS_STEPS", "paper_best", "check_table"]

CHECKPOINTS = (40, 80, 160, 200)
N_TRAIN, N_DEV = 100, 50  # then 50 test sequences


@dataclass(frozen=True)
class Experiment:
    label: str
    family: str      # "syn1" or "syn2"
    optimizer: str


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

# The authors' training settings: Adam learning rates (LFD-2's per experiment) and beta.
LFD2_LR = {"syn1-gd": 0.004, "syn1-sgd": 0.006, "syn2-sgd": 0.0055, "syn2-adam": 0.004}
PAPER_LR = {"LFN": 0.001, "LFS": 0.005, "LFL": 0.005, "LFD-2": LFD2_LR}
PAPER_BETA = {"syn1-gd": 1e-4}
DEFAULT_BETA = 1e-6
# The authors' LFS code reads [w_t, w_0.7t, w_0.4t, w_0] with t = 15.
LFS_STEPS = (0, 6, 10, 15)


def _paper(text):
    """Parse the paper's cells, e.g. ``".207(.021) 4.39(.39)"``, into (means, stds, cells as printed)."""
    cells = re.findall(r"([\d.]+)\s*\(([\d.]+)\)", text)
    return (tuple(float(mean) for mean, _ in cells), tuple(float(std) for _, std in cells),
            tuple(f"{mean} ({std})" for mean, std in cells))


def _figures(table, **cells):
    return {(table, experiment.replace("_", "-")): _paper(text) for experiment, text in cells.items()}


# model -> {(table, experiment): (means, stds, cells as printed)}, MSE x 1e4 at CHECKPOINTS.
PAPER_FIGURES = {
    "Introspection": {
        **_figures("table2", syn1_gd=".222(.023) 4.63(.41) 45.1(3.8) 405(724)",
                   syn1_sgd="12.8(1.6) 61.4(13.7) 219(48) 307(45)"),
        **_figures("table3", syn2_sgd="13.0(.8) 55.6(40.3) 158(51) 234(50)",
                   syn2_adam="12.5(4.9) 53.1(19.9) 85.3(21.4) 104(39)")},
    "WNN": {
        **_figures("table2", syn1_gd="1.75(1.76) 15.9(8.2) 213(62) 278(60)",
                   syn1_sgd="14.1(.6) 71.8(14.8) 270(29) 412(60)"),
        **_figures("table3", syn2_sgd="1.30(.20) 21.9(2.0) 109(8) 176(66)",
                   syn2_adam="4.52(3.53) 9.27(2.26) 44.4(27.9) 74.0(47.8)")},
    "LFN": {
        **_figures("table2", syn1_gd=".619(.561) 5.11(1.18) 43.8(4.5) 92.4(12.0)",
                   syn1_sgd="12.7(2.0) 61.7(9.8) 212(25) 339(44)"),
        **_figures("table3", syn2_sgd="2.20(.50) 25.6(3.50) 123(13) 173(20)",
                   syn2_adam="7.88(3.42) 42.6(19.8) 103(25) 129(30)")},
    "DLinear": {
        **_figures("table2", syn1_gd=".715(.119) 5.72(.42) 48.1(3.9) 81.8(6.8)",
                   syn1_sgd="14.2(2.3) 68.6(13.6) 221(43) 302(53)"),
        **_figures("table3", syn2_sgd="4.99(.21) 31.6(2.3) 126(9) 168(13)",
                   syn2_adam="2.60(.25) 12.7(.9) 37.2(3.4) 45.6(4.9)")},
    "LFS": {
        **_figures("table2", syn1_gd=".373(.062) 5.34(.65) 60.3(18.7) 205(112)",
                   syn1_sgd="103(118) 513(536) 1557(1517) 2025(1917)"),
        **_figures("table3", syn2_sgd="5.41(4.59) 43.0(22.0) 166(37) 207(39)",
                   syn2_adam="11.1(5.3) 54.7(13.6) 108(22) 122(24)")},
    "LFL": {
        **_figures("table2", syn1_gd="193(23) 1337(257) 3787(353) 4594(181)",
                   syn1_sgd="177(10) 1241(186) 3615(203) 4667(345)"),
        **_figures("table3", syn2_sgd="8.97(.49) 61.7(5.5) 195(22) 243(27)",
                   syn2_adam="7.68(1.86) 43.2(9.7) 101(16) 117(17)")},
    "LFD-2": {
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
                   syn2_adam="14.5(2.6) 72.5(15.2) 163(27) 186(29)")},
}


def paper_best(table, experiment):
    """Per checkpoint, the lowest figure the paper reports for any model in this table and experiment."""
    figures = [cells[(table, experiment)][0] for cells in PAPER_FIGURES.values() if (table, experiment) in cells]
    return [min(column) for column in zip(*figures)] if figures else None


def check_table(table):
    if table not in TABLES:
        raise ValueError(f"unknown table {table!r}: choose one of {', '.join(TABLES)}")
