"""Hidden cases for notebook 03, activation functions."""

from __future__ import annotations

import torch


def gelu_derivative() -> list[dict[str, float]]:
    return [{"x": x} for x in (0.5, -0.3, 1.7, -2.5, 4.2, -0.75)]


def dead_fraction() -> list[dict[str, torch.Tensor]]:
    generator = torch.Generator().manual_seed(301)
    cases = []
    for batch, units, killed in [(10, 8, 3), (5, 3, 2), (6, 7, 0), (3, 4, 4)]:
        z = torch.randn(batch, units, generator=generator, dtype=torch.float64)
        z[:, :killed] = -z[:, :killed].abs() - 0.1
        z[0, killed:] = z[0, killed:].abs() + 0.1
        cases.append({"pre_activations": z[:, torch.randperm(units, generator=generator)]})
    return cases
