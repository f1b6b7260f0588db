"""Fuzzing every public entry point with hypothesis.

The contract: every input either works correctly or raises ValueError / TypeError / NotFittedError /
FileNotFoundError with a message that names the problem. Never another exception type, a hang (each
example has a deadline), a non-finite forecast from finite data, an input modified in place, or a
half-written or temporary file left behind.

Examples are derandomized (the same cases on every run, so CI is reproducible); set
WEIGHTCAST_FUZZ_RANDOM=1 to draw fresh cases, and WEIGHTCAST_FUZZ_SCALE=N to run N times as many.
"""

import io
import json
import os
import pickle
import zipfile
from datetime import timedelta

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from sklearn.exceptions import NotFittedError

import weightcast
from weightcast import (
    AllSelector,
    CheckpointScorer,
    FirstLastSelector,
    IntrospectionSelector,
    LastSelector,
    LFD2Forecaster,
    LFLForecaster,
    LFNForecaster,
    LFSForecaster,
    LinearFarcaster,
    SampledSelector,
    StepSelector,
    checkpoint_mse,
    split_sequences,
)
from weightcast.cli import main as cli_main
from weightcast.registry import all_estimators

CLEAR_ERRORS = (ValueError, TypeError, NotFittedError, FileNotFoundError)
SCALE = int(os.environ.get("WEIGHTCAST_FUZZ_SCALE", "1"))
EXAMPLES = {}  # test name -> examples run, checked by test_zz_total_examples


def fuzz_settings(max_examples):
    return settings(max_examples=max_examples * SCALE, deadline=timedelta(seconds=20),
                    derandomize=not os.environ.get("WEIGHTCAST_FUZZ_RANDOM"), database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                           HealthCheck.filter_too_much, HealthCheck.function_scoped_fixture])


def count(name):
    EXAMPLES[name] = EXAMPLES.get(name, 0) + 1


def attempt(function, *args, **kwargs):
    """(True, result) or (False, the clear error); any other exception fails the test."""
    try:
        return True, function(*args, **kwargs)
    except CLEAR_ERRORS as exc:
        assert len(str(exc)) >= 10, f"uninformative error message: {exc!r}"
        return False, exc


def unchanged(array, copy):
    if array.dtype == object:
        return all(a is b for a, b in zip(array.ravel(), copy.ravel()))
    return array.dtype == copy.dtype and array.tobytes() == copy.tobytes()


# ---------------------------------------------------------------------------------------------- strategies
DTYPES = [np.float64, np.float32, np.float16, np.int64, np.int8, np.uint8, np.bool_, np.complex128]


@st.composite
def any_arrays(draw, max_dims=4, max_side=5):
    """Arrays of any dtype (object too), 0 to max_dims dimensions, sides 0..max_side, with NaN and inf."""
    shape = draw(hnp.array_shapes(min_dims=0, max_dims=max_dims, min_side=0, max_side=max_side))
    if draw(st.integers(0, 9)) == 0:
        elements = st.one_of(st.floats(allow_nan=True), st.text(max_size=2), st.none(), st.integers(-3, 3))
        return draw(hnp.arrays(object, shape, elements=elements))
    return draw(hnp.arrays(draw(st.sampled_from(DTYPES)), shape))


def finite_floats(dtype=np.float64, big=False):
    bound = 1e30 if big else 1e4
    width = 32 if dtype == np.float32 else 64
    return st.floats(-bound, bound, allow_nan=False, allow_infinity=False, width=width)


@st.composite
def sequence_data(draw, big=False):
    """Valid 3-D X, Y (finite floats), of small random shapes."""
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    n_seq, n_in, m, n_params = (draw(st.integers(1, 6)), draw(st.integers(1, 6)), draw(st.integers(1, 5)),
                                draw(st.integers(1, 4)))
    X = draw(hnp.arrays(dtype, (n_seq, n_in, n_params), elements=finite_floats(dtype, big)))
    Y = draw(hnp.arrays(dtype, (n_seq, m, n_params), elements=finite_floats(dtype, big)))
    return X, Y


ints_or_junk = st.one_of(st.integers(-3, 10), st.integers(-10 ** 12, 10 ** 12), st.none(), st.booleans(),
                         st.floats(allow_nan=True), st.just("3"), st.just(np.int64(2)), st.just(2.0))
