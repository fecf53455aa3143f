"""Each hand-written derivative agrees with autograd, and the facts the course teaches hold."""

import math

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from course_utils.activations import (
    ACTIVATIONS,
    gelu,
    gelu_derivative,
    get_activation,
    leaky_relu,
    leaky_relu_derivative,
    relu_derivative,
    sigmoid_derivative,
    tanh_derivative,
)

GRID = torch.arange(-120_000, 120_001, dtype=torch.float64) / 10_000  # -12..12, step 1e-4, exact 0


def autograd_derivative(function, x: torch.Tensor) -> torch.Tensor:
    x = x.clone().requires_grad_()
    (grad,) = torch.autograd.grad(function(x).sum(), x)
    return grad


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_derivative_matches_autograd_on_a_dense_grid(name):
    activation = get_activation(name)
    expected = autograd_derivative(activation.function, GRID)
    torch.testing.assert_close(activation.derivative(GRID), expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
@given(x=st.floats(min_value=-50, max_value=50, allow_nan=False))
def test_derivative_matches_autograd_anywhere(name, x):
    activation = get_activation(name)
    point = torch.tensor([x], dtype=torch.float64)
    expected = autograd_derivative(activation.function, point)
    torch.testing.assert_close(activation.derivative(point), expected, rtol=1e-12, atol=1e-12)


@given(x=st.floats(min_value=-20, max_value=20), slope=st.floats(min_value=0, max_value=1))
def test_leaky_relu_derivative_matches_autograd_for_any_slope(x, slope):
    point = torch.tensor([x], dtype=torch.float64)
    expected = autograd_derivative(lambda t: leaky_relu(t, slope), point)
    torch.testing.assert_close(leaky_relu_derivative(point, slope), expected)


@given(x=st.floats(min_value=-20, max_value=20))
def test_tanh_approximate_gelu_derivative_matches_autograd(x):
    point = torch.tensor([x], dtype=torch.float64)
    expected = autograd_derivative(lambda t: gelu(t, approximate="tanh"), point)
    torch.testing.assert_close(gelu_derivative(point, approximate="tanh"), expected)


def test_sigmoid_derivative_peaks_at_one_quarter_at_zero():
    values = sigmoid_derivative(GRID)
    assert values.max().item() == 0.25
    assert GRID[values.argmax()].item() == 0.0


def test_tanh_derivative_peaks_at_one_at_zero():
    values = tanh_derivative(GRID)
    assert values.max().item() == 1.0
    assert GRID[values.argmax()].item() == 0.0


def test_relu_derivative_is_zero_or_one_never_in_between():
    assert set(relu_derivative(GRID).unique().tolist()) == {0.0, 1.0}


def test_leaky_relu_derivative_is_slope_or_one():
    assert set(leaky_relu_derivative(GRID, 0.1).unique().tolist()) == {0.1, 1.0}


def test_gelu_derivative_exceeds_one_and_goes_negative():
    values = gelu_derivative(GRID)
    root2 = math.sqrt(2)
    assert values.max().item() == pytest.approx(1.1289, abs=1e-4)
    assert GRID[values.argmax()].item() == pytest.approx(root2, abs=1e-3)
    assert values.min().item() == pytest.approx(-0.1289, abs=1e-4)
    assert GRID[values.argmin()].item() == pytest.approx(-root2, abs=1e-3)


def test_sigmoid_saturates_far_from_zero():
    assert sigmoid_derivative(torch.tensor(10.0, dtype=torch.float64)).item() < 5e-5


def test_unknown_activation_names_the_choices():
    with pytest.raises(ValueError, match="choose one of sigmoid, tanh, relu"):
        get_activation("swish")


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (lambda: sigmoid_derivative([0.0, 1.0]), TypeError, r"torch.tensor\(x\)"),
        (lambda: tanh_derivative(torch.tensor([1, 2])), TypeError, "floating-point"),
        (lambda: gelu(torch.zeros(2), approximate="fast"), ValueError, "'none' or 'tanh'"),
        (lambda: leaky_relu(torch.zeros(2), negative_slope="0.1"), TypeError, "negative_slope"),
    ],
)
def test_bad_input_gets_a_clear_error(call, error, message):
    with pytest.raises(error, match=message):
        call()
