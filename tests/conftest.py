"""Shared test setup: figures drawn off-screen, torch single-threaded as in the notebooks."""

import matplotlib

matplotlib.use("Agg")

import pytest
import torch
from hypothesis import settings

torch.set_num_threads(1)

# No per-example deadline: the suite runs beside nbval on two busy cores, where a fast example
# can occasionally take longer than hypothesis's default 200 ms without anything being wrong.
settings.register_profile("course", deadline=None)
settings.load_profile("course")


@pytest.fixture(autouse=True)
def _seeded() -> None:
    torch.manual_seed(0)
