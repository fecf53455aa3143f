"""Jacobian tools agree with torch.autograd.functional.jacobian, and the theory they teach holds."""

import pytest
import torch
from torch import nn
from torch.autograd.functional import jacobian

from course_utils.jacobians import (
    batch_jacobian,
    condition_number,
    jacobian_product,
    layer_jacobians,
    singular_values,
)


def reference_jacobians(f, x):
    return torch.stack([jacobian(lambda e: f(e.unsqueeze(0)).squeeze(0), example) for example in x])


@pytest.mark.parametrize("activation", [nn.Tanh, nn.ReLU, nn.Sigmoid, nn.GELU])
def test_batch_jacobian_matches_autograd(activation):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(5, 7), activation(), nn.Linear(7, 3)).double()
    x = torch.randn(4, 5, dtype=torch.float64)
    torch.testing.assert_close(batch_jacobian(model, x), reference_jacobians(model, x))


def test_batch_jacobian_flattens_images():
    torch.manual_seed(0)
    conv = nn.Conv2d(2, 3, 3, padding=1).double().eval()
    x = torch.randn(2, 2, 4, 4, dtype=torch.float64)
    got = batch_jacobian(conv, x)
    assert got.shape == (2, 3 * 16, 2 * 16)
    expected = reference_jacobians(conv, x).reshape(2, 48, 32)
    torch.testing.assert_close(got, expected)


def test_the_product_of_layer_jacobians_is_the_network_jacobian():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 6), nn.Tanh(), nn.Linear(6, 6), nn.ReLU(), nn.Linear(6, 2))
    model = model.double()
    x = torch.randn(3, 4, dtype=torch.float64)
    product = jacobian_product(layer_jacobians(model, x))
    torch.testing.assert_close(product, batch_jacobian(model, x))


def test_an_orthogonal_linear_network_has_all_singular_values_one():
    torch.manual_seed(0)
    layers = [nn.Linear(16, 16, bias=False, dtype=torch.float64) for _ in range(10)]
    for layer in layers:
        nn.init.orthogonal_(layer.weight)
    jacobians = batch_jacobian(nn.Sequential(*layers), torch.randn(2, 16, dtype=torch.float64))
    values = singular_values(jacobians)
    torch.testing.assert_close(values, torch.ones_like(values))
    torch.testing.assert_close(condition_number(jacobians), torch.ones(2, dtype=torch.float64))


def test_product_singular_values_lie_between_the_products_of_extremes():
    torch.manual_seed(1)
    jacobians = [torch.randn(1, 8, 8, dtype=torch.float64) / 8**0.5 for _ in range(6)]
    values = singular_values(jacobian_product(jacobians))
    extremes = torch.stack([singular_values(J)[0, [0, -1]] for J in jacobians])
    assert values.max() <= extremes[:, 0].prod() * (1 + 1e-12)
    assert values.min() >= extremes[:, 1].prod() * (1 - 1e-12)


def test_condition_number_of_a_singular_jacobian_is_infinite():
    assert condition_number(torch.tensor([[[1.0, 0.0], [0.0, 0.0]]])).item() == float("inf")


def test_batchnorm_in_training_mode_gets_a_helpful_error():
    model = nn.Sequential(nn.Linear(3, 3), nn.BatchNorm1d(3))
    with pytest.raises(RuntimeError, match=r"call model\.eval"):
        batch_jacobian(model, torch.randn(4, 3))
    batch_jacobian(model.eval(), torch.randn(4, 3))  # fine in eval mode


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (lambda: batch_jacobian(nn.Tanh(), torch.randn(3)), ValueError, "unsqueeze"),
        (lambda: batch_jacobian(nn.Tanh(), [[1.0]]), TypeError, "torch.Tensor"),
        (lambda: batch_jacobian("tanh", torch.randn(2, 2)), TypeError, "module or function"),
        (lambda: singular_values(torch.randn(3, 3)), ValueError, r"shape \(N, outputs, inputs\)"),
        (lambda: jacobian_product([]), ValueError, "non-empty list"),
        (
            lambda: jacobian_product([torch.randn(1, 3, 2), torch.randn(1, 4, 4)]),
            ValueError,
            "layer 1's inputs",
        ),
        (lambda: layer_jacobians(nn.Linear(2, 2), torch.randn(1, 2)), TypeError, "nn.Sequential"),
    ],
)
def test_bad_input_gets_a_clear_error(call, error, message):
    with pytest.raises(error, match=message):
        call()


def test_jacobians_are_detached_unless_asked():
    model = nn.Linear(3, 2)
    assert not batch_jacobian(model, torch.randn(2, 3)).requires_grad
    jacobians = batch_jacobian(model, torch.randn(2, 3), create_graph=True)
    jacobians.sum().backward()
    assert model.weight.grad is not None
