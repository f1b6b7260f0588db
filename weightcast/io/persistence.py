"""Save and load fitted estimators without pickle.

A model file is a zip archive (stored, not compressed) with two members:

* ``config.json``: the format name and version, the weightcast version, and the estimator as a tree
  ``{"class", "params", "state"}``: the class is a *name* looked up in an allow-list of weightcast
  classes, ``params`` are the constructor arguments (``get_params(deep=False)``) and ``state`` the
  fitted attributes, both as JSON (nested selectors and Pipeline steps are trees themselves);
* ``tensors.safetensors``: every array and tensor of the state (torch ``state_dict`` entries too),
  on the CPU, referenced from the JSON by key with its dtype and shape.

Loading parses JSON and safetensors only: it never unpickles, imports or calls anything named in the
file. Classes come from the allow-list, are built with ``cls(**params)`` (scikit-learn constructors only
store their arguments), and get their fitted attributes back by ``setattr``. See docs/persistence.md.

Any estimator whose fitted state is made of numpy arrays, torch tensors, ``torch.device``, JSON-like
values (numbers, strings, lists, tuples, dicts with string keys), fitted allow-listed estimators and
``torch.nn.Module`` attributes is saved without further code. A module attribute is restored by
``est._module_for_loading(name)`` (an untrained module of the right architecture, built from the
parameters and the other fitted attributes, which are restored first) and ``load_state_dict``.
An estimator may define ``_validate_loaded_state()`` to check that the restored state fits together.
"""

import json
import math
import numbers
import os
import re
import zipfile
from pathlib import Path

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load as _safetensors_load
from safetensors.torch import save as _safetensors_save

from .._version import __version__
from ..device import resolve_device
from .allowlist import lookup, name_of, register_persistable
from .atomic import atomic_output

__all__ = ["save", "load", "register_persistable", "PersistenceMixin", "FORMAT_VERSION"]

FORMAT_NAME = "weightcast-model"
FORMAT_VERSION = 1
CONFIG_MEMBER = "config.json"
TENSORS_MEMBER = "tensors.safetensors"
MAX_CONFIG_BYTES = 64 * 2 ** 20
MAX_DEPTH = 64
_TAG = "__wc__"
_ATTRIBUTE_NAME = re.compile(r"^_?[A-Za-z][A-Za-z0-9_]*$")
_NUMPY_KINDS = "biuf"  # scalar dtypes a file may name: bool, int, uint, float

# sklearn's Pipeline holds weightcast estimators as steps.
register_persistable(name="sklearn.pipeline.Pipeline", module="sklearn.pipeline", attribute="Pipeline")


class PersistenceMixin:
    """Adds ``save(path)``; the base classes of weightcast's forecasters and selectors inherit it."""

    def save(self, path):
        """Save this estimator (fitted or not) to a model file at ``path``, without pickle.

        The file is written under a temporary name and renamed into place. Read it back with
        :func:`weightcast.load`. Format: see :mod:`weightcast.io.persistence`.
        """
        save(self, path)


