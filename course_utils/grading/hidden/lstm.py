"""Hidden cases for notebook 08, the LSTM's cell state as a gradient highway."""

from __future__ import annotations

import torch

from course_utils.exercises import lstm as visible


def lstm_cell_step() -> list[dict[str, object]]:
    return visible.step_cases(seed=801, sizes=((2, 3, 2, 1.0), (5, 4, 5, -1.0)))


def direct_path_gradient() -> list[dict[str, torch.Tensor]]:
    generator = torch.Generator().manual_seed(802)
    return [
        {"forget_gates": torch.rand(7, 2, generator=generator, dtype=torch.float64)},
        {
            "forget_gates": torch.sigmoid(
                2 + torch.randn(30, 3, 2, generator=generator, dtype=torch.float64)
            )
        },
    ]


def forget_bias_for() -> list[dict[str, object]]:
    return [
        {"keep": 0.7, "steps": 50},
        {"keep": 0.99, "steps": 5},
        {"keep": 0.05, "steps": 200},
    ]
