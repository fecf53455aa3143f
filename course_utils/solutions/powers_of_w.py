"""Solutions for notebook 04, powers of a weight matrix."""

from __future__ import annotations

import math

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


def transient_peak(a: float) -> int:
    best = -1 / math.log(a)  # the key line: d/dL [log L + (L-1) log a] = 1/L + log a = 0
    candidates = {max(1, math.floor(best)), max(1, math.ceil(best))}
    return max(candidates, key=lambda L: L * a ** (L - 1))
    # The closer a is to 1, the later and higher the peak: for a = 0.99 it comes after about
    # 100 layers. Eigenvalues just below 1 can hide a very long transient.
