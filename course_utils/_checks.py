"""Argument checks shared by the public functions.

Every public function validates what it is given and raises a short, specific error
(naming the argument and the fix) instead of letting a confusing error escape from deep
inside torch. These helpers keep those checks one line each at the call site.
"""

from __future__ import annotations

import math
from numbers import Real

try:
    import torch
except ModuleNotFoundError:  # plotting and widgets, which use only the checks below, need no torch
    torch = None


def require_tensor(value: object, name: str) -> torch.Tensor:
    """Return ``value`` if it is a tensor, else raise a TypeError that says how to make one."""
    if not isinstance(value, torch.Tensor):
        raise TypeError(
            f"{name} must be a torch.Tensor, got {type(value).__name__}; "
            f"wrap it with torch.tensor({name}) or torch.as_tensor({name})."
        )
    return value


def require_floating(value: torch.Tensor, name: str) -> torch.Tensor:
    """Raise a TypeError unless ``value`` holds floating-point numbers."""
    if not value.is_floating_point():
        raise TypeError(
            f"{name} must hold floating-point numbers, got dtype {value.dtype}; "
            f"convert it with {name}.double() or {name}.float()."
        )
    return value


def require_finite_tensor(value: torch.Tensor, name: str) -> torch.Tensor:
    """Raise a ValueError if ``value`` contains NaN or infinity."""
    if not bool(torch.isfinite(value).all()):
        bad = int((~torch.isfinite(value)).sum())
        raise ValueError(
            f"{name} contains {bad} non-finite value(s) (NaN or inf); "
            "check where they come from before differentiating."
        )
    return value


def require_real(value: object, name: str, *, positive: bool = False) -> float:
    """Return ``value`` as a finite float (optionally > 0), else raise a clear error."""
    if torch is not None and isinstance(value, torch.Tensor) and value.numel() == 1:
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, Real):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__}.")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value}.")
    if positive and value <= 0:
        raise ValueError(f"{name} must be positive, got {value}.")
    return value


def require_int(value: object, name: str, *, minimum: int | None = None) -> int:
    """Return ``value`` if it is an int (not a bool) of at least ``minimum``, else raise."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}.")
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be at least {minimum}, got {value}.")
    return value


def require_text(value: object, name: str) -> str:
    """Return ``value`` if it is a non-empty string, else raise."""
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{name} must be a non-empty string, got {value!r}.")
    return value
