"""The weight recorder: recordings are ordinary weight-sequence files, crash-safe and checked on open."""

import os
import select
import shutil
import signal
import time

import numpy as np
import pytest
import torch

from weightcast import LFD2Forecaster
from weightcast.io import SequenceView, SequenceWriter, forecast_layout, open_sequences, read_metadata
from weightcast.io.hdf5 import FORMAT_NAME, FORMAT_VERSION
from weightcast.training import ParameterLayout, WeightRecorder, flatten_parameters, load_flat_parameters

from .recordings import Counter, expected, record


def test_records_w0_and_every_kth_step_with_layout(tmp_path):
    path = tmp_path / "run.h5"
    model = Counter(30)
    with WeightRecorder(path, model, n_steps=5, every=3, chunk_steps=2) as recorder:
        for step in range(1, 13):
            model.set_step(step)
            recorder()
    meta = read_metadata(path)
    assert meta["steps"].tolist() == [0, 3, 6, 9, 12]
    assert meta["param_names"] == ["a", "b"] and meta["param_shapes"] == [(10, 2), (10,)]
    assert meta["param_offsets"].tolist() == [0, 20, 30]
    view = open_sequences(path)
    model.set_step(3)
    np.testing.assert_array_equal(view[0, 1], flatten_parameters(model).numpy())
    np.testing.assert_array_equal(view[0, 0, 20:], 0)  # w_0: b was zero
    assert meta["complete"] and view.incomplete_sequences.tolist() == []


def test_a_recording_is_an_ordinary_weight_sequence_file(tmp_path):
    """open_sequences / read_metadata read it; its forecast keeps the steps and loads back into the model."""
    path = record(tmp_path / "runs.h5", n_sequences=3, n_steps=12, n_params=30, every=5, chunk_steps=4,
                  checksum=True)
    meta = read_metadata(path)
    assert meta["format"] == FORMAT_NAME and meta["format_version"] == FORMAT_VERSION
    assert meta["shape"] == (3, 12, 30) and meta["dtype"] == np.float32 and meta["chunks"] == (1, 4, 30)
    assert meta["checksum"] and meta["closed"] and meta["complete"]
    assert meta["recorded"].tolist() == [12, 12, 12] and meta["incomplete_sequences"] == []
    np.testing.assert_array_equal(meta["steps"], np.arange(12) * 5)
    assert meta["param_names"] == ["a", "b"] and meta["param_shapes"] == [(10, 2), (10,)]

    view = open_sequences(path)
    assert isinstance(view, SequenceView) and view.shape == (3, 12, 30)
    np.testing.assert_array_equal(np.asarray(view), expected(3, 12, 30))
    X = view[:, :8]
    estimator = LFD2Forecaster(solver="lstsq").fit(view[:2, :4], view[:2, 4:8])
    out = tmp_path / "forecast.h5"
    layout = forecast_layout(X[:, :4], m=4)
    np.testing.assert_array_equal(layout["steps"], [20, 25, 30, 35])
    forecast = estimator.predict(X[:, :4], out=out)
    assert ParameterLayout.from_file(out) == ParameterLayout.from_model(Counter(30))  # predict keeps the names
    with SequenceWriter(tmp_path / "laid_out.h5", 3, 30, n_steps=4, **layout) as writer:  # what predict will do
        writer.write_slab(slice(0, 30), np.asarray(forecast))
    laid_out = open_sequences(tmp_path / "laid_out.h5")
    np.testing.assert_array_equal(laid_out.step_numbers, [20, 25, 30, 35])
    model = Counter(30)
    load_flat_parameters(model, laid_out[0, 2], ParameterLayout.from_file(laid_out))
    np.testing.assert_array_equal(flatten_parameters(model).numpy(), np.asarray(forecast)[0, 2])
    assert ParameterLayout.from_file(tmp_path / "laid_out.h5") == ParameterLayout.from_model(model)
    with pytest.raises(ValueError, match="'a'"):  # the layout check catches a model that does not fit
        load_flat_parameters(torch.nn.Linear(5, 5), np.zeros(30), ParameterLayout.from_file(laid_out))


def test_several_sequences_and_layout_check(tmp_path):
    path = tmp_path / "runs.h5"
    model = Counter(30)
    recorder = WeightRecorder(path, model, n_steps=3, n_sequences=2)
    for seq in range(2):
        recorder.start(Counter(30))
        for step in range(1, 3):
            recorder.model.set_step(10 * seq + step)
            recorder()
    with pytest.raises(ValueError, match="all are started"):
        recorder.start()
    recorder.close()
    view = open_sequences(path)
    assert view.shape == (2, 3, 30) and view[1, 2, -1] == -12
    other = WeightRecorder(tmp_path / "other.h5", model, n_steps=3, n_sequences=2)
    with pytest.raises(ValueError, match="'a'"):
        other.start(torch.nn.Linear(2, 2))
    other.close()