# ---------------------------------------------------------------------------------------------- saving
class _Encoder:
    def __init__(self):
        self.tensors = {}

    def estimator(self, est, where):
        name = name_of(type(est))
        if name is None:
            raise TypeError(f"cannot save {where} ({type(est).__module__}.{type(est).__qualname__}): "
                            "not an allow-listed weightcast class (see weightcast.io.register_persistable)")
        params = est.get_params(deep=False)
        state = {key: value for key, value in vars(est).items() if key not in params}
        return {_TAG: "estimator", "class": name,
                "params": {key: self.value(value, f"{where}.{key}") for key, value in params.items()},
                "state": {key: self.value(value, f"{where}.{key}") for key, value in state.items()}}

    def value(self, value, where):
        if value is None or isinstance(value, (bool, str)):
            return value
        if isinstance(value, numbers.Integral) and not isinstance(value, np.generic):
            return int(value)
        if isinstance(value, np.generic):
            if value.dtype.kind not in _NUMPY_KINDS:
                raise TypeError(f"cannot save {where}: numpy scalar of dtype {value.dtype} is not supported")
            return {_TAG: "scalar", "dtype": value.dtype.str, "value": self.value(value.item(), where)}
        if isinstance(value, float):
            return value if math.isfinite(value) else {_TAG: "float", "value": repr(value)}
        if isinstance(value, (list, tuple)):
            items = [self.value(item, f"{where}[{i}]") for i, item in enumerate(value)]
            return items if isinstance(value, list) else {_TAG: "tuple", "items": items}
        if isinstance(value, dict):
            if not all(isinstance(key, str) for key in value):
                raise TypeError(f"cannot save {where}: a dict with non-string keys")
            return {_TAG: "dict", "items": {key: self.value(item, f"{where}[{key!r}]") for key, item in value.items()}}
        if isinstance(value, np.ndarray):
            if value.dtype.kind == "O" and all(isinstance(item, str) for item in value.ravel()):
                return {_TAG: "strings", "shape": list(value.shape), "items": value.ravel().tolist()}
            if value.dtype.kind not in _NUMPY_KINDS:
                raise TypeError(f"cannot save {where}: arrays of dtype {value.dtype} are not supported")
            native = np.ascontiguousarray(value, dtype=value.dtype.newbyteorder("="))
            return self.tensor(torch.from_numpy(native), "numpy")
        if isinstance(value, torch.Tensor):
            return self.tensor(value, "torch")
        if isinstance(value, torch.device):
            return {_TAG: "device", "value": str(value)}
        if isinstance(value, torch.nn.Module):
            state = value.state_dict()
            device = next((str(t.device) for t in state.values()), "cpu")
            return {_TAG: "module", "device": device,
                    "state": {key: self.tensor(t, "torch") for key, t in state.items()}}
        if name_of(type(value)) is not None:
            return self.estimator(value, where)
        raise TypeError(f"cannot save {where}: values of type {type(value).__module__}.{type(value).__qualname__} "
                        "are not supported (arrays, tensors, JSON values and weightcast estimators are)")

    def tensor(self, tensor, kind):
        key = f"t{len(self.tensors)}"
        self.tensors[key] = tensor.detach().to("cpu").contiguous().clone()
        return {_TAG: "array", "kind": kind, "key": key, "dtype": str(tensor.dtype).replace("torch.", ""),
                "shape": list(tensor.shape), "device": str(tensor.device)}


def save(estimator, path):
    """Save a weightcast estimator, selector or Pipeline of them to ``path`` (a model file, no pickle).

    Parameters
    ----------
    estimator : allow-listed estimator, fitted or not
    path : str or path-like
        Written under a temporary name and renamed into place; an existing file is replaced.

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np
    >>> from weightcast import LFD2Forecaster, load
    >>> X, Y = np.random.default_rng(0).normal(size=(2, 6, 10, 3))
    >>> est = LFD2Forecaster(solver="lstsq").fit(X, Y)
    >>> path = os.path.join(tempfile.mkdtemp(), "lfd2.wcm")
    >>> est.save(path)
    >>> np.array_equal(load(path).predict(X), est.predict(X))
    True
    """
    encoder = _Encoder()
    config = {"format": FORMAT_NAME, "format_version": FORMAT_VERSION, "weightcast_version": __version__,
              "estimator": encoder.estimator(estimator, type(estimator).__name__)}
    config_bytes = json.dumps(config, indent=1, allow_nan=False).encode()
    tensor_bytes = _safetensors_save(encoder.tensors, metadata={"format": FORMAT_NAME})
    with atomic_output(path) as tmp:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_STORED) as archive:
            archive.writestr(CONFIG_MEMBER, config_bytes)
            archive.writestr(TENSORS_MEMBER, tensor_bytes)


# ---------------------------------------------------------------------------------------------- loading
def _read_members(path):
    """The two members' bytes; any defect of the container is a ValueError naming the file."""
    if not path.exists():
        raise FileNotFoundError(f"no model file at {str(path)!r}")
    if not path.is_file():
        raise ValueError(f"{str(path)!r} is not a file: a weightcast model is one file written by save()")
    try:
        with zipfile.ZipFile(path) as archive:
            info = archive.getinfo(CONFIG_MEMBER) if CONFIG_MEMBER in archive.namelist() else None
            if info is None or TENSORS_MEMBER not in archive.namelist():
                raise ValueError(f"{str(path)!r} is a zip archive but not a weightcast model file "
                                 f"(no {CONFIG_MEMBER} and {TENSORS_MEMBER} members)")
            if info.file_size > MAX_CONFIG_BYTES:
                raise ValueError(f"{str(path)!r}: {CONFIG_MEMBER} is implausibly large ({info.file_size} bytes)")
            return archive.read(CONFIG_MEMBER), archive.read(TENSORS_MEMBER)
    except ValueError:
        raise
    except Exception as exc:  # whatever breaks inside the container, the file is not a valid model
        raise ValueError(f"{str(path)!r} is not a weightcast model file (a zip archive written by save()); "
                         f"pickle and joblib files are never read by weightcast.load: {exc}") from None


