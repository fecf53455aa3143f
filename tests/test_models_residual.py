"""ResidualBlock and residual_mlp: the shapes, the options, and clear errors."""

import pytest
import torch

from course_utils.models import ResidualBlock, residual_mlp


@pytest.mark.parametrize("order", ["pre", "post"])
@pytest.mark.parametrize("skip", [True, False])
def test_block_computes_what_its_docstring_says(order, skip):
    torch.manual_seed(0)
    block = ResidualBlock(5, skip=skip, order=order)
    x = torch.randn(3, 5)
    w, b = block.linear.weight, block.linear.bias
    if order == "pre":
        expected = torch.tanh(x) @ w.T + b + (x if skip else 0)
    else:
        expected = torch.tanh(x @ w.T + b + (x if skip else 0))
    torch.testing.assert_close(block(x), expected)


def test_scale_multiplies_the_initial_weight():
    torch.manual_seed(0)
    reference = ResidualBlock(6).linear.weight
    torch.manual_seed(0)
    scaled = ResidualBlock(6, scale=0.25).linear.weight
    torch.testing.assert_close(scaled, 0.25 * reference)


def test_network_shape_and_plain_variant_has_no_skip():
    net = residual_mlp(4, 8, in_features=3, out_features=2, skip=False)
    assert net(torch.randn(7, 3)).shape == (7, 2)
    assert len(net) == 6 and not any(block.skip for block in net[1:-1])


@pytest.mark.parametrize(
    ("options", "error", "message"),
    [
        ({"order": "middle"}, ValueError, "choose 'pre' or 'post'"),
        ({"activation": "swish"}, ValueError, "unknown activation 'swish'"),
        ({"skip": 1}, TypeError, "skip and zero_init must be True or False"),
        ({"scale": "small"}, TypeError, "scale"),
        ({"init": "he"}, ValueError, "unknown init 'he'"),
    ],
)
def test_bad_options_are_explained(options, error, message):
    with pytest.raises(error, match=message):
        ResidualBlock(4, **options)


def test_bad_depth_is_explained():
    with pytest.raises((ValueError, TypeError), match="depth"):
        residual_mlp(0, 4)
