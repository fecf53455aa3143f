"""Exercises for notebook 05, initialisation and normalisation.

The expected answers come from a direct formula or from torch, never from the solutions.
"""

from __future__ import annotations

import torch

from .core import Exercise

__all__ = ["layer_norm", "predicted_second_moments"]

_SOLUTIONS = "course_utils.solutions.initialization"


def _moment_cases() -> list[dict[str, object]]:
    return [
        {"q0": 1.0, "depth": 5, "fan_in": 64, "weight_std": (2 / 64) ** 0.5, "activation": "relu"},
        {
            "q0": 2.0,
            "depth": 30,
            "fan_in": 256,
            "weight_std": (1 / 768) ** 0.5,
            "activation": "relu",
        },
        {"q0": 0.5, "depth": 10, "fan_in": 100, "weight_std": 0.1, "activation": "linear"},
        {"q0": 1.0, "depth": 12, "fan_in": 32, "weight_std": 0.2, "activation": "relu"},
    ]


def _moment_expected(
    q0: float, depth: int, fan_in: int, weight_std: float, activation: str
) -> torch.Tensor:
    gain = fan_in * weight_std**2
    keep = 0.5 if activation == "relu" else 1.0
    layers = torch.arange(depth, dtype=torch.float64)  # layer l = layers + 1
    return q0 * gain * (gain * keep) ** layers


predicted_second_moments = Exercise(
    name="predicted_second_moments",
    title="the predicted second moment of every layer's pre-activations",
    cases=_moment_cases,
    expected=_moment_expected,
    hints=[
        "A pre-activation z = Σ_j w_j h_j adds fan_in independent terms, each with second "
        "moment Var(w)·E[h²]. So E[z²] = fan_in · weight_std² · E[h²], layer after layer.",
        "Layer 1 sees the input, with E[h²] = q0. Every later layer sees φ(z) of the layer "
        "before: E[relu(z)²] = E[z²]/2 (half the z are zeroed), E[z²] itself for 'linear'. "
        "Return a 1-D tensor of the depth values.",
    ],
    solutions=_SOLUTIONS,
    points=2,
    rtol=1e-9,
)


def _norm_cases() -> list[dict[str, object]]:
    generator = torch.Generator().manual_seed(7)
    return [
        {"x": 3 * torch.randn(4, 8, generator=generator, dtype=torch.float64) + 2, "eps": 1e-5},
        {"x": torch.randn(2, 3, 5, generator=generator, dtype=torch.float64), "eps": 1e-3},
        {"x": torch.full((3, 4), 7.0, dtype=torch.float64), "eps": 1e-5},
    ]


def _norm_expected(x: torch.Tensor, eps: float) -> torch.Tensor:
    return torch.nn.functional.layer_norm(x, x.shape[-1:], eps=eps)


layer_norm = Exercise(
    name="layer_norm",
    title="LayerNorm by hand: normalise each example over its features",
    cases=_norm_cases,
    expected=_norm_expected,
    hints=[
        "LayerNorm works on each example separately: over the last dimension (the features) "
        "it subtracts the mean and divides by the standard deviation.",
        "Use mean and var over dim=-1 with keepdim=True, the variance without Bessel's "
        "correction (unbiased=False, or correction=0), and add eps inside the square root.",
    ],
    solutions=_SOLUTIONS,
    points=1,
    rtol=1e-8,
    atol=1e-10,
)