def _refuse_constant(constant):
    raise ValueError(f"non-standard JSON constant {constant}")


class _Decoder:
    def __init__(self, path, tensors, device):
        self.path, self.tensors, self.device = path, tensors, device

    def fail(self, where, problem):
        return ValueError(f"{self.path!r}: invalid model file at {where}: {problem}")

    def estimator(self, node, where, depth=0):
        if not (isinstance(node, dict) and node.get(_TAG) == "estimator"):
            raise self.fail(where, "expected an estimator entry")
        name = node.get("class")
        cls = lookup(name) if isinstance(name, str) else None
        if cls is None:
            raise self.fail(where, f"class {name!r} is not an allow-listed weightcast class; refusing to load it")
        params, state = node.get("params"), node.get("state")
        if not (isinstance(params, dict) and isinstance(state, dict)):
            raise self.fail(where, "params and state must be JSON objects")
        known = set(cls._get_param_names())
        unknown = set(params) - known
        if unknown:
            raise self.fail(where, f"unknown parameter(s) {sorted(unknown)} for {name}")
        est = cls(**{key: self.value(value, f"{where}.{key}", depth + 1) for key, value in params.items()})
        if self.device is not None and "device" in known:
            est.set_params(device=self.device)
        modules = {}
        for key, value in state.items():
            if not _ATTRIBUTE_NAME.match(key) or key in known or hasattr(cls, key):
                raise self.fail(where, f"{key!r} cannot be a fitted attribute of {name}")
            if isinstance(value, dict) and value.get(_TAG) == "module":
                modules[key] = value
            else:
                setattr(est, key, self.value(value, f"{where}.{key}", depth + 1))
        for key, value in modules.items():
            setattr(est, key, self.module(est, key, value, f"{where}.{key}"))
        if state and hasattr(est, "_validate_loaded_state"):
            try:
                est._validate_loaded_state()
            except (ValueError, TypeError, AttributeError) as exc:
                raise self.fail(where, f"inconsistent fitted state: {exc}") from None
        return est

    def module(self, est, key, node, where):
        if not hasattr(est, "_module_for_loading"):
            raise self.fail(where, f"{type(est).__name__} does not rebuild torch modules")
        entries = node.get("state")
        if not isinstance(entries, dict):
            raise self.fail(where, "a module's state must be a JSON object")
        module = est._module_for_loading(key)
        state = {}
        for name, entry in entries.items():
            if not isinstance(entry, dict):
                raise self.fail(f"{where}.{name}", "expected an array entry")
            state[name] = self.array(entry, f"{where}.{name}", to_numpy=False)
        try:
            module.load_state_dict(state, strict=True)
        except RuntimeError as exc:
            raise self.fail(where, f"the saved tensors do not fit the module: {exc}") from None
        return module.to(self._device_for(node.get("device")))

    def _device_for(self, saved):
        """The override device if one was given, else the saved one when available here, else the CPU."""
        if self.device is not None:
            return resolve_device(self.device)
        try:
            device = torch.device(saved)
        except (RuntimeError, TypeError, ValueError):
            return torch.device("cpu")
        if device.type == "cuda" and torch.cuda.is_available() and (device.index or 0) < torch.cuda.device_count():
            return device
        return torch.device("cpu")

    def array(self, node, where, to_numpy=True):
        key, kind = node.get("key"), node.get("kind")
        if kind not in ("numpy", "torch") or not isinstance(key, str) or key not in self.tensors:
            raise self.fail(where, f"array entry refers to no tensor (key {key!r})")
        tensor = self.tensors[key]
        dtype = str(tensor.dtype).replace("torch.", "")
        if node.get("dtype") != dtype or node.get("shape") != list(tensor.shape):
            raise self.fail(where, f"tensor {key!r} has dtype {dtype} and shape {list(tensor.shape)}, but the config "
                                   f"says dtype {node.get('dtype')} and shape {node.get('shape')}")
        if kind == "numpy" and to_numpy:
            return tensor.numpy()
        return tensor.to(self._device_for(node.get("device")))

    def value(self, node, where, depth):
        if depth > MAX_DEPTH:
            raise self.fail(where, "nested too deeply")
        if node is None or isinstance(node, (bool, str, int, float)):
            return node
        if isinstance(node, list):
            return [self.value(item, f"{where}[{i}]", depth + 1) for i, item in enumerate(node)]
        if not isinstance(node, dict):
            raise self.fail(where, f"unexpected JSON value {node!r}")
        tag = node.get(_TAG)
        if tag == "tuple" and isinstance(node.get("items"), list):
            return tuple(self.value(item, f"{where}[{i}]", depth + 1) for i, item in enumerate(node["items"]))
        if tag == "dict" and isinstance(node.get("items"), dict):
            return {key: self.value(item, f"{where}[{key!r}]", depth + 1) for key, item in node["items"].items()}
        if tag == "float" and node.get("value") in ("nan", "inf", "-inf"):
            return float(node["value"])
        if tag == "scalar":
            dtype, value = node.get("dtype"), node.get("value")
            if not (isinstance(dtype, str) and re.fullmatch(r"[<>|=]?[biuf][0-9]{1,2}", dtype)
                    and isinstance(value, (bool, int, float, dict))):
                raise self.fail(where, f"bad numpy scalar entry {node!r}")
            try:
                return np.dtype(dtype).type(self.value(value, where, depth + 1))
            except (TypeError, ValueError, OverflowError) as exc:
                raise self.fail(where, f"bad numpy scalar entry {node!r}: {exc}") from None
        if tag == "strings":
            items, shape = node.get("items"), node.get("shape")
            if not (isinstance(items, list) and all(isinstance(i, str) for i in items) and isinstance(shape, list)
                    and all(isinstance(n, int) and n >= 0 for n in shape) and math.prod(shape) == len(items)):
                raise self.fail(where, "bad string array entry")
            return np.array(items, dtype=object).reshape(shape)
        if tag == "array":
            return self.array(node, where)
        if tag == "device" and isinstance(node.get("value"), str):
            return self._device_for(node["value"])
        if tag == "estimator":
            return self.estimator(node, where, depth + 1)
        raise self.fail(where, f"unknown entry {str(node)[:80]}")


