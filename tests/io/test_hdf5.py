"""The HDF5 weight-sequence format: writer, readers, lazy views and bad files."""

import errno
import os
import pickle
import signal
import subprocess
import sys
import textwrap

import h5py
import numpy as np
import pytest

from weightcast import LFD2Forecaster, split_sequences
from weightcast.io import (
    SequenceView,
    SequenceWriter,
    convert_recording,
    forecast_layout,
    hdf5,
    open_sequences,
    read_metadata,
    write_sequences,
)
from weightcast.io.hdf5 import FORMAT_NAME, FORMAT_VERSION


@pytest.fixture
def S():
    return np.random.default_rng(0).normal(size=(6, 9, 11)).astype(np.float32)


@pytest.fixture
def view(tmp_path, S):
    return write_sequences(tmp_path / "runs.h5", S, chunk_steps=4, chunk_params=4)


# ---------------------------------------------------------------------------------------------- round trips
def test_write_sequences_round_trip_with_layout(tmp_path, S):
    path = tmp_path / "runs.h5"
    view = write_sequences(path, S, steps=np.arange(9) * 100, param_names=["conv.weight", "conv.bias"],
                           param_shapes=[(2, 4), (3,)], chunk_steps=4, chunk_params=8)
    np.testing.assert_array_equal(np.asarray(view), S)
    meta = read_metadata(path)
    assert meta["format"] == FORMAT_NAME and meta["format_version"] == FORMAT_VERSION
    assert meta["shape"] == S.shape and meta["dtype"] == np.float32 and meta["chunks"] == (1, 4, 8)
    np.testing.assert_array_equal(meta["steps"], np.arange(9) * 100)
    assert meta["param_names"] == ["conv.weight", "conv.bias"]
    assert meta["param_shapes"] == [(2, 4), (3,)]
    np.testing.assert_array_equal(meta["param_offsets"], [0, 8, 11])
    assert meta["recorded"].tolist() == [9] * 6 and meta["closed"] and meta["complete"]
    assert meta["incomplete_sequences"] == [] and not meta["checksum"]
    assert view.step_numbers.tolist() == list(range(0, 900, 100)) and view[:, 2:4].step_numbers.tolist() == [200, 300]
    assert view.param_names == ["conv.weight", "conv.bias"] and view.param_shapes == [(2, 4), (3,)]
    assert os.listdir(tmp_path) == ["runs.h5"]  # no temporary file left behind


def test_float64_is_kept(tmp_path, S):
    view = write_sequences(tmp_path / "f64.h5", S.astype(np.float64))
    assert view.dtype == np.float64
    np.testing.assert_array_equal(np.asarray(view), S.astype(np.float64))


def test_appending_steps_in_whole_chunks_and_blocks(tmp_path, S):
    path = tmp_path / "rec.h5"
    with SequenceWriter(path, 6, 11, chunk_steps=4) as writer:
        writer.append(S[:, 0], step=7)
        writer.append(S[:, 1:6], step=[8, 9, 10, 11, 12])
        assert writer.n_steps_written == 6
        for t in range(6, 9):
            writer.append(S[:, t])
    np.testing.assert_array_equal(np.asarray(open_sequences(path)), S)
    np.testing.assert_array_equal(read_metadata(path)["steps"], [7, 8, 9, 10, 11, 12, 6, 7, 8])


class _WriteLog:
    """Stands in for the writer's h5py dataset and logs which (sequence, steps) each write covers."""

    def __init__(self, ds):
        self.ds, self.writes = ds, []

    def __getattr__(self, name):
        return getattr(self.ds, name)

    def __setitem__(self, key, value):
        self.writes.append((key[0], key[1].start, key[1].stop))
        self.ds[key] = value


