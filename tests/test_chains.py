"""The sigmoid chain of notebook 01: its gradient obeys the (|w|/4)^L bound, as taught."""

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from course_utils.chains import (
    chain_input_gradients,
    fixed_point_factor,
    sigmoid_chain,
    sigmoid_chain_bound,
)


def product_of_local_derivatives(x: float, depth: int, weight: float, bias: float) -> list[float]:
    """The chain rule written out: multiply weight·σ'(z) layer by layer."""
    h, grad, grads = x, 1.0, []
    for _ in range(depth):
        s = 1 / (1 + math.exp(-(weight * h + bias)))
        grad *= weight * s * (1 - s)
        grads.append(grad)
        h = s
    return grads


@settings(max_examples=60, deadline=None)
@given(
    x=st.floats(-3, 3),
    depth=st.integers(1, 50),
    weight=st.floats(-6, 6),
    bias=st.floats(-2, 2),
)
def test_autograd_equals_the_product_of_local_derivatives_and_obeys_the_bound(
    x, depth, weight, bias
):
    measured = chain_input_gradients(x, depth, weight, bias)
    by_hand = torch.tensor(
        product_of_local_derivatives(x, depth, weight, bias), dtype=torch.float64
    )
    torch.testing.assert_close(measured, by_hand, rtol=1e-10, atol=1e-300)
    assert bool((measured.abs() <= sigmoid_chain_bound(depth, weight) * (1 + 1e-12)).all())


@pytest.mark.parametrize("weight", [1.0, 2.0, 4.0, -3.0])
def test_the_bound_is_reached_exactly_when_every_preactivation_is_zero(weight):
    # With bias = -weight/2 and x = 1/2, every layer sees z = 0 and outputs 1/2 again.
    measured = chain_input_gradients(0.5, 50, weight, bias=-weight / 2)
    torch.testing.assert_close(measured.abs(), sigmoid_chain_bound(50, weight), rtol=1e-12, atol=0)


def test_weight_one_vanishes_at_least_as_fast_as_a_quarter_per_layer():
    grads = chain_input_gradients(0.0, 50, weight=1.0)
    assert grads[-1].item() <= 0.25**50
    assert pytest.approx(7.89e-31, rel=1e-3) == 0.25**50


def test_a_long_chain_shrinks_by_the_fixed_point_factor_per_layer():
    grads = chain_input_gradients(0.0, 50, weight=1.0)
    per_layer = (grads[-1] / grads[-2]).item()
    assert per_layer == pytest.approx(fixed_point_factor(1.0), rel=1e-9)
    assert fixed_point_factor(1.0) == pytest.approx(0.2247, abs=1e-4)


def test_gradients_have_one_row_per_layer_and_one_column_per_input():
    grads = chain_input_gradients(torch.tensor([0.0, 1.0, -1.0]), 4, weight=2.0)
    assert grads.shape == (4, 3)
    for i, x in enumerate([0.0, 1.0, -1.0]):
        torch.testing.assert_close(grads[:, i], chain_input_gradients(x, 4, weight=2.0))


def test_sigmoid_chain_outputs_each_layer():
    hs = sigmoid_chain(0.0, depth=3, weight=1.0)
    assert len(hs) == 3
    assert hs[0].item() == 0.5
    assert hs[1].item() == pytest.approx(1 / (1 + math.exp(-0.5)))


def test_a_chain_that_does_not_settle_is_reported():
    with pytest.raises(ValueError, match="does not settle"):
        fixed_point_factor(weight=-20.0, bias=10.0)


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (lambda: chain_input_gradients(0.0, 0, 1.0), ValueError, "depth must be at least 1"),
        (lambda: chain_input_gradients(0.0, 2.5, 1.0), TypeError, "depth must be an int"),
        (lambda: chain_input_gradients(0.0, 3, math.inf), ValueError, "weight must be finite"),
        (lambda: chain_input_gradients("0", 3, 1.0), TypeError, "x must be a real number"),
        (lambda: chain_input_gradients(torch.tensor([1, 2]), 3, 1.0), TypeError, "floating"),
        (lambda: sigmoid_chain_bound(-1, 1.0), ValueError, "depth"),
    ],
)
def test_bad_input_gets_a_clear_error(call, error, message):
    with pytest.raises(error, match=message):
        call()
