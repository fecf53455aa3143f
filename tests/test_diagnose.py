"""diagnose() names what is wrong with purpose-built broken networks, and is quiet on healthy ones.

The networks are those the thresholds in course_utils.gradflow.Thresholds were set on.
"""

import pytest
import torch
from torch import nn

from course_utils.gradflow import GradientMonitor
from course_utils.models import SequenceModel, SmallCNN, mlp


class ResidualMLP(nn.Module):
    def __init__(self, width=64, depth=8):
        super().__init__()
        self.inp = nn.Linear(16, width)
        self.blocks = nn.ModuleList(
            nn.Sequential(
                nn.LayerNorm(width), nn.Linear(width, width), nn.ReLU(), nn.Linear(width, width)
            )
            for _ in range(depth)
        )
        self.out = nn.Linear(width, 1)

    def forward(self, x):
        h = self.inp(x)
        for block in self.blocks:
            h = h + block(h)
        return self.out(h)


def as_images(model):
    return nn.Sequential(nn.Unflatten(1, (1, 4, 4)), model)


def as_sequences(model):
    return nn.Sequential(nn.Unflatten(1, (4, 4)), model)


def diagnose_after(model, steps, *, optimizer="adam", lr=1e-3):
    torch.manual_seed(1)
    inputs = torch.randn(128, 16)
    targets = torch.sin(inputs[:, :1]) + 0.1 * inputs[:, 1:2]
    make = torch.optim.Adam if optimizer == "adam" else torch.optim.SGD
    opt = make(model.parameters(), lr=lr)
    with GradientMonitor(model, optimizer=opt, every=1) as monitor:
        for _ in range(steps):
            opt.zero_grad()
            loss = nn.functional.mse_loss(model(inputs), targets)
            loss.backward()
            opt.step()
            monitor.step(loss)
    return monitor.diagnose()


BROKEN = {
    "deep sigmoid MLP": (lambda: mlp(20, 64, activation="sigmoid"), {"vanishing"}),
    "too-large init": (lambda: mlp(10, 128, init=0.3), {"exploding"}),
    "ReLUs killed by a negative bias": (lambda: mlp(6, 64, bias=-3.0), {"dead"}),
    "tanh saturated by large weights": (
        lambda: mlp(6, 128, activation="tanh", init=1.0),
        {"saturated"},
    ),
}

HEALTHY = {
    "Kaiming ReLU MLP": lambda: mlp(8, 128, init="kaiming"),
    "Xavier tanh MLP": lambda: mlp(6, 64, activation="tanh", init="xavier"),
    "small default MLP": lambda: mlp(3, 64),
    "default tanh MLP": lambda: mlp(5, 64, activation="tanh"),
    "residual MLP with LayerNorm": ResidualMLP,
    "CNN with BatchNorm and in-place ReLU": lambda: as_images(SmallCNN()),
    "2-layer LSTM": lambda: as_sequences(SequenceModel("lstm", 4, 32, num_layers=2)),
    "GRU": lambda: as_sequences(SequenceModel("gru", 4, 32)),
}


@pytest.mark.parametrize("name", BROKEN)
@pytest.mark.parametrize("steps", [1, 30])
def test_broken_networks_are_diagnosed(name, steps):
    torch.manual_seed(0)
    make, expected = BROKEN[name]
    diagnosis = diagnose_after(make(), steps)
    assert expected <= diagnosis.kinds(), str(diagnosis)
    assert not diagnosis.healthy


@pytest.mark.parametrize("name", HEALTHY)
@pytest.mark.parametrize(
    ("steps", "optimizer", "lr"), [(1, "adam", 1e-3), (30, "adam", 1e-3), (30, "sgd", 0.05)]
)
def test_healthy_networks_raise_no_false_alarm(name, steps, optimizer, lr):
    torch.manual_seed(0)
    diagnosis = diagnose_after(HEALTHY[name](), steps, optimizer=optimizer, lr=lr)
    assert diagnosis.healthy, str(diagnosis)
    assert str(diagnosis).startswith("healthy")


def test_findings_carry_the_numbers():
    torch.manual_seed(0)
    diagnosis = diagnose_after(mlp(20, 64, activation="sigmoid"), 1)
    (vanishing,) = [f for f in diagnosis if f.kind == "vanishing"]
    assert vanishing.value < 1e-10
    assert "the first layer (0.weight) gets" in vanishing.message
    assert "times the gradient of the last (40.weight)" in vanishing.message


def test_a_learning_rate_that_is_far_too_large_is_reported():
    torch.manual_seed(0)
    diagnosis = diagnose_after(mlp(3, 64), 1, optimizer="sgd", lr=50.0)
    assert "update-ratio" in diagnosis.kinds()
    assert "updates are too large" in str(diagnosis)


def test_a_learning_rate_that_is_far_too_small_is_reported():
    torch.manual_seed(0)
    diagnosis = diagnose_after(mlp(3, 64), 1, optimizer="sgd", lr=1e-6)
    assert "updates are too small" in str(diagnosis)
