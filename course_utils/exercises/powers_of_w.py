"""Exercises for notebook 04, powers of a weight matrix.

The expected answers come from torch.linalg.matrix_power, never from the solutions.
"""

from __future__ import annotations

import math

import torch

from .core import Exercise

__all__ = ["repeated_norms", "transient_peak"]

_SOLUTIONS = "course_utils.solutions.powers_of_w"


def _repeated_cases() -> list[dict[str, object]]:
    generator = torch.Generator().manual_seed(6)
    cases = []
    for width, depth, scale in [(3, 4, 1.2), (5, 10, 0.8), (2, 25, 1.0)]:
        W = scale * torch.randn(width, width, generator=generator, dtype=torch.float64) / width**0.5
        x = torch.randn(width, generator=generator, dtype=torch.float64)
        cases.append({"W": W, "x": x, "depth": depth})
    return cases


def _repeated_expected(W: torch.Tensor, x: torch.Tensor, depth: int) -> torch.Tensor:
    return torch.stack([(torch.linalg.matrix_power(W, n) @ x).norm() for n in range(1, depth + 1)])


repeated_norms = Exercise(
    name="repeated_norms",
    title="‖W^n x‖ for n = 1 … depth, one matrix-vector product per layer",
    cases=_repeated_cases,
    expected=_repeated_expected,
    hints=[
        "A deep linear network with the same weights in every layer applies W again and "
        "again: the output of layer n is the input of layer n + 1.",
        "Keep one vector h, start with h = x, and in a loop of depth steps replace h by W @ h "
        "and record h.norm(). Return the recorded norms as a 1-D tensor (torch.stack).",
    ],
    solutions=_SOLUTIONS,
    points=1,
    rtol=1e-9,
)


def _peak_cases() -> list[dict[str, float]]:
    # Not a = k/(k+1), where two depths tie exactly: for a = 0.9, L = 9 and 10.
    return [{"a": a} for a in (0.85, 0.6, 0.93, 0.7, 0.97, 0.3)]


def _peak_expected(a: float) -> int:
    layers = torch.arange(1, 100_000, dtype=torch.float64)
    return int(layers[(layers.log() + (layers - 1) * math.log(a)).argmax()])  # brute force


transient_peak = Exercise(
    name="transient_peak",
    title="the number of layers at which c·L·a^(L-1) is largest",
    cases=_peak_cases,
    expected=_peak_expected,
    hints=[
        "Maximise f(L) = L·a^(L-1) as if L were a real number: set its derivative to zero. "
        "Taking the logarithm first makes the derivative easy: log f = log L + (L-1)·log a.",
        "d/dL [log L + (L-1) log a] = 1/L + log a = 0 gives L* = -1/log a. The whole-number "
        "peak is the floor or the ceiling of L*: compare f at both and return the larger one's L.",
    ],
    solutions=_SOLUTIONS,
    points=2,
)
