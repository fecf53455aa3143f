"""Shared test setup: figures drawn off-screen, torch single-threaded as in the notebooks.

The torch-free tests (plotting, widgets, the notebooks' files) also run where torch is not
installed, as on the Python 3.13 check of `make test` (`make test-py313`).
"""

import matplotlib

matplotlib.use("Agg")

import pytest

try:
    import torch
except ModuleNotFoundError:  # the torch-free check
    torch = None

try:
    from hypothesis import settings
except ModuleNotFoundError:
    settings = None

if torch is not None:
    torch.set_num_threads(1)

if settings is not None:
    # No per-example deadline: the suite runs beside nbval on two busy cores, where a fast
    # example can occasionally take longer than hypothesis's default 200 ms.
    settings.register_profile("course", deadline=None)
    settings.load_profile("course")


@pytest.fixture(autouse=True)
def _seeded() -> None:
    if torch is not None:
        torch.manual_seed(0)
