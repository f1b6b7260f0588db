"""The models of the reproduced tables: one entry per row, with how to build it and the paper's figures."""

from dataclasses import dataclass, field

from ..baselines import (CurveFitForecaster, DLinearForecaster, IntrospectionForecaster, RMLPForecaster,
                         WNNForecaster)
from ..dynamics import FixedPointFarcaster
from ..linear import LFD2Forecaster, LFLForecaster, LFNForecaster, LFSForecaster
from ..selection import AllSelector, StepSelector
from .protocols import DEFAULT_BETA, EXPERIMENTS, LFS_STEPS, PAPER_BETA, PAPER_FIGURES, PAPER_LR, TABLES

__all__ = ["ModelEntry", "MODELS", "TUNED", "PAPER_MAX_EPOCHS", "models_for"]

PAPER_MAX_EPOCHS = 10_000  # the authors' cap; early stopping ends their fits after a few hundred epochs
TUNED = "tuned"


def _paper_protocol(cls, lr, selector=None):
    """A factory of the authors' training protocol: L1 + beta L_grad by Adam from nn.Linear's default
    initialisation, batches of 32 sequences, early stopping on the dev sequences with patience 5."""
    def factory(experiment, random_state, device, max_epochs=None):
        rate = lr[experiment] if isinstance(lr, dict) else lr
        return cls(selector=selector, solver="paper", init="default", lr=rate,
                   beta=PAPER_BETA.get(experiment, DEFAULT_BETA), batch_size=32,
                   max_epochs=PAPER_MAX_EPOCHS if max_epochs is None else max_epochs,
                   patience=5, device=device, random_state=random_state)
    return factory


def _baseline(make):
    """A factory of a baseline network with its own training settings (docs/baselines.md)."""
    def factory(experiment, random_state, device, max_epochs=None):
        capped = {} if max_epochs is None else {"max_epochs": max_epochs}
        return make(random_state=random_state, device=device, **capped)
    return factory


def _ours(make):
    """A factory of one of weightcast's own models (no epochs to cap)."""
    def factory(experiment, random_state, device, max_epochs=None):
        return make(experiment=experiment, random_state=random_state, device=device)
    return factory


def _fixed_point(experiment, random_state, device):
    # GD trajectories are extrapolated exactly from every input step; noisy ones from w_0 and w_n.
    selector = AllSelector() if EXPERIMENTS[experiment].optimizer == "gd" else None
    return FixedPointFarcaster(block_size=3 if experiment.startswith("syn1") else 64, selector=selector,
                               device=device, random_state=random_state)


@dataclass(frozen=True)
class ModelEntry:
    """One row of the tables: ``factory(experiment, random_state, device, max_epochs=None) -> estimator``
    (None: not implemented yet; ``max_epochs`` None keeps the model's own protocol, an int caps it) and
    the paper's figures, ``paper[(table, experiment)] = (means, stds, text)``. A model appears in the
    tables for which it has paper figures or that ``tables`` names, in Fig. 2 when ``in_fig2``, and in
    quick runs when ``in_quick``."""
    name: str
    factory: object
    paper: dict = field(default_factory=dict)
    in_fig2: bool = False
    tables: tuple = ()
    in_quick: bool = False


def _entry(name, factory, **options):
    return ModelEntry(name, factory, PAPER_FIGURES.get(name, {}), **options)


MODELS = [
    # The paper's Introspection row is its linear per-horizon variant; the original network is
    # IntrospectionForecaster(variant="original") (docs/baselines.md).
    _entry("Introspection", _baseline(lambda **kw: IntrospectionForecaster(variant="linear", **kw))),
    _entry("WNN", _baseline(lambda **kw: WNNForecaster(window=21, **kw))),
    _entry("LFN", _paper_protocol(LFNForecaster, PAPER_LR["LFN"]), in_fig2=True, in_quick=True),
    # The paper's "DLinear" is a RevIN + MLP network (docs/baselines.md); the real DLinear is the row below.
    _entry("DLinear", _baseline(RMLPForecaster), in_fig2=True),
    _entry("LFS", _paper_protocol(LFSForecaster, PAPER_LR["LFS"], StepSelector(LFS_STEPS)), in_fig2=True,
           in_quick=True),
    _entry("LFL", _paper_protocol(LFLForecaster, PAPER_LR["LFL"]), in_quick=True),
    _entry("LFD-2", _paper_protocol(LFD2Forecaster, PAPER_LR["LFD-2"]), in_fig2=True, in_quick=True),
    _entry("DLinear (decomposition)", _baseline(DLinearForecaster), tables=("table2", "table3")),
    _entry("Curve fit (line)", _ours(lambda experiment, **kw: CurveFitForecaster(**kw)),
           tables=("table2", "table3")),
    _entry("FixedPoint (ours)", _ours(_fixed_point), tables=("table2", "table3"), in_fig2=True, in_quick=True),
]


def models_for(table_name, only=None, quick=False):
    """The entries of :data:`MODELS` shown in a table: those named in ``only``, or every one (in a quick
    run, those ``in_quick``)."""
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
        return [entry for entry in chosen if entry.name in only]
    return [entry for entry in chosen if entry.in_quick] if quick else chosen
