"""Solutions for notebook 05, initialisation and normalisation."""

from __future__ import annotations

import torch


def predicted_second_moments(
    q0: float, depth: int, fan_in: int, weight_std: float, activation: str
) -> torch.Tensor:
    moments = []
    h_squared = q0  # E[h²] of the input to layer 1
    for _ in range(depth):
        q = fan_in * weight_std**2 * h_squared  # the key line: E[z²] = n·Var(w)·E[h²]
        moments.append(q)
        h_squared = q / 2 if activation == "relu" else q  # what the next layer receives
    return torch.tensor(moments, dtype=torch.float64)
    # Each layer multiplies by fan_in·Var(w)·(1/2 for ReLU). Kaiming chooses Var(w) = 2/fan_in
    # to make that factor exactly 1; Xavier's 1/fan_in gives 1/2, PyTorch's default 1/(3·fan_in)
    # gives 1/6, per layer.


def layer_norm(x: torch.Tensor, eps: float) -> torch.Tensor:
    mean = x.mean(dim=-1, keepdim=True)
    variance = x.var(dim=-1, keepdim=True, correction=0)
    return (x - mean) / torch.sqrt(variance + eps)  # the key line
    # Whatever the scale of the layer before, every example leaves with mean 0 and variance
    # about 1, so the next layer's pre-activations cannot grow or shrink with depth. (nn.LayerNorm
    # then multiplies by a learned scale and adds a learned shift, both starting at 1 and 0.)
