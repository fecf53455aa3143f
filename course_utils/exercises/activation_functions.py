"""Exercises for notebook 03, activation functions and their derivatives.

The expected answers come from autograd or a direct count, never from the solutions.
"""

from __future__ import annotations

import torch

from .core import Exercise

__all__ = ["dead_fraction", "gelu_derivative"]

_SOLUTIONS = "course_utils.solutions.activation_functions"


def _gelu_cases() -> list[dict[str, float]]:
    return [{"x": x} for x in (0.0, 1.0, -1.0, 2**0.5, -(2**0.5), 3.7, -6.0)]


def _gelu_expected(x: float) -> float:
    point = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    (grad,) = torch.autograd.grad(torch.nn.functional.gelu(point), point)
    return grad.item()


gelu_derivative = Exercise(
    name="gelu_derivative",
    title="GELU's derivative, without autograd",
    cases=_gelu_cases,
    expected=_gelu_expected,
    hints=[
        "GELU(x) = x·Φ(x) is a product, so its derivative follows the product rule. "
        "Φ is the standard normal CDF, and its derivative is the standard normal density φ.",
        "Φ(x) = ½(1 + erf(x/√2)) and φ(x) = exp(-x²/2)/√(2π); both are one line with the "
        "math module. The product rule gives 1·Φ(x) + x·φ(x).",
    ],
    solutions=_SOLUTIONS,
    points=1,
    rtol=1e-9,
    atol=1e-12,
)


def _dead_cases() -> list[dict[str, torch.Tensor]]:
    generator = torch.Generator().manual_seed(5)
    cases = []
    for batch, units, killed in [(8, 4, 1), (32, 10, 7), (16, 6, 0), (4, 5, 5)]:
        z = torch.randn(batch, units, generator=generator, dtype=torch.float64)
        z[:, :killed] = -z[:, :killed].abs() - 0.1  # these units are negative for every example
        z[0, killed:] = z[0, killed:].abs() + 0.1  # and these fire at least once
        cases.append({"pre_activations": z})
    z = torch.randn(8, 4, generator=generator, dtype=torch.float64).abs() + 0.1
    z[:, 0] = 0.0  # exactly 0 for every example: ReLU passes nothing, the unit is dead
    z[:, 1] = -z[:, 1]
    cases.append({"pre_activations": z})
    return cases


def _dead_expected(pre_activations: torch.Tensor) -> float:
    dead = sum(bool((pre_activations[:, j] <= 0).all()) for j in range(pre_activations.shape[1]))
    return dead / pre_activations.shape[1]


dead_fraction = Exercise(
    name="dead_fraction",
    title="the fraction of ReLU units that are dead for a whole batch",
    cases=_dead_cases,
    expected=_dead_expected,
    hints=[
        "A unit is one column of pre_activations (rows are examples). It is dead for this "
        "batch if its ReLU outputs 0 for every example, that is if z <= 0 in every row.",
        "Compare the whole tensor with 0 to get booleans, reduce over the examples (dim 0) "
        "with .all(), then average over the units (convert to float first).",
    ],
    solutions=_SOLUTIONS,
    points=1,
)
