"""Hidden cases for notebook 01, the chain rule."""

from __future__ import annotations

import torch


def two_layer_backward() -> list[dict[str, float]]:
    generator = torch.Generator().manual_seed(101)
    cases = [{"x": -0.7, "w1": -1.3, "w2": 0.4, "y": -0.2}]
    for _ in range(3):
        x, w1, w2, y = (3 * torch.rand(4, generator=generator, dtype=torch.float64) - 1.5).tolist()
        cases.append({"x": x, "w1": w1, "w2": w2, "y": y})
    return cases


def chain_gradient() -> list[dict[str, float]]:
    generator = torch.Generator().manual_seed(102)
    cases = [{"x": -0.4, "depth": 4, "weight": -3.0, "bias": 0.2}]
    for depth in (3, 7, 20):
        x, weight, bias = (2 * torch.rand(3, generator=generator, dtype=torch.float64) - 1).tolist()
        cases.append({"x": 1.5 * x, "depth": depth, "weight": 4 * weight, "bias": bias})
    return cases
