"""Solutions for notebook 07, gradient clipping."""

from __future__ import annotations

import numpy as np
import torch


def clip_by_global_norm(grads: list[torch.Tensor], max_norm: float) -> list[torch.Tensor]:
    total_norm = sum(g.pow(2).sum().item() for g in grads) ** 0.5  # all entries, one vector
    factor = min(1.0, max_norm / (total_norm + 1e-6))  # the key line
    # One factor for every tensor: the gradient gets shorter but keeps its direction, so the
    # step still goes straight downhill. The 1e-6, as in PyTorch, avoids a division by zero
    # when every entry is 0 (the factor is then 1). A factor of 1 leaves a short gradient
    # alone: clipping only touches the steps that are too long.
    return [g * factor for g in grads]  # new tensors: g.mul_(factor) would change the caller's


def choose_threshold(norms: list[float], percentile: float) -> float:
    finite = np.array([n for n in norms if np.isfinite(n)])  # inf and NaN are not healthy
    return float(np.percentile(finite, percentile))  # the key line
    # With percentile 99, only the largest 1% of the norms of this run would have been
    # clipped. Record the norms on a run you trust (a learning rate that does not diverge),
    # then count how often the threshold fires in the runs that use it: a few per cent is a
    # safety net; most of the steps means clipping has become the learning rate.
    # The comprehension builds a new list: removing inf and NaN from `norms` itself would
    # change the caller's history.
    # On plain.norms, the diverging run of section 3, the 99th percentile is above 1e21.
    # Only the norms before the gradient turned NaN, about two dozen of the 300, are finite, and
    # most of those come from the runaway itself; the 99th percentile of so few lies between
    # the two largest: such a threshold would never fire. A threshold must come from a run
    # you trust.
