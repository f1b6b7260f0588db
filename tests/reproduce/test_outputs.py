"""Files of a reproduced table."""

import numpy as np
import pytest

from weightcast.reproduce.outputs import check_output_folder, write_outputs
from weightcast.reproduce.runner import reproduce


def test_fig2_writes_the_trajectories_and_a_png(tiny, tmp_path):
    pytest.importorskip("matplotlib")
    result = reproduce("fig2", quick=True, max_epochs=20)
    written = write_outputs(result, str(tmp_path))
    assert sorted(p.rsplit("/", 1)[1] for p in written) == ["fig2.json", "fig2.md", "fig2.png"]
    block = result["experiments"][0]
    assert np.asarray(block["true"]).shape == (201, 3)
    assert {name: np.asarray(f).shape for name, f in block["forecasts"].items()} == {
        "LFD-2": (180, 3), "tuned": (180, 3)}
    assert (tmp_path / "fig2.png").read_bytes()[:4] == b"\x89PNG"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no leftover temporary file


def test_an_unwritable_folder_is_a_clear_error(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    with pytest.raises(ValueError, match="cannot write results to --out"):
        check_output_folder(str(blocker / "results"))
