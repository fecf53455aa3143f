"""Jacobians of layers and networks, and the singular values that decide gradient flow.

The backward pass multiplies the upstream gradient by each layer's Jacobian transposed, so
how much a layer can stretch or shrink a gradient is set by the singular values of its
Jacobian: the largest bounds the stretch, the smallest the shrink.

>>> import torch
>>> from torch import nn
>>> layer = nn.Linear(3, 3, bias=False)
>>> with torch.no_grad():
...     _ = nn.init.orthogonal_(layer.weight)
>>> J = batch_jacobian(layer, torch.randn(2, 3))
>>> J.shape
torch.Size([2, 3, 3])
>>> torch.allclose(singular_values(J), torch.ones(2, 3), atol=1e-6)
True
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import nn
from torch.func import jacrev, vmap

from ._checks import require_finite_tensor, require_floating, require_tensor

__all__ = [
    "batch_jacobian",
    "condition_number",
    "jacobian_product",
    "layer_jacobians",
    "singular_values",
]


def _check_batch(x: object, name: str = "x") -> torch.Tensor:
    x = require_floating(require_tensor(x, name), name)
    if x.dim() < 2:
        raise ValueError(
            f"{name} must be a batch with the examples along dim 0, got shape {tuple(x.shape)}; "
            f"for one example use {name}.unsqueeze(0)."
        )
    return require_finite_tensor(x, name)


def batch_jacobian(
    f: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, *, create_graph: bool = False
) -> torch.Tensor:
    """The Jacobian of ``f`` at every example of the batch ``x``: shape (N, outputs, inputs).

    ``f`` maps a batch to a batch (an ``nn.Module`` or a function), treating examples
    independently. Inputs and outputs with several dimensions per example are flattened.
    Computed with ``torch.func.vmap(jacrev(...))``, one example at a time, so BatchNorm
    must be in eval mode (``model.eval()``). The result is detached from the model's
    parameters unless ``create_graph=True`` (to differentiate through the Jacobian).

    >>> batch_jacobian(torch.tanh, torch.zeros(4, 2))[0]
    tensor([[1., 0.],
            [0., 1.]])
    """
    if not callable(f):
        raise TypeError(f"f must be a module or function, got {type(f).__name__}.")
    x = _check_batch(x)

    def one_example(example: torch.Tensor) -> torch.Tensor:
        return f(example.unsqueeze(0)).squeeze(0)

    try:
        jacobians = vmap(jacrev(one_example))(x)
    except (RuntimeError, ValueError) as error:
        hint = ""
        if isinstance(f, nn.Module) and any(
            isinstance(m, nn.modules.batchnorm._BatchNorm) and m.training for m in f.modules()
        ):
            hint = " BatchNorm mixes the examples of a batch: call model.eval() first."
        raise RuntimeError(f"could not compute the Jacobian of f: {error}.{hint}") from error
    n = x.shape[0]
    jacobians = jacobians.reshape(n, -1, x[0].numel())
    return jacobians if create_graph else jacobians.detach()


def singular_values(jacobians: torch.Tensor) -> torch.Tensor:
    """Singular values of each Jacobian in a batch (N, m, n), largest first: shape (N, min(m, n)).

    >>> singular_values(torch.diag(torch.tensor([3.0, 0.5])).unsqueeze(0))
    tensor([[3.0000, 0.5000]])
    """
    jacobians = require_floating(require_tensor(jacobians, "jacobians"), "jacobians")
    if jacobians.dim() != 3:
        raise ValueError(
            f"jacobians must have shape (N, outputs, inputs), got {tuple(jacobians.shape)}."
        )
    return torch.linalg.svdvals(jacobians)


def condition_number(jacobians: torch.Tensor) -> torch.Tensor:
    """σ_max / σ_min of each Jacobian (inf where σ_min is 0): how unevenly it treats directions.

    >>> condition_number(torch.diag(torch.tensor([3.0, 0.5])).unsqueeze(0))
    tensor([6.])
    """
    values = singular_values(jacobians)
    return values[:, 0] / values[:, -1]


def jacobian_product(jacobians: Sequence[torch.Tensor]) -> torch.Tensor:
    """The chain rule for a stack of layers: J_L ⋯ J_2 J_1, with ``jacobians`` = [J_1, …, J_L].

    >>> J1 = torch.tensor([[[2.0, 0.0], [0.0, 1.0]]])
    >>> J2 = torch.tensor([[[0.0, 1.0], [1.0, 0.0]]])
    >>> jacobian_product([J1, J2])
    tensor([[[0., 1.],
             [2., 0.]]])
    """
    if isinstance(jacobians, torch.Tensor) or not jacobians:
        raise ValueError("jacobians must be a non-empty list [J_1, ..., J_L], first layer first.")
    product = require_tensor(jacobians[0], "jacobians[0]")
    for i, jacobian in enumerate(jacobians[1:], start=1):
        jacobian = require_tensor(jacobian, f"jacobians[{i}]")
        if jacobian.shape[-1] != product.shape[-2] or jacobian.shape[0] != product.shape[0]:
            raise ValueError(
                f"jacobians[{i}] has shape {tuple(jacobian.shape)} but the product so far has "
                f"shape {tuple(product.shape)}: layer {i}'s inputs must be layer {i - 1}'s outputs."
            )
        product = jacobian @ product
    return product


def layer_jacobians(model: nn.Sequential, x: torch.Tensor) -> list[torch.Tensor]:
    """The Jacobian of every layer of ``model`` at the activations that ``x`` produces.

    ``jacobian_product(layer_jacobians(model, x))`` equals ``batch_jacobian(model, x)``.

    >>> model = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2))
    >>> [tuple(J.shape) for J in layer_jacobians(model, torch.randn(5, 3))]
    [(5, 4, 3), (5, 4, 4), (5, 2, 4)]
    """
    if not isinstance(model, nn.Sequential):
        raise TypeError(
            f"model must be an nn.Sequential (a plain stack of layers), got {type(model).__name__}."
        )
    h = _check_batch(x)
    jacobians = []
    for layer in model:
        jacobians.append(batch_jacobian(layer, h))
        with torch.no_grad():
            h = layer(h)
    return jacobians
