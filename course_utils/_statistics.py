"""The batched statistics behind :mod:`course_utils.gradflow`, written for speed on a CPU.

These functions turn many gradient or activation tensors into a few numbers each, with as
few passes over memory and as few small operations as possible: the monitor calls them on
every recorded step, inside a training loop. Nothing here is meant for learners to call.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

__all__ = [
    "MIN_BATCH_FOR_DEAD",
    "SIGMOID_SATURATION",
    "TANH_SATURATION",
    "gradient_table",
    "log_histograms",
    "summarise_activation",
]

# A unit counts as saturated when its output is this close to the activation's limits:
# tanh beyond ±0.99 (tanh' < 0.02), sigmoid below 0.01 or above 0.99 (σ' < 0.0099).
TANH_SATURATION = 0.99
SIGMOID_SATURATION = 0.01
# Dead units are counted only in batches at least this large: with fewer examples a unit
# that is merely off for these few looks dead.
MIN_BATCH_FOR_DEAD = 16

_INT_VIEWS = {2: torch.int16, 4: torch.int32, 8: torch.int64}

_SMALL = 4096  # gradients up to this size are summarised together, in one pass for all


def gradient_table(grads: list[torch.Tensor], scratch: dict[Any, torch.Tensor]) -> np.ndarray:
    """Per tensor: norm, sum, max |g|, nonzero count and sum of |g|, in one transfer.

    Large gradients are read from memory once each: the first reduction brings a tensor into
    the cache, and the others run on the cached copy; |g| goes into ``scratch``, a buffer
    reused from step to step. Nonzeros are counted on the integer view of |g|'s bits, many
    times faster on a CPU than on the floats: a float is zero exactly when the bits of its
    absolute value are all 0 (-0.0 included). Small gradients (biases, norm scales) are
    joined into one tensor and summarised segment by segment, a handful of operations for
    all of them instead of a handful each. Half precision is summed in float32.
    """
    flats = [(g.to_dense() if g.is_sparse else g).detach().reshape(-1) for g in grads]
    table = np.zeros((len(flats), 5))
    large = [i for i, f in enumerate(flats) if f.numel() > _SMALL]
    small = [i for i, f in enumerate(flats) if 0 < f.numel() <= _SMALL]
    rows = [_large_gradient_row(flats[i], scratch) for i in large]
    if small:
        rows.extend(_small_gradient_rows([flats[i] for i in small]).unbind(0))
    if rows:
        table[large + small] = (
            torch.stack([r.to(rows[0].device) for r in rows]).double().cpu().numpy()
        )
    table[:, 0] = np.sqrt(table[:, 0])  # sum of squares -> norm
    for i in np.flatnonzero(table[:, 0] < table[:, 2]):  # squares underflowed: tiny gradients
        table[i, 0] = torch.linalg.vector_norm(flats[i].double()).item()
    return table


def _large_gradient_row(flat: torch.Tensor, scratch: dict[Any, torch.Tensor]) -> torch.Tensor:
    values = flat.float() if flat.element_size() < 4 else flat
    magnitude = torch.abs(values, out=_scratch(scratch, values))
    bits = magnitude.view(_INT_VIEWS[magnitude.element_size()])
    columns = [values.dot(values), values.sum(), magnitude.amax(), torch.count_nonzero(bits)]
    return torch.stack([*(c.float() for c in columns), magnitude.sum().float()])


def _small_gradient_rows(flats: list[torch.Tensor]) -> torch.Tensor:
    device = flats[0].device
    dtype = torch.float64 if any(f.dtype == torch.float64 for f in flats) else torch.float32
    values = torch.cat([f.to(device, dtype) for f in flats])
    lengths = torch.tensor([f.numel() for f in flats], device=device)
    magnitude = values.abs()
    columns = [
        torch.segment_reduce(values * values, "sum", lengths=lengths),
        torch.segment_reduce(values, "sum", lengths=lengths),
        torch.segment_reduce(magnitude, "max", lengths=lengths),
        torch.segment_reduce((magnitude != 0).to(dtype), "sum", lengths=lengths),  # NaN too
        torch.segment_reduce(magnitude, "sum", lengths=lengths),
    ]
    return torch.stack(columns, dim=1)


def _scratch(buffers: dict[Any, torch.Tensor], like: torch.Tensor) -> torch.Tensor:
    """A reusable buffer shaped like ``like`` (grown when needed, one per dtype and device)."""
    key = (like.dtype, like.device)
    buffer = buffers.get(key)
    if buffer is None or buffer.numel() < like.numel():
        buffer = buffers[key] = torch.empty(like.numel(), dtype=like.dtype, device=like.device)
    return buffer[: like.numel()]


def summarise_activation(out: torch.Tensor, kind: str, row: torch.Tensor) -> tuple[int, int]:
    """Add (sum, sum of squares, flagged) of ``out`` to ``row``; return its count and units.

    "Flagged" means dead units for ReLUs (a unit is one output position, dead when it is
    zero for every example in the batch), saturated outputs for tanh and sigmoid.
    """
    x = out.detach()
    if x.dtype not in (torch.float32, torch.float64):
        x = x.float()
    flat = x.reshape(-1)
    units = flat.numel()
    flagged = None
    if kind == "dead":
        units = 0  # no verdict for a batch too small to tell dead from merely off
        if x.dim() > 1 and x.shape[0] >= MIN_BATCH_FOR_DEAD:
            batch_max = x.amax(dim=0)
            flagged = (batch_max <= 0).sum(dtype=x.dtype)
            units = batch_max.numel()
    elif kind == "tanh":
        flagged = (flat.abs() > TANH_SATURATION).sum(dtype=x.dtype)
    elif kind == "sigmoid":
        flagged = ((flat < SIGMOID_SATURATION) | (flat > 1 - SIGMOID_SATURATION)).sum(dtype=x.dtype)
    if flagged is None:
        stats, target = torch.stack([flat.sum(), flat.dot(flat)]), row[:2]
    else:
        stats, target = torch.stack([flat.sum(), flat.dot(flat), flagged]), row
    target.add_(stats.to(row.device, row.dtype))
    return flat.numel(), units


def log_histograms(grads: list[torch.Tensor], edges: np.ndarray) -> np.ndarray:
    """Histogram of log10|g| per tensor (zeros and values outside the edges are left out)."""
    low, high, bins = float(edges[0]), float(edges[-1]), len(edges) - 1
    rows = []
    for g in grads:
        magnitude = (g.to_dense() if g.is_sparse else g).detach().abs().float()
        rows.append(torch.histc(magnitude.clamp_min_(1e-30).log10_(), bins=bins, min=low, max=high))
    return torch.stack(rows).cpu().numpy().astype(np.int32)