def test_one_sequence_appends_buffer_whole_chunks_and_count_what_is_flushed(tmp_path, S):
    path = tmp_path / "runs.h5"
    with SequenceWriter(path, 3, 11, n_steps=9, chunk_steps=4, crash_safe=True) as writer:
        log = writer._ds = _WriteLog(writer._ds)
        writer.append(S[0, :3], step=[0, 10, 20], sequence=0)  # buffered: nothing in the file yet
        assert writer.recorded.tolist() == [0, 0, 0]
        writer.append(S[0, 3], step=30, sequence=0)  # the chunk is full: written, flushed, counted
        assert writer.recorded.tolist() == [4, 0, 0]
        writer.append(S[0, 4:9], sequence=0)  # reaches n_steps: written at once
        assert writer.recorded.tolist() == [9, 0, 0]
        writer.append(S[1, :2], sequence=1)
        writer.append(S[2], sequence=2)  # another sequence: sequence 1's two steps are written first
        assert writer.recorded.tolist() == [9, 2, 9] and writer.n_steps_written == 9
    assert log.writes == [(0, 0, 4), (0, 4, 8), (0, 8, 9), (1, 0, 2), (2, 0, 4), (2, 4, 8), (2, 8, 9)]
    meta = read_metadata(path)
    assert meta["recorded"].tolist() == [9, 2, 9] and meta["incomplete_sequences"] == [1]
    assert meta["closed"] and not meta["complete"]
    np.testing.assert_array_equal(meta["steps"], [0, 10, 20, 30, 4, 5, 6, 7, 8])
    view = open_sequences(path)
    np.testing.assert_array_equal(np.asarray(view[[0, 2]]), S[[0, 2]])
    np.testing.assert_array_equal(view[1, :2], S[1, :2])
    np.testing.assert_array_equal(np.asarray(open_sequences(path, complete_only=True)), S[[0, 2]])


@pytest.mark.parametrize("options, error, match", [
    (dict(n_sequences=0), ValueError, "n_sequences must be >= 1, got 0"),
    (dict(n_params=3.0), TypeError, r"n_params must be an integer, got 3.0 \(float\)"),
    (dict(chunk_steps=True), TypeError, "chunk_steps must be an integer, got True"),
    (dict(n_steps=-1), ValueError, "n_steps must be >= 0, got -1"),
    (dict(chunk_params="4"), TypeError, "chunk_params must be an integer or None, got '4'"),
])
def test_bad_writer_sizes_are_named_and_write_nothing(tmp_path, options, error, match):
    with pytest.raises(error, match=match):
        SequenceWriter(tmp_path / "a.h5", **{"n_sequences": 2, "n_params": 3, **options})
    with pytest.raises(ValueError, match="slab_size must be >= 1, got 0"):
        write_sequences(tmp_path / "b.h5", np.zeros((1, 2, 3)), slab_size=0)
    assert not list(tmp_path.iterdir())


def test_sequences_share_one_axis_of_step_numbers(tmp_path):
    writer = SequenceWriter(tmp_path / "a.h5", 2, 3, n_steps=3, crash_safe=True)
    writer.append(np.zeros((3, 3)), step=[0, 5, 10], sequence=0)
    writer.append(np.zeros(3), sequence=1)  # by default the step numbers the file has
    with pytest.raises(ValueError, match=r"step 1 of sequence 1 is training step 6, but .*a\.h5.* numbers that "
                                         r"step 5.*share one axis"):
        writer.append(np.zeros(3), step=6, sequence=1)
    with pytest.raises(ValueError, match=r"append\(values\) cannot be mixed with append\(values, sequence=i\)"):
        writer.append(np.zeros((2, 3)))
    with pytest.raises(ValueError, match=r"sequence must be <= 1, got 2"):
        writer.append(np.zeros(3), sequence=2)
    writer.close()
    assert read_metadata(tmp_path / "a.h5")["steps"].tolist() == [0, 5, 10]
    fixed = SequenceWriter(tmp_path / "b.h5", 1, 3, n_steps=2, steps=[100, 200])
    with pytest.raises(ValueError, match="step 0 is training step 7, but .* numbers that step 100"):
        fixed.append(np.zeros((1, 3)), step=7)
    fixed.abort()
    with pytest.raises(ValueError, match="give n_steps too"):
        SequenceWriter(tmp_path / "c.h5", 1, 3, steps=[1, 2])


def test_slabs_of_an_incomplete_copy_write_only_the_recorded_steps(tmp_path, S):
    path = tmp_path / "copy.h5"
    with SequenceWriter(path, 6, 11, n_steps=9, chunk_steps=4, chunk_params=4, recorded=[9, 9, 5, 0, 9, 1]) as writer:
        for p0 in range(0, 11, 4):
            writer.write_slab(slice(p0, min(p0 + 4, 11)), S[:, :, p0:p0 + 4])
    meta = read_metadata(path)
    assert meta["recorded"].tolist() == [9, 9, 5, 0, 9, 1] and meta["incomplete_sequences"] == [2, 3, 5]
    with h5py.File(path, "r") as f:
        assert f["weights"].id.get_num_chunks() == 3 * 3 * 3 + 2 * 3 + 1 * 3  # nothing beyond the recorded steps
    np.testing.assert_array_equal(np.asarray(open_sequences(path, complete_only=True)), S[[0, 1, 4]])
    np.testing.assert_array_equal(open_sequences(path)[2, :5], S[2, :5])


