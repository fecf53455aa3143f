"""The broken networks of the capstone (notebook 09), and the training run that examines them.

Each patient is a small network for the two-spirals task (:func:`course_utils.data.two_spirals`)
with one thing wrong, and the training settings it came with. Its ``complaint`` is what you
would be told about it: the symptom, not the cause. Finding the cause is the exercise, so
try the monitor before you read the builders below.

>>> run = examine("A")
>>> len(run.losses), run.monitor.latest.step
(150, 140)
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import NamedTuple

import torch
from torch import nn

from ._checks import require_int, require_real
from .data import two_spirals
from .gradflow import GradientMonitor
from .models import mlp

__all__ = [
    "PATIENTS",
    "Patient",
    "TrainingRun",
    "examine",
    "spiral_task",
    "train_on_spirals",
    "vital_signs",
]

OPTIMIZERS: dict[str, type[torch.optim.Optimizer]] = {
    "adam": torch.optim.Adam,
    "sgd": torch.optim.SGD,
}


class Patient(NamedTuple):
    """A broken network: what you are told about it, how to build it, how it was trained."""

    complaint: str
    build: Callable[[], nn.Module]
    optimizer: str = "adam"
    lr: float = 1e-3
    input_scale: tuple[float, float] = (1.0, 1.0)  # units of the two input features


class TrainingRun(NamedTuple):
    """What :func:`train_on_spirals` returns: the model, its loss per step, and the monitor."""

    model: nn.Module
    losses: list[float]
    monitor: GradientMonitor


PATIENTS: dict[str, Patient] = {
    "A": Patient(
        "20 layers deep; the loss has not moved from 0.693 (guessing) since the first step.",
        lambda: mlp(20, 32, activation="sigmoid", in_features=2),
    ),
    "B": Patient(
        "20 layers deep; the first loss is over 100,000, and 150 steps later it is still above 10.",
        lambda: mlp(20, 32, activation="relu", init=3.0 / 32**0.5, in_features=2),
    ),
    "C": Patient(
        "8 layers; stuck at 0.693 like patient A, though it is not deep.",
        lambda: mlp(8, 32, activation="relu", init="kaiming", bias=-1.0, in_features=2),
    ),
    "D": Patient(
        "12 layers; it learns, but slowly: still above 0.5 after 150 steps.",
        lambda: mlp(12, 32, activation="tanh", init=8.0 / 32**0.5, in_features=2),
    ),
    "E": Patient(
        "8 layers; the same data, but read straight from the sensor's log this time. "
        "Its first loss is far too high, and then it stops learning.",
        lambda: mlp(8, 32, activation="relu", init="kaiming", in_features=2),
        input_scale=(1000.0, 1.0),
    ),
    "F": Patient(
        "8 layers; the loss turns into NaN within a few steps.",
        lambda: mlp(8, 32, activation="relu", init="kaiming", in_features=2),
        optimizer="sgd",
        lr=10.0,
    ),
}


def spiral_task(
    n: int = 500, *, input_scale: tuple[float, float] = (1.0, 1.0), seed: int = 0
) -> tuple[torch.Tensor, torch.Tensor]:
    """The capstone's data: ``n`` two-spirals points, each coordinate multiplied by its scale.

    >>> inputs, labels = spiral_task(4, input_scale=(1000.0, 1.0))
    >>> inputs.shape, bool(inputs[:, 0].abs().max() > 10)
    (torch.Size([4, 2]), True)
    """
    inputs, labels = two_spirals(n, seed=seed)
    if len(input_scale) != 2:
        raise ValueError(f"input_scale needs one factor per coordinate (2), got {input_scale!r}.")
    scale = torch.tensor([require_real(s, "input_scale", positive=True) for s in input_scale])
    return inputs * scale, labels


def train_on_spirals(
    model: nn.Module,
    inputs: torch.Tensor,
    labels: torch.Tensor,
    *,
    optimizer: str | torch.optim.Optimizer = "adam",
    lr: float = 1e-3,
    steps: int = 150,
    every: int = 10,
) -> TrainingRun:
    """Train ``model`` full-batch on (inputs, labels) with binary cross-entropy, under a
    :class:`~course_utils.gradflow.GradientMonitor` that records every ``every`` steps
    (update-to-data ratios included).

    ``optimizer`` is "adam", "sgd" (with learning rate ``lr``) or an optimizer you built
    for the model's parameters. Training stops early if the loss becomes NaN or infinite;
    the monitor then says where that began (``run.monitor.nonfinite``).
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}.")
    steps = require_int(steps, "steps", minimum=1)
    if isinstance(optimizer, str):
        if optimizer not in OPTIMIZERS:
            raise ValueError(f"unknown optimizer {optimizer!r}; choose 'adam' or 'sgd'.")
        optimizer = OPTIMIZERS[optimizer](
            model.parameters(), lr=require_real(lr, "lr", positive=True)
        )
    elif not isinstance(optimizer, torch.optim.Optimizer):
        raise TypeError(
            "optimizer must be 'adam', 'sgd' or a torch.optim.Optimizer, "
            f"got {type(optimizer).__name__}."
        )
    losses: list[float] = []
    monitor = GradientMonitor(model, optimizer=optimizer, every=every, update_every=every)
    with monitor, warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # the monitor's NaN warning: we report it
        for _ in range(steps):
            optimizer.zero_grad()
            logits = model(inputs)
            loss = nn.functional.binary_cross_entropy_with_logits(logits.reshape(-1), labels)
            loss.backward()
            finite = bool(torch.isfinite(loss))
            if finite:
                optimizer.step()
            monitor.step(loss)
            losses.append(loss.item())
            if not finite:
                break
    return TrainingRun(model, losses, monitor)


