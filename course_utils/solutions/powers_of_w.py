"""Solutions for notebook 04, powers of a weight matrix."""

from __future__ import annotations

import torch


def repeated_norms(W: torch.Tensor, x: torch.Tensor, depth: int) -> torch.Tensor:
    norms = []
    h = x
    for _ in range(depth):
        h = W @ h  # the key line: one layer, the same matrix every time
        norms.append(h.norm())
    return torch.stack(norms)
    # This costs depth matrix-vector products; forming W^n first would cost matrix-matrix
    # products. It is also how a deep linear network computes, layer after layer.


def jordan_corner(a: float, c: float, n: int) -> float:
    return c * n * a ** (n - 1)
    # W = aI + N with N² = 0, so W^n = a^n I + n a^(n-1) N. The factor n grows while a^(n-1)
    # shrinks: for |a| < 1 the corner first grows (transient growth) and only later decays,
    # although both eigenvalues of W are a.