reals_or_junk = st.one_of(st.floats(-2, 2), st.floats(allow_nan=True), st.none(), st.just("0.1"),
                          st.integers(-2, 2), st.booleans())

selectors = st.one_of(
    st.none(),
    st.builds(AllSelector), st.builds(FirstLastSelector), st.builds(LastSelector),
    st.builds(SampledSelector, k=ints_or_junk, random_state=st.integers(0, 3)),
    st.builds(IntrospectionSelector, fractions=st.one_of(st.lists(st.floats(-1, 2), max_size=4).map(tuple),
                                                         st.just("abc"), st.just(()), st.just((0.5,)))),
    st.builds(StepSelector, steps=st.one_of(st.lists(st.integers(-8, 8), max_size=4).map(tuple),
                                            st.just((0.5, 1.0)), st.just("x"), st.just(()))),
    st.just("not a selector"),
)

# The linear family (the strategies below draw its parameters), from the registry of public estimators.
ESTIMATORS = [cls for _, cls in all_estimators("forecaster") if issubclass(cls, LinearFarcaster)]


@st.composite
def estimators(draw, junk_params=True):
    cls = draw(st.sampled_from(ESTIMATORS))
    params = {"solver": draw(st.sampled_from(["lstsq", "paper"])), "device": "cpu", "random_state": 0,
              "max_epochs": draw(st.integers(0, 2))}
    if junk_params:
        optional = {
            "selector": selectors, "m": ints_or_junk, "init": st.sampled_from(["lstsq", "default", "bogus"]),
            "alpha": reals_or_junk, "beta": reals_or_junk, "lr": reals_or_junk,
            "validation_fraction": reals_or_junk, "fit_intercept": st.booleans(),
            "batch_size": ints_or_junk, "max_epochs": ints_or_junk.filter(lambda v: not isinstance(v, int)
                                                                          or v <= 2),
            "patience": ints_or_junk, "slab_size": ints_or_junk, "verbose": st.sampled_from([0, -1, "x"]),
            "device": st.sampled_from(["cpu", "auto", "tpu", 3]) if not torch.cuda.is_available()
            else st.just("cpu"),
            "solver": st.sampled_from(["lstsq", "paper", "sgd", None]),
        }
        for name in draw(st.sets(st.sampled_from(sorted(optional)), max_size=4)):
            params[name] = draw(optional[name])
    return cls(**params)


# ---------------------------------------------------------------------------------------------- estimators
@fuzz_settings(300)
@given(est=estimators(), X=any_arrays(), Y=any_arrays(), m=ints_or_junk)
def test_fit_predict_on_arbitrary_arrays(est, X, Y, m):
    count("fit_predict_arbitrary")
    X_copy, Y_copy = X.copy(), Y.copy()
    fitted, _ = attempt(est.fit, X, Y)
    assert unchanged(X, X_copy) and unchanged(Y, Y_copy), "fit modified its input"
    if not fitted:
        ok, _ = attempt(est.predict, X)
        assert not ok
        return
    for horizon in (None, m):
        ok, Y_pred = attempt(est.predict, X, m=horizon)
        if ok:
            assert np.all(np.isfinite(Y_pred)), "non-finite forecast from finite input"


PUBLIC_FORECASTERS = [cls(**params) for _, cls in all_estimators("forecaster") for params in cls.get_test_params()]


@fuzz_settings(60)
@given(index=st.integers(0, len(PUBLIC_FORECASTERS) - 1), data=sequence_data(), X=any_arrays(), m=ints_or_junk)
def test_every_public_forecaster(index, data, X, m):
    """Every forecaster of the registry, with its test parameters: valid data fits and forecasts finite
    values; arbitrary arrays and horizons give clear errors."""
    count("public_forecasters")
    from sklearn.base import clone
    est = clone(PUBLIC_FORECASTERS[index])
    fitted, _ = attempt(est.fit, *data)
    if fitted:
        for horizon in (None, m):
            ok, Y_pred = attempt(est.predict, data[0], m=horizon)
            if ok:
                assert np.all(np.isfinite(Y_pred)), f"non-finite forecast of {est!r} from finite input"
        X_copy = X.copy()
        attempt(est.predict, X)
        assert unchanged(X, X_copy), "predict modified its input"


