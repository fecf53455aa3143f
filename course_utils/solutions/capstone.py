"""Solutions for notebook 09, the capstone."""

from __future__ import annotations

import torch
from torch import nn

from course_utils.models import mlp


def treat_a(depth: int, width: int) -> nn.Module:
    return mlp(depth, width, activation="relu", init="kaiming", in_features=2)  # the key line
    # The sigmoid's derivative is at most 1/4, so twenty of them shrink the gradient by at
    # least 4^20 ≈ 1e12 on its way back. A ReLU passes the gradient of its active units
    # unchanged, and Kaiming's weights (variance 2/fan_in) make up for the half it zeroes.
    # (Skip connections, notebook 06, would also work; LayerNorm alone does not, because
    # the sigmoid's 1/4 stays.)


def standardize(x: torch.Tensor) -> torch.Tensor:
    mean = x.mean(dim=0, keepdim=True)
    std = x.std(dim=0, keepdim=True)
    return (x - mean) / std  # the key line
    # A feature in millimetres is 1000 times larger than the same feature in metres, so it
    # dominates the first layer's pre-activations and the ReLUs see almost nothing else. In
    # a real project, compute mean and std on the training set once, and apply those same
    # numbers to validation and test data.


def treat_f(model: nn.Module) -> torch.optim.Optimizer:
    return torch.optim.SGD(model.parameters(), lr=0.1)  # the key line
    # With lr = 10, the first update changed the weights by about 20% of their size, and
    # a few steps later a layer's output overflowed. lr = 0.1 makes the update-to-data
    # ratio about 1e-3, where learning is steady. (Adam with lr=1e-3 trains it too; clipping
    # would stop the NaN but not fix the step size: notebook 07.)
