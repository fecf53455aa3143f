"""Exercises for notebook 07, gradient clipping.

The expected answers come from torch's own ``clip_grad_norm_`` or from a direct count, never
from the solutions.
"""

from __future__ import annotations

import math

import torch

from .core import Exercise

__all__ = ["choose_threshold", "clip_by_global_norm"]

_SOLUTIONS = "course_utils.solutions.clipping"


def _clip_cases() -> list[dict[str, object]]:
    generator = torch.Generator().manual_seed(7)

    def gradient(scale: float, *shapes: tuple[int, ...]) -> list[torch.Tensor]:
        return [
            scale * torch.randn(*shape, generator=generator, dtype=torch.float64)
            for shape in shapes
        ]

    return [
        {"grads": gradient(5.0, (3, 4), (4,)), "max_norm": 1.0},
        {"grads": gradient(10.0, (5, 3), (3,), (1,)), "max_norm": 2.5},
        {"grads": gradient(0.1, (2, 2), (3,)), "max_norm": 1.0},  # already short: unchanged
        {"grads": gradient(3.0, (10,)), "max_norm": 0.5},
    ]


def _global_norm(grads: list[torch.Tensor]) -> float:
    return math.sqrt(sum(g.pow(2).sum().item() for g in grads))


def _clip_expected(grads: list[torch.Tensor], max_norm: float) -> list[torch.Tensor]:
    copies = [g.clone() for g in grads]
    parameters = [torch.zeros_like(g, requires_grad=True) for g in grads]
    for parameter, copy in zip(parameters, copies, strict=True):
        parameter.grad = copy
    torch.nn.utils.clip_grad_norm_(parameters, max_norm)
    return [parameter.grad for parameter in parameters]


def _stretched(grads: list[torch.Tensor], max_norm: float) -> list[torch.Tensor]:
    # A known mistake: scaling to length max_norm always, even a gradient that is shorter.
    return [g * (max_norm / _global_norm(grads)) for g in grads]


def _each_tensor_clipped(grads: list[torch.Tensor], max_norm: float) -> list[torch.Tensor]:
    # A known mistake: every tensor clipped by its own norm instead of the global one.
    return [g * min(1.0, max_norm / g.norm().item()) for g in grads]


_SHORT = next(case for case in _clip_cases() if _global_norm(case["grads"]) < case["max_norm"])

clip_by_global_norm = Exercise(
    name="clip_by_global_norm",
    title="clipping by global norm: one factor for all the tensors",
    cases=_clip_cases,
    expected=_clip_expected,
    hints=[
        "The global norm treats all the tensors as one long vector: the square root of the sum "
        "of the squares of every entry of every tensor. If it is at most max_norm, return the "
        "gradient unchanged; otherwise shrink it to length max_norm.",
        "Shrinking to length max_norm means multiplying every tensor by the same number: "
        "max_norm divided by the global norm, but never a number above 1 (a short gradient "
        "stays as it is). The same number for all tensors is what keeps the direction. "
        "Return a new list of tensors, made by multiplying (not with mul_, which would change "
        "the tensors you were given).",
    ],
    solutions=_SOLUTIONS,
    points=1,
    mistakes=[
        (
            _stretched,
            f"this gradient's global norm, {_global_norm(_SHORT['grads']):.2f}, is already below "
            f"max_norm = {_SHORT['max_norm']:g}, so it should be returned unchanged; you "
            "stretched it to length max_norm (the factor must never be above 1)",
        ),
        (
            _each_tensor_clipped,
            "you clipped each tensor by its own norm, which changes the proportions between "
            "the tensors and so the direction; clip by the global norm, the length of all the "
            "tensors taken together as one vector, with one factor for every tensor",
        ),
    ],
)


def _threshold_cases() -> list[dict[str, object]]:
    generator = torch.Generator().manual_seed(3)
    healthy = (torch.rand(40, generator=generator, dtype=torch.float64) * 2 + 0.5).tolist()
    decaying = [30.0 * 0.9**step for step in range(60)]
    overflowed = [0.9, 1.2, 1.1, 1.6, 1.3, 2.0, 5.0, 120.0, math.inf, math.inf]  # inf, no NaN
    diverged = [1.0, 1.5, 0.8, 2.0, 40.0, 800.0, math.inf, math.nan, math.nan]
    return [
        {"norms": healthy, "percentile": 99.0},
        {"norms": healthy, "percentile": 50.0},
        {"norms": decaying, "percentile": 90.0},
        {"norms": overflowed, "percentile": 50.0},
        {"norms": diverged, "percentile": 75.0},
        {"norms": [2.0, math.nan, 4.0, 3.0], "percentile": 100.0},
    ]


def _percentile(values: list[float], percentile: float) -> float:
    # Linear interpolation between the two nearest ranks, as numpy.percentile does by default.
    ordered = sorted(values)
    position = (len(ordered) - 1) * percentile / 100
    below = math.floor(position)
    if position == below:
        return ordered[below]
    above = min(below + 1, len(ordered) - 1)
    return ordered[below] + (ordered[above] - ordered[below]) * (position - below)


def _threshold_expected(norms: list[float], percentile: float) -> float:
    return _percentile([n for n in norms if math.isfinite(n)], percentile)


def _inf_kept(norms: list[float], percentile: float) -> float:
    # A known mistake: the inf norms of an overflowed run kept (only NaN, or nothing, dropped).
    return _percentile([n for n in norms if not math.isnan(n)], percentile)


def _fraction(norms: list[float], percentile: float) -> float:
    # A known mistake: the percentile divided by 100, as torch.quantile would want it.
    return _threshold_expected(norms, percentile / 100)


choose_threshold = Exercise(
    name="choose_threshold",
    title="a clipping threshold: a percentile of the finite gradient norms of a run",
    cases=_threshold_cases,
    expected=_threshold_expected,
    hints=[
        "A run that diverged records inf and NaN norms at the end; they say nothing about "
        "healthy steps, so drop every norm that is not finite (math.isfinite) first.",
        "Then take the percentile of what is left: numpy's percentile or torch's quantile "
        "(which wants a fraction, percentile / 100) both interpolate linearly between the "
        "two nearest values, as the check does. Return a Python float.",
    ],
    solutions=_SOLUTIONS,
    points=1,
    mistakes=[
        (
            _inf_kept,
            "you kept the inf norms: a run that overflowed records inf, which says nothing "
            "about healthy steps; keep only the finite norms (math.isfinite drops inf and NaN)",
        ),
        (
            _fraction,
            "you took the (percentile / 100)-th percentile: the percentile is given on a 0 to "
            "100 scale, which is the scale np.percentile takes (only torch.quantile wants a "
            "fraction)",
        ),
    ],
)
