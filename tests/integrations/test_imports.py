"""weightcast imports no training framework until asked, and says which extra to install when one is missing."""

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = """
import sys
import weightcast, weightcast.integrations
frameworks = [name for name in ("lightning", "pytorch_lightning", "transformers", "accelerate") if name in sys.modules]
print("imported:", frameworks)
import importlib.util
if importlib.util.find_spec("lightning"):   # installed but broken: its own error comes through
    sys.modules["lightning_utilities"] = None
    try:
        import weightcast.integrations.lightning
    except ImportError as exc:
        print("broken ->", exc)
for framework in ("lightning", "transformers"):
    sys.modules[framework] = None          # as if it were not installed
    try:
        __import__("weightcast.integrations." + framework)
    except ImportError as exc:
        print(framework, "->", exc)
"""


def test_no_framework_is_imported_and_a_missing_one_names_its_extra():
    out = subprocess.run([sys.executable, "-c", SCRIPT], cwd=ROOT, capture_output=True, text=True, timeout=120,
                         env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0] == "imported: []"
    assert "lightning -> weightcast.integrations.lightning needs PyTorch Lightning: " \
           "pip install 'weightcast[lightning]'" in lines
    if importlib.util.find_spec("lightning"):
        assert any(line.startswith("broken -> ") and "lightning_utilities" in line for line in lines)
    assert "transformers -> weightcast.integrations.transformers needs Hugging Face transformers: " \
           "pip install 'weightcast[transformers]'" in lines
