"""The HDF5 weight-sequence format: writer, readers, lazy views and bad files."""

import os
import pickle
import signal
import subprocess
import sys
import textwrap

import h5py
import numpy as np
import pytest

from weightcast import split_sequences
from weightcast.io import (
    SequenceView,
    SequenceWriter,
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
    np.testing.assert_array_equal(read_metadata(path)["steps"], np.arange(6) * 10)


def test_crash_safe_writer_closes_to_a_normal_file(tmp_path, S):
    path = tmp_path / "live.h5"
    with SequenceWriter(path, 6, 11, chunk_steps=4, crash_safe=True) as writer:
        for t in range(9):
            writer.append(S[:, t])
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


def test_truncated_file(tmp_path, S):
    path = tmp_path / "cut.h5"
    write_sequences(path, np.repeat(S, 20, axis=2))
    size = os.path.getsize(path)
    with open(path, "rb+") as handle:
        handle.truncate(size // 2)
    with pytest.raises(ValueError, match=r"cut\.h5"):
        np.asarray(open_sequences(path))


def test_corrupted_file(tmp_path, S):
    path = tmp_path / "bad.h5"
    write_sequences(path, S)
    with open(path, "rb+") as handle:  # scribble over the metadata after the superblock
        handle.seek(48)
        handle.write(b"\xff" * 2000)
    with pytest.raises(ValueError, match=r"bad\.h5"):
        np.asarray(open_sequences(path))


def test_newer_format_version_is_refused(tmp_path, S):
    path = tmp_path / "future.h5"
    write_sequences(path, S)
    with h5py.File(path, "a") as f:
        f.attrs["weightcast_format_version"] = FORMAT_VERSION + 1
    with pytest.raises(ValueError, match=rf"future\.h5.*version {FORMAT_VERSION + 1}"):
        open_sequences(path)


# ---------------------------------------------------------------------------------------------- fuzz
from hypothesis import HealthCheck, given, settings  # noqa: E402
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
