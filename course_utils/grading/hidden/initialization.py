"""Hidden cases for notebook 05, initialisation and normalisation."""

from __future__ import annotations

import torch


def predicted_second_moments() -> list[dict[str, object]]:
    return [
        {"q0": 1.5, "depth": 8, "fan_in": 128, "weight_std": 0.125, "activation": "relu"},
        {"q0": 0.3, "depth": 20, "fan_in": 50, "weight_std": 0.15, "activation": "linear"},
        {"q0": 2.0, "depth": 3, "fan_in": 10, "weight_std": 0.5, "activation": "relu"},
    ]


def layer_norm() -> list[dict[str, object]]:
    generator = torch.Generator().manual_seed(501)
    return [
        {"x": 0.5 * torch.randn(5, 6, generator=generator, dtype=torch.float64) - 1, "eps": 1e-2},
        {"x": 4 * torch.randn(3, 2, 4, generator=generator, dtype=torch.float64), "eps": 1e-6},
    ]
