"""The claims notebook 03 teaches about activation derivatives, asserted."""

import itertools
import math

import pytest
import torch
from torch import nn

from course_utils.activations import sigmoid_derivative, tanh_derivative
from course_utils.gradflow import GradientMonitor, output_gradient_norms
from course_utils.models import mlp

SAMPLES = torch.randn(200_000, generator=torch.Generator().manual_seed(0), dtype=torch.float64)


@pytest.mark.parametrize("spread", [16.0, 32.0, 64.0])
def test_saturated_layers_pass_about_one_over_spread(spread):
    law = 1 / (spread * math.sqrt(2 * math.pi))
    assert sigmoid_derivative(spread * SAMPLES).mean().item() == pytest.approx(law, rel=0.03)
    assert tanh_derivative(spread * SAMPLES).mean().item() == pytest.approx(2 * law, rel=0.03)


def test_a_narrow_spread_passes_the_peak_derivative():
    assert sigmoid_derivative(0.01 * SAMPLES).mean().item() == pytest.approx(0.25, rel=1e-3)
    assert tanh_derivative(0.01 * SAMPLES).mean().item() == pytest.approx(1.0, rel=1e-3)


@pytest.mark.parametrize("seed", range(3))
def test_each_sigmoid_layer_shrinks_the_gradient_within_its_bound(seed):
    torch.manual_seed(seed)
    net = mlp(20, 64, activation="sigmoid", init="xavier").double()
    inputs, targets = torch.randn(256, 16).double(), torch.randn(256, 1).double()
    norms = output_gradient_norms(net, inputs, lambda out: nn.functional.mse_loss(out, targets))
    linear = [name for name in norms if isinstance(net[int(name)], nn.Linear)]
    for lower, upper in itertools.pairwise(linear):
        bound = torch.linalg.matrix_norm(net[int(upper)].weight, ord=2).item() / 4
        assert norms[lower] / norms[upper] <= bound
    assert norms[linear[0]] / norms[linear[-2]] < 1e-9


def test_a_dead_layer_blocks_every_gradient_below_it_exactly():
    torch.manual_seed(0)
    net = mlp(10, 64, init="kaiming").double()
    with torch.no_grad():
        net[8].bias.fill_(-10.0)
    with GradientMonitor(net, every=1) as monitor:
        nn.functional.mse_loss(
            net(torch.randn(256, 16).double()), torch.randn(256, 1).double()
        ).backward()
        monitor.step()
    assert monitor.latest.activations()["9"].dead_fraction == 1.0
    for index in (0, 2, 4, 6, 8, 10):
        assert monitor.latest.gradient(f"{index}.weight").zero_fraction == 1.0


def test_with_xavier_weights_sigmoid_loses_the_most_gradient_and_relu_about_one_over_root_two():
    inputs, targets = torch.randn(256, 16).double(), torch.randn(256, 1).double()
    per_layer = {}
    for name in ("sigmoid", "tanh", "relu", "leaky_relu", "gelu"):
        torch.manual_seed(0)
        net = mlp(20, 64, activation=name, init="xavier").double()
        norms = output_gradient_norms(net, inputs, lambda out: nn.functional.mse_loss(out, targets))
        per_layer[name] = (norms["0"] / norms["38"]) ** (1 / 19)
    assert min(per_layer, key=per_layer.get) == "sigmoid" and per_layer["sigmoid"] < 0.26
    assert max(per_layer, key=per_layer.get) == "tanh"
    assert per_layer["relu"] == pytest.approx(0.5**0.5, abs=0.05)


def test_a_mostly_dead_layer_is_not_revived_by_training():
    torch.manual_seed(0)
    net = mlp(10, 64, init="kaiming").double()
    with torch.no_grad():
        net[8].bias.fill_(-5.0)
    inputs, targets = torch.randn(256, 16).double(), torch.randn(256, 1).double()
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-3)
    with GradientMonitor(net, every=50) as monitor:
        for _ in range(301):
            optimizer.zero_grad()
            loss = nn.functional.mse_loss(net(inputs), targets)
            loss.backward()
            optimizer.step()
            monitor.step(loss)
    dead = [record.activations()["9"].dead_fraction for record in monitor]
    assert dead[0] > 0.9 and min(dead) > 0.8
    assert dead[-1] == dead[1]  # after the first 50 steps, no further unit comes back