def _count_pwrites(monkeypatch, most=None):
    """Count the bytes of each chunk write that bypasses HDF5 (os.pwritev); ``most``: write at most that many
    bytes a call."""
    calls = []
    pwritev = os.pwritev

    def counted(fd, buffers, offset):
        data = b"".join(buffers)
        calls.append(len(data))
        return pwritev(fd, [data if most is None else data[:most]], offset)

    monkeypatch.setattr(os, "pwritev", counted)
    return calls


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_slabs_of_whole_chunks_are_written_in_place_and_the_rest_through_hdf5(tmp_path, monkeypatch, dtype):
    S = np.random.default_rng(1).normal(size=(3, 7, 37)).astype(dtype)
    calls = _count_pwrites(monkeypatch)
    path = tmp_path / "slabs.h5"
    # chunks of 3 steps x 8 parameters: the last chunks of both axes are edge chunks
    with SequenceWriter(path, 3, 37, n_steps=7, dtype=dtype, chunk_steps=3, chunk_params=8) as writer:
        for p0, p1 in ((0, 16), (16, 21), (21, 32), (32, 37)):  # 16:21 and 21:32 start or end inside a chunk
            writer.write_slab(slice(p0, p1), S[:, :, p0:p1])
    chunk_bytes = 3 * 8 * np.dtype(dtype).itemsize
    assert calls == [chunk_bytes] * (3 * 3 * 2 + 3 * 3 * 1)  # the whole-chunk slabs 0:16 and 32:37
    view = open_sequences(path)
    assert view.dtype == dtype and read_metadata(path)["closed"]
    np.testing.assert_array_equal(np.asarray(view), S)


def test_chunk_writes_that_write_part_of_a_chunk_are_continued(tmp_path, monkeypatch, S):
    calls = _count_pwrites(monkeypatch, most=40)
    write_sequences(tmp_path / "short.h5", S, chunk_steps=4, chunk_params=4)
    assert calls and min(calls) < 4 * 4 * 4  # continued from where the last call stopped
    np.testing.assert_array_equal(np.asarray(open_sequences(tmp_path / "short.h5")), S)


def test_chunk_writes_of_more_buffers_than_one_call_takes_are_split(tmp_path, monkeypatch):
    """An edge chunk's rows and padding go out in several pwritev calls when they are more than IOV_MAX."""
    S = np.random.default_rng(2).normal(size=(2, 9, 13)).astype(np.float32)
    calls = _count_pwrites(monkeypatch)
    monkeypatch.setattr(hdf5, "_IOV_MAX", 3)
    write_sequences(tmp_path / "split.h5", S, chunk_steps=9, chunk_params=8)  # chunks of 9 rows, the last 5 wide
    assert len(calls) > 2 * 2 and max(calls) <= 3 * 8 * 4
    np.testing.assert_array_equal(np.asarray(open_sequences(tmp_path / "split.h5")), S)


def test_a_failed_chunk_write_names_the_file_and_leaves_nothing(tmp_path, monkeypatch, S):
    def full(fd, buffers, offset):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "pwritev", full)
    with pytest.raises(OSError, match=r"writing parameters 0-3 of sequence 0 to .*full\.h5.* failed: No space left") \
            as error:
        write_sequences(tmp_path / "full.h5", S, chunk_steps=4, chunk_params=4)
    assert error.value.errno == errno.ENOSPC
    assert os.listdir(tmp_path) == []


def test_writer_refuses_to_overwrite_and_checks_shapes(tmp_path, S):
    path = tmp_path / "runs.h5"
    write_sequences(path, S)
    with pytest.raises(FileExistsError, match="runs.h5"):
        SequenceWriter(path, 6, 11)
    with SequenceWriter(tmp_path / "other.h5", 6, 11) as writer:
        with pytest.raises(ValueError, match=r"\(6, 11\)"):
            writer.append(np.zeros((6, 10)))
        writer.append(S[:, 0])
    with pytest.raises(ValueError, match="param_shapes cover 5"):
        SequenceWriter(tmp_path / "names.h5", 6, 11, param_names=["a"], param_shapes=[(5,)])


def test_atomic_writer_leaves_nothing_on_error_or_when_incomplete(tmp_path, S):
    path = tmp_path / "out.h5"
    with pytest.raises(RuntimeError, match="boom"):
        with SequenceWriter(path, 6, 11, n_steps=9) as writer:
            writer.write_slab(slice(0, 4), S[:, :, :4])
            raise RuntimeError("boom")
    assert os.listdir(tmp_path) == []
    with pytest.raises(ValueError, match="incomplete"):
        with SequenceWriter(path, 6, 11, n_steps=9) as writer:
            writer.write_slab(slice(0, 4), S[:, :, :4])
    assert os.listdir(tmp_path) == []


