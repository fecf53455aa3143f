"""Synthetic data sets, made on the spot from a seed: nothing is downloaded.

>>> x, y = two_spirals(200, seed=0)
>>> x.shape, y.shape, sorted(y.unique().tolist())
(torch.Size([200, 2]), torch.Size([200]), [0.0, 1.0])
"""

from __future__ import annotations

import math

import torch

from ._checks import require_int, require_real

__all__ = ["recall_task", "two_spirals"]


def two_spirals(
    n: int,
    *,
    turns: float = 1.5,
    noise: float = 0.05,
    seed: int = 0,
    dtype: torch.dtype = torch.float32,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Two interleaved spirals in the plane, a classic task that a linear model cannot solve.

    Returns inputs of shape (n, 2), roughly within [-1, 1], and labels 0 or 1 of shape (n,)
    (half of each, shuffled). ``turns`` is how often each arm winds around the centre.

    >>> x, _ = two_spirals(1000, seed=0)
    >>> bool(x.abs().max() < 1.3)
    True
    """
    n = require_int(n, "n", minimum=2)
    turns = require_real(turns, "turns", positive=True)
    noise = require_real(noise, "noise")
    if noise < 0:
        raise ValueError(f"noise must be 0 or more, got {noise}.")
    generator = torch.Generator().manual_seed(require_int(seed, "seed", minimum=0))
    labels = torch.arange(n, dtype=torch.float64) % 2
    radius = torch.rand(n, generator=generator, dtype=torch.float64)
    angle = 2 * math.pi * turns * radius + math.pi * labels
    points = torch.stack([radius * torch.cos(angle), radius * torch.sin(angle)], dim=1)
    points = points + noise * torch.randn(n, 2, generator=generator, dtype=torch.float64)
    order = torch.randperm(n, generator=generator)
    return points[order].to(dtype), labels[order].to(dtype)


def recall_task(
    n: int,
    lag: int,
    *,
    symbols: int = 4,
    noise: float = 0.5,
    seed: int = 0,
    dtype: torch.dtype = torch.float32,
) -> tuple[torch.Tensor, torch.Tensor]:
    """A long-range memory task: read a symbol, wait ``lag`` noisy steps, then name the symbol.

    Each of the ``n`` sequences has ``lag + 1`` time steps and ``symbols + 1`` input features
    (batch first, the layout of :class:`~course_utils.models.SequenceModel`):

    * step 0 shows the symbol, one of ``symbols`` classes, one-hot in the first ``symbols``
      features;
    * steps 1 to ``lag`` carry Gaussian noise of standard deviation ``noise`` on those same
      features, so the network must hold the symbol against fresh input at every step;
    * the last step (step ``lag``) also sets the final feature to 1: "answer now".

    The target is the symbol's class (an int64 from 0 to ``symbols - 1``): a network that
    reads the last step must carry what it saw ``lag`` steps earlier, so the gradient that
    teaches it must travel back ``lag`` steps. Guessing scores ``1 / symbols``.

    >>> x, y = recall_task(3, lag=4, symbols=2, noise=0.0, seed=1)
    >>> x[0]
    tensor([[0., 1., 0.],
            [0., 0., 0.],
            [0., 0., 0.],
            [0., 0., 0.],
            [0., 0., 1.]])
    >>> y.tolist()
    [1, 1, 0]
    """
    n = require_int(n, "n", minimum=1)
    lag = require_int(lag, "lag", minimum=1)
    symbols = require_int(symbols, "symbols", minimum=2)
    noise = require_real(noise, "noise")
    if noise < 0:
        raise ValueError(f"noise must be 0 or more, got {noise}.")
    if not (isinstance(dtype, torch.dtype) and dtype.is_floating_point):
        raise TypeError(f"dtype must be a floating-point torch.dtype, got {dtype!r}.")
    generator = torch.Generator().manual_seed(require_int(seed, "seed", minimum=0))
    targets = torch.randint(symbols, (n,), generator=generator)
    sequences = torch.zeros(n, lag + 1, symbols + 1, dtype=torch.float64)
    sequences[torch.arange(n), 0, targets] = 1.0
    distraction = torch.randn(n, lag, symbols, generator=generator, dtype=torch.float64)
    if noise > 0:  # the same draws for every noise level: only their scale changes
        sequences[:, 1:, :symbols] = noise * distraction
    sequences[:, -1, symbols] = 1.0
    return sequences.to(dtype), targets
