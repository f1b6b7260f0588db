"""Session-wide test settings for the tests and the doctests in the package."""

import importlib.util

import pytest

# The doctests of the framework callbacks run where their framework is installed (CI installs both).
_NEEDS = {"weightcast/integrations/lightning.py": ("lightning",),
          "weightcast/integrations/transformers.py": ("transformers", "accelerate")}
collect_ignore = [path for path, packages in _NEEDS.items()
                  if any(importlib.util.find_spec(package) is None for package in packages)]


@pytest.fixture(autouse=True, scope="session")
def _one_torch_thread():
    """Tests push tiny tensors: extra intra-op threads only add contention on a shared 2-core machine."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