validation_sets = st.one_of(st.none(), sequence_data(), st.tuples(any_arrays(), any_arrays()),
                            st.just("junk"), st.tuples(any_arrays()))


@fuzz_settings(400)
@given(est=estimators(), data=sequence_data(), m=ints_or_junk, big=st.booleans(), data2=sequence_data(),
       validation_data=validation_sets)
def test_fit_predict_on_valid_shapes(est, data, m, big, data2, validation_data):
    count("fit_predict_valid")
    X, Y = data
    if big:  # magnitudes that overflow float32 products: a clear error or a finite forecast
        X = X * np.asarray(1e30, dtype=X.dtype) if X.dtype == np.float64 else X * np.float32(1e20)
    fitted, _ = attempt(est.fit, X, Y, validation_data=validation_data)
    if not fitted:
        return
    ok, Y_pred = attempt(est.predict, X)
    if ok:
        assert Y_pred.shape == (X.shape[0], est.horizon_, X.shape[2])
        assert np.all(np.isfinite(Y_pred)), "non-finite forecast from finite input"
    ok, Y_m = attempt(est.predict, X, m=m)
    if ok:
        assert Y_m.shape[1] == (m if m is not None else est.horizon_) and np.all(np.isfinite(Y_m))
    # a failed refit (other shapes, other parameters) leaves the previous fit usable and unchanged
    before = est.predict(X) if ok else None
    refitted, _ = attempt(est.fit, *data2)
    if not refitted and before is not None:
        np.testing.assert_array_equal(est.predict(X), before)


def _fitted_lfd2():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(4, 5, 3))
    return LFD2Forecaster(solver="lstsq").fit(X, X[:, -3:] * 2), X


FITTED, X_FITTED = _fitted_lfd2()


@fuzz_settings(200)
@given(X=any_arrays(), m=ints_or_junk)
def test_predict_on_arbitrary_arrays(X, m):
    count("predict_arbitrary")
    ok, Y_pred = attempt(FITTED.predict, X, m=m)
    if ok:
        assert np.all(np.isfinite(Y_pred)) and Y_pred.shape[0] == X.shape[0]


# ---------------------------------------------------------------------------------------------- selectors
SELECTOR_STRATEGY = selectors.filter(lambda s: s is not None and not isinstance(s, str))


# Windows of 10^6..10^13 steps are legal but would allocate gigabytes of step indices: not drawn.
n_steps_values = st.one_of(st.integers(-3, 50), st.integers(10 ** 13, 2 ** 70), ints_or_junk.filter(
    lambda v: not isinstance(v, (int, np.integer)) or isinstance(v, bool) or not 10 ** 6 <= v < 10 ** 13))


@fuzz_settings(300)
@given(sel=SELECTOR_STRATEGY, X=any_arrays(), X2=any_arrays(), n_steps=n_steps_values)
def test_selectors(sel, X, X2, n_steps):
    count("selectors")
    ok, _ = attempt(sel.fit, X)
    if ok:
        ok, Xt = attempt(sel.transform, X)
        assert ok, "transform failed on the data fit accepted"
        assert Xt.shape[1] == len(sel.steps_) and np.all(sel.steps_ < X.shape[1])
        attempt(sel.transform, X2)
        assert len(sel.get_feature_names_out()) == len(sel.steps_)
    ok, _ = attempt(sel.fit_steps, n_steps)
    if ok:
        assert np.all((sel.steps_ >= 0) & (sel.steps_ < n_steps)) and len(sel.steps_) >= 1


# ---------------------------------------------------------------------------------------------- split, metrics
@fuzz_settings(300)
@given(S=any_arrays(), n_in=ints_or_junk, m=ints_or_junk)
def test_split_sequences(S, n_in, m):
    count("split_sequences")
    ok, result = attempt(split_sequences, S, n_in, m)
    if ok:
        X, Y = result
        assert X.shape[1] == n_in and Y.shape[1] >= 1 and X.shape[0] == Y.shape[0] >= 1
        assert m is None or Y.shape[1] == m


checkpoint_lists = st.one_of(st.lists(st.integers(-5, 30), max_size=4), st.just([2.5]), st.just(["a"]),
                             st.just([[1, 2], [3]]), st.integers(0, 30), st.none())


