"""Callbacks for training frameworks: record weights, average them and farcast-and-continue inside their trainers.

* :mod:`weightcast.integrations.lightning`: PyTorch Lightning (``pip install 'weightcast[lightning]'``)
* :mod:`weightcast.integrations.transformers`: the Hugging Face ``Trainer``
  (``pip install 'weightcast[transformers]'``)

Each submodule imports its framework when it is imported itself, never before: ``import weightcast`` and
``import weightcast.integrations`` import neither framework.
"""

import importlib

__all__ = ["lightning", "transformers"]


def __getattr__(name):
    if name in __all__:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
