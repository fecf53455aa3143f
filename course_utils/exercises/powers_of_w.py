"""Exercises for notebook 04, powers of a weight matrix.

The expected answers come from torch.linalg.matrix_power, never from the solutions.
"""

from __future__ import annotations

import torch

from .core import Exercise

__all__ = ["jordan_corner", "repeated_norms"]

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
    rtol=1e-9,
)


def _jordan_cases() -> list[dict[str, float]]:
    return [
        {"a": 0.9, "c": 5.0, "n": 1},
        {"a": 0.9, "c": 5.0, "n": 9},
        {"a": 0.5, "c": -2.0, "n": 7},
        {"a": 1.1, "c": 0.3, "n": 30},
        {"a": -0.8, "c": 1.0, "n": 12},
    ]


def _jordan_expected(a: float, c: float, n: int) -> float:
    W = torch.tensor([[a, c], [0.0, a]], dtype=torch.float64)
    return torch.linalg.matrix_power(W, n)[0, 1].item()


jordan_corner = Exercise(
    name="jordan_corner",
    title="the top-right entry of [[a, c], [0, a]]^n, in closed form",
    cases=_jordan_cases,
    expected=_jordan_expected,
    hints=[
        "Multiply out W², then W³, by hand: the diagonal stays a^n, and the corner entry "
        "follows a pattern. Guess it, then check the guess against the next power.",
        "Write W = aI + N with N = [[0, c], [0, 0]]. N² = 0, so the binomial expansion of "
        "(aI + N)^n stops after two terms: a^n I + n a^(n-1) N.",
    ],
    solutions=_SOLUTIONS,
    rtol=1e-10,
)
