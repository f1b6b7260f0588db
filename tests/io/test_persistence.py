"""Model files without pickle: round trips, generic state, and refusal of malicious or broken files."""

import json
import pickle
import zipfile

import numpy as np
import pytest
import torch
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.pipeline import make_pipeline

import weightcast
from weightcast import load, save
from weightcast.io.persistence import FORMAT_VERSION, register_persistable

from weightcast.registry import all_estimators

ESTIMATOR_CLASSES = [cls for _, cls in all_estimators("forecaster")]
SELECTOR_CLASSES = [cls for _, cls in all_estimators("selector")]

RNG = np.random.default_rng(0)
X = RNG.normal(size=(6, 8, 3))
Y = X[:, -1:, :] + np.cumsum(RNG.normal(size=(6, 5, 3)) * 0.1, axis=1)


def _same_params(a, b):
    assert repr(a.get_params()) == repr(b.get_params())


@pytest.mark.parametrize("cls", ESTIMATOR_CLASSES)
@pytest.mark.parametrize("case", [0, 1])
def test_forecaster_round_trip(cls, case, tmp_path):
    est = cls(**cls.get_test_params()[case]).fit(X, Y)
    est.save(tmp_path / "model")
    loaded = load(tmp_path / "model")
    assert type(loaded) is cls
    _same_params(est, loaded)
    np.testing.assert_array_equal(loaded.predict(X), est.predict(X))
    m = min(2, est.horizon_)
    np.testing.assert_array_equal(loaded.predict(X, m=m), est.predict(X, m=m))
    fitted = [name for name in vars(est) if name.endswith("_") and not name.startswith("_")]
    for name in fitted:
        saved, restored = getattr(est, name), getattr(loaded, name)
        if isinstance(saved, np.ndarray):
            assert restored.dtype == saved.dtype, name
            np.testing.assert_array_equal(restored, saved)
        elif isinstance(saved, (int, float, str, list, dict, tuple)):
            assert restored == saved, name


@pytest.mark.parametrize("cls", SELECTOR_CLASSES)
def test_selector_round_trip(cls, tmp_path):
    sel = cls(**cls.get_test_params()[0]).fit(X)
    sel.save(tmp_path / "sel")
    loaded = load(tmp_path / "sel")
    _same_params(sel, loaded)
    np.testing.assert_array_equal(loaded.transform(X), sel.transform(X))


def test_unfitted_estimator_and_lifted_shapes_round_trip(tmp_path):
    est = weightcast.LFSForecaster(selector=weightcast.SampledSelector(k=3, random_state=1), m=2)
    save(est, tmp_path / "unfitted")
    loaded = load(tmp_path / "unfitted")
    _same_params(est, loaded)
    assert not hasattr(loaded, "coef_")
    # 2-D X and 1-D y: the lift is part of the fitted state
    fitted = weightcast.LFLForecaster(solver="lstsq").fit(X[:, :, 0], Y[:, 0, 0])
    fitted.save(tmp_path / "lifted")
    again = load(tmp_path / "lifted")
    assert again.predict(X[:, :, 0]).shape == (6,)
    np.testing.assert_array_equal(again.predict(X[:, :, 0]), fitted.predict(X[:, :, 0]))


def test_pipeline_round_trip(tmp_path):
    pipe = make_pipeline(weightcast.StepSelector(steps=(0, 3, -1)), weightcast.LinearFarcaster(solver="lstsq"))
    pipe.fit(X[:, :, 0], Y[:, :, 0])
    save(pipe, tmp_path / "pipe")
    loaded = load(tmp_path / "pipe")
    np.testing.assert_array_equal(loaded.predict(X[:, :, 0]), pipe.predict(X[:, :, 0]))
    assert [name for name, _ in loaded.steps] == [name for name, _ in pipe.steps]


