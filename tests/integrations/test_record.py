"""The recording logic both frameworks' callbacks share, driven by hand (no framework needed)."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from weightcast.integrations._record import RecorderCallbackBase
from weightcast.io import open_sequences, read_metadata

ROOT = Path(__file__).resolve().parents[2]

CRASHING_SCRIPT = """
import sys, torch
from weightcast.integrations._record import RecorderCallbackBase
model = torch.nn.Linear(2, 1)
callback = RecorderCallbackBase(sys.argv[1], chunk_steps=16)
callback._begin_run(model, planned_steps=10, writer=True)
for step in range(1, 4):
    with torch.no_grad():
        model.bias.fill_(step)
    callback._optimizer_steps()
raise RuntimeError("the script dies here, with the last snapshots still buffered")
"""


def test_a_script_that_dies_of_an_unreported_exception_writes_what_it_buffered(tmp_path):
    path = tmp_path / "run.h5"
    out = subprocess.run([sys.executable, "-c", CRASHING_SCRIPT, str(path)], cwd=ROOT, capture_output=True,
                         text=True, timeout=120, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert out.returncode == 1 and "the script dies here" in out.stderr
    view = open_sequences(path)
    assert view.shape == (1, 11, 3) and read_metadata(path)["recorded"].tolist() == [4]   # w_0 .. w_3
    np.testing.assert_array_equal(view[0, 1:4, -1], [1, 2, 3])        # w_1 .. w_3: bias = step


def test_a_run_that_never_ended_in_a_file_of_several_stays_incomplete_and_the_next_run_goes_on(tmp_path):
    model = torch.nn.Linear(2, 1)
    callback = RecorderCallbackBase(tmp_path / "runs.h5", n_sequences=3)
    callback._begin_run(model, planned_steps=2, writer=True)
    callback._optimizer_steps(2)
    callback._end_run()
    callback._begin_run(model, planned_steps=2, writer=True)      # run 1 fails without telling the callback
    callback._optimizer_steps(1)
    with pytest.warns(UserWarning, match="run 1 in .* did not end; it stays incomplete and this run is recorded "
                                         "as run 2"):
        callback._begin_run(model, planned_steps=2, writer=True)
    callback._optimizer_steps(2)
    callback._end_run()
    assert callback.recorder_ is None                              # closed after the last run
    meta = read_metadata(tmp_path / "runs.h5")
    assert meta["recorded"].tolist() == [3, 2, 3] and meta["incomplete_sequences"] == [1]
