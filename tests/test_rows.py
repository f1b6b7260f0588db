"""weightcast.rows: every input becomes the same blocks of rows, slab by slab, checked and bounded."""

import threading

import numpy as np
import pytest
import torch

from weightcast.io import write_sequences
from weightcast.rows import (BackgroundWriter, RowReader, Slab, aligned_slab_size, all_finite, check_finite,
                             check_sequence_array, plan_slabs)


def sequences(n_seq=5, n_steps=7, n_params=10, seed=0):
    return np.random.default_rng(seed).normal(size=(n_seq, n_steps, n_params)).astype(np.float32)


class LazyArray:
    """A lazy dataset over an array that records each read (its parameters and thread)."""

    def __init__(self, data, param_chunk=None):
        self.data, self.shape, self.dtype, self.param_chunk = data, data.shape, data.dtype, param_chunk
        self.reads = []

    def read_block(self, seqs=None, steps=None, params=slice(None), dtype=None, out=None):
        block = self.data[slice(None) if seqs is None else seqs][:, slice(None) if steps is None else steps, params]
        self.reads.append((params.start, params.stop, threading.current_thread().name))
        if out is None:
            return block.astype(dtype or self.dtype)
        out[...] = block
        return out


def test_slabs_cover_the_parameters_and_join_short_ranges():
    assert [s.ranges for s in plan_slabs(10, 4)] == [(slice(0, 4),), (slice(4, 8),), (slice(8, 10),)]
    slabs = plan_slabs(20, 4, ranges=[slice(0, 2), slice(6, 8), slice(12, 18)])
    assert [s.ranges for s in slabs] == [(slice(0, 2), slice(6, 8)), (slice(12, 16),), (slice(16, 18),)]
    assert [s.size for s in slabs] == [4, 4, 2]
    assert slabs[0].index().tolist() == [0, 1, 6, 7] and slabs[0].parameter(3) == 7
    with pytest.raises(ValueError, match="not one contiguous range"):
        slabs[0].slice


def test_slab_sizes_align_to_chunks_and_blocks():
    lazy = LazyArray(sequences(), param_chunk=4)
    assert aligned_slab_size(lazy, 10) == 8
    assert aligned_slab_size(lazy, 3) == 4  # at least one chunk
    assert aligned_slab_size(lazy, 13, unit=6) == 12  # lcm(4, 6)
    assert aligned_slab_size(lazy, 11, unit=6) == 6  # the block always, the chunk when a slab holds both
    assert aligned_slab_size(sequences(), 10, unit=3) == 9


@pytest.mark.parametrize("seqs", [None, [3, 0, 4], [1, 2]])
@pytest.mark.parametrize("steps", [None, [0, 6], [5, 1, 3], [2, 3, 4]])
def test_blocks_are_the_indexed_data_for_every_kind_of_source(tmp_path, seqs, steps):
    S = sequences()
    Y = S[:, :3] * 2
    view = write_sequences(tmp_path / "s.h5", S, chunk_params=2)
    expected_seqs = slice(None) if seqs is None else seqs
    expected_steps = slice(None) if steps is None else steps
    for X in (S, torch.from_numpy(S), view, LazyArray(S)):
        reader = RowReader(X, Y, steps=steps, target_steps=[2, 0], slab_size=4)
        slabs = []
        for slab, x, y in reader.blocks(seqs):
            p = slab.slice
            np.testing.assert_array_equal(x.numpy(), S[expected_seqs][:, expected_steps, p])
            np.testing.assert_array_equal(y.numpy(), Y[expected_seqs][:, [2, 0], p])
            slabs.append((p.start, p.stop))
        assert slabs == [(0, 4), (4, 8), (8, 10)]


def test_in_memory_blocks_are_views_unless_rows_are_dropped():
    S = sequences()
    slab, x, _ = next(RowReader(S, slab_size=4).blocks())
    assert np.shares_memory(x.numpy(), S)
    slab, x, _ = next(RowReader(S, steps=[2, 3, 4], slab_size=4).blocks())  # a contiguous run: still a view
    assert np.shares_memory(x.numpy(), S)
    slab, x, _ = next(RowReader(S, steps=[0, 6], slab_size=4).blocks([1, 3]))  # evenly spaced (LFD-2): a view
    assert np.shares_memory(x.numpy(), S) and x.shape == (2, 2, 4)
    np.testing.assert_array_equal(x.numpy(), S[[1, 3]][:, [0, 6], :4])
    slab, x, _ = next(RowReader(S, steps=[0, 1, 6], slab_size=4).blocks([0, 1, 3]))  # one copy of this slab only
    assert not np.shares_memory(x.numpy(), S) and x.shape == (3, 3, 4)
    np.testing.assert_array_equal(x.numpy(), S[[0, 1, 3]][:, [0, 1, 6], :4])


def test_dtype_cast_and_subset_ranges():
    S = sequences()
    reader = RowReader(S, dtype=torch.float64, ranges=[slice(1, 3), slice(7, 9)], slab_size=8)
    [(slab, x, _)] = list(reader.blocks())
    assert x.dtype == torch.float64 and slab.index().tolist() == [1, 2, 7, 8]
    np.testing.assert_array_equal(x.numpy(), S[:, :, [1, 2, 7, 8]])


