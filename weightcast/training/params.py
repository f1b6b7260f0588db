"""A model's parameters as one flat vector, and back, with names and shapes checked.

The flat order is ``model.named_parameters()`` order; a :class:`ParameterLayout` records each
parameter's name, shape and offset so that a forecast step can be loaded into the right tensors.
"""

from dataclasses import dataclass

import numpy as np
import torch

from ..constraints import InstanceOf
from ..io.hdf5 import read_metadata

__all__ = ["ParameterLayout", "flatten_parameters", "load_flat_parameters"]

_MODEL = InstanceOf(torch.nn.Module, "a torch.nn.Module")


@dataclass(frozen=True)
class ParameterLayout:
    """Names, shapes and offsets of a model's parameters in its flat vector.

    Examples
    --------
    >>> import torch
    >>> layout = ParameterLayout.from_model(torch.nn.Linear(3, 2))
    >>> layout.names, layout.shapes, layout.offsets, layout.n_params
    (('weight', 'bias'), ((2, 3), (2,)), (0, 6), 8)
    """

    names: tuple
    shapes: tuple

    @classmethod
    def from_model(cls, model):
        _MODEL.check(model, "model")
        named = list(model.named_parameters())
        if not named:
            raise ValueError(f"{type(model).__name__} has no parameters to record")
        return cls(tuple(name for name, _ in named), tuple(tuple(p.shape) for _, p in named))

    @property
    def sizes(self):
        return tuple(int(np.prod(shape, dtype=np.int64)) for shape in self.shapes)

    @property
    def offsets(self):
        return tuple(int(x) for x in np.concatenate([[0], np.cumsum(self.sizes)[:-1]]))

    @property
    def n_params(self):
        return int(sum(self.sizes))

    @classmethod
    def from_file(cls, source, dataset="weights"):
        """The layout stored in a weight-sequence file (a path, or a :class:`weightcast.io.SequenceView`).

        Recordings and forecasts of them carry their model's parameter names and shapes; other files
        raise ``ValueError``.
        """
        if hasattr(source, "param_names"):
            names, shapes, where = source.param_names, source.param_shapes, source.source
        else:
            meta = read_metadata(source, dataset)
            names, shapes, where = meta["param_names"], meta["param_shapes"], repr(str(source))
        if names is None or shapes is None:
            raise ValueError(f"{where} records no parameter names and shapes (param_names / param_shapes)")
        return cls(tuple(names), tuple(tuple(shape) for shape in shapes))

    def check_model(self, model, what="the vector"):
        """Raise a ValueError naming the first parameter whose name or shape differs from ``model``'s."""
        other = ParameterLayout.from_model(model)
        if other == self:
            return
        for i, (name, shape) in enumerate(zip(self.names, self.shapes)):
            if i >= len(other.names):
                raise ValueError(f"{what} has parameter {name!r} {shape} that the model lacks "
                                 f"(the model has {len(other.names)} parameters, {what} {len(self.names)})")
            if (name, shape) != (other.names[i], other.shapes[i]):
                raise ValueError(f"parameter {i} differs: {what} has {name!r} of shape {shape}, the model "
                                 f"has {other.names[i]!r} of shape {other.shapes[i]}")
        raise ValueError(f"the model has {len(other.names)} parameters but {what} only {len(self.names)} "
                         f"(first missing: {other.names[len(self.names)]!r})")


def flatten_parameters(model):
    """All parameters of ``model`` as one float32 CPU tensor (a copy), in ``named_parameters()`` order.

    Examples
    --------
    >>> import torch
    >>> flatten_parameters(torch.nn.Linear(3, 2)).shape
    torch.Size([8])
    """
    _MODEL.check(model, "model")
    with torch.no_grad():
        return torch.cat([p.detach().reshape(-1).to("cpu", torch.float32) for p in model.parameters()])


def load_flat_parameters(model, vector, layout=None):
    """Copy a flat parameter vector (e.g. one forecast step) into ``model``'s parameters, in place.

    Parameters
    ----------
    model : torch.nn.Module
    vector : array-like of shape (n_params,)
    layout : ParameterLayout or None
        The layout the vector was recorded with; when given, the model's names and shapes must match it.

    Examples
    --------
    >>> import torch
    >>> a, b = torch.nn.Linear(3, 2), torch.nn.Linear(3, 2)
    >>> load_flat_parameters(b, flatten_parameters(a))
    >>> torch.equal(a.weight, b.weight)
    True
    """
    own = ParameterLayout.from_model(model)
    InstanceOf(ParameterLayout, "a ParameterLayout", none=True).check(layout, "layout")
    if layout is not None:
        layout.check_model(model)
    vector = torch.as_tensor(np.asarray(vector) if not isinstance(vector, torch.Tensor) else vector)
    if vector.ndim != 1 or vector.shape[0] != own.n_params:
        raise ValueError(f"expected a flat vector of {own.n_params} parameters for {type(model).__name__}, "
                         f"got shape {tuple(vector.shape)}")
    if not torch.isfinite(vector).all():
        raise ValueError("the parameter vector holds NaN or inf values; refusing to load it into the model")
    with torch.no_grad():
        for p, offset, size in zip(model.parameters(), own.offsets, own.sizes):
            p.copy_(vector[offset:offset + size].reshape(p.shape).to(p.device, p.dtype))
