"""Exercises for notebook 01, the chain rule.

The expected answers come from autograd, never from the solutions, so checking works in a
release that leaves the solutions out.
"""

from __future__ import annotations

import torch

from ..chains import chain_input_gradients
from .core import Exercise

__all__ = ["chain_gradient", "two_layer_backward"]

_SOLUTIONS = "course_utils.solutions.chain_rule"


def _two_layer_cases() -> list[dict[str, float]]:
    generator = torch.Generator().manual_seed(1)
    cases = [{"x": 1.5, "w1": 0.8, "w2": -1.2, "y": 0.5}]
    for _ in range(4):
        x, w1, w2, y = (2 * torch.rand(4, generator=generator, dtype=torch.float64) - 1).tolist()
        cases.append({"x": 2 * x, "w1": 2 * w1, "w2": 2 * w2, "y": y})
    return cases


def _two_layer_expected(x: float, w1: float, w2: float, y: float) -> tuple[float, float]:
    w1_t = torch.tensor(w1, dtype=torch.float64, requires_grad=True)
    w2_t = torch.tensor(w2, dtype=torch.float64, requires_grad=True)
    loss = 0.5 * (w2_t * torch.tanh(w1_t * x) - y) ** 2
    dw1, dw2 = torch.autograd.grad(loss, (w1_t, w2_t))
    return dw1.item(), dw2.item()


two_layer_backward = Exercise(
    name="two_layer_backward",
    title="backward pass through h = tanh(w1·x), out = w2·h, L = ½(out − y)²",
    cases=_two_layer_cases,
    expected=_two_layer_expected,
    hints=[
        "Copy the shape of the backward pass in section 2b: one line per node, each line is "
        "(gradient so far) × (that node's local derivative). w2 is one node away from out, "
        "w1 is three nodes away, so dL_dw1 is the longer product.",
        "The nodes, from the loss back: L = ½(out - y)² (the ½ cancels the 2), out = w2·h, "
        "h = tanh(a), a = w1·x. Their local derivatives: out - y; h (for w2) or w2 (for h); "
        "1 - h²; x.",
    ],
    solutions=_SOLUTIONS,
    points=1,
    output_names=("dL_dw1", "dL_dw2"),
)


def _chain_cases() -> list[dict[str, float]]:
    generator = torch.Generator().manual_seed(2)
    cases = [
        {"x": 0.5, "depth": 1, "weight": 2.0, "bias": 0.0},
        {"x": 0.3, "depth": 3, "weight": -2.0, "bias": 0.5},  # odd depth, w < 0: negative answer
    ]
    for depth in (2, 5, 12, 30):
        x, weight, bias = (2 * torch.rand(3, generator=generator, dtype=torch.float64) - 1).tolist()
        cases.append({"x": 2 * x, "depth": depth, "weight": 3 * weight, "bias": bias})
    return cases


def _chain_expected(x: float, depth: int, weight: float, bias: float) -> float:
    return chain_input_gradients(x, depth, weight, bias)[-1].item()


chain_gradient = Exercise(
    name="chain_gradient",
    title="dh_N/dx of the sigmoid chain as a running product of local derivatives",
    cases=_chain_cases,
    expected=_chain_expected,
    hints=[
        "The chain rule makes dh_N/dx a product with one factor per layer, and each factor "
        "is the derivative of one layer's output with respect to its input. By the end of "
        "the loop, grad should hold the whole product.",
        "One layer is h = σ(z) with z = weight·h_prev + bias, so dh/dh_prev = σ'(z)·weight. "
        "σ'(z) can be written with the h you have just computed (see section 2a). "
        "Remember to return grad at the end.",
    ],
    solutions=_SOLUTIONS,
    points=1,
    rtol=1e-9,
    atol=1e-300,
)
