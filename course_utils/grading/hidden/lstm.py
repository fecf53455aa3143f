"""Hidden cases for notebook 08, the LSTM's cell state as a gradient highway."""

from __future__ import annotations

import torch


def lstm_cell_step() -> list[dict[str, object]]:
    generator = torch.Generator().manual_seed(801)
    cases = []
    for batch, inputs, hidden, forget_bias in ((2, 3, 2, 1.0), (5, 4, 5, -1.0)):

        def draw(*shape: int) -> torch.Tensor:
            return torch.randn(*shape, generator=generator, dtype=torch.float64)

        bias_ih = draw(4 * hidden)
        bias_ih[hidden : 2 * hidden] += forget_bias
        cases.append(
            {
                "x": draw(batch, inputs),
                "h": draw(batch, hidden),
                "c": draw(batch, hidden),
                "weight_ih": draw(4 * hidden, inputs) / inputs**0.5,
                "weight_hh": draw(4 * hidden, hidden) / hidden**0.5,
                "bias_ih": bias_ih,
                "bias_hh": draw(4 * hidden),
            }
        )
    return cases


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
