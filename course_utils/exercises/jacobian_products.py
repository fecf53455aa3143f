"""Exercises for notebook 02, Jacobian products.

The expected answers come from autograd, never from the solutions.
"""

from __future__ import annotations

import torch
from torch.autograd.functional import jacobian

from .core import Exercise

__all__ = ["backprop_through", "tanh_layer_jacobian"]

_SOLUTIONS = "course_utils.solutions.jacobian_products"


def _tanh_layer_cases() -> list[dict[str, torch.Tensor]]:
    generator = torch.Generator().manual_seed(3)
    cases = []
    for rows, columns in [(3, 5), (6, 4), (2, 2)]:  # not square first: shape slips show
        W = torch.randn(rows, columns, generator=generator, dtype=torch.float64)
        b = torch.randn(rows, generator=generator, dtype=torch.float64)
        x = torch.randn(columns, generator=generator, dtype=torch.float64)
        cases.append({"W": W, "b": b, "x": x})
    return cases


def _tanh_layer_expected(W: torch.Tensor, b: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    return jacobian(lambda v: torch.tanh(W @ v + b), x)


tanh_layer_jacobian = Exercise(
    name="tanh_layer_jacobian",
    title="the Jacobian of h = tanh(W x + b) with respect to x",
    cases=_tanh_layer_cases,
    expected=_tanh_layer_expected,
    hints=[
        "Split the layer in two: z = W x + b, then h = tanh(z). The Jacobian of the layer is "
        "the product of the two Jacobians, the last step first: (dh/dz)(dz/dx).",
        "dz/dx is W. dh/dz is diagonal, because h_i depends on z_i only; its diagonal holds "
        "tanh'(z_i) = 1 - h_i². Multiplying by a diagonal matrix on the left scales the rows.",
    ],
    solutions=_SOLUTIONS,
    points=1,
    rtol=1e-10,
    atol=1e-12,
)


def backprop_cases(
    seed: int = 4, layer_widths: tuple[tuple[int, ...], ...] = ((3, 3), (2, 4, 3), (5, 3, 3, 2, 4))
) -> list[dict[str, object]]:
    """Random chains of Jacobians, one case per tuple of layer widths.

    The autograder's hidden cases call it with another seed and other widths.
    """
    generator = torch.Generator().manual_seed(seed)
    cases = []
    for widths in layer_widths:
        jacobians = [
            torch.randn(widths[i + 1], widths[i], generator=generator, dtype=torch.float64)
            for i in range(len(widths) - 1)
        ]
        grad_output = torch.randn(widths[-1], generator=generator, dtype=torch.float64)
        cases.append({"jacobians": jacobians, "grad_output": grad_output})
    return cases


def _backprop_expected(jacobians: list[torch.Tensor], grad_output: torch.Tensor) -> torch.Tensor:
    x = torch.zeros(jacobians[0].shape[1], dtype=torch.float64, requires_grad=True)
    h = x
    for J in jacobians:  # a linear network with exactly these layer Jacobians
        h = J @ h
    (grad,) = torch.autograd.grad(h, x, grad_outputs=grad_output)
    return grad


backprop_through = Exercise(
    name="backprop_through",
    title="the input gradient from layer Jacobians, as the backward pass computes it",
    cases=backprop_cases,
    expected=_backprop_expected,
    hints=[
        "The backward pass starts at the output with grad_output and walks the layers from "
        "the last to the first. Each layer turns the gradient with respect to its output "
        "into the gradient with respect to its input.",
        "For one layer with Jacobian J (outputs × inputs), the chain rule gives "
        "dL/d(input) = Jᵀ · dL/d(output). Loop over reversed(jacobians); no big product "
        "of matrices is needed, only matrix-vector products.",
    ],
    solutions=_SOLUTIONS,
    points=1,
    rtol=1e-10,
    atol=1e-12,
)
