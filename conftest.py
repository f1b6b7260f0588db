"""Session-wide test settings for the tests and the doctests in the package."""

import pytest


@pytest.fixture(autouse=True, scope="session")
def _one_torch_thread():
    """Tests push tiny tensors: extra intra-op threads only add contention on a shared 2-core machine."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
