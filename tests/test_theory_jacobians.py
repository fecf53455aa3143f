"""The claims notebook 02 teaches about products of Jacobians, asserted."""

import itertools
import math

import torch

from course_utils.jacobians import (
    batch_jacobian,
    jacobian_product,
    layer_jacobians,
    singular_values,
)
from course_utils.models import layer_stack


def test_the_network_jacobian_is_the_product_of_layer_jacobians():
    torch.manual_seed(0)
    stack = layer_stack(5, 8, activation="tanh", init="xavier")
    x = torch.randn(3, 8, dtype=torch.float64)
    torch.testing.assert_close(
        jacobian_product(layer_jacobians(stack, x)), batch_jacobian(stack, x)
    )


def test_the_backward_pass_is_a_sequence_of_vector_jacobian_products():
    torch.manual_seed(0)
    stack = layer_stack(4, 6, activation="tanh", init="xavier")
    x = torch.randn(1, 6, dtype=torch.float64, requires_grad=True)
    grad_output = torch.randn(1, 6, dtype=torch.float64)
    stack(x).backward(grad_output)
    grad = grad_output[0]
    for J in reversed(layer_jacobians(stack, x.detach())):
        grad = J[0].T @ grad
    torch.testing.assert_close(grad, x.grad[0])


def test_the_product_is_bounded_by_the_products_of_extreme_singular_values():
    for seed in range(5):
        torch.manual_seed(seed)
        stack = layer_stack(10, 32, activation="tanh", init=32**-0.5)
        jacobians = layer_jacobians(stack, torch.randn(1, 32, dtype=torch.float64))
        per_layer = [singular_values(J)[0] for J in jacobians]
        network = singular_values(jacobian_product(jacobians))[0]
        assert math.prod(v[-1].item() for v in per_layer) <= network[-1]
        assert network[0] <= math.prod(v[0].item() for v in per_layer)


def test_largest_singular_value_above_one_in_every_layer_can_still_vanish():
    D = torch.tensor([[2.0, 0.0], [0.0, 0.25]], dtype=torch.float64)
    R = torch.tensor([[0.0, -1.0], [1.0, 0.0]], dtype=torch.float64)
    assert singular_values((R @ D)[None])[0].tolist() == [2.0, 0.25]
    product = torch.linalg.matrix_power(R @ D, 40)
    torch.testing.assert_close(product, 0.5**20 * torch.eye(2, dtype=torch.float64))
    assert torch.linalg.matrix_power(D, 40)[0, 0] == 2.0**40  # aligned: explodes


def test_gaussian_init_preserves_the_mean_squared_singular_value_on_average():
    for depth in (1, 4, 16, 64):
        means = []
        for seed in range(30):
            torch.manual_seed(seed)
            stack = layer_stack(depth, 64, init=64**-0.5)
            values = singular_values(batch_jacobian(stack, torch.zeros(1, 64, dtype=torch.float64)))
            means.append(values.pow(2).mean().item())
        assert abs(sum(means) / len(means) - 1) < 0.1


def test_depth_spreads_gaussian_singular_values_but_not_orthogonal_ones():
    medians = []
    for depth in (1, 4, 16, 64):
        torch.manual_seed(depth)
        stack = layer_stack(depth, 64, init=64**-0.5)
        medians.append(
            singular_values(batch_jacobian(stack, torch.zeros(1, 64).double()))[0].median()
        )
        torch.manual_seed(depth)
        orthogonal = layer_stack(depth, 64, init="orthogonal")
        values = singular_values(batch_jacobian(orthogonal, torch.zeros(1, 64).double()))
        torch.testing.assert_close(values, torch.ones_like(values))
    assert all(later < earlier for earlier, later in itertools.pairwise(medians))
    assert medians[-1] < 1e-8


def test_orthogonal_tanh_network_stays_near_isometric():
    torch.manual_seed(0)
    stack = layer_stack(64, 64, activation="tanh", init="orthogonal")
    values = singular_values(batch_jacobian(stack, 0.1 * torch.randn(1, 64).double()))[0]
    assert values[-1] > 0.1 and values[0] <= 1.0
