"""Hidden cases for notebook 09, the capstone."""

from __future__ import annotations

import torch

from course_utils.patients import PATIENTS


def treat_a() -> list[dict[str, int]]:
    return [{"depth": 16, "width": 28}]


def standardize() -> list[dict[str, torch.Tensor]]:
    generator = torch.Generator().manual_seed(901)
    scales = torch.tensor([0.01, 40.0, 3.0])
    shifts = torch.tensor([-7.0, 250.0, 0.5])
    return [
        {"x": scales * torch.randn(200, 3, generator=generator) + shifts},
        {"x": torch.randn(400, 6, generator=generator, dtype=torch.float64) * 2 - 1},
    ]


def treat_f() -> list[dict[str, object]]:
    torch.manual_seed(2)
    return [{"model": PATIENTS["F"].build()}]
