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

import ctypes
import os
import random

import numpy as np
import torch

from ._checks import require_int

__all__ = ["configure_torch", "keep_freed_memory", "seed_everything"]

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


def configure_torch(
    *, threads: int = 1, flush_denormal: bool = True, keep_memory: bool = True
) -> None:
    """Make CPU timings and results stable: a fixed thread count, no denormal floats, and
    freed memory kept for reuse.

    * One thread: notebooks run side by side under test, and torch's default (one thread
      per core each) makes them fight; a fixed count also fixes the order of additions,
      so printed numbers repeat exactly.
    * Denormals (floats below about 1e-38 in float32) are what vanishing gradients are made
      of, and CPU arithmetic on them can be 100x slower. Flushing them to zero keeps
      vanishing-gradient demos fast; values that small are zero for every purpose here.
    * Freed memory (see :func:`keep_freed_memory`): by default the C library hands large
      freed blocks back to the system and the next training step maps them in again, page
      by page; that took 20-30% of a small CNN's or LSTM's training step on the course's
      machine.

    >>> configure_torch(threads=1)
    >>> torch.get_num_threads()
    1
    """
    threads = require_int(threads, "threads", minimum=1)
    torch.set_num_threads(threads)
    torch.set_flush_denormal(flush_denormal)
    if keep_memory:
        keep_freed_memory()


def keep_freed_memory() -> bool:
    """Ask glibc's allocator (Linux) to keep freed memory for reuse instead of returning it
    to the system: no separate mapping for blocks under 32 MiB (its largest threshold), no
    trimming. The process's peak memory is unchanged; it just does not shrink back. Returns
    False, and changes nothing, where the C library is not glibc (macOS, Windows).

    PyTorch's CPU performance guide makes the same point with other allocators (jemalloc,
    tcmalloc); this needs no install.
    """
    try:
        libc = ctypes.CDLL("libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    m_trim_threshold, m_mmap_threshold = -1, -3  # the parameter numbers in glibc's malloc.h
    return bool(mallopt(m_mmap_threshold, 32 * 2**20) and mallopt(m_trim_threshold, 2**31 - 1))