def test_crash_safe_recording_survives_sigkill(tmp_path):
    """A recorder killed mid-run leaves a file that opens and holds every flushed step."""
    path = tmp_path / "live.h5"
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    script = textwrap.dedent(f"""
        import os, signal, sys
        import numpy as np
        sys.path.insert(0, {root!r})
        from weightcast.io import SequenceWriter
        writer = SequenceWriter({str(path)!r}, 2, 50, chunk_steps=3, crash_safe=True)
        for t in range(8):  # two chunk rows (6 steps) flushed, 2 steps still buffered
            writer.append(np.full((2, 50), float(t)), step=10 * t)
        os.kill(os.getpid(), signal.SIGKILL)
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == -signal.SIGKILL, done.stderr
    view = open_sequences(path)
    assert view.shape == (2, 6, 50)
    np.testing.assert_array_equal(np.asarray(view)[1, :, 0], np.arange(6.0))
    meta = read_metadata(path)
    np.testing.assert_array_equal(meta["steps"], np.arange(6) * 10)
    assert meta["recorded"].tolist() == [6, 6] and meta["closed"] is False and not meta["complete"]
    assert meta["incomplete_sequences"] == []  # a growing file ends at its last flushed step


def test_crash_safe_writer_closes_to_a_normal_file(tmp_path, S):
    path = tmp_path / "live.h5"
    with SequenceWriter(path, 6, 11, chunk_steps=4, crash_safe=True) as writer:
        # path appears only once the layout is on disk: readers open it from the start
        assert os.listdir(tmp_path) == ["live.h5"]
        meta = read_metadata(path)
        assert meta["shape"] == (6, 0, 11) and meta["closed"] is False and not meta["complete"]
        for t in range(9):
            writer.append(S[:, t])
        assert open_sequences(path).shape == (6, 8, 11)  # followed while written: the flushed steps
    with h5py.File(path, "r") as f:  # a plain open works after a clean close
        np.testing.assert_array_equal(f["weights"][:], S)


# ---------------------------------------------------------------------------------------------- views
@pytest.mark.parametrize("key", [
    (slice(1, 5),), (slice(None), slice(2, 7)), ([4, 0, 4, 2],), (np.array([5, 1]), slice(None, None, 2)),
    (np.array([True, False, True, True, False, True]),), (slice(None), [6, 1, 1, 3]), (Ellipsis,),
    ([3, 1], Ellipsis), (slice(None, None, -1), slice(-3, None)),
])
def test_slicing_gives_views_with_numpy_semantics(view, S, key):
    sub = view[key]
    assert isinstance(sub, SequenceView)
    expected = S[key]
    assert sub.shape == expected.shape and sub.ndim == 3 and len(sub) == expected.shape[0]
    np.testing.assert_array_equal(np.asarray(sub), expected)
    np.testing.assert_array_equal(np.asarray(sub[1:][:, 1:]), expected[1:][:, 1:])


@pytest.mark.parametrize("key", [2, (slice(None), 3), (slice(None), slice(None), slice(2, 5)), (1, 2, 3),
                                 (Ellipsis, 4)])
def test_integer_or_parameter_indexing_reads_data(view, S, key):
    np.testing.assert_array_equal(view[key], S[key])


def test_read_block_reorders_and_converts(view, S):
    block = view.read_block(seqs=[3, 0, 3], steps=[5, 1, 2], params=slice(3, 9), dtype=np.float64)
    assert block.dtype == np.float64
    np.testing.assert_array_equal(block, S[[3, 0, 3]][:, [5, 1, 2], 3:9])
    with pytest.raises(IndexError):
        view[[0, 6]]


def test_views_pickle_without_their_handle(view, S):
    sub = view[[5, 2, 3]][:, 1:8]
    np.asarray(sub)  # opens this process's handle
    clone = pickle.loads(pickle.dumps(sub))
    assert clone.shape == (3, 7, 11) and clone._handle is None
    np.testing.assert_array_equal(np.asarray(clone), S[[5, 2, 3]][:, 1:8])


def test_split_sequences_on_a_view_gives_views(view, S):
    X, Y = split_sequences(view, n_input_steps=4, m=3)
    assert isinstance(X, SequenceView) and isinstance(Y, SequenceView)
    np.testing.assert_array_equal(np.asarray(X), S[:, :4])
    np.testing.assert_array_equal(np.asarray(Y), S[:, 4:7])


def test_plain_hdf5_datasets_are_read_too(tmp_path, S):
    path = tmp_path / "plain.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("group/traj", data=S)
    view = open_sequences(path, "group/traj")
    np.testing.assert_array_equal(np.asarray(view[:, 2:]), S[:, 2:])
    assert read_metadata(path, "group/traj")["format"] is None


def test_forecast_layout_continues_evenly_spaced_steps_and_keeps_names(tmp_path, S):
    view = write_sequences(tmp_path / "runs.h5", S, steps=np.arange(9) * 50, param_names=["w", "b"],
                           param_shapes=[(8,), (3,)])
    layout = forecast_layout(view[:, 2:5], m=3)
    assert layout["param_names"] == ["w", "b"] and layout["param_shapes"] == [(8,), (3,)]
    np.testing.assert_array_equal(layout["steps"], [250, 300, 350])
    assert "steps" not in forecast_layout(view[:, [0, 1, 3]], m=2)  # uneven: no step numbers
    assert "steps" not in forecast_layout(view[:, :1], m=2)  # one step: no spacing
    assert forecast_layout(S, m=2) == {} and forecast_layout(write_sequences(tmp_path / "bare.h5", S), 2) == {}
    with SequenceWriter(tmp_path / "forecast.h5", 6, 11, n_steps=3, **layout) as writer:
        writer.write_slab(slice(0, 11), S[:, :3])
    assert read_metadata(tmp_path / "forecast.h5")["steps"].tolist() == [250, 300, 350]


# ---------------------------------------------------------------------------------------------- bad files
def _plain(path, **datasets):
    with h5py.File(path, "w") as f:
        for name, data in datasets.items():
            f.create_dataset(name, data=data)
    return path


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.h5"):
        open_sequences(tmp_path / "nope.h5")


def test_missing_dataset(tmp_path, S):
    path = _plain(tmp_path / "other.h5", something=S)
    with pytest.raises(ValueError, match=r"other\.h5.*'weights'.*something"):
        open_sequences(path)


def test_wrong_rank(tmp_path, S):
    path = _plain(tmp_path / "flat.h5", weights=S[0])
    with pytest.raises(ValueError, match=r"flat\.h5.*\(9, 11\)"):
        open_sequences(path)


def test_wrong_dtype(tmp_path, S):
    path = _plain(tmp_path / "ints.h5", weights=S.astype(np.int32))
    with pytest.raises(TypeError, match=r"ints\.h5.*int32"):
        open_sequences(path)


def test_not_hdf5(tmp_path):
    path = tmp_path / "notes.h5"
    path.write_text("these are not weights\n" * 100)
    with pytest.raises(ValueError, match=r"notes\.h5.*not an HDF5 file"):
        open_sequences(path)


@pytest.mark.parametrize("where", ["superblock", "metadata", "third", "half", "chunk", "last byte"])
def test_truncated_files_are_refused_by_every_reader(tmp_path, S, where):
    path = tmp_path / "cut.h5"
    write_sequences(path, np.repeat(S, 20, axis=2), chunk_steps=4)
    view = open_sequences(path)  # opened before the cut
    size = os.path.getsize(path)
    with h5py.File(path, "r") as f:
        chunk = f["weights"].id.get_chunk_info_by_coord((3, 4, 0))
    cut = {"superblock": 20, "metadata": 700, "third": size // 3, "half": size // 2,
           "chunk": chunk.byte_offset + chunk.size // 2, "last byte": size - 1}[where]
    os.truncate(path, cut)
    for read in (open_sequences, read_metadata, np.asarray, lambda v: LFD2Forecaster().fit(v[:, :3], v[:, 3:6])):
        with pytest.raises(ValueError, match=r"cut\.h5.*(truncated|corrupted)"):
            read(view if read in (np.asarray,) or read.__name__ == "<lambda>" else path)


def test_chunks_beyond_the_end_of_the_file_are_refused_even_when_hdf5_opens_it(tmp_path, S, monkeypatch):
    """HDF5 skips its own end-of-file check for killed (SWMR) recordings: the chunk check stands alone."""
    path = tmp_path / "short.h5"
    with SequenceWriter(path, 6, 11, n_steps=9, chunk_steps=4, crash_safe=True) as writer:
        writer.append(S)  # a recording's chunks are written (and placed in the file) after its other datasets
    ends = []
    with h5py.File(path, "r") as f:
        f["weights"].id.chunk_iter(lambda info: ends.append((info.byte_offset + info.size, info.chunk_offset)))
    end, (seq, step, param) = max(ends)
    from weightcast.io import hdf5
    monkeypatch.setattr(hdf5.os.path, "getsize", lambda p: end - 1)  # as if the last chunk were cut short
    with pytest.raises(ValueError, match=rf"short\.h5.* is truncated: it is {end - 1:,} bytes long, but the chunk "
                                         rf"of sequence {seq}, steps {step}-{min(step + 3, 8)}, .* ends at byte {end:,}"):
        open_sequences(path)

def test_recorded_steps_whose_chunks_are_missing_are_refused(tmp_path, S):
    path = tmp_path / "claims.h5"
    with SequenceWriter(path, 6, 11, n_steps=9, chunk_steps=4, crash_safe=True) as writer:
        writer.append(S[0], sequence=0)
    with h5py.File(path, "r+") as f:  # claim steps of sequence 1 that were never written
        f["weights_recorded"][1] = 5
    with pytest.raises(ValueError, match=r"claims\.h5.* is damaged: the chunk of sequence 1, steps 0-3, parameters "
                                         r"0-10 of 'weights' was never written"):
        open_sequences(path)
    with h5py.File(path, "r+") as f:
        f["weights_recorded"][1] = 10
    with pytest.raises(ValueError, match=r"claims\.h5.* is damaged: 'weights_recorded' holds"):
        read_metadata(path)


def test_damaged_chunks_are_refused_when_checksummed(tmp_path, S):
    path = tmp_path / "bits.h5"
    write_sequences(path, S, chunk_steps=4, checksum=True)
    assert read_metadata(path)["checksum"]
    with h5py.File(path, "r") as f:
        chunk = f["weights"].id.get_chunk_info_by_coord((2, 4, 0))
    with open(path, "rb+") as handle:  # flip bytes in the middle of one chunk's data
        handle.seek(chunk.byte_offset + chunk.size // 2)
        handle.write(b"\x00\x01\x02\x03")
    view = open_sequences(path)  # the layout is intact
    np.testing.assert_array_equal(np.asarray(view[[0, 1, 3]]), S[[0, 1, 3]])
    for read in (np.asarray, lambda v: LFD2Forecaster().fit(v[:, :3], v[:, 3:6])):
        with pytest.raises(ValueError, match=r"reading .*bits\.h5.* failed"):
            read(view)


def _v1_file(path, S, libver, written=None):
    """A file as weightcast's version-1 writer made it (no completeness datasets); ``written`` sequences only."""
    with h5py.File(path, "w", libver=libver) as f:
        f.attrs["weightcast_format"] = FORMAT_NAME
        f.attrs["weightcast_format_version"] = 1
        ds = f.create_dataset("weights", shape=S.shape, maxshape=(S.shape[0], None, S.shape[2]), chunks=(1, 4, 4),
                              dtype=S.dtype)
        for seq in (range(S.shape[0]) if written is None else written):
            ds[seq] = S[seq]
        f["weights_steps"] = np.arange(S.shape[1])
    return path


@pytest.mark.parametrize("libver", ["earliest", "latest"])
def test_version_1_files_are_read(tmp_path, S, libver):
    path = _v1_file(tmp_path / "v1.h5", S, libver)
    meta = read_metadata(path)
    assert meta["format_version"] == 1 and meta["closed"] is None and meta["complete"]
    assert meta["recorded"].tolist() == [9] * 6
    np.testing.assert_array_equal(np.asarray(open_sequences(path)), S)
    partial = _v1_file(tmp_path / "partial.h5", S, libver, written=[0, 2])
    # one growable axis after the first: HDF5's chunk queries cannot be trusted to say where the missing
    # chunks are (with libver="latest" they report wrong coordinates), so the whole file is refused
    with pytest.raises(ValueError, match=r"partial\.h5.* is incomplete, truncated or damaged: 18 of the 54 "
                                         r"chunks .*cannot tell which steps"):
        open_sequences(partial)


def test_chunks_left_unwritten_in_plain_files_are_missing_steps_not_zeros(tmp_path, S):
    path = tmp_path / "plain.h5"
    with h5py.File(path, "w") as f:
        ds = f.create_dataset("traj", shape=S.shape, chunks=(1, 3, 11), dtype=S.dtype)
        ds[0] = S[0]
        ds[2, :6] = S[2, :6]
    meta = read_metadata(path, "traj")
    assert meta["format"] is None and meta["closed"] is None
    assert meta["recorded"].tolist() == [9, 0, 6, 0, 0, 0] and meta["incomplete_sequences"] == [1, 2, 3, 4, 5]
    view = open_sequences(path, "traj")
    np.testing.assert_array_equal(view[2, :6], S[2, :6])
    with pytest.raises(ValueError, match=r"sequence 2 of .*plain\.h5.* holds only 6 of 9 steps"):
        view[2]


def _old_recording(path, S, recorded, every=2, killed=False):
    """A file of the old recorder layout ("weightcast-trajectories"), runs recorded to ``recorded`` steps;
    ``killed``: written in SWMR mode by a process that is then SIGKILLed, as the old recorder did."""
    if killed:
        pid = os.fork()
        if pid == 0:
            try:
                _write_old_recording(path, S, recorded, every, killed=True)
            finally:
                os._exit(1)
        _, status = os.waitpid(pid, 0)
        assert os.WIFSIGNALED(status), status
        return path
    return _write_old_recording(path, S, recorded, every, killed=False)


def _write_old_recording(path, S, recorded, every, killed):
    n_seq, n_steps, n_params = S.shape
    with h5py.File(path, "w", libver="latest") as f:
        f.attrs["format"] = "weightcast-trajectories"
        f.attrs["format_version"] = 1
        w = f.create_dataset("weights", shape=S.shape, dtype="float32", chunks=(1, 4, 6), fillvalue=np.nan)
        w.attrs["param_layout"] = '{"names": ["conv.weight", "conv.bias"], "shapes": [[2, 4], [3]]}'
        w.attrs["param_offsets"] = np.array([0, 8])
        w.attrs["every"] = every
        steps = f.create_dataset("steps", shape=(n_seq, n_steps), dtype="int64", chunks=(1, n_steps), fillvalue=-1)
        if killed:
            f.swmr_mode = True
        for seq, n in enumerate(recorded):
            if n:
                w[seq, :n] = S[seq, :n]
                f.flush()
                steps[seq, :n] = np.arange(n) * every
                f.flush()
        if killed:  # with the file open
            os.kill(os.getpid(), signal.SIGKILL)
    return path


def test_old_recorder_files_are_refused_with_how_to_convert_them(tmp_path, S):
    old = _old_recording(tmp_path / "old.h5", S, recorded=[9] * 6)
    for read in (open_sequences, read_metadata):
        with pytest.raises(ValueError, match=r"old\.h5.* old 'weightcast-trajectories' layout.*"
                                             r"weightcast\.io\.convert_recording"):
            read(old)


def test_converting_an_old_recording_keeps_steps_names_and_completeness(tmp_path, S):
    old = _old_recording(tmp_path / "old.h5", S, recorded=[9, 9, 5, 0, 9, 9])
    new = convert_recording(old, tmp_path / "new.h5", checksum=True, max_bytes=6 * 9 * 4 * 6)  # one chunk column
    assert isinstance(new, SequenceView)
    meta = read_metadata(tmp_path / "new.h5")
    assert meta["format"] == FORMAT_NAME and meta["format_version"] == FORMAT_VERSION and meta["checksum"]
    np.testing.assert_array_equal(meta["steps"], np.arange(9) * 2)
    assert meta["param_names"] == ["conv.weight", "conv.bias"] and meta["param_shapes"] == [(2, 4), (3,)]
    assert meta["recorded"].tolist() == [9, 9, 5, 0, 9, 9] and meta["incomplete_sequences"] == [2, 3]
    assert meta["chunks"] == (1, 4, 6)
    np.testing.assert_array_equal(np.asarray(new.complete()), S[[0, 1, 4, 5]])
    np.testing.assert_array_equal(new[2, :5], S[2, :5])
    with pytest.raises(FileExistsError):
        convert_recording(old, tmp_path / "new.h5")
    with pytest.raises(ValueError, match=r"new\.h5.* is not a recording in the old"):
        convert_recording(tmp_path / "new.h5", tmp_path / "again.h5")
    os.truncate(old, os.path.getsize(old) // 2)
    with pytest.raises(ValueError, match=r"old\.h5.* is truncated"):
        convert_recording(old, tmp_path / "from_cut.h5")
    assert not (tmp_path / "from_cut.h5").exists()


def test_corrupted_file(tmp_path, S):
    path = tmp_path / "bad.h5"
    write_sequences(path, S)
    with open(path, "rb+") as handle:  # scribble over the metadata after the superblock
        handle.seek(48)
        handle.write(b"\xff" * 2000)
    with pytest.raises(ValueError, match=r"bad\.h5"):
        np.asarray(open_sequences(path))


def test_string_attributes_are_fixed_length_so_damage_to_them_is_checksummed(tmp_path, S):
    """Variable-length strings live in HDF5's global heap, which has no checksum: damage there made HDF5 loop
    forever reading the attribute. Fixed-length ones are in the checksummed object header."""
    path = tmp_path / "named.h5"
    write_sequences(path, S, param_names=["w", "b\u00fc"], param_shapes=[(2, 5), (1,)])
    with h5py.File(path, "r") as f:
        for obj in (f, f["weights"]):
            for name in obj.attrs:
                dtype = obj.attrs.get_id(name).dtype
                assert h5py.check_vlen_dtype(dtype) is None, name
                assert h5py.check_string_dtype(dtype) is None or h5py.check_string_dtype(dtype).length, name
    meta = read_metadata(path)
    assert meta["format"] == FORMAT_NAME and meta["param_names"] == ["w", "b\u00fc"]
    assert meta["param_shapes"] == [(2, 5), (1,)]


def test_files_with_variable_length_string_attributes_still_open(tmp_path, S):
    path = tmp_path / "older.h5"
    write_sequences(path, S, param_names=["w", "b"], param_shapes=[(2, 5), (1,)])
    with h5py.File(path, "a") as f:
        f.attrs["weightcast_format"] = FORMAT_NAME  # a str: variable-length, as files were written before
        f["weights"].attrs["param_names"] = np.asarray(["w", "b"], dtype=h5py.string_dtype())
        f["weights"].attrs["param_shapes"] = "[[2, 5], [1]]"
    meta = read_metadata(path)
    assert meta["format"] == FORMAT_NAME and meta["param_names"] == ["w", "b"]
    assert meta["param_shapes"] == [(2, 5), (1,)]


def test_newer_format_version_is_refused(tmp_path, S):
    path = tmp_path / "future.h5"
    write_sequences(path, S)
    with h5py.File(path, "a") as f:
        f.attrs["weightcast_format_version"] = FORMAT_VERSION + 1
    with pytest.raises(ValueError, match=rf"future\.h5.*version {FORMAT_VERSION + 1}"):
        open_sequences(path)


# ---------------------------------------------------------------------------------------------- fuzz
from hypothesis import HealthCheck, example, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_INDEX = st.one_of(
    st.slices(6),
    st.lists(st.integers(-6, 5), min_size=1, max_size=8),
    st.lists(st.booleans(), min_size=6, max_size=6),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seqs=_INDEX, steps=st.one_of(st.slices(9), st.lists(st.integers(-9, 8), min_size=1, max_size=10)))
def test_fuzz_view_indexing_matches_numpy(view, S, seqs, steps):
    sub = view[seqs][:, steps]
    expected = S[np.asarray(seqs) if isinstance(seqs, list) else seqs][:, steps]
    assert sub.shape == expected.shape
    if expected.size:
        np.testing.assert_array_equal(np.asarray(sub), expected)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(offset=st.integers(0, 4000), junk=st.binary(min_size=1, max_size=64))
@example(offset=2111, junk=b"\xe4\x8a")  # hit the global heap of the format attribute when it was variable-length
def test_fuzz_damaged_files_fail_cleanly_naming_the_file(tmp_path, S, offset, junk):
    path = tmp_path / "damaged.h5"
    if path.exists():
        path.unlink()
    write_sequences(path, S)
    with open(path, "rb+") as handle:
        handle.seek(min(offset, os.path.getsize(path) - 1))
        handle.write(junk)
    try:
        data = np.asarray(open_sequences(path))
    except (ValueError, TypeError) as exc:
        assert "damaged.h5" in str(exc)
    else:  # bytes inside the raw data (or harmless ones) go unnoticed: no checksum
        assert data.shape == S.shape


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(where=st.floats(0, 1), junk=st.binary(min_size=1, max_size=64))
def test_fuzz_damaged_checksummed_files_are_refused_or_read_exactly(tmp_path, S, where, junk):
    """With checksums, damage anywhere is refused (naming the file) or harmless: never wrong values."""
    path = tmp_path / "damaged.h5"
    if path.exists():
        path.unlink()
    write_sequences(path, S, chunk_steps=4, checksum=True)
    with open(path, "rb+") as handle:
        handle.seek(int(where * (os.path.getsize(path) - 1)))
        handle.write(junk)
    try:
        data = np.asarray(open_sequences(path))
    except (ValueError, TypeError) as exc:
        assert "damaged.h5" in str(exc)
    else:
        np.testing.assert_array_equal(data, S)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_converting_an_old_recording_whose_writer_was_killed(tmp_path, S):
    old = _old_recording(tmp_path / "killed.h5", S, recorded=[9, 4, 0, 0, 0, 0], killed=True)
    with pytest.raises(OSError):
        h5py.File(old, "r")  # its SWMR flags are still set
    new = convert_recording(old, tmp_path / "new.h5")
    assert read_metadata(tmp_path / "new.h5")["recorded"].tolist() == [9, 4, 0, 0, 0, 0]
    np.testing.assert_array_equal(np.asarray(new[:1]), S[:1])
    np.testing.assert_array_equal(new[1, :4], S[1, :4])