def load(path, device=None):
    """Load an estimator saved by :func:`save` (or ``est.save``), without executing anything from the file.

    Parameters
    ----------
    path : str or path-like
    device : str or None, default=None
        None keeps the saved ``device`` parameters and puts tensors where they were saved if that
        device exists here, else on the CPU. A string ("cpu", "cuda", "auto") sets the ``device``
        parameter of every estimator in the file and puts their tensors there.

    Returns
    -------
    estimator : the saved estimator, fitted if it was.

    Raises
    ------
    FileNotFoundError
        No file at ``path``.
    ValueError
        Not a weightcast model file (a pickle, a truncated or tampered file), a class that is not
        allow-listed, a tensor whose shape or dtype does not match the config, or a newer format version.
    """
    path = Path(os.fspath(path))
    if device is not None:
        resolve_device(device)  # fail early on a bad device string
    config_bytes, tensor_bytes = _read_members(path)
    try:
        config = json.loads(config_bytes.decode("utf-8"), parse_constant=_refuse_constant)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise ValueError(f"{str(path)!r}: {CONFIG_MEMBER} is not valid JSON: {exc}") from None
    if not isinstance(config, dict) or config.get("format") != FORMAT_NAME:
        raise ValueError(f"{str(path)!r} is not a weightcast model file (format is not {FORMAT_NAME!r})")
    version = config.get("format_version")
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise ValueError(f"{str(path)!r}: invalid format_version {version!r}")
    if version > FORMAT_VERSION:
        raise ValueError(f"{str(path)!r} was written by weightcast {config.get('weightcast_version')!r} in model "
                         f"format version {version}; this weightcast ({__version__}) reads versions up to "
                         f"{FORMAT_VERSION}: upgrade weightcast")
    try:
        tensors = _safetensors_load(tensor_bytes)
    except (SafetensorError, ValueError, RuntimeError, TypeError) as exc:
        raise ValueError(f"{str(path)!r}: {TENSORS_MEMBER} is not a valid safetensors blob: {exc}") from None
    return _Decoder(str(path), tensors, device).estimator(config.get("estimator"), "estimator")

