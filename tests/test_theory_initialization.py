"""The claims notebook 05 teaches about initialisation and normalisation, asserted."""

import pytest
import torch
from torch import nn

from course_utils.data import two_spirals
from course_utils.gradflow import monitor_one_batch, output_gradient_norms
from course_utils.models import mlp


def test_pytorch_default_linear_init_has_variance_one_third_over_fan_in():
    torch.manual_seed(0)
    layer = nn.Linear(512, 512)
    assert 512 * layer.weight.var().item() == pytest.approx(1 / 3, rel=0.02)


@pytest.mark.parametrize(
    ("init", "factor"),
    [("default", 1 / 6), ("xavier", 1 / 2), ("orthogonal", 1 / 2), ("kaiming", 1.0)],
)
def test_per_layer_factor_of_relu_networks_forward_and_backward(init, factor):
    torch.manual_seed(0)
    net = mlp(30, 256, init=init, in_features=256).double()
    for module in net:
        if isinstance(module, nn.Linear):
            nn.init.zeros_(module.bias)
    x = torch.randn(512, 256, dtype=torch.float64)
    forward, h = [], x
    with torch.no_grad():
        for module in net[:-1]:
            h = module(h)
            if isinstance(module, nn.Linear):
                forward.append(h.pow(2).mean().item())
    norms = output_gradient_norms(net, x, lambda out: out.sum())
    backward = [norms[str(2 * k)] ** 2 for k in range(30)]
    assert (forward[-1] / forward[0]) ** (1 / 29) == pytest.approx(factor, rel=0.1)
    assert (backward[0] / backward[-1]) ** (1 / 29) == pytest.approx(factor, rel=0.1)


def train(init, norm=None):
    inputs, labels = two_spirals(500, seed=0)
    torch.manual_seed(0)
    net = mlp(30, 64, init=init, in_features=2, norm=norm)
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-3)
    for _ in range(150):
        optimizer.zero_grad()
        loss = nn.functional.binary_cross_entropy_with_logits(net(inputs).squeeze(1), labels)
        loss.backward()
        optimizer.step()
    return loss.item()


def test_a_deep_relu_network_trains_with_kaiming_and_not_with_the_default():
    assert train("default") == pytest.approx(0.6931, abs=1e-3)
    assert train("kaiming") < 0.2


def first_over_last_hidden(norm):
    """Mean |weight gradient| of the first hidden layer over the last, for one batch."""
    inputs, labels = two_spirals(500, seed=0)
    torch.manual_seed(0)
    net = mlp(30, 64, in_features=2, norm=norm)

    def loss(model):
        return nn.functional.binary_cross_entropy_with_logits(model(inputs).squeeze(1), labels)

    grads = monitor_one_batch(net, loss).latest.gradients()
    linears = [i for i, module in enumerate(net) if isinstance(module, nn.Linear)]
    return grads[f"{linears[0]}.weight"].mean_abs / grads[f"{linears[-2]}.weight"].mean_abs


def test_without_normalisation_the_default_init_starves_the_first_layer():
    assert first_over_last_hidden(None) < 1e-8


def test_layernorm_brings_the_gradient_to_the_same_order_and_batchnorm_overshoots():
    assert 1e-2 < first_over_last_hidden("layernorm") < 1e2
    assert first_over_last_hidden("batchnorm") > 1e2


@pytest.mark.parametrize("norm", ["batchnorm", "layernorm"])
def test_normalisation_lets_the_default_init_train(norm):
    assert train("default", norm) < 0.2