def examine(name: str, *, steps: int = 150, seed: int = 0) -> TrainingRun:
    """Build patient ``name`` (seeded) and train it with the settings it came with.

    >>> examine("F").monitor.nonfinite is not None
    True
    """
    if name not in PATIENTS:
        raise ValueError(f"unknown patient {name!r}; choose one of {', '.join(PATIENTS)}.")
    patient = PATIENTS[name]
    torch.manual_seed(require_int(seed, "seed", minimum=0))
    model = patient.build()
    inputs, labels = spiral_task(input_scale=patient.input_scale)
    return train_on_spirals(
        model, inputs, labels, optimizer=patient.optimizer, lr=patient.lr, steps=steps
    )


def vital_signs(name: str) -> str:
    """What an examination finds before any training: the patient's layers, the scale of
    its weights and biases, its inputs, and the optimiser it was trained with.

    A weight's scale is given as std × √fan_in, the number notebook 05 derives: about 1.41
    for Kaiming's initialisation, 1 for Xavier's (square layers), 0.58 for PyTorch's default.

    >>> print(vital_signs("A").splitlines()[0])
    20 hidden layers of 32 units, Sigmoid; output Linear(32 → 1)
    """
    if name not in PATIENTS:
        raise ValueError(f"unknown patient {name!r}; choose one of {', '.join(PATIENTS)}.")
    patient = PATIENTS[name]
    torch.manual_seed(0)
    model = patient.build()
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    activation = next(type(m).__name__ for m in model if not isinstance(m, nn.Linear))
    hidden, output = linears[:-1], linears[-1]
    scales = [m.weight.std().item() * m.in_features**0.5 for m in hidden[1:]]
    biases = [m.bias.mean().item() for m in hidden]
    inputs, _ = spiral_task(input_scale=patient.input_scale)
    return "\n".join(
        [
            f"{len(hidden)} hidden layers of {hidden[0].out_features} units, {activation}; "
            f"output Linear({output.in_features} → {output.out_features})",
            f"hidden weights: std × √fan_in from {min(scales):.2f} to {max(scales):.2f}",
            f"hidden biases: mean from {min(biases):+.2f} to {max(biases):+.2f}",
            "inputs: std per feature "
            + ", ".join(f"{std:.3g}" for std in inputs.std(dim=0).tolist()),
            f"optimiser: {OPTIMIZERS[patient.optimizer].__name__}, learning rate {patient.lr:g}",
        ]
    )
