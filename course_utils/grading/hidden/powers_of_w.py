"""Hidden cases for notebook 04, powers of W."""

from __future__ import annotations

import torch


def repeated_norms() -> list[dict[str, object]]:
    generator = torch.Generator().manual_seed(401)
    cases = []
    for width, depth, scale in [(4, 6, 1.1), (6, 15, 0.9), (1, 8, 1.5)]:
        W = scale * torch.randn(width, width, generator=generator, dtype=torch.float64) / width**0.5
        x = torch.randn(width, generator=generator, dtype=torch.float64)
        cases.append({"W": W, "x": x, "depth": depth})
    return cases


def transient_peak() -> list[dict[str, float]]:
    # Away from a = k/(k+1), where two depths tie.
    return [{"a": a} for a in (0.82, 0.955, 0.45, 0.991, 0.66)]
