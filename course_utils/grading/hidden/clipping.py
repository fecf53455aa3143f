"""Hidden cases for notebook 07, gradient clipping."""

from __future__ import annotations

import math

import torch


def clip_by_global_norm() -> list[dict[str, object]]:
    generator = torch.Generator().manual_seed(701)

    def gradient(scale: float, *shapes: tuple[int, ...]) -> list[torch.Tensor]:
        return [
            scale * torch.randn(*shape, generator=generator, dtype=torch.float64)
            for shape in shapes
        ]

    return [
        {"grads": gradient(4.0, (2, 3), (5,)), "max_norm": 3.0},
        {"grads": gradient(0.05, (7,)), "max_norm": 0.1},
        {"grads": gradient(20.0, (1,), (2, 2), (3,)), "max_norm": 5.0},
    ]


def choose_threshold() -> list[dict[str, object]]:
    generator = torch.Generator().manual_seed(702)
    noisy = (torch.rand(25, generator=generator, dtype=torch.float64) * 5 + 0.1).tolist()
    return [
        {"norms": noisy, "percentile": 95.0},
        {"norms": noisy, "percentile": 10.0},
        {"norms": [3.0, math.inf, 1.0, math.nan, 2.0, 5.0], "percentile": 60.0},
    ]