def test_lazy_slabs_are_read_ahead_in_a_thread_into_two_reused_buffers():
    S = sequences(n_params=40)
    lazy = LazyArray(S)
    reader = RowReader(lazy, slab_size=4)
    assert reader.prefetch
    seen = []
    for slab, x, _ in reader.blocks():
        np.testing.assert_array_equal(x.numpy(), S[:, :, slab.slice])
        seen.append(x.numpy().__array_interface__["data"][0])
    assert len(set(seen)) == 2  # double buffering: memory is two slabs, whatever n_params
    assert {name for _, _, name in lazy.reads} == {"weightcast-prefetch"}
    assert [start for start, _, _ in lazy.reads] == list(range(0, 40, 4))


def test_one_lazy_slab_is_read_once_and_kept():
    lazy = LazyArray(sequences())
    reader = RowReader(lazy, slab_size=64)
    for _ in range(3):
        list(reader.blocks([0, 2]))
        reader.read(0, [4])
    assert len(lazy.reads) == 1


def test_stopping_early_stops_the_reader_thread():
    reader = RowReader(LazyArray(sequences(n_params=40)), slab_size=4)
    before = threading.active_count()
    blocks = reader.blocks()
    next(blocks)
    blocks.close()
    assert threading.active_count() == before


def test_errors_of_the_reader_thread_reach_the_caller(tmp_path):
    class Broken(LazyArray):
        def read_block(self, seqs=None, steps=None, params=slice(None), dtype=None, out=None):
            if params.start >= 8:
                raise ValueError("reading 'broken.h5' failed")
            return super().read_block(seqs, steps, params, dtype, out)

    reader = RowReader(Broken(sequences(n_params=40)), slab_size=4)
    with pytest.raises(ValueError, match="reading 'broken.h5' failed"):
        for _ in reader.blocks():
            pass


def test_non_finite_values_are_named_by_sequence_step_and_parameter(tmp_path):
    S = sequences()
    S[3, 5, 6] = np.inf
    with pytest.raises(ValueError, match=r"^X holds inf at sequence 3, step 5, parameter 6; weight sequences "
                                         r"must be finite$"):
        check_finite(S, "X")
    with pytest.raises(ValueError, match=r"^S holds inf at sequence 3, step 5, parameter 6;"):
        check_sequence_array(S)
    view = write_sequences(tmp_path / "bad.h5", S, chunk_params=2)
    reader = RowReader(view[1:, 2:], slab_size=2)  # file sequence 3 is sequence 2 of the view, step 5 is step 3
    with pytest.raises(ValueError, match=r"X holds inf at sequence 3, step 5, parameter 6 of '.*bad\.h5' "
                                         r"\(dataset 'weights'\)"):
        list(reader.blocks())
    unchecked = RowReader(S, Y=S, check=False, names=("X", "targets"))
    list(unchecked.blocks())  # the caller detects non-finite results itself ...
    with pytest.raises(ValueError, match="X holds inf at sequence 3, step 5, parameter 6"):
        unchecked.find_non_finite()  # ... and then asks for the location


def test_non_finite_values_of_a_memory_mapped_npy_file_are_named_where_they_are_in_the_file(tmp_path):
    S = sequences()
    S[3, 5, 6] = np.nan
    np.save(tmp_path / "bad.npy", S)
    mapped = np.load(tmp_path / "bad.npy", mmap_mode="r")
    for data in (mapped, mapped[1:, 2:], mapped[2:5, :, 4:], np.asarray(mapped)[:, ::-1]):  # views of the file
        with pytest.raises(ValueError, match=r"^X holds NaN at sequence 3, step 5, parameter 6 of '.*bad\.npy';"):
            list(RowReader(data, slab_size=2).blocks())
    with pytest.raises(ValueError, match=r"^S holds NaN at sequence 3, step 5, parameter 0 of '.*one\.npy';"):
        np.save(tmp_path / "one.npy", S[:, :, 6])  # 2-D: one parameter per sequence
        check_sequence_array(np.load(tmp_path / "one.npy", mmap_mode="r")[1:])
    with pytest.raises(ValueError, match=r"^X holds NaN at sequence 2, step 5, parameter 2; weight"):
        check_finite(np.array(mapped[1:, :, 4:]), "X")  # a copy: no file to name


def test_values_are_checked_the_first_time_they_are_read(monkeypatch):
    S = sequences(n_params=8)
    reader = RowReader(S, slab_size=4)
    calls = []
    import weightcast.rows as rows

    original = rows.all_finite
    monkeypatch.setattr(rows, "all_finite", lambda block: calls.append(block.shape) or original(block))
    for _ in range(3):
        list(reader.blocks([0, 1]))
    list(reader.blocks())
    assert calls == [(2, 7, 4), (2, 7, 4), (5, 7, 4), (5, 7, 4)]  # epochs after the first are not checked again