def test_device_override_sets_parameters(tmp_path):
    est = weightcast.LFD2Forecaster(solver="lstsq", device="auto").fit(X, Y)
    est.save(tmp_path / "m")
    loaded = load(tmp_path / "m", device="cpu")
    assert loaded.device == "cpu" and loaded.device_ == torch.device("cpu")
    with pytest.raises((ValueError, TypeError), match="device"):
        load(tmp_path / "m", device="tpu-9000")


# ------------------------------------------------------------------ generic state (a later, torch-module estimator)
@register_persistable
class _ModuleForecaster(RegressorMixin, BaseEstimator):
    """A stand-in for a baseline with a torch module: how little a new estimator needs to be saved."""

    def __init__(self, hidden=3, device="cpu"):
        self.hidden = hidden
        self.device = device

    def fit(self, X, y):
        torch.manual_seed(0)
        self.n_features_in_ = X.shape[1]
        self.module_ = torch.nn.Sequential(torch.nn.Linear(X.shape[1], self.hidden), torch.nn.Linear(self.hidden, 1))
        self.scale_ = torch.tensor([2.0, 3.0], dtype=torch.float64)
        self.offset_ = np.float32(0.5)
        self.history_ = [{"epoch": 1, "loss": float("nan")}, {"epoch": 2, "loss": float("inf")}]
        self.names_ = np.array(["a", "b"], dtype=object)
        self.flags_ = np.array([True, False])
        self.half_ = np.ones(2, dtype=np.float16)
        self.options_ = {"shape": (1, 2), "none": None}
        self.device_ = torch.device("cpu")
        return self

    def _module_for_loading(self, name):
        return torch.nn.Sequential(torch.nn.Linear(self.n_features_in_, self.hidden),
                                   torch.nn.Linear(self.hidden, 1))

    def predict(self, X):
        with torch.no_grad():
            return self.module_(torch.as_tensor(X, dtype=torch.float32)).numpy()[:, 0] + self.offset_


def test_generic_state_with_a_torch_module(tmp_path):
    est = _ModuleForecaster().fit(X[:, :, 0], Y[:, 0, 0])
    save(est, tmp_path / "m")
    loaded = load(tmp_path / "m")
    np.testing.assert_array_equal(loaded.predict(X[:, :, 0]), est.predict(X[:, :, 0]))
    assert torch.equal(loaded.scale_, est.scale_) and loaded.scale_.dtype == torch.float64
    assert type(loaded.offset_) is np.float32 and loaded.offset_ == 0.5
    assert np.isnan(loaded.history_[0]["loss"]) and loaded.history_[1]["loss"] == float("inf")
    assert loaded.names_.tolist() == ["a", "b"] and loaded.flags_.dtype == bool and loaded.half_.dtype == np.float16
    assert loaded.options_ == {"shape": (1, 2), "none": None}


def test_saved_on_gpu_loads_on_cpu(tmp_path):
    """A file written on a GPU names cuda devices; without CUDA here everything lands on the CPU."""
    est = _ModuleForecaster().fit(X[:, :, 0], Y[:, 0, 0])
    save(est, tmp_path / "m")
    config, tensors = _members(tmp_path / "m")
    text = json.dumps(config).replace('"device": "cpu"', '"device": "cuda:0"').replace('"value": "cpu"',
                                                                                       '"value": "cuda:0"')
    assert "cuda:0" in text
    _write_members(tmp_path / "gpu", json.loads(text), tensors)
    loaded = load(tmp_path / "gpu")
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert loaded.scale_.device.type == expected and loaded.device_.type == expected
    assert next(loaded.module_.parameters()).device.type == expected
    cpu = load(tmp_path / "gpu", device="cpu")
    assert cpu.scale_.device.type == "cpu" and next(cpu.module_.parameters()).device.type == "cpu"


def test_module_with_wrong_shapes_is_refused(tmp_path):
    est = _ModuleForecaster(hidden=3).fit(X[:, :, 0], Y[:, 0, 0])
    save(est, tmp_path / "m")
    config, tensors = _members(tmp_path / "m")
    config["estimator"]["params"]["hidden"] = 4  # the rebuilt module no longer fits the tensors
    _write_members(tmp_path / "bad", config, tensors)
    with pytest.raises(ValueError, match="do not fit the module"):
        load(tmp_path / "bad")


