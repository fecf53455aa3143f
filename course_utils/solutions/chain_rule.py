"""Solutions for notebook 01, the chain rule."""

from __future__ import annotations

import math


def two_layer_backward(x: float, w1: float, w2: float, y: float) -> tuple[float, float]:
    # Forward pass: keep every intermediate value, the backward pass needs them.
    a = w1 * x
    h = math.tanh(a)
    out = w2 * h
    # Backward pass: one running number, dL/d(node), multiplied by one local derivative
    # per step as we walk from the loss back to each weight.
    dL_dout = out - y  # L = ½(out - y)²
    dL_dw2 = dL_dout * h  # out = w2·h, so ∂out/∂w2 = h
    dL_dh = dL_dout * w2  # ... and ∂out/∂h = w2
    dL_da = dL_dh * (1 - h**2)  # h = tanh(a): tanh' = 1 - tanh², reusing h from the forward pass
    dL_dw1 = dL_da * x  # a = w1·x, so ∂a/∂w1 = x
    # w1 sits deeper than w2, so its gradient is a longer product: it picked up
    # w2 and the tanh derivative on the way. In a deep network that product is long.
    return dL_dw1, dL_dw2


def chain_gradient(x: float, depth: int, weight: float, bias: float) -> float:
    h, grad = x, 1.0
    for _ in range(depth):
        z = weight * h + bias
        h = 1 / (1 + math.exp(-z))
        grad *= weight * h * (1 - h)  # the key line: dh/dh_prev = weight · σ'(z)
    # grad is now ∏ weight·σ'(z_l). Every factor is at most |weight|/4, so the product
    # shrinks geometrically when |weight| < 4: that is the vanishing gradient.
    # (This carries the derivative forwards alongside h, "forward mode"; for one input
    # and one output it gives the same product that backpropagation computes backwards.)
    return grad
