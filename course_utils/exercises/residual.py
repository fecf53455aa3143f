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


def _slope(x: torch.Tensor) -> torch.Tensor:
    return 1 - torch.tanh(x) ** 2


_JACOBIAN_MISTAKES = [
    (
        lambda weight, x: weight * _slope(x),
        "you returned W diag(tanh'(x)) without the identity: the skip adds x, whose "
        "derivative is I",
    ),
    (
        lambda weight, x: torch.eye(len(x), dtype=x.dtype) + weight.T * _slope(x),
        "you used the transpose of W: y_i = x_i + Σ_j W_ij tanh(x_j), so ∂y_i/∂x_j = δ_ij + "
        "W_ij tanh'(x_j)",
    ),
    (
        lambda weight, x: torch.eye(len(x), dtype=x.dtype) + _slope(x)[:, None] * weight,
        "tanh'(x) scales the rows of W in your answer; it belongs to the columns, "
        "W diag(tanh'(x)), because tanh acts on x before W does",
    ),
    (
        lambda weight, x: torch.eye(len(x), dtype=x.dtype) + weight * torch.tanh(x),
        "you used tanh(x) where its derivative, tanh'(x) = 1 - tanh(x)², belongs",
    ),
]


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
    points=1,
    mistakes=_JACOBIAN_MISTAKES,
    rtol=1e-10,
    atol=1e-12,
)


def backward_cases(
    seed: int = 66, sizes: tuple[tuple[int, int, int], ...] = ((1, 3, 2), (4, 5, 3), (12, 4, 6))
) -> list[dict[str, object]]:
    """Random stacks of blocks, one case per (depth, width, batch) in ``sizes``.

    The autograder's hidden cases call it with another seed and other sizes.
    """
    generator = torch.Generator().manual_seed(seed)
    cases = []
    for depth, width, batch in sizes:
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


def _backward_variant(weights, x, grad_output, *, skip=True, transpose=False, slope=True):
    inputs, h = [], x
    for weight in weights:
        inputs.append(h)
        h = _block(weight, h)
    grad = grad_output
    for weight, h in zip(reversed(weights), reversed(inputs), strict=True):
        branch = grad @ (weight.T if transpose else weight)
        branch = branch * _slope(h) if slope else branch
        grad = grad + branch if skip else branch
    return grad


_BACKWARD_MISTAKES = [
    (
        lambda **case: _backward_variant(**case, skip=False),
        "you kept only the branch's part of the gradient: the skip connection hands the "
        "incoming gradient back unchanged, so add it",
    ),
    (
        lambda **case: _backward_variant(**case, transpose=True),
        "you multiplied by Wᵀ; for rows, the block computes tanh(h) Wᵀ, so the gradient row "
        "is multiplied by W on the way back",
    ),
    (
        lambda **case: _backward_variant(**case, slope=False),
        "you left out tanh'(h) = 1 - tanh(h)²: the branch's gradient passes through the "
        "tanh on its way back",
    ),
]


backward_through_blocks = Exercise(
    name="backward_through_blocks",
    title="backpropagation by hand through a stack of residual blocks",
    cases=backward_cases,
    expected=_backward_expected,
    hints=[
        "First run the forward pass and keep the input h of every block. Then walk the blocks "
        "from the last to the first, turning the gradient at a block's output into the "
        "gradient at its input.",
        "For a row h, the block computes h + tanh(h) Wᵀ. A gradient row g at its output is "
        "multiplied on the right by the Jacobian, I + W diag(tanh'(h)), giving "
        "g + (g W) ⊙ tanh'(h) at its input: the skip hands g back unchanged, and the branch "
        "adds its own part. Walk the blocks backwards, using the h each block saw.",
    ],
    solutions=_SOLUTIONS,
    points=2,
    mistakes=_BACKWARD_MISTAKES,
    rtol=1e-10,
    atol=1e-12,
)
