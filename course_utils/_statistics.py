"""The batched statistics behind :mod:`course_utils.gradflow`, written for speed on a CPU.

These functions turn many gradient or activation tensors into a few numbers each, with as
few passes over memory and as few small operations as possible: the monitor calls them on
every recorded step, inside a training loop. Nothing here is meant for learners to call.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from . import _one_pass

__all__ = [
    "HISTOGRAM_EXPONENTS",
    "MIN_BATCH_FOR_DEAD",
    "SIGMOID_SATURATION",
    "SMALL_GRADIENT",
    "TANH_SATURATION",
    "gradient_table",
    "summarise_activation",
]

# A unit counts as saturated when its output is this close to the activation's limits:
# tanh beyond ±0.99 (tanh' < 0.02), sigmoid below 0.01 or above 0.99 (σ' < 0.0099).
TANH_SATURATION = 0.99
SIGMOID_SATURATION = 0.01
# Dead units are counted only in batches at least this large: with fewer examples a unit
# that is merely off for these few looks dead.
MIN_BATCH_FOR_DEAD = 16

# Gradient histograms count |g| per power of two: bin e holds 2**e <= |g| < 2**(e + 1), for
# e from -53 (about 1e-16) to 12 (|g| up to 8192). A float keeps that e in its exponent bits,
# so the bin of every entry is read off its bits, exactly, with no logarithm.
HISTOGRAM_EXPONENTS = np.arange(-53, 13)
_HISTOGRAM_LOW = int(HISTOGRAM_EXPONENTS[0])
_BINS = len(HISTOGRAM_EXPONENTS)

# For float32 and float64: the integer view, where the exponent starts, and its bias.
_EXPONENT_BITS = {torch.float32: (torch.int32, 23, 127), torch.float64: (torch.int64, 52, 1023)}

# Gradients up to this size are summarised together, in NumPy, a few operations for all.
SMALL_GRADIENT = 16384


def gradient_table(
    grads: list[torch.Tensor],
    scratch: dict[Any, torch.Tensor],
    *,
    histograms: bool = False,
    one_pass: bool = False,
) -> tuple[np.ndarray, np.ndarray | None]:
    """Per tensor: norm, sum, max |g|, nonzero count and sum of |g|, in one transfer; with
    ``histograms``, also the entries per power of two (see ``HISTOGRAM_EXPONENTS``).

    Inside a training loop, where the step before has pushed everything else out of the
    CPU's caches, every small torch or NumPy operation costs tens of microseconds, as much as
    reducing 100,000 numbers; so the work is organised to need few of them:

    * large gradients: a few reductions each, whose results stay on the device until one
      stack brings them all to NumPy;
    * small gradients (biases, norm scales): copied one after another into one float64
      array and summarised with a handful of NumPy segment reductions for all of them;
    * with ``one_pass``, every float32 and float64 gradient on the CPU goes through the
      compiled loop of :mod:`course_utils._one_pass` instead, one call per tensor that reads
      it once for all five numbers (it raises ``CompileError`` without a C compiler).
    """
    table = np.zeros((len(grads), 5))
    counts = np.zeros((len(grads), _BINS), dtype=np.int64) if histograms else None
    todo = [i for i, g in enumerate(grads) if g.numel() > 0]
    if one_pass:
        todo = [i for i in todo if not _one_pass.summarise_into(grads[i], table[i])]
        if counts is not None:
            done = sorted(set(range(len(grads))) - set(todo))
            counts[done] = _histograms([grads[i] for i in done], scratch)
    large = [i for i in todo if grads[i].numel() > SMALL_GRADIENT]
    small = [i for i in todo if grads[i].numel() <= SMALL_GRADIENT]
    if large:
        sums: list[torch.Tensor] = []
        nonzeros: list[torch.Tensor | int] = []
        histogram_rows: list[torch.Tensor] = []
        for i in large:
            magnitude = _large_gradient_sums(grads[i], scratch, sums)
            nonzeros.append(_count_nonzero(magnitude))
            if counts is not None:
                histogram_rows.append(_exponent_counts(magnitude))  # spoils magnitude: last
        table[np.ix_(large, [0, 1, 2, 4])] = _gather(sums).reshape(len(large), 4)
        table[large, 3] = _gather_counts(nonzeros)
        if counts is not None:
            counts[large] = _gather(histogram_rows)
    if small:
        values, starts = _concatenated([_flat(grads[i]) for i in small])
        table[small] = _segment_rows(values, starts)
        if counts is not None:
            counts[small] = _segment_exponent_counts(values, starts)
    np.sqrt(table[:, 0], out=table[:, 0])  # sum of squares -> norm
    # Squares that underflowed (tiny gradients) or overflowed (huge but finite ones, above
    # 1.8e19 in float32) leave a norm below the largest entry, or infinite: the norm again,
    # in float64. (A loop over Python floats: cheaper here than a few more NumPy calls.)
    norms, largest_entries = table[:, 0].tolist(), table[:, 2].tolist()
    for i, (norm, largest) in enumerate(zip(norms, largest_entries, strict=True)):
        if norm < largest or (norm == math.inf and math.isfinite(largest)):
            table[i, 0] = torch.linalg.vector_norm(_flat(grads[i]).double()).item()
    return table, counts


def _histograms(grads: list[torch.Tensor], scratch: dict[Any, torch.Tensor]) -> np.ndarray:
    """Entries of |g| per power of two, one row per tensor (empty ones: all zeros)."""
    rows = np.zeros((len(grads), _BINS), dtype=np.int64)
    large = [i for i, g in enumerate(grads) if g.numel() > SMALL_GRADIENT]
    small = [i for i, g in enumerate(grads) if 0 < g.numel() <= SMALL_GRADIENT]
    if large:
        rows[large] = _gather([_large_gradient_histogram(grads[i], scratch) for i in large])
    if small:
        rows[small] = _segment_exponent_counts(*_concatenated([_flat(grads[i]) for i in small]))
    return rows


def _large_gradient_sums(
    grad: torch.Tensor, scratch: dict[Any, torch.Tensor], sums: list[torch.Tensor]
) -> torch.Tensor:
    """Append sum of squares, sum, max |g| and sum of |g| to ``sums``; return |g|.

    |g| is written into ``scratch`` (a buffer reused from step to step, returned), and each
    reduction is one more pass over the gradient or |g|, fast while they fit in the CPU's
    cache (``course_utils._one_pass`` does all of it in one pass). Half precision is summed
    in float32.
    """
    values = _flat(grad)
    if values.dtype not in _EXPONENT_BITS:
        values = values.float()
    magnitude = torch.abs(values, out=_scratch(scratch, values))
    sums += (values.dot(values), values.sum(), magnitude.amax(), magnitude.sum())
    return magnitude


def _large_gradient_histogram(grad: torch.Tensor, scratch: dict[Any, torch.Tensor]) -> torch.Tensor:
    values = _flat(grad)
    if values.dtype not in _EXPONENT_BITS:
        values = values.float()
    return _exponent_counts(torch.abs(values, out=_scratch(scratch, values)))


def _flat(grad: torch.Tensor) -> torch.Tensor:
    if grad.is_sparse:
        grad = grad.to_dense()
    if grad.requires_grad:  # a gradient of a gradient (create_graph=True)
        grad = grad.detach()
    return grad.reshape(-1)


def _count_nonzero(magnitude: torch.Tensor) -> torch.Tensor | int:
    """Nonzero entries of |g|, counted on its bits: many times faster on a CPU than on the
    floats, and a float is zero exactly when the bits of its absolute value are all 0 (-0.0
    included). On a CPU, NumPy counts twice as fast as torch."""
    bits = magnitude.view(_EXPONENT_BITS[magnitude.dtype][0])
    if bits.device.type == "cpu":
        return int(np.count_nonzero(bits.numpy()))
    return torch.count_nonzero(bits)


def _gather(tensors: list[torch.Tensor]) -> np.ndarray:
    """Tensors of one shape, stacked and brought to NumPy (as float64) in one transfer."""
    device = tensors[0].device
    if any(t.device != device for t in tensors):  # a model spread over several devices
        tensors = [t.to(device) for t in tensors]
    return torch.stack(tensors).cpu().numpy().astype(np.float64)


def _gather_counts(counts: list[torch.Tensor | int]) -> np.ndarray:
    if all(isinstance(c, int) for c in counts):
        return np.array(counts, dtype=np.float64)
    return _gather([torch.as_tensor(c) for c in counts])


def _exponent_counts(magnitude: torch.Tensor) -> torch.Tensor:
    """Entries of |g| per power of two, read off the bits of |g| (which it overwrites)."""
    int_type, shift, bias = _EXPONENT_BITS[magnitude.dtype]
    exponents = magnitude.view(int_type).bitwise_right_shift_(
        shift
    )  # the sign bit is 0: just the biased exponent
    counts = torch.bincount(exponents, minlength=2 * bias + 2)
    start = bias + _HISTOGRAM_LOW
    return counts[start : start + _BINS]


def _concatenated(flats: list[torch.Tensor]) -> tuple[np.ndarray, np.ndarray]:
    """The tensors one after another, in float64 on the CPU (one copy, and one transfer from
    a GPU), and the index at which each one starts."""
    device = flats[0].device
    if any(f.device != device for f in flats):  # a model spread over several devices
        flats = [f.to(device) for f in flats]
    values = torch.cat(flats).to(torch.float64).cpu().numpy()
    starts = np.cumsum([0] + [f.numel() for f in flats[:-1]])
    return values, starts


def _segment_rows(values: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """The five numbers of each segment ``values[starts[k]:starts[k + 1]]`` (none empty):
    sum of squares, sum, max |g| (NaN if the segment holds one), nonzero count, sum of |g|."""
    magnitude = np.abs(values)
    columns = (
        np.add.reduceat(values * values, starts),
        np.add.reduceat(values, starts),
        np.maximum.reduceat(magnitude, starts),
        np.add.reduceat(magnitude != 0, starts, dtype=np.int64),  # NaN counts as nonzero
        np.add.reduceat(magnitude, starts),
    )
    return np.stack(columns, axis=1)


def _segment_exponent_counts(values: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """Entries per power of two of each segment of the float64 ``values``, read off the
    exponent bits of |g| (every float32 or float16 converts to float64 exactly)."""
    exponents = (np.abs(values).view(np.int64) >> 52) - 1023  # 2**e <= |g| < 2**(e + 1)
    bins = exponents - _HISTOGRAM_LOW
    segment = np.repeat(np.arange(len(starts)), np.diff(starts, append=len(values)))
    inside = (bins >= 0) & (bins < _BINS)  # zeros, NaN, Inf and tiny or huge |g| left out
    index = segment[inside] * _BINS + bins[inside]
    return np.bincount(index, minlength=len(starts) * _BINS).reshape(len(starts), _BINS)


def _scratch(buffers: dict[Any, torch.Tensor], like: torch.Tensor) -> torch.Tensor:
    """A reusable buffer shaped like ``like``: one per dtype and device, grown when needed.
    Its views are kept per size too, since taking a view costs as much as a small reduction."""
    key = (like.dtype, like.device, like.numel())
    view = buffers.get(key)
    if view is None:
        kind = key[:2]
        buffer = buffers.get(kind)
        if buffer is None or buffer.numel() < like.numel():
            for old in [k for k in buffers if k[:2] == kind]:  # views of the outgrown buffer
                del buffers[old]
            buffer = buffers[kind] = torch.empty(like.numel(), dtype=like.dtype, device=like.device)
        view = buffers[key] = buffer[: like.numel()]
    return view


def summarise_activation(out: torch.Tensor, kind: str, row: torch.Tensor) -> tuple[int, int]:
    """Add (sum, sum of squares, flagged) of ``out`` to ``row``; return its count and units.

    "Flagged" means dead units for ReLUs (a unit is one output position, dead when it is
    zero for every example in the batch), saturated outputs for tanh and sigmoid. A ReLU's
    outputs are never negative, so a unit's sum over the batch is 0 exactly when it is dead;
    the sum of those sums is the total, without another pass over the output.
    """
    x = out.detach()
    if x.dtype not in (torch.float32, torch.float64):
        x = x.float()
    flat = x.reshape(-1)
    count = units = flat.numel()
    if kind == "dead":
        if x.dim() > 1 and x.shape[0] >= MIN_BATCH_FOR_DEAD:
            per_unit = x.sum(dim=0)
            dead = (per_unit == 0).sum(dtype=x.dtype)
            stats = torch.stack([per_unit.sum(), flat.dot(flat), dead])
            units = per_unit.numel()
        else:  # no verdict for a batch too small to tell dead from merely off
            stats = torch.stack([flat.sum(), flat.dot(flat)])
            units = 0
    elif kind == "tanh":
        flagged = (flat.abs() > TANH_SATURATION).sum(dtype=x.dtype)
        stats = torch.stack([flat.sum(), flat.dot(flat), flagged])
    elif kind == "sigmoid":
        outside = (flat < SIGMOID_SATURATION) | (flat > 1 - SIGMOID_SATURATION)
        stats = torch.stack([flat.sum(), flat.dot(flat), outside.sum(dtype=x.dtype)])
    else:
        stats = torch.stack([flat.sum(), flat.dot(flat)])
    if stats.dtype != row.dtype or stats.device != row.device:
        stats = stats.to(row.device, row.dtype)
    row[: len(stats)].add_(stats)
    return count, units
