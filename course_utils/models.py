"""Small networks the course builds again and again, with the initialisation made explicit.

>>> model = mlp(depth=3, width=16, activation="tanh", init="xavier")
>>> model
Sequential(
  (0): Linear(in_features=16, out_features=16, bias=True)
  (1): Tanh()
  (2): Linear(in_features=16, out_features=16, bias=True)
  (3): Tanh()
  (4): Linear(in_features=16, out_features=16, bias=True)
  (5): Tanh()
  (6): Linear(in_features=16, out_features=1, bias=True)
)
"""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import nn

from ._checks import require_int, require_real

__all__ = [
    "ACTIVATION_MODULES",
    "INITS",
    "ResidualBlock",
    "SequenceModel",
    "SmallCNN",
    "init_linear",
    "layer_stack",
    "mlp",
    "residual_mlp",
]

ACTIVATION_MODULES: dict[str, type[nn.Module]] = {
    "identity": nn.Identity,
    "sigmoid": nn.Sigmoid,
    "tanh": nn.Tanh,
    "relu": nn.ReLU,
    "leaky_relu": nn.LeakyReLU,
    "gelu": nn.GELU,
}

INITS = ("default", "xavier", "kaiming", "orthogonal")

NORMS: dict[str | None, type[nn.Module] | None] = {
    None: None,
    "batchnorm": nn.BatchNorm1d,
    "layernorm": nn.LayerNorm,
}


def init_linear(layer: nn.Linear, init: str | float, *, activation: str = "relu") -> None:
    """Initialise a Linear layer's weight in place.

    ``init`` is ``"default"`` (PyTorch's own), ``"xavier"`` (Glorot, for tanh and sigmoid),
    ``"kaiming"`` (He, for ReLU), ``"orthogonal"``, or a number: the standard deviation of
    a zero-mean normal distribution.

    >>> layer = nn.Linear(100, 100)
    >>> init_linear(layer, 0.5)
    >>> round(layer.weight.std().item(), 1)
    0.5
    """
    if isinstance(init, str):
        if init not in INITS:
            raise ValueError(f"unknown init {init!r}; choose one of {', '.join(INITS)}, or a std.")
        with torch.no_grad():
            if init == "xavier":
                nn.init.xavier_normal_(layer.weight)
            elif init == "kaiming":
                nonlinearity = "leaky_relu" if activation == "leaky_relu" else "relu"
                nn.init.kaiming_normal_(layer.weight, nonlinearity=nonlinearity)
            elif init == "orthogonal":
                nn.init.orthogonal_(layer.weight)
        return
    std = require_real(init, "init", positive=True)
    with torch.no_grad():
        nn.init.normal_(layer.weight, std=std)


def mlp(
    depth: int,
    width: int,
    *,
    activation: str = "relu",
    in_features: int = 16,
    out_features: int = 1,
    init: str | float = "default",
    bias: float | None = None,
    norm: str | None = None,
) -> nn.Sequential:
    """A multilayer perceptron: ``depth`` hidden layers of ``width`` units, then a linear output.

    ``init`` applies to the hidden layers (see :func:`init_linear`); ``bias``, if given,
    fills every hidden bias with that value (a negative one kills ReLUs); ``norm``
    ("batchnorm" or "layernorm") puts a normalisation layer between each hidden Linear and
    its activation.

    >>> len(mlp(depth=4, width=8))  # 4 × (Linear, ReLU) + output Linear
    9
    """
    depth = require_int(depth, "depth", minimum=1)
    width = require_int(width, "width", minimum=1)
    in_features = require_int(in_features, "in_features", minimum=1)
    out_features = require_int(out_features, "out_features", minimum=1)
    if activation not in ACTIVATION_MODULES:
        raise ValueError(
            f"unknown activation {activation!r}; choose one of {', '.join(ACTIVATION_MODULES)}."
        )
    if norm not in NORMS:
        raise ValueError(f"unknown norm {norm!r}; choose None, 'batchnorm' or 'layernorm'.")
    layers: list[nn.Module] = []
    features = in_features
    for _ in range(depth):
        linear = nn.Linear(features, width)
        init_linear(linear, init, activation=activation)
        if bias is not None:
            nn.init.constant_(linear.bias, require_real(bias, "bias"))
        layers.append(linear)
        if norm is not None:
            layers.append(NORMS[norm](width))
        layers.append(ACTIVATION_MODULES[activation]())
        features = width
    layers.append(nn.Linear(features, out_features))
    return nn.Sequential(*layers)


