"""Hidden cases for notebook 06, the ResNet identity path."""

from __future__ import annotations

import torch

from course_utils.exercises import residual as visible


def block_jacobian() -> list[dict[str, object]]:
    generator = torch.Generator().manual_seed(601)
    cases = []
    for width, scale in ((2, 0.3), (6, 1.5)):
        weight = scale * torch.randn(width, width, generator=generator, dtype=torch.float64)
        x = torch.randn(width, generator=generator, dtype=torch.float64)
        cases.append({"weight": weight, "x": x})
    return cases


def backward_through_blocks() -> list[dict[str, object]]:
    return visible.backward_cases(seed=602, sizes=((2, 3, 4), (7, 2, 1)))
