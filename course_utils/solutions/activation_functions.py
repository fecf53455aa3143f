"""Solutions for notebook 03, activation functions and their derivatives."""

from __future__ import annotations

import math

import torch


def gelu_derivative(x: float) -> float:
    cdf = 0.5 * (1 + math.erf(x / math.sqrt(2)))  # Φ(x)
    pdf = math.exp(-0.5 * x * x) / math.sqrt(2 * math.pi)  # φ(x) = Φ'(x)
    return cdf + x * pdf  # product rule on x·Φ(x)
    # Differentiate once more: GELU''(x) = φ(x)(2 - x²), zero at x = ±√2. So the derivative
    # peaks at x = √2 (about 1.13, above 1) and bottoms out at x = -√2 (about -0.13): below
    # x ≈ -0.75 the negative x·φ(x) outweighs Φ(x). Far left it is tiny (about -4e-8 at -6).


def dead_fraction(pre_activations: torch.Tensor) -> float:
    dead = (pre_activations <= 0).all(dim=0)  # per unit: negative for every example?
    return dead.double().mean().item()
    # A dead unit passes no gradient to anything below it, for this batch. If it is dead for
    # every batch, its incoming weights never change again: it stays dead.