class ResidualBlock(nn.Module):
    """One block of a residual network, with or without its skip connection.

    With ``order="pre"`` (the activation before the weights, He et al. 2016) the block
    computes ``x + W φ(x) + b``; with ``order="post"`` (the activation after the sum, as in
    the original ResNet) it computes ``φ(x + W x + b)``. ``skip=False`` drops the ``x +``
    and leaves the same layers: ``W φ(x) + b`` or ``φ(W x + b)``, a plain block.

    ``init`` initialises W (see :func:`init_linear`), ``scale`` then multiplies it, and
    ``zero_init=True`` sets W and b to zero, so that a block with a skip starts as the
    identity.

    >>> block = ResidualBlock(4, zero_init=True)
    >>> x = torch.randn(2, 4)
    >>> torch.equal(block(x), x)
    True
    """

    ORDERS = ("pre", "post")

    def __init__(
        self,
        width: int,
        *,
        skip: bool = True,
        order: str = "pre",
        activation: str = "tanh",
        init: str | float = "default",
        scale: float = 1.0,
        zero_init: bool = False,
    ) -> None:
        super().__init__()
        width = require_int(width, "width", minimum=1)
        if order not in self.ORDERS:
            raise ValueError(f"unknown order {order!r}; choose 'pre' or 'post'.")
        if not isinstance(skip, bool) or not isinstance(zero_init, bool):
            raise TypeError("skip and zero_init must be True or False.")
        _require_activation(activation)
        self.skip = skip
        self.order = order
        self.linear = nn.Linear(width, width)
        self.activation = ACTIVATION_MODULES[activation]()
        init_linear(self.linear, init, activation=activation)
        with torch.no_grad():
            self.linear.weight.mul_(require_real(scale, "scale"))
            if zero_init:
                self.linear.weight.zero_()
                self.linear.bias.zero_()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.order == "pre":
            branch = self.linear(self.activation(x))
            return x + branch if self.skip else branch
        branch = self.linear(x)
        return self.activation(x + branch if self.skip else branch)

    def extra_repr(self) -> str:
        return f"skip={self.skip}, order={self.order!r}"


def residual_mlp(
    depth: int,
    width: int,
    *,
    skip: bool = True,
    order: str = "pre",
    activation: str = "tanh",
    in_features: int = 2,
    out_features: int = 1,
    init: str | float = "default",
    scale: float = 1.0,
    zero_init: bool = False,
) -> nn.Sequential:
    """An input layer, ``depth`` :class:`ResidualBlock` s of ``width`` units, an output layer.

    ``skip=False`` builds the same network without its skip connections: the plain network
    to compare with. The other options go to every block.

    >>> net = residual_mlp(depth=3, width=8)
    >>> len(net), net(torch.randn(5, 2)).shape  # input Linear, 3 blocks, output Linear
    (5, torch.Size([5, 1]))
    """
    depth = require_int(depth, "depth", minimum=1)
    width = require_int(width, "width", minimum=1)
    in_features = require_int(in_features, "in_features", minimum=1)
    out_features = require_int(out_features, "out_features", minimum=1)
    blocks = [
        ResidualBlock(
            width,
            skip=skip,
            order=order,
            activation=activation,
            init=init,
            scale=scale,
            zero_init=zero_init,
        )
        for _ in range(depth)
    ]
    return nn.Sequential(nn.Linear(in_features, width), *blocks, nn.Linear(width, out_features))


def _require_activation(activation: str) -> None:
    if activation not in ACTIVATION_MODULES:
        raise ValueError(
            f"unknown activation {activation!r}; choose one of {', '.join(ACTIVATION_MODULES)}."
        )


def layer_stack(
    depth: int,
    width: int,
    *,
    activation: str = "identity",
    init: str | float = "default",
    dtype: torch.dtype = torch.float64,
) -> nn.Sequential:
    """``depth`` square bias-free Linear layers of ``width`` units, each followed by
    ``activation`` ("identity" gives a deep linear network): the network whose Jacobian
    is a plain product of layer Jacobians. float64 by default, so that singular values as
    small as 1e-300 survive.

    >>> stack = layer_stack(depth=3, width=4, init="orthogonal")
    >>> len(stack), stack[0].weight.dtype
    (6, torch.float64)
    """
    depth = require_int(depth, "depth", minimum=1)
    width = require_int(width, "width", minimum=1)
    if activation not in ACTIVATION_MODULES:
        raise ValueError(
            f"unknown activation {activation!r}; choose one of {', '.join(ACTIVATION_MODULES)}."
        )
    layers: list[nn.Module] = []
    for _ in range(depth):
        linear = nn.Linear(width, width, bias=False, dtype=dtype)
        init_linear(linear, init, activation=activation)
        layers += [linear, ACTIVATION_MODULES[activation]()]
    return nn.Sequential(*layers)


class SmallCNN(nn.Module):
    """Two convolutions, a BatchNorm and a linear head, for images of shape (N, channels, H, W).

    >>> SmallCNN()(torch.randn(4, 1, 8, 8)).shape
    torch.Size([4, 1])
    """

    def __init__(self, channels: int = 1, hidden: int = 16, out_features: int = 1) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(channels, hidden, 3, padding=1),
            nn.BatchNorm2d(hidden),
            nn.ReLU(inplace=True),
            nn.Conv2d(hidden, hidden, 3, padding=1),
            nn.ReLU(inplace=True),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
        )
        self.head = nn.Linear(hidden, out_features)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(images))


class SequenceModel(nn.Module):
    """A recurrent network (``cell`` = "rnn", "lstm" or "gru") reading (N, T, features)
    sequences, with a linear head on the last time step.

    >>> SequenceModel("lstm", input_size=3, hidden_size=8)(torch.randn(2, 5, 3)).shape
    torch.Size([2, 1])
    """

    CELLS: ClassVar[dict[str, type[nn.RNNBase]]] = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}

    def __init__(
        self,
        cell: str,
        input_size: int,
        hidden_size: int,
        *,
        num_layers: int = 1,
        out_features: int = 1,
    ) -> None:
        super().__init__()
        if cell not in self.CELLS:
            raise ValueError(f"unknown cell {cell!r}; choose one of {', '.join(self.CELLS)}.")
        self.rnn = self.CELLS[cell](input_size, hidden_size, num_layers, batch_first=True)
        self.head = nn.Linear(hidden_size, out_features)

    def forward(self, sequences: torch.Tensor) -> torch.Tensor:
        outputs, _ = self.rnn(sequences)
        return self.head(outputs[:, -1])
