"""Shared test setup: figures drawn off-screen, torch single-threaded as in the notebooks."""

import matplotlib

matplotlib.use("Agg")

import pytest
import torch

torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def _seeded() -> None:
    torch.manual_seed(0)
