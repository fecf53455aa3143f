"""A plain training loop for the monitor's tests: a few SGD steps of mean-squared error."""

import torch
from torch import nn


def train(
    model, monitor=None, *, steps=3, optimizer=None, inputs=None, targets=None, order="after"
):
    """Train ``model`` for ``steps`` steps; call ``monitor.step`` before or after the update."""
    optimizer = optimizer or torch.optim.SGD(model.parameters(), lr=0.05)
    inputs = torch.randn(32, 16) if inputs is None else inputs
    targets = torch.randn(len(inputs), 1) if targets is None else targets
    for _ in range(steps):
        optimizer.zero_grad()
        loss = nn.functional.mse_loss(model(inputs), targets)
        loss.backward()
        if monitor is not None and order == "before":
            monitor.step(loss)
        optimizer.step()
        if monitor is not None and order == "after":
            monitor.step(loss)
    return optimizer
