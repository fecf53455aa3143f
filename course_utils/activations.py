"""Activation functions and their derivatives, written out by hand.

Backpropagation multiplies the upstream gradient by the activation's derivative at every
layer, so the size of that derivative decides how much gradient gets through. Each function
here has a hand-written derivative that the tests check against autograd.

>>> import torch
>>> from course_utils.activations import sigmoid_derivative
>>> float(sigmoid_derivative(torch.tensor(0.0)))  # the largest a sigmoid can pass on
0.25
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import NamedTuple

import torch

from ._checks import require_floating, require_real, require_tensor

__all__ = [
    "ACTIVATIONS",
    "Activation",
    "gelu",
    "gelu_derivative",
    "get_activation",
    "leaky_relu",
    "leaky_relu_derivative",
    "relu",
    "relu_derivative",
    "sigmoid",
    "sigmoid_derivative",
    "tanh",
    "tanh_derivative",
]

_SQRT_2 = math.sqrt(2.0)
_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
_GELU_TANH_COEFF = 0.044715  # the constant in the tanh approximation of GELU


def _checked(x: object) -> torch.Tensor:
    return require_floating(require_tensor(x, "x"), "x")


def sigmoid(x: torch.Tensor) -> torch.Tensor:
    """σ(x) = 1 / (1 + e^{-x}), squashing every input into (0, 1).

    >>> float(sigmoid(torch.tensor(0.0)))
    0.5
    """
    return torch.sigmoid(_checked(x))


def sigmoid_derivative(x: torch.Tensor) -> torch.Tensor:
    """σ'(x) = σ(x)(1 - σ(x)); at most 1/4, reached at x = 0.

    >>> float(sigmoid_derivative(torch.tensor(0.0)))
    0.25
    """
    s = torch.sigmoid(_checked(x))
    return s * (1 - s)


def tanh(x: torch.Tensor) -> torch.Tensor:
    """tanh(x), squashing every input into (-1, 1).

    >>> float(tanh(torch.tensor(0.0)))
    0.0
    """
    return torch.tanh(_checked(x))


def tanh_derivative(x: torch.Tensor) -> torch.Tensor:
    """tanh'(x) = 1 - tanh(x)²; at most 1, reached at x = 0.

    >>> float(tanh_derivative(torch.tensor(0.0)))
    1.0
    """
    t = torch.tanh(_checked(x))
    return 1 - t * t


def relu(x: torch.Tensor) -> torch.Tensor:
    """ReLU(x) = max(0, x).

    >>> relu(torch.tensor([-2.0, 3.0])).tolist()
    [0.0, 3.0]
    """
    return torch.relu(_checked(x))


def relu_derivative(x: torch.Tensor) -> torch.Tensor:
    """ReLU'(x) is 1 for x > 0 and 0 otherwise (PyTorch also uses 0 at the kink x = 0).

    >>> relu_derivative(torch.tensor([-2.0, 0.0, 3.0])).tolist()
    [0.0, 0.0, 1.0]
    """
    x = _checked(x)
    return (x > 0).to(x.dtype)


def leaky_relu(x: torch.Tensor, negative_slope: float = 0.01) -> torch.Tensor:
    """Leaky ReLU: x for x > 0, ``negative_slope * x`` otherwise.

    >>> leaky_relu(torch.tensor([-2.0, 3.0], dtype=torch.float64), negative_slope=0.1).tolist()
    [-0.2, 3.0]
    """
    slope = require_real(negative_slope, "negative_slope")
    return torch.nn.functional.leaky_relu(_checked(x), slope)


def leaky_relu_derivative(x: torch.Tensor, negative_slope: float = 0.01) -> torch.Tensor:
    """1 for x > 0, ``negative_slope`` otherwise (including x = 0, as in PyTorch).

    >>> leaky_relu_derivative(torch.tensor([-2.0, 3.0], dtype=torch.float64), 0.1).tolist()
    [0.1, 1.0]
    """
    x = _checked(x)
    slope = require_real(negative_slope, "negative_slope")
    return torch.where(x > 0, torch.ones_like(x), torch.full_like(x, slope))


def _check_approximate(approximate: str) -> str:
    if approximate not in ("none", "tanh"):
        raise ValueError(
            f"approximate must be 'none' or 'tanh' (as in torch), got {approximate!r}."
        )
    return approximate


def gelu(x: torch.Tensor, approximate: str = "none") -> torch.Tensor:
    """GELU(x) = x Φ(x), Φ the standard normal CDF (``approximate='tanh'`` for the tanh form).

    >>> round(float(gelu(torch.tensor(1.0))), 4)
    0.8413
    """
    return torch.nn.functional.gelu(_checked(x), approximate=_check_approximate(approximate))


def gelu_derivative(x: torch.Tensor, approximate: str = "none") -> torch.Tensor:
    """GELU'(x) = Φ(x) + x φ(x). Unlike sigmoid and tanh it exceeds 1 (max ≈ 1.129 at x = √2)
    and dips below 0 (min ≈ -0.129 at x = -√2).

    >>> round(float(gelu_derivative(torch.tensor(0.0))), 4)
    0.5
    """
    x = _checked(x)
    if _check_approximate(approximate) == "tanh":
        inner = _SQRT_2_OVER_PI * (x + _GELU_TANH_COEFF * x**3)
        inner_derivative = _SQRT_2_OVER_PI * (1 + 3 * _GELU_TANH_COEFF * x**2)
        t = torch.tanh(inner)
        return 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * inner_derivative
    cdf = 0.5 * (1 + torch.erf(x / _SQRT_2))
    pdf = torch.exp(-0.5 * x * x) / math.sqrt(2 * math.pi)
    return cdf + x * pdf


class Activation(NamedTuple):
    """An activation function together with its hand-written derivative."""

    name: str
    function: Callable[[torch.Tensor], torch.Tensor]
    derivative: Callable[[torch.Tensor], torch.Tensor]


ACTIVATIONS: dict[str, Activation] = {
    "sigmoid": Activation("sigmoid", sigmoid, sigmoid_derivative),
    "tanh": Activation("tanh", tanh, tanh_derivative),
    "relu": Activation("relu", relu, relu_derivative),
    "leaky_relu": Activation("leaky_relu", leaky_relu, leaky_relu_derivative),
    "gelu": Activation("gelu", gelu, gelu_derivative),
}


def get_activation(name: str) -> Activation:
    """Look an activation up by name.

    >>> get_activation("tanh").derivative(torch.tensor(0.0)).item()
    1.0
    """
    try:
        return ACTIVATIONS[name]
    except (KeyError, TypeError):
        raise ValueError(
            f"unknown activation {name!r}; choose one of {', '.join(ACTIVATIONS)}."
        ) from None