def test_unsupported_values_are_refused_at_save(tmp_path):
    with pytest.raises(TypeError, match="random_state"):
        save(weightcast.LFD2Forecaster(random_state=np.random.RandomState(0)), tmp_path / "m")
    est = weightcast.LFD2Forecaster(solver="lstsq").fit(X, Y)
    est.callback_ = lambda: None
    with pytest.raises(TypeError, match="callback_"):
        save(est, tmp_path / "m")

    class Unlisted(weightcast.LFD2Forecaster):
        pass
    with pytest.raises(TypeError, match="allow-listed"):
        save(Unlisted(), tmp_path / "m")
    assert not (tmp_path / "m").exists()


def test_pickle_and_joblib_still_work(tmp_path):
    import joblib
    est = weightcast.LFD2Forecaster(solver="lstsq").fit(X, Y)
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(est)).predict(X), est.predict(X))
    joblib.dump(est, tmp_path / "est.joblib")
    np.testing.assert_array_equal(joblib.load(tmp_path / "est.joblib").predict(X), est.predict(X))


# ------------------------------------------------------------------ refusals
def _members(path):
    with zipfile.ZipFile(path) as archive:
        return json.loads(archive.read("config.json")), st_load(archive.read("tensors.safetensors"))


def _write_members(path, config, tensors):
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("config.json", json.dumps(config))
        archive.writestr("tensors.safetensors", st_save(tensors))


@pytest.fixture
def saved(tmp_path):
    weightcast.LFD2Forecaster(solver="lstsq").fit(X, Y).save(tmp_path / "good")
    return tmp_path / "good"


