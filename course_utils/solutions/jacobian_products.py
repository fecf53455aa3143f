"""Solutions for notebook 02, Jacobian products."""

from __future__ import annotations

import torch


def tanh_layer_jacobian(W: torch.Tensor, b: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    h = torch.tanh(W @ x + b)
    # J = diag(1 - h²) · W, which could be written torch.diag(1 - h**2) @ W. Multiplying by
    # a diagonal matrix scales row i by (1 - h_i²); broadcasting a column vector does
    # exactly that without building the m x m diagonal matrix.
    return (1 - h**2)[:, None] * W
    # A unit with |h_i| near 1 (saturated) zeroes its whole row: no gradient gets through it.


def backprop_through(jacobians: list[torch.Tensor], grad_output: torch.Tensor) -> torch.Tensor:
    grad = grad_output
    for J in reversed(jacobians):
        grad = J.T @ grad  # the key line: a vector-Jacobian product, one layer back
    # Each step costs one matrix-vector product: this is why backpropagation never forms
    # the full product J_L ⋯ J_1, whose size and cost would be far larger.
    return grad