def test_full_sequence_and_existing_file_errors(tmp_path):
    path = tmp_path / "run.h5"
    with WeightRecorder(path, Counter(9), n_steps=2) as recorder:
        recorder()
        with pytest.raises(ValueError, match="full"):
            recorder()
    with pytest.raises(FileExistsError, match="run.h5"):
        WeightRecorder(path, Counter(9), n_steps=2)
    with pytest.raises(ValueError, match="start"):
        WeightRecorder(tmp_path / "b.h5", Counter(9), n_steps=2)()


def test_unfinished_runs_are_named_and_the_finished_ones_selected(tmp_path):
    """Closed early: run 0 finished, run 1 stopped after 7 of 10 snapshots, run 2 never started."""
    path = record(tmp_path / "short.h5", n_sequences=3, n_steps=10, n_params=30, stop_after=17, chunk_steps=4)
    meta = read_metadata(path)
    assert meta["closed"] and not meta["complete"]
    assert meta["recorded"].tolist() == [10, 7, 0] and meta["incomplete_sequences"] == [1, 2]
    view = open_sequences(path)
    assert view.incomplete_sequences.tolist() == [1, 2]
    finished = open_sequences(path, complete_only=True)
    assert finished.shape == (1, 10, 30)
    np.testing.assert_array_equal(np.asarray(finished), expected(1, 10, 30))
    np.testing.assert_array_equal(view[1, :7], expected(2, 7, 30)[1])  # the recorded part reads
    assert view[:, :7].incomplete_sequences.tolist() == [2]
    with pytest.raises(ValueError, match=r"sequence 1 of .*short\.h5.* holds only 7 of 10 steps.*complete_only"):
        view[1]
    with pytest.raises(ValueError, match=r"sequence 1 of .*short\.h5.* holds only 7"):
        LFD2Forecaster(solver="lstsq").fit(view[:2, :3], view[:2, 3:9])
    with pytest.raises(ValueError, match=r"sequences \[1, 2\] of .*short\.h5.* hold only \[7, 0\] of 10"):
        np.asarray(view)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_killed_recording_opens_and_names_its_unfinished_runs(tmp_path):
    """SIGKILL in run 1 after 13 of its 20 snapshots, with 4-snapshot chunks: 12 are on disk."""
    path = record(tmp_path / "killed.h5", n_sequences=3, n_steps=20, n_params=300, stop_after=33, kill=True,
                  chunk_steps=4)
    meta = read_metadata(path)
    assert meta["closed"] is False and not meta["complete"]
    assert meta["recorded"].tolist() == [20, 12, 0] and meta["incomplete_sequences"] == [1, 2]
    np.testing.assert_array_equal(meta["steps"], np.arange(20))
    view = open_sequences(path)
    reference = expected(2, 20, 300)
    np.testing.assert_array_equal(np.asarray(view.complete()), reference[:1])
    np.testing.assert_array_equal(np.asarray(view[1, :12]), reference[1, :12])
    with pytest.raises(ValueError, match=r"sequence 1 .* holds only 12 of 20 steps .*killed"):
        np.asarray(view[:2, :13])
    estimator = LFD2Forecaster(solver="lstsq").fit(view[:2, :4], view[:2, 4:12])  # the flushed steps fit
    assert estimator.coef_.shape[1] == 8


