"""The paper's experiments: the synthetic Tables 2, 3, 5, 6 and Fig. 2 (generated on the fly) and Table 4
(on recorded runs).

One concern per module: :mod:`~weightcast.reproduce.protocols` (protocols and the paper's published
figures), :mod:`~weightcast.reproduce.catalogue` (the rows: how each model is built),
:mod:`~weightcast.reproduce.tuned` (the tuned row's search), :mod:`~weightcast.reproduce.runner` (fits
and scores), :mod:`~weightcast.reproduce.report` (Markdown), :mod:`~weightcast.reproduce.outputs`
(files and plots) and :mod:`~weightcast.reproduce.table4`. The command is ``weightcast reproduce``.

Examples
--------
>>> from weightcast.reproduce import TABLES, format_markdown, reproduce
>>> list(TABLES)
['table2', 'table3', 'table5', 'table6', 'fig2']
>>> result = reproduce("table6", trials=1, quick=True, models=["LFL"])   # LFL has no Table 6 row
>>> result["experiments"][0]["rows"]
[]
"""

from .._lazy import lazy_names as _lazy_names

_MODULES = {
    "TABLES": ".protocols",
    "EXPERIMENTS": ".protocols",
    "MODELS": ".catalogue",
    "reproduce": ".runner",
    "format_markdown": ".report",
    "write_outputs": ".outputs",
}

__all__ = list(_MODULES)
__getattr__, __dir__ = _lazy_names(__name__, _MODULES)
