import os
import select
import signal
import time

import h5py
import numpy as np
import pytest
import torch

from weightcast.training import WeightRecorder, flatten_parameters, open_recording
from weightcast.training.recorder import FORMAT_NAME


class _Counter(torch.nn.Module):
    """Parameters that encode the training step, so any snapshot can be checked exactly."""

    def __init__(self, n=3000):
        super().__init__()
        self.a = torch.nn.Parameter(torch.zeros(n // 3, 2))
        self.b = torch.nn.Parameter(torch.zeros(n - 2 * (n // 3)))

    def set_step(self, step):
        with torch.no_grad():
            self.a.copy_(step + torch.arange(self.a.numel(), dtype=torch.float32).reshape(self.a.shape) * 1e-3)
            self.b.fill_(-step)


def _expected(model, step):
    model.set_step(step)
    return flatten_parameters(model).numpy()


def test_records_w0_and_every_kth_step_with_layout(tmp_path):
    path = tmp_path / "run.h5"
    model = _Counter(30)
    with WeightRecorder(path, model, n_steps=5, every=3, chunk_steps=2) as record:
        for step in range(1, 13):
            model.set_step(step)
            record()
    with open_recording(path) as rec:
        assert rec.file.attrs["format"] == FORMAT_NAME
        assert rec.steps[0].tolist() == [0, 3, 6, 9, 12]
        assert rec.layout.names == ("a", "b") and rec.layout.shapes == ((10, 2), (10,))
        assert rec.weights.attrs["param_offsets"].tolist() == [0, 20]
        np.testing.assert_array_equal(rec.weights[0, 1], _expected(model, 3))
        np.testing.assert_array_equal(rec.weights[0, 0, 20:], 0)  # w_0: b was zero
        assert rec.complete_sequences().tolist() == [0]


def test_several_sequences_and_layout_check(tmp_path):
    path = tmp_path / "runs.h5"
    model = _Counter(30)
    recorder = WeightRecorder(path, model, n_steps=3, n_sequences=2)
    for seq in range(2):
        recorder.start(_Counter(30))
        for step in range(1, 3):
            recorder.model.set_step(10 * seq + step)
            recorder()
    with pytest.raises(ValueError, match="all are started"):
        recorder.start()
    recorder.close()
    with open_recording(path) as rec:
        assert rec.weights.shape == (2, 3, 30)
        assert rec.weights[1, 2, -1] == -12
    other = WeightRecorder(tmp_path / "other.h5", model, n_steps=3, n_sequences=2)
    with pytest.raises(ValueError, match="'a'"):
        other.start(torch.nn.Linear(2, 2))
    other.close()


def test_full_sequence_and_existing_file_errors(tmp_path):
    path = tmp_path / "run.h5"
    with WeightRecorder(path, _Counter(9), n_steps=2) as record:
        record()
        with pytest.raises(ValueError, match="full"):
            record()
    with pytest.raises(FileExistsError, match="run.h5"):
        WeightRecorder(path, _Counter(9), n_steps=2)
    with pytest.raises(ValueError, match="start"):
        WeightRecorder(tmp_path / "b.h5", _Counter(9), n_steps=2)()


def test_open_recording_rejects_other_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing.h5"):
        open_recording(tmp_path / "missing.h5")
    (tmp_path / "text.h5").write_text("not hdf5")
    with pytest.raises(ValueError, match="text.h5"):
        open_recording(tmp_path / "text.h5")
    with h5py.File(tmp_path / "plain.h5", "w") as f:
        f["x"] = 1
    with pytest.raises(ValueError, match="plain.h5"):
        open_recording(tmp_path / "plain.h5")


def _record_until_killed(path, write_fd):
    """Child process: record steps forever, reporting each flushed step count through a pipe."""
    torch.set_num_threads(1)
    model = _Counter()
    recorder = WeightRecorder(path, model, n_steps=100_000, chunk_steps=4)
    writer = recorder._writer
    flush = writer.flush

    def flush_and_report():
        flush()
        os.write(write_fd, f"{writer._start}\n".encode())

    writer.flush = flush_and_report
    model.set_step(0)
    recorder.start(model)
    step = 0
    while True:
        step += 1
        model.set_step(step)
        recorder()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_sigkill_leaves_a_readable_file_with_every_flushed_step(tmp_path):
    rng = np.random.default_rng(0)
    model = _Counter()
    reference = np.stack([_expected(model, step) for step in range(64)])
    started = time.perf_counter()
    for attempt in range(20):
        path = tmp_path / f"killed{attempt}.h5"
        read_fd, write_fd = os.pipe()
        pid = os.fork()
        if pid == 0:  # child
            try:
                os.close(read_fd)
                _record_until_killed(path, write_fd)
            finally:
                os._exit(1)
        os.close(write_fd)
        wanted = int(rng.integers(1, 12))  # chunks to see flushed before the kill
        flushed, seen = 0, b""
        while seen.count(b"\n") < wanted:
            ready, _, _ = select.select([read_fd], [], [], 20)
            chunk = os.read(read_fd, 4096) if ready else b""
            if not chunk:
                if not ready:
                    os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
                pytest.fail(f"attempt {attempt}: the recording process stopped before it was killed")
            seen += chunk
        flushed = int(seen.split(b"\n")[wanted - 1])
        time.sleep(rng.uniform(0, 0.003))  # land the kill anywhere, mid-write included
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        os.close(read_fd)
        with open_recording(path) as rec:
            n = int(rec.n_recorded()[0])
            assert n >= flushed, f"attempt {attempt}: {flushed} steps were flushed but only {n} are in the file"
            assert rec.steps[0, :n].tolist() == list(range(n))
            upto = min(n, len(reference))
            np.testing.assert_array_equal(rec.weights[0, :upto], reference[:upto])
    assert time.perf_counter() - started < 60
