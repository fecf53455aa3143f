"""Exercises for notebook 06, the ResNet identity path.

The expected answers come from autograd, never from the solutions.
"""

from __future__ import annotations

import torch

from .core import Exercise

__all__ = ["backward_through_blocks", "block_jacobian"]

_SOLUTIONS = "course_utils.solutions.residual"


def _block(weight: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
    """One pre-activation block without bias, for a batch of rows h: h + W tanh(h)."""
    return h + torch.tanh(h) @ weight.T


def _jacobian_cases() -> list[dict[str, object]]:
    generator = torch.Generator().manual_seed(6)
    cases = []
    for width, scale in ((3, 0.5), (5, 1.0), (4, 2.0)):
        weight = scale * torch.randn(width, width, generator=generator, dtype=torch.float64)
        x = 1.5 * torch.randn(width, generator=generator, dtype=torch.float64)
        cases.append({"weight": weight, "x": x})
    return cases


def _jacobian_expected(weight: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    return torch.autograd.functional.jacobian(lambda v: _block(weight, v), x)


block_jacobian = Exercise(
    name="block_jacobian",
    title="the Jacobian of a residual block, I + W diag(tanh'(x))",
    cases=_jacobian_cases,
    expected=_jacobian_expected,
    hints=[
        "Differentiate y = x + W tanh(x) term by term. The derivative of x is the identity "
        "matrix; for W tanh(x), the chain rule gives W times the Jacobian of tanh, which is "
        "diagonal with tanh'(x) = 1 - tanh(x)² on its diagonal.",
        "W @ torch.diag(v) multiplies column j of W by v[j]; broadcasting, W * v, does the "
        "same without building the diagonal matrix. Then add torch.eye(len(x)).",
    ],
    solutions=_SOLUTIONS,
    rtol=1e-10,
    atol=1e-12,
)


def _backward_cases() -> list[dict[str, object]]:
    generator = torch.Generator().manual_seed(66)
    cases = []
    for depth, width, batch in ((1, 3, 2), (4, 5, 3), (12, 4, 6)):
        weights = [
            torch.randn(width, width, generator=generator, dtype=torch.float64) / width**0.5
            for _ in range(depth)
        ]
        x = torch.randn(batch, width, generator=generator, dtype=torch.float64)
        grad_output = torch.randn(batch, width, generator=generator, dtype=torch.float64)
        cases.append({"weights": weights, "x": x, "grad_output": grad_output})
    return cases


def _backward_expected(
    weights: list[torch.Tensor], x: torch.Tensor, grad_output: torch.Tensor
) -> torch.Tensor:
    x = x.clone().requires_grad_(True)
    h = x
    for weight in weights:
        h = _block(weight, h)
    (grad,) = torch.autograd.grad(h, x, grad_output)
    return grad


backward_through_blocks = Exercise(
    name="backward_through_blocks",
    title="backpropagation by hand through a stack of residual blocks",
    cases=_backward_cases,
    expected=_backward_expected,
    hints=[
        "First run the forward pass and keep the input h of every block. Then walk the blocks "
        "from the last to the first, turning the gradient at a block's output into the "
        "gradient at its input.",
        "For a row h, the block computes h + tanh(h) Wᵀ. Transposing the Jacobian "
        "I + W diag(tanh'(h)), a gradient row g at the output becomes g + (g W) ⊙ tanh'(h) at "
        "the input: the skip hands g back unchanged, and the branch adds its own part.",
    ],
    solutions=_SOLUTIONS,
    rtol=1e-10,
    atol=1e-12,
)
