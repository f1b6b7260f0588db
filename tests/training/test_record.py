"""record_cnn / record_text check their arguments before loading data or creating the file."""

import pytest

from weightcast.training import record


@pytest.mark.parametrize("function", [record.record_cnn, record.record_text])
@pytest.mark.parametrize("options, error, match", [
    (dict(n_runs=0), ValueError, "n_runs must be >= 1, got 0"),
    (dict(n_steps=2.5), TypeError, "n_steps must be an integer"),
    (dict(lr=0.0), ValueError, "lr must be > 0, got 0.0"),
    (dict(batch_size=None), TypeError, "batch_size must be an integer, got None"),
    (dict(seed=-1), ValueError, "seed must be >= 0, got -1"),
    (dict(size="huge"), ValueError, "size must be one of .*, got 'huge'"),
])
def test_bad_arguments_are_refused_before_any_work(function, options, error, match, tmp_path, monkeypatch):
    def no_data(*args, **kwargs):
        raise AssertionError("the data were loaded before the arguments were checked")

    monkeypatch.setattr(record, "mnist_data", no_data)
    monkeypatch.setattr(record, "review_data", no_data)
    with pytest.raises(error, match=match):
        function(tmp_path / "runs.h5", **options)
    assert not list(tmp_path.iterdir())
