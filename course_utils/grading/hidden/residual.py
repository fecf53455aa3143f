"""Hidden cases for notebook 06, the ResNet identity path."""

from __future__ import annotations

import torch


def block_jacobian() -> list[dict[str, object]]:
    generator = torch.Generator().manual_seed(601)
    cases = []
    for width, scale in ((2, 0.3), (6, 1.5)):
        weight = scale * torch.randn(width, width, generator=generator, dtype=torch.float64)
        x = torch.randn(width, generator=generator, dtype=torch.float64)
        cases.append({"weight": weight, "x": x})
    return cases


def backward_through_blocks() -> list[dict[str, object]]:
    generator = torch.Generator().manual_seed(602)
    cases = []
    for depth, width, batch in ((2, 3, 4), (7, 2, 1)):
        weights = [
            torch.randn(width, width, generator=generator, dtype=torch.float64) / width**0.5
            for _ in range(depth)
        ]
        x = torch.randn(batch, width, generator=generator, dtype=torch.float64)
        grad_output = torch.randn(batch, width, generator=generator, dtype=torch.float64)
        cases.append({"weights": weights, "x": x, "grad_output": grad_output})
    return cases