def _chunk_middle(path, sequence, step):
    """A byte in the middle of the chunk holding ``step`` of ``sequence``."""
    import h5py
    with h5py.File(path, "r", libver="latest", swmr=True) as f:
        info = f["weights"].id.get_chunk_info_by_coord((sequence, step, 0))
    return info.byte_offset + info.size // 2


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
@pytest.mark.parametrize("kill", [False, True], ids=["closed", "killed"])
def test_truncated_recordings_are_refused_by_every_reader(tmp_path, kill):
    """Cut a finished or a killed recording; open_sequences, read_metadata and a forecaster reading a view
    opened before the cut all refuse it, naming the file."""
    path = record(tmp_path / "full.h5", n_sequences=3, n_steps=20, n_params=3000, kill=kill,
                  stop_after=55 if kill else None, chunk_steps=4)
    size = os.path.getsize(path)
    # inside the superblock, inside the first metadata, a third of the bytes, inside a chunk of run 0 and
    # of the last run, a few bytes short
    cuts = sorted({40, 300, size // 3, _chunk_middle(path, 0, 8), _chunk_middle(path, 2, 8), size - 5})
    for n in cuts:
        target = tmp_path / f"cut{n}.h5"
        shutil.copy(path, target)
        view = open_sequences(target)
        os.truncate(target, n)
        name = target.name.replace(".", r"\.")
        for reader in (open_sequences, read_metadata):
            with pytest.raises(ValueError, match=rf"{name}.*(truncated|damaged|cannot open)"):
                reader(target)
        with pytest.raises(ValueError, match=rf"{name}.*(truncated|damaged|cannot open)"):
            LFD2Forecaster(solver="lstsq").fit(view[:1, :4], view[:1, 4:8])


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_sigkill_at_random_moments_keeps_every_flushed_step(tmp_path):
    """Kill a recording process 20 times anywhere (mid-write included): the file opens, names the unfinished
    run and reads every snapshot that was flushed before the kill, exactly."""
    rng = np.random.default_rng(0)
    n_steps, chunk = 40, 4
    reference = expected(3, n_steps)
    started = time.perf_counter()
    for attempt in range(20):
        path = tmp_path / f"killed{attempt}.h5"
        read_fd, write_fd = os.pipe()
        pid = os.fork()
        if pid == 0:  # child: record, reporting what the file holds after every snapshot
            try:
                os.close(read_fd)
                _record_reporting(path, write_fd, n_steps, chunk, checksum=attempt % 2 == 0)
            finally:
                os._exit(1)
        os.close(write_fd)
        wanted = int(rng.integers(1, 3 * n_steps - 5))  # snapshots to see taken before the kill
        seen = b""
        while seen.count(b"\n") < wanted:
            ready, _, _ = select.select([read_fd], [], [], 20)
            chunk_bytes = os.read(read_fd, 1 << 16) if ready else b""
            if not chunk_bytes:
                if not ready:
                    os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
                pytest.fail(f"attempt {attempt}: the recording process stopped before it was killed")
            seen += chunk_bytes
        flushed = np.array(seen.split(b"\n")[wanted - 1].split(), dtype=np.int64)
        time.sleep(rng.uniform(0, 0.003))  # land the kill anywhere, mid-write included
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        os.close(read_fd)
        meta = read_metadata(path)
        recorded = meta["recorded"]
        assert np.all(recorded >= flushed), f"attempt {attempt}: {flushed} flushed, the file claims {recorded}"
        assert meta["incomplete_sequences"] == np.flatnonzero(recorded < n_steps).tolist(), (recorded, meta["shape"])
        view = open_sequences(path)
        for seq, n in enumerate(recorded.tolist()):
            np.testing.assert_array_equal(np.asarray(view[seq, :n]), reference[seq, :n], err_msg=f"attempt {attempt}")
        assert view.complete().shape[0] == int(np.sum(recorded == n_steps))
    assert time.perf_counter() - started < 60


def _record_reporting(path, write_fd, n_steps, chunk, checksum):
    torch.set_num_threads(1)
    model = Counter()
    recorder = WeightRecorder(path, model, n_steps=n_steps, n_sequences=3, chunk_steps=chunk, checksum=checksum)
    writer = recorder._writer

    def report():
        os.write(write_fd, (" ".join(map(str, writer.recorded.tolist())) + "\n").encode())

    for seq in range(3):
        model.set_step(1000 * seq)
        recorder.start(model)
        report()
        for step in range(1, n_steps):
            model.set_step(1000 * seq + step)
            recorder()
            report()
    recorder.close()
    while True:  # keep the process alive until it is killed
        time.sleep(1)


def test_open_recording_is_a_deprecated_alias(tmp_path):
    from weightcast.training import open_recording
    path = record(tmp_path / "run.h5", n_sequences=1, n_steps=3, n_params=30)
    with pytest.warns(DeprecationWarning, match="open_sequences"):
        view = open_recording(path)
    assert view.shape == (1, 3, 30)


@pytest.mark.parametrize("argument, value, error, match", [
    ("n_steps", 0, ValueError, "n_steps must be >= 1, got 0"),
    ("every", 2.0, TypeError, r"every must be an integer, got 2.0 \(float\)"),
    ("n_sequences", True, TypeError, "n_sequences must be an integer, got True"),
    ("chunk_steps", -1, ValueError, "chunk_steps must be >= 1, got -1"),
])
def test_bad_recorder_arguments_are_named_and_write_nothing(tmp_path, argument, value, error, match):
    options = {"n_steps": 3, argument: value}
    with pytest.raises(error, match=match):
        WeightRecorder(tmp_path / "r.h5", torch.nn.Linear(2, 1), **options)
    assert not list(tmp_path.iterdir())
