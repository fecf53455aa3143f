"""Finite differences and gradient_check: right on correct gradients, loud on wrong ones."""

import math

import pytest
import torch

from course_utils.numerical import gradient_check, numerical_gradient


class SigmoidForgetsOneMinusS(torch.autograd.Function):
    """A sigmoid whose backward forgets the (1 - s) factor: the bug gradient_check must catch."""

    @staticmethod
    def forward(ctx, x):
        s = torch.sigmoid(x)
        ctx.save_for_backward(s)
        return s

    @staticmethod
    def backward(ctx, grad_output):
        (s,) = ctx.saved_tensors
        return grad_output * s


def test_numerical_gradient_of_known_functions():
    x = torch.tensor([0.3, -1.2, 2.0])
    (grad,) = numerical_gradient(lambda t: torch.sin(t).sum(), x)
    torch.testing.assert_close(grad, torch.cos(x.double()), rtol=1e-8, atol=1e-9)
    assert grad.dtype == torch.float64


def test_numerical_gradient_handles_several_matrix_inputs():
    a = torch.randn(2, 3)
    b = torch.randn(3, 2)
    grad_a, grad_b = numerical_gradient(lambda p, q: (p @ q).sum(), a, b)
    torch.testing.assert_close(grad_a, torch.ones(2, 2).double() @ b.double().T)
    torch.testing.assert_close(grad_b, a.double().T @ torch.ones(2, 2).double())


def test_numerical_gradient_leaves_inputs_unchanged():
    x = torch.tensor([1.0, 2.0])
    numerical_gradient(lambda t: (t**2).sum(), x)
    assert x.tolist() == [1.0, 2.0]


def test_gradient_check_passes_correct_gradients():
    w = torch.randn(4, 3)
    x = torch.randn(5, 4)
    result = gradient_check(lambda w_, x_: torch.tanh(x_ @ w_).pow(2).mean(), w, x)
    assert result.passed
    assert result.max_relative_error < 1e-7
    assert str(result).startswith("PASS")


def test_gradient_check_catches_a_wrong_backward():
    result = gradient_check(lambda x: SigmoidForgetsOneMinusS.apply(x).sum(), torch.randn(6))
    assert not result.passed
    assert result.max_relative_error > 0.1
    assert "FAIL" in result.verdict and "autograd says" in result.verdict


def test_gradient_check_catches_a_small_error_too():
    class AlmostSquare(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x * x

        @staticmethod
        def backward(ctx, grad_output):
            (x,) = ctx.saved_tensors
            return grad_output * 2 * x * 1.001  # 0.1% too large

    result = gradient_check(lambda x: AlmostSquare.apply(x).sum(), torch.tensor([1.0, 3.0]))
    assert not result.passed
    assert result.max_relative_error == pytest.approx(1e-3, rel=1e-2)


def test_the_failure_names_the_worst_element():
    x = torch.tensor([[0.0, 4.0], [-4.0, 0.5]])
    result = gradient_check(lambda t: SigmoidForgetsOneMinusS.apply(t).sum(), x)
    # The backward returns s instead of s(1 - s): relatively worst where 1 - s is smallest.
    assert "in inputs[0] at index (0, 1)" in result.verdict


def test_an_input_the_output_ignores_has_zero_gradient():
    result = gradient_check(lambda a, b: (a**2).sum(), torch.tensor([1.0]), torch.tensor([2.0]))
    assert result.passed


def test_gradients_below_the_floor_are_compared_in_absolute_terms():
    # exp(-30) is far below the floor: rounding noise must not fail the check.
    result = gradient_check(lambda x: torch.exp(x).sum(), torch.tensor([-30.0, 0.0]))
    assert result.passed


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (lambda: gradient_check(lambda x: x.sum()), ValueError, "at least one input"),
        (lambda: gradient_check(lambda x: x, torch.ones(3)), ValueError, r"reduce it first"),
        (
            lambda: gradient_check(lambda x: 1.0, torch.ones(1)),
            TypeError,
            "must return a torch.Tensor",
        ),
        (lambda: gradient_check(lambda x: x.detach().sum(), torch.ones(2)), ValueError, "detached"),
        (lambda: gradient_check(lambda x: x.sum(), [1.0, 2.0]), TypeError, r"inputs\[0\]"),
        (lambda: gradient_check(lambda x: x.sum(), torch.tensor([1, 2])), TypeError, "floating"),
        (
            lambda: gradient_check(lambda x: x.sum(), torch.tensor([math.nan])),
            ValueError,
            "non-finite",
        ),
        (lambda: gradient_check(lambda x: x.sum(), torch.ones(1), eps=0), ValueError, "eps"),
        (lambda: numerical_gradient("f", torch.ones(1)), TypeError, "f must be a function"),
    ],
)
def test_bad_input_gets_a_clear_error(call, error, message):
    with pytest.raises(error, match=message):
        call()