def test_background_writer_keeps_order_reuses_two_buffers_and_raises_errors():
    written = []
    with BackgroundWriter(lambda i, a: written.append((i, a.copy()))) as writer:
        buffers = set()
        for i in range(5):
            buffer = writer.buffer((3,), np.float32)
            buffer[:] = i
            buffers.add(buffer.__array_interface__["data"][0])
            writer.submit(i, buffer)
    assert [i for i, _ in written] == list(range(5)) and all((a == i).all() for i, a in written)
    assert len(buffers) == 2

    def fail(i):
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        with BackgroundWriter(fail) as writer:
            for i in range(4):
                writer.buffer((1,), np.float32)
                writer.submit(i)


def test_slab_repr_names_its_parameters():
    assert repr(Slab([slice(0, 4), slice(8, 10)])) == "Slab(0..3, 8..9)"


def test_windows_of_one_file_are_read_in_one_read_per_slab(tmp_path):
    from weightcast.io import SequenceView

    reads = []

    class Recording(SequenceView):
        def read_block(self, seqs=None, steps=None, params=slice(None), dtype=None, out=None):
            reads.append((params, self.file_index()[1].tolist()))
            return super().read_block(seqs, steps, params, dtype, out)

    S = sequences(n_params=12)
    view = Recording(write_sequences(tmp_path / "s.h5", S, chunk_params=4).path)
    reader = RowReader(view[:, :3], view[:, 3:6], steps=[0, 2], slab_size=4)
    for slab, x, y in reader.blocks([4, 1]):
        np.testing.assert_array_equal(x.numpy(), S[[4, 1]][:, [0, 2], slab.slice])
        np.testing.assert_array_equal(y.numpy(), S[[4, 1]][:, 3:6, slab.slice])
    assert len(reads) == 3  # one read per slab for both X and Y
    assert {tuple(steps) for _, steps in reads} == {(0, 1, 2, 3, 4, 5)}  # step 1 is in a chunk read anyway
    reads.clear()
    list(RowReader(view[:, 3:], view[:, :3], slab_size=4).blocks())  # targets before inputs: two reads
    assert len(reads) == 6
    reads.clear()
    narrow = Recording(write_sequences(tmp_path / "narrow.h5", S, chunk_params=4, chunk_steps=2).path)
    for slab, x, y in RowReader(narrow[:, :5], narrow[:, 5:], steps=[0, 4], slab_size=4).blocks():
        np.testing.assert_array_equal(x.numpy(), S[:, [0, 4], slab.slice])
        np.testing.assert_array_equal(y.numpy(), S[:, 5:, slab.slice])
    assert {tuple(steps) for _, steps in reads} == {(0, 4, 5, 6)}  # steps 1-3 would be chunks of their own
    reads.clear()
    for slab, x, _ in RowReader(view[:, 1:6], steps=[0, 4], slab_size=4).blocks():  # one view alone: the same
        np.testing.assert_array_equal(x.numpy(), S[:, [1, 5], slab.slice])
    assert {tuple(steps) for _, steps in reads} == {(1, 2, 3, 4, 5)}
    bad = S.copy()
    bad[3, 5, 6] = np.nan
    bad_view = write_sequences(tmp_path / "bad.h5", bad, chunk_params=4)
    with pytest.raises(ValueError, match="X holds NaN at sequence 3, step 5, parameter 6"):
        list(RowReader(bad_view[:, 1:6], steps=[0, 4], slab_size=4).blocks())


def test_all_finite_finds_nan_and_inf_and_is_not_fooled_by_a_sum_that_overflows():
    big = np.full((2, 3, 1000), 3e38, dtype=np.float32)  # finite values whose sum is inf in float32
    assert all_finite(big) and all_finite(big[:, ::2, 5:]) and all_finite(torch.from_numpy(big))
    for bad in (np.nan, np.inf, -np.inf):
        x = np.ones((2, 3, 1000), np.float32)
        x[1, 2, 999] = bad
        assert not all_finite(x) and not all_finite(torch.from_numpy(x)[:, 1:]) and all_finite(x[:, :2])
    nan_and_inf = np.array([np.inf, -np.inf, 1.0])  # a sum of NaN, an all-finite check must not cancel them
    assert not all_finite(nan_and_inf)


def test_the_reader_thread_reads_the_next_slab_while_the_caller_works():
    import threading

    started = []                       # one event per read: set when that read begins
    finished_with = []                 # blocks the caller had finished when each read began

    class Recorded(LazyArray):
        def read_block(self, *args, **kwargs):
            finished_with.append(len(done))
            started[len(finished_with) - 1].set()
            return super().read_block(*args, **kwargs)

    done = []
    started.extend(threading.Event() for _ in range(8))
    reader = RowReader(Recorded(sequences(n_params=8)), slab_size=2)
    for i, _ in enumerate(reader.blocks()):
        # While the caller still holds block i, the read of block i + 1 begins (no timing: an event).
        if i + 1 < 4:
            assert started[i + 1].wait(timeout=10), f"block {i + 1} was not read while block {i} was in use"
        done.append(i)
    assert len(done) == 4
    assert finished_with[:2] == [0, 0]       # the second read began before the caller finished the first block
    assert reader.waited >= 0
