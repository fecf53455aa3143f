"""Synthetic data sets, made on the spot from a seed: nothing is downloaded.

>>> x, y = two_spirals(200, seed=0)
>>> x.shape, y.shape, sorted(y.unique().tolist())
(torch.Size([200, 2]), torch.Size([200]), [0.0, 1.0])
"""

from __future__ import annotations

import math

import torch

from ._checks import require_int, require_real

__all__ = ["two_spirals"]


def two_spirals(
    n: int,
    *,
    turns: float = 1.5,
    noise: float = 0.05,
    seed: int = 0,
    dtype: torch.dtype = torch.float32,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Two interleaved spirals in the plane, a classic task that a linear model cannot solve.

    Returns inputs of shape (n, 2), roughly within [-1, 1], and labels 0 or 1 of shape (n,)
    (half of each, shuffled). ``turns`` is how often each arm winds around the centre.

    >>> x, _ = two_spirals(1000, seed=0)
    >>> bool(x.abs().max() < 1.3)
    True
    """
    n = require_int(n, "n", minimum=2)
    turns = require_real(turns, "turns", positive=True)
    noise = require_real(noise, "noise")
    if noise < 0:
        raise ValueError(f"noise must be 0 or more, got {noise}.")
    generator = torch.Generator().manual_seed(require_int(seed, "seed", minimum=0))
    labels = torch.arange(n, dtype=torch.float64) % 2
    radius = torch.rand(n, generator=generator, dtype=torch.float64)
    angle = 2 * math.pi * turns * radius + math.pi * labels
    points = torch.stack([radius * torch.cos(angle), radius * torch.sin(angle)], dim=1)
    points = points + noise * torch.randn(n, 2, generator=generator, dtype=torch.float64)
    order = torch.randperm(n, generator=generator)
    return points[order].to(dtype), labels[order].to(dtype)
