"""Reproducibility: the same code prints the same numbers on every run.

The course compares every printed number with the committed one, so randomness must be
seeded, algorithms must be deterministic, and the CPU must behave the same each time.

>>> import torch
>>> seed_everything(0)
>>> a = torch.rand(2)
>>> seed_everything(0)
>>> torch.equal(a, torch.rand(2))
True
"""

from __future__ import annotations

import os
import random

import numpy as np
import torch

from ._checks import require_int

__all__ = ["configure_torch", "seed_everything"]

_MAX_SEED = 2**32 - 1  # numpy's legacy generator accepts seeds below 2**32


def seed_everything(seed: int, *, deterministic: bool = True) -> None:
    """Seed Python's ``random``, NumPy and torch, and (by default) make torch deterministic.

    With ``deterministic=True``, torch raises an error instead of silently running an
    operation whose result can change from run to run.

    >>> seed_everything(42)
    """
    seed = require_int(seed, "seed", minimum=0)
    if seed > _MAX_SEED:
        raise ValueError(
            f"seed must be at most 2**32 - 1 = {_MAX_SEED} (NumPy's limit), got {seed}."
        )
    random.seed(seed)
    np.random.seed(seed)  # noqa: NPY002  (the global generator is what np.random.* calls use)
    torch.manual_seed(seed)
    if deterministic:
        # cuBLAS needs this to be deterministic on a GPU (for example on Colab); harmless on CPU.
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True)


def configure_torch(*, threads: int = 1, flush_denormal: bool = True) -> None:
    """Make CPU timings and results stable: a fixed thread count, and no denormal floats.

    * One thread: notebooks run side by side under test, and torch's default (one thread
      per core each) makes them fight; a fixed count also fixes the order of additions,
      so printed numbers repeat exactly.
    * Denormals (floats below about 1e-38 in float32) are what vanishing gradients are made
      of, and CPU arithmetic on them can be 100x slower. Flushing them to zero keeps
      vanishing-gradient demos fast; values that small are zero for every purpose here.

    >>> configure_torch(threads=1)
    >>> torch.get_num_threads()
    1
    """
    threads = require_int(threads, "threads", minimum=1)
    torch.set_num_threads(threads)
    torch.set_flush_denormal(flush_denormal)