@fuzz_settings(300)
@given(Y_true=any_arrays(), Y_pred=any_arrays(), checkpoints=checkpoint_lists, n_in=ints_or_junk,
       scale=reals_or_junk, same_shape=st.booleans())
def test_checkpoint_mse(Y_true, Y_pred, checkpoints, n_in, scale, same_shape):
    count("checkpoint_mse")
    if same_shape:
        Y_pred = np.resize(Y_pred, Y_true.shape) if Y_pred.size else np.zeros_like(Y_true)
    ok, mse = attempt(checkpoint_mse, Y_true, Y_pred, checkpoints, n_in, scale=scale)
    if ok:
        assert mse.shape == (np.atleast_1d(checkpoints).size,) and np.all(np.isfinite(mse)) and np.all(mse >= 0)


@fuzz_settings(200)
@given(checkpoints=checkpoint_lists, aggregate=st.sampled_from(["mean", "max", "median", None]),
       scale=reals_or_junk, data=sequence_data())
def test_checkpoint_scorer(checkpoints, aggregate, scale, data):
    count("checkpoint_scorer")
    ok, scorer = attempt(CheckpointScorer, checkpoints=checkpoints, aggregate=aggregate, scale=scale)
    if not ok:
        return
    X, Y = data
    est = LinearFarcaster(solver="lstsq", device="cpu").fit(X, Y)
    ok, score = attempt(scorer, est, X, Y)
    if ok:
        assert np.isfinite(score) and score <= 0


# ---------------------------------------------------------------------------------------------- load
@pytest.fixture(scope="module")
def model_bytes(tmp_path_factory):
    path = tmp_path_factory.mktemp("model") / "m"
    est = LFSForecaster(selector=SampledSelector(k=2, random_state=0), solver="lstsq").fit(X_FITTED,
                                                                                          X_FITTED[:, -2:])
    est.save(path)
    return path.read_bytes()


json_values = st.recursive(st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False),
                                     st.text(max_size=4)),
                           lambda children: st.one_of(st.lists(children, max_size=3),
                                                      st.dictionaries(st.text(max_size=6), children, max_size=3)),
                           max_leaves=8)


def _replace_random_node(node, draw_value, path_choice):
    """Replace the node reached by following path_choice (a list of ints) with a drawn JSON value."""
    if not path_choice or not isinstance(node, (dict, list)) or not node:
        return draw_value
    keys = sorted(node) if isinstance(node, dict) else list(range(len(node)))
    key = keys[path_choice[0] % len(keys)]
    node[key] = _replace_random_node(node[key], draw_value, path_choice[1:])
    return node


@fuzz_settings(300)
@given(kind=st.sampled_from(["bytes", "flip", "truncate", "json"]), junk=st.binary(max_size=64),
       position=st.integers(0, 10 ** 6), value=json_values, path=st.lists(st.integers(0, 50), max_size=8))
def test_load_wrong_files(model_bytes, tmp_path_factory, kind, junk, position, value, path):
    count("load")
    target = tmp_path_factory.getbasetemp() / "fuzzed_model"
    if kind == "bytes":
        content = junk
    elif kind == "flip":
        i = position % len(model_bytes)
        content = model_bytes[:i] + junk[:8] + model_bytes[i + len(junk[:8]):]
    elif kind == "truncate":
        content = model_bytes[: position % len(model_bytes)]
    else:
        with zipfile.ZipFile(io.BytesIO(model_bytes)) as archive:
            config = json.loads(archive.read("config.json"))
            tensors = archive.read("tensors.safetensors")
        config = _replace_random_node(config, value, path)
        target_zip = io.BytesIO()
        with zipfile.ZipFile(target_zip, "w") as archive:
            archive.writestr("config.json", json.dumps(config))
            archive.writestr("tensors.safetensors", tensors)
        content = target_zip.getvalue()
    target.write_bytes(content)
    ok, est = attempt(weightcast.load, target)
    if ok:  # a harmless change: whatever loaded must still behave
        for method in ("predict", "transform"):
            if hasattr(est, method):
                attempt(getattr(est, method), X_FITTED)


