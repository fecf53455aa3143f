"""The synthetic data: reproducible from a seed, balanced, and not linearly separable."""

import pytest
import torch

from course_utils.data import two_spirals


def test_same_seed_same_data_other_seed_other_data():
    first, labels = two_spirals(100, seed=3)
    again, labels_again = two_spirals(100, seed=3)
    assert torch.equal(first, again) and torch.equal(labels, labels_again)
    assert not torch.equal(first, two_spirals(100, seed=4)[0])


def test_balanced_labels_and_shapes():
    x, y = two_spirals(1000, seed=0, dtype=torch.float64)
    assert x.shape == (1000, 2) and y.shape == (1000,) and x.dtype == torch.float64
    assert y.sum().item() == 500


def test_a_linear_classifier_cannot_solve_it():
    x, y = two_spirals(1000, seed=0)
    features = torch.cat([x, torch.ones(1000, 1)], dim=1)
    w = torch.linalg.lstsq(features, 2 * y[:, None] - 1).solution
    accuracy = ((features @ w).squeeze() > 0).float().eq(y).float().mean().item()
    assert accuracy < 0.7


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"n": 1}, ValueError),
        ({"n": 10, "noise": -1.0}, ValueError),
        ({"n": 10, "turns": 0}, ValueError),
    ],
)
def test_bad_arguments(kwargs, error):
    with pytest.raises(error):
        two_spirals(**kwargs)