class _Payload:
    """Unpickling this runs code: it creates the marker file."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (exec, (f"open({self.marker!r}, 'w').write('pwned')",))


def test_pickle_payload_renamed_is_refused_without_running(tmp_path):
    marker = tmp_path / "marker"
    model = tmp_path / "model.wcm"
    model.write_bytes(pickle.dumps(_Payload(marker)))
    with pytest.raises(ValueError, match="not a weightcast model file"):
        load(model)
    assert not marker.exists()
    pickle.loads(model.read_bytes())  # the payload is live: unpickling it does run it
    assert marker.read_text() == "pwned"


def test_torch_checkpoint_renamed_is_refused_without_running(tmp_path):
    marker = tmp_path / "marker"
    model = tmp_path / "model.wcm"
    torch.save({"coef_": _Payload(marker)}, model)  # a zip archive with a pickle inside
    with pytest.raises(ValueError, match="not a weightcast model file"):
        load(model)
    assert not marker.exists()


@pytest.mark.parametrize("class_name", ["os.system", "builtins.eval", "subprocess.Popen",
                                        "weightcast.io.persistence.save", "sklearn.linear_model.Ridge"])
def test_config_naming_a_foreign_class_is_refused(saved, tmp_path, class_name):
    marker = tmp_path / "marker"
    config, tensors = _members(saved)
    config["estimator"]["class"] = class_name
    config["estimator"]["params"] = {"command": f"touch {marker}", "source": f"open({str(marker)!r}, 'w')"}
    _write_members(tmp_path / "evil", config, tensors)
    with pytest.raises(ValueError, match="not an allow-listed"):
        load(tmp_path / "evil")
    assert not marker.exists()


def test_nested_foreign_class_is_refused(saved, tmp_path):
    config, tensors = _members(saved)
    config["estimator"]["params"]["selector"] = {"__wc__": "estimator", "class": "os.system",
                                                 "params": {}, "state": {}}
    _write_members(tmp_path / "evil", config, tensors)
    with pytest.raises(ValueError, match="os.system"):
        load(tmp_path / "evil")


@pytest.mark.parametrize("tamper, match", [
    (lambda c: c["estimator"]["params"].update(alpha={"__reduce__": ["os.system", ["ls"]]}), "unknown entry"),
    (lambda c: c["estimator"]["params"].update(not_a_param=1), "unknown parameter"),
    (lambda c: c["estimator"]["state"].update(predict=[1, 2]), "cannot be a fitted attribute"),
    (lambda c: c["estimator"]["state"].update(__class__="os.system"), "cannot be a fitted attribute"),
    (lambda c: c["estimator"]["state"]["coef_"].update(shape=[1, 1]), "shape"),
    (lambda c: c["estimator"]["state"]["coef_"].update(key="t999"), "refers to no tensor"),
    (lambda c: c["estimator"]["state"].update(horizon_=99), "inconsistent fitted state"),
    (lambda c: c["estimator"]["state"].update(coef_="zeros"), "inconsistent fitted state"),
    (lambda c: c["estimator"]["state"].pop("steps_"), "inconsistent fitted state"),
    (lambda c: c.update(format_version=FORMAT_VERSION + 1), "upgrade weightcast"),
    (lambda c: c.update(format_version="1"), "format_version"),
    (lambda c: c.update(format="something-else"), "not a weightcast model file"),
])
def test_tampered_config_is_refused(saved, tmp_path, tamper, match):
    config, tensors = _members(saved)
    tamper(config)
    _write_members(tmp_path / "bad", config, tensors)
    with pytest.raises(ValueError, match=match):
        load(tmp_path / "bad")


def test_consistently_tampered_tensor_shape_is_refused(saved, tmp_path):
    config, tensors = _members(saved)
    ref = config["estimator"]["state"]["coef_"]
    tensors[ref["key"]] = torch.zeros(3, 7, dtype=torch.float64)
    ref["shape"] = [3, 7]
    _write_members(tmp_path / "bad", config, tensors)
    with pytest.raises(ValueError, match="coef_ must be a float array of shape"):
        load(tmp_path / "bad")


def test_broken_files(saved, tmp_path):
    with pytest.raises(FileNotFoundError):
        load(tmp_path / "absent")
    with pytest.raises(ValueError, match="not a file"):
        load(tmp_path)
    data = saved.read_bytes()
    for name, content in [("half", data[: len(data) // 2]), ("empty", b""), ("npy", b"\x93NUMPY" + data[:50])]:
        (tmp_path / name).write_bytes(content)
        with pytest.raises(ValueError, match="not a weightcast model file"):
            load(tmp_path / name)
    config, tensors = _members(saved)
    with zipfile.ZipFile(tmp_path / "garbled", "w") as archive:
        archive.writestr("config.json", b"{not json")
        archive.writestr("tensors.safetensors", b"garbage")
    with pytest.raises(ValueError, match="not valid JSON"):
        load(tmp_path / "garbled")
    with zipfile.ZipFile(tmp_path / "garbled2", "w") as archive:
        archive.writestr("config.json", json.dumps(config))
        archive.writestr("tensors.safetensors", b"garbage")
    with pytest.raises(ValueError, match="safetensors"):
        load(tmp_path / "garbled2")
    with zipfile.ZipFile(tmp_path / "deep", "w") as archive:
        archive.writestr("config.json", "[" * 100000 + "]" * 100000)
        archive.writestr("tensors.safetensors", st_save({}))
    with pytest.raises(ValueError):
        load(tmp_path / "deep")


def test_save_is_atomic(saved, monkeypatch):
    before = saved.read_bytes()

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt
    monkeypatch.setattr(zipfile.ZipFile, "writestr", interrupted)
    with pytest.raises(KeyboardInterrupt):
        weightcast.LFLForecaster(solver="lstsq").fit(X, Y).save(saved)
    assert saved.read_bytes() == before
    assert sorted(p.name for p in saved.parent.iterdir()) == ["good"]  # no temporary file left behind