# ---------------------------------------------------------------------------------------------- CLI
@pytest.fixture(scope="module")
def cli_files(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli")
    rng = np.random.default_rng(0)
    np.save(root / "good.npy", np.cumsum(rng.normal(size=(4, 12, 3)), axis=1))
    np.save(root / "flat.npy", rng.normal(size=(4, 12)))
    np.save(root / "ints.npy", np.arange(24).reshape(2, 12))
    np.save(root / "nan.npy", np.full((2, 12, 2), np.nan))
    np.save(root / "empty.npy", np.zeros((0, 12, 2)))
    np.save(root / "scalar.npy", np.float64(3))
    np.save(root / "objects.npy", np.array([None, "a"], dtype=object), allow_pickle=True)
    (root / "pickle.npy").write_bytes(pickle.dumps({"a": 1}))
    (root / "junk.npy").write_bytes(b"\x93NUMPY\x01\x00garbage")
    (root / "data.csv").write_text("1,2,3\n")
    (root / "dir.npy").mkdir()
    # MERGE POINT (HDF5): add .h5 data files (valid, wrong layout, truncated) here, and a fuzz test of the
    # weightcast.io.hdf5 readers beside test_load_wrong_files.
    weightcast.LFD2Forecaster(solver="lstsq").fit(*split_sequences(np.load(root / "good.npy"), 5)).save(
        root / "model.wcm")
    weightcast.LFLForecaster().save(root / "unfitted.wcm")
    weightcast.AllSelector().fit(np.zeros((2, 5))).save(root / "selector.wcm")
    return root


CLI_DATA = ["good.npy", "flat.npy", "ints.npy", "nan.npy", "empty.npy", "scalar.npy", "objects.npy", "pickle.npy",
            "junk.npy", "data.csv", "dir.npy", "absent.npy", "model.wcm", "unfitted.wcm", "selector.wcm"]
CLI_NUMBERS = st.sampled_from(["5", "1", "0", "-3", "11", "12", "99999999999999", "2.5", "x", None])


@fuzz_settings(250)
@given(command=st.sampled_from(["fit", "predict"]), data=st.sampled_from(CLI_DATA),
       model=st.sampled_from(CLI_DATA), n_in=CLI_NUMBERS, m=CLI_NUMBERS,
       name=st.sampled_from(["lfd2", "lfn", "lfs", "lfl", "linear", "mlp"]),
       solver=st.sampled_from(["lstsq", "paper", None]), out=st.sampled_from(["out.npy", "out.txt", "no/dir/o.npy",
                                                                              "dir.npy", "out"]))
def test_cli(cli_files, tmp_path_factory, command, data, model, n_in, m, name, solver, out):
    count("cli")
    work = tmp_path_factory.mktemp("run", numbered=True)
    root = cli_files
    out_path = work / out if out != "dir.npy" else root / out
    if command == "fit":
        argv = ["fit", str(root / data), "--model", name, "-o", str(out_path), "--max-epochs", "1"]
        argv += ["--n-input-steps", n_in] if n_in is not None else []
    else:
        argv = ["predict", str(root / model), str(root / data), "--out", str(out_path)]
    argv += ["--m", m] if m is not None else []
    argv += ["--solver", solver] if solver is not None and command == "fit" else []
    before = sorted(os.listdir(root))
    try:
        status = cli_main(argv)
    except SystemExit as exc:  # argparse's usage errors
        status = exc.code
    assert status in (0, 2)
    assert sorted(os.listdir(root)) == before, "the CLI wrote beside its inputs"
    written = sorted(os.listdir(work))
    assert not any(f.endswith(".part") or f.startswith(".") for f in written), written
    if status == 0:
        if command == "fit":
            assert isinstance(weightcast.load(out_path), weightcast.LinearFarcaster)
        else:
            assert np.all(np.isfinite(np.load(out_path)))
    else:
        assert not out_path.exists() or out_path.is_dir()


# ---------------------------------------------------------------------------------------------- total
N_FUZZ_TESTS = 10


def test_zz_total_examples():
    """The suite ran at least 2,000 generated cases (when all fuzz tests ran in this session)."""
    if len(EXAMPLES) < N_FUZZ_TESTS:
        pytest.skip(f"only {len(EXAMPLES)} of the {N_FUZZ_TESTS} fuzz tests ran in this session")
    print(f"fuzz examples per test: {EXAMPLES}, total {sum(EXAMPLES.values())}")
    assert sum(EXAMPLES.values()) >= 2000 * SCALE
