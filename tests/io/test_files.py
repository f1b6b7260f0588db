"""Data files chosen by suffix (weightcast.io.files)."""

import numpy as np
import pytest

from weightcast.io.files import check_writable, read_data, write_data


def test_read_data_is_read_only_and_refuses_pickles(tmp_path):
    np.save(tmp_path / "S.npy", np.zeros((2, 3, 4), dtype=np.float32))
    S_read = read_data(tmp_path / "S.npy")
    assert not S_read.flags.writeable
    np.save(tmp_path / "objects.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(ValueError, match="not a readable .npy"):
        read_data(tmp_path / "objects.npy")


def test_suffix_decides_the_format(tmp_path):
    S = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    for name in ("S.npy", "S.h5", "S.hdf5"):
        write_data(tmp_path / name, S)
        np.testing.assert_array_equal(np.asarray(read_data(tmp_path / name)), S)
    with pytest.raises(ValueError, match=r"unsupported file type '.csv'; supported: .h5, .hdf5, .npy"):
        check_writable(tmp_path / "S.csv")
    with pytest.raises(FileNotFoundError, match="no data file"):
        read_data(tmp_path / "absent.h5")
