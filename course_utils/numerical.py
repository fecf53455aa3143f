"""Finite-difference gradients, and a check that autograd agrees with them.

The derivative is the limit of (f(x + ε) - f(x - ε)) / 2ε. Evaluating that quotient for a
small ε, one input element at a time, gives a gradient that needs no backward pass at
all: slow, but an independent witness for any backward you write.

>>> import torch
>>> result = gradient_check(lambda x: (x**3).sum(), torch.tensor([1.0, 2.0]))
>>> result.passed
True
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import torch

from ._checks import require_finite_tensor, require_floating, require_real, require_tensor

__all__ = ["GradCheckResult", "gradient_check", "numerical_gradient"]

ScalarFunction = Callable[..., torch.Tensor]


def _as_float64_inputs(inputs: tuple[object, ...]) -> list[torch.Tensor]:
    if not inputs:
        raise ValueError("pass at least one input tensor after f, e.g. gradient_check(f, x).")
    checked = []
    for i, x in enumerate(inputs):
        name = f"inputs[{i}]"
        x = require_floating(require_tensor(x, name), name)
        checked.append(require_finite_tensor(x, name).detach().to(torch.float64))
    return checked


def _scalar_output(f: ScalarFunction, xs: list[torch.Tensor]) -> torch.Tensor:
    out = f(*xs)
    if not isinstance(out, torch.Tensor):
        raise TypeError(f"f must return a torch.Tensor, got {type(out).__name__}.")
    if out.numel() != 1:
        raise ValueError(
            f"f must return a single number (a loss), got shape {tuple(out.shape)}; "
            "reduce it first, e.g. with .sum()."
        )
    return out.reshape(())


def numerical_gradient(
    f: ScalarFunction, *inputs: torch.Tensor, eps: float = 1e-6
) -> tuple[torch.Tensor, ...]:
    """Central-difference gradient of a scalar function, in float64.

    Each element of each input is nudged by ±``eps`` in turn, so this costs two calls of
    ``f`` per element: use it on small inputs.

    >>> (grad,) = numerical_gradient(lambda x: (x**2).sum(), torch.tensor([3.0]))
    >>> round(grad.item(), 6)
    6.0
    """
    if not callable(f):
        raise TypeError(f"f must be a function returning a scalar tensor, got {type(f).__name__}.")
    eps = require_real(eps, "eps", positive=True)
    xs = _as_float64_inputs(inputs)
    grads = []
    with torch.no_grad():
        for x in xs:
            grad = torch.zeros_like(x)
            flat_x, flat_grad = x.view(-1), grad.view(-1)
            for i in range(flat_x.numel()):
                original = flat_x[i].item()
                flat_x[i] = original + eps
                f_plus = _scalar_output(f, xs).item()
                flat_x[i] = original - eps
                f_minus = _scalar_output(f, xs).item()
                flat_x[i] = original
                flat_grad[i] = (f_plus - f_minus) / (2 * eps)
            grads.append(grad)
    return tuple(grads)


class GradCheckResult(NamedTuple):
    """What :func:`gradient_check` found. ``str(result)`` is the plain-language verdict."""

    max_relative_error: float
    passed: bool
    verdict: str

    def __str__(self) -> str:
        return self.verdict


def gradient_check(
    f: ScalarFunction,
    *inputs: torch.Tensor,
    eps: float = 1e-6,
    tolerance: float = 1e-6,
    floor: float = 1e-4,
) -> GradCheckResult:
    """Compare autograd's gradient of ``f`` with central differences, in float64.

    The error of each element is ``|autograd - numerical| / max(|autograd|, |numerical|, floor)``:
    relative for ordinary gradients, absolute for those smaller than ``floor`` (where
    finite differences are mostly rounding noise). The check passes when the largest error
    is at most ``tolerance``. A correct backward typically scores about 1e-9; a wrong one
    scores well above 1e-2. Near a kink (ReLU at exactly 0) the two can legitimately differ.

    >>> result = gradient_check(lambda x: torch.sin(x).sum(), torch.tensor([0.5, -1.5]))
    >>> result.passed, result.max_relative_error < 1e-6
    (True, True)
    """
    eps = require_real(eps, "eps", positive=True)
    tolerance = require_real(tolerance, "tolerance", positive=True)
    floor = require_real(floor, "floor", positive=True)
    xs = [x.requires_grad_() for x in _as_float64_inputs(inputs)]
    out = _scalar_output(f, xs)
    if not out.requires_grad:
        raise ValueError(
            "f's output does not depend on its inputs through autograd "
            "(was something detached, or computed with .item() or numpy?)."
        )
    analytic = torch.autograd.grad(out, xs, allow_unused=True)
    analytic = [torch.zeros_like(x) if g is None else g for x, g in zip(xs, analytic, strict=True)]
    numeric = numerical_gradient(f, *(x.detach() for x in xs), eps=eps)

    worst = (0.0, 0, 0)  # (error, input index, flat element index)
    for k, (a, n) in enumerate(zip(analytic, numeric, strict=True)):
        if a.numel() == 0:
            continue
        scale = torch.maximum(torch.maximum(a.abs(), n.abs()), torch.tensor(floor, dtype=a.dtype))
        errors = ((a - n).abs() / scale).reshape(-1)
        i = int(errors.argmax())
        if errors[i].item() > worst[0]:
            worst = (errors[i].item(), k, i)

    error, k, i = worst
    passed = error <= tolerance
    if passed:
        verdict = f"PASS: autograd matches finite differences (max relative error {error:.1e})."
    else:
        shape = analytic[k].shape
        element = tuple(int(j) for j in torch.unravel_index(torch.tensor(i), shape))
        where = f"inputs[{k}]" + (f" at index {element}" if shape else "")
        verdict = (
            f"FAIL: max relative error {error:.1e} > tolerance {tolerance:.0e} in {where}: "
            f"autograd says {analytic[k].reshape(-1)[i].item():.6g}, "
            f"finite differences say {numeric[k].reshape(-1)[i].item():.6g}."
        )
    return GradCheckResult(max_relative_error=error, passed=passed, verdict=verdict)
