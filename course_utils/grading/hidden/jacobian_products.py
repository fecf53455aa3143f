"""Hidden cases for notebook 02, Jacobian products."""

from __future__ import annotations

import torch

from course_utils.exercises import jacobian_products as visible


def tanh_layer_jacobian() -> list[dict[str, torch.Tensor]]:
    generator = torch.Generator().manual_seed(201)
    cases = []
    for rows, columns in [(4, 7), (1, 3), (5, 5)]:
        W = torch.randn(rows, columns, generator=generator, dtype=torch.float64)
        b = torch.randn(rows, generator=generator, dtype=torch.float64)
        x = torch.randn(columns, generator=generator, dtype=torch.float64)
        cases.append({"W": W, "b": b, "x": x})
    return cases


def backprop_through() -> list[dict[str, object]]:
    return visible.backprop_cases(seed=202, layer_widths=((4, 2), (3, 3, 3, 3), (6, 1, 5)))
