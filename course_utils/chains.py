"""A chain of scalar sigmoid layers: the smallest deep network that shows vanishing gradients.

Layer l computes h_l = σ(w · h_{l-1} + b) with h_0 = x. By the chain rule,

    dh_L/dx = ∏_{l=1..L} w · σ'(z_l),    z_l = w · h_{l-1} + b,

and since σ' ≤ 1/4, |dh_L/dx| ≤ (|w|/4)^L. Everything runs in float64, so even
(1/4)^50 ≈ 8e-31 is represented exactly enough to plot.

>>> grads = chain_input_gradients(0.5, depth=3, weight=1.0)
>>> bool((grads.abs() <= sigmoid_chain_bound(3, weight=1.0)).all())
True
"""

from __future__ import annotations

import torch

from ._checks import require_finite_tensor, require_int, require_real

__all__ = [
    "chain_input_gradients",
    "fixed_point_factor",
    "sigmoid_chain",
    "sigmoid_chain_bound",
]


def _as_input(x: float | torch.Tensor) -> torch.Tensor:
    if isinstance(x, torch.Tensor):
        if not x.is_floating_point():
            raise TypeError(f"x must hold floating-point numbers, got dtype {x.dtype}.")
        x = x.detach().to(torch.float64)
    else:
        x = torch.tensor(require_real(x, "x"), dtype=torch.float64)
    return require_finite_tensor(x, "x")


def sigmoid_chain(
    x: float | torch.Tensor, depth: int, weight: float, bias: float = 0.0
) -> list[torch.Tensor]:
    """Run ``x`` through ``depth`` layers h_l = σ(weight · h_{l-1} + bias); return h_1 … h_depth.

    >>> [round(h.item(), 4) for h in sigmoid_chain(0.0, depth=2, weight=1.0)]
    [0.5, 0.6225]
    """
    return _forward(_as_input(x), depth, weight, bias)


def _forward(h: torch.Tensor, depth: int, weight: float, bias: float) -> list[torch.Tensor]:
    depth = require_int(depth, "depth", minimum=1)
    weight = require_real(weight, "weight")
    bias = require_real(bias, "bias")
    activations = []
    for _ in range(depth):
        h = torch.sigmoid(weight * h + bias)
        activations.append(h)
    return activations


def chain_input_gradients(
    x: float | torch.Tensor, depth: int, weight: float, bias: float = 0.0
) -> torch.Tensor:
    """dh_l/dx for every layer l = 1 … depth, measured with autograd.

    Returns a float64 tensor of shape ``(depth, *x.shape)``: row l-1 holds dh_l/dx.
    Every element of ``x`` is its own independent chain.

    >>> chain_input_gradients(0.0, depth=1, weight=2.0).tolist()  # 2 · σ'(0) = 2/4
    [0.5]
    """
    x = _as_input(x).requires_grad_()
    activations = _forward(x, depth, weight, bias)
    grads = []
    for h in activations:
        (g,) = torch.autograd.grad(h.sum(), x, retain_graph=True)
        grads.append(g)
    return torch.stack(grads)


def sigmoid_chain_bound(depth: int, weight: float) -> torch.Tensor:
    """The bound (|weight| / 4)^l on |dh_l/dx| for l = 1 … depth, as a float64 tensor.

    >>> sigmoid_chain_bound(3, weight=1.0).tolist()
    [0.25, 0.0625, 0.015625]
    """
    depth = require_int(depth, "depth", minimum=1)
    weight = require_real(weight, "weight")
    layers = torch.arange(1, depth + 1, dtype=torch.float64)
    return (abs(weight) / 4) ** layers


def fixed_point_factor(weight: float, bias: float = 0.0, iterations: int = 10_000) -> float:
    """The per-layer factor |w · σ'(z*)| that a long chain settles into.

    Deep in the chain h_l stops changing: it reaches the fixed point h* = σ(w·h* + b), so
    every further layer multiplies the gradient by the same factor |w · σ'(w·h* + b)|.
    Found by running the chain ``iterations`` times from h = 1/2; raises if it has not
    settled, or settled where the factor is 1 or more (a fixed point that is not stable).

    >>> round(fixed_point_factor(weight=1.0), 4)  # a little below the bound's 0.25
    0.2247
    """
    weight = require_real(weight, "weight")
    bias = require_real(bias, "bias")
    iterations = require_int(iterations, "iterations", minimum=1)
    h = torch.tensor(0.5, dtype=torch.float64)
    for _ in range(iterations):
        h = torch.sigmoid(weight * h + bias)
    s = torch.sigmoid(weight * h + bias)
    factor = abs(weight * (s * (1 - s)).item())
    if abs(s.item() - h.item()) > 1e-9 or factor >= 1:
        raise ValueError(
            f"the chain with weight={weight}, bias={bias} does not settle to a stable fixed "
            "point, so there is no single factor per layer; try a smaller |weight|."
        )
    return factor
