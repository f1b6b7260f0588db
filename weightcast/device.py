"""Device choice: the one meaning of the ``device`` strings that estimators and files take."""

import torch

from .constraints import Device

__all__ = ["resolve_device"]


def resolve_device(device):
    """Turn ``"auto" | "cpu" | "cuda" | "cuda:N"`` into a :class:`torch.device`."""
    Device().check(device, "device")
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    resolved = torch.device(device)
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device={device!r} was asked for but CUDA is not available here; "
                         "use device='auto' or 'cpu'")
    if resolved.index is not None and resolved.index >= torch.cuda.device_count():
        raise ValueError(f"device={device!r} was asked for but there are {torch.cuda.device_count()} CUDA "
                         "device(s) here (numbered from 0)")
    return resolved
