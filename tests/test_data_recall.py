"""recall_task: reproducible, the symbol only at step 0, the query only at the last step."""

import pytest
import torch

from course_utils.data import recall_task


def test_same_seed_same_data_other_seed_other_data():
    x, y = recall_task(50, lag=12, seed=3)
    again, y_again = recall_task(50, lag=12, seed=3)
    assert torch.equal(x, again) and torch.equal(y, y_again)
    other, _ = recall_task(50, lag=12, seed=4)
    assert not torch.equal(x, other)


def test_shapes_dtypes_and_classes():
    x, y = recall_task(400, lag=7, symbols=3, seed=0, dtype=torch.float64)
    assert x.shape == (400, 8, 4) and x.dtype == torch.float64
    assert y.shape == (400,) and y.dtype == torch.int64
    assert set(y.tolist()) == {0, 1, 2}


def test_the_first_step_holds_the_symbol_and_the_last_step_asks_for_it():
    x, y = recall_task(100, lag=5, symbols=4, seed=1)
    assert torch.equal(x[:, 0, :4].argmax(dim=1), y)
    assert torch.equal(x[:, 0].sum(dim=1), torch.ones(100))  # one-hot, nothing else
    assert torch.equal(x[:, -1, 4], torch.ones(100))  # "answer now" at the last step
    assert torch.equal(x[:, :-1, 4], torch.zeros(100, 5))  # and never before


def test_noise_fills_the_steps_in_between_with_the_requested_spread():
    x, _ = recall_task(2000, lag=10, noise=0.5, seed=0, dtype=torch.float64)
    assert x[:, 1:, :4].std().item() == pytest.approx(0.5, rel=0.02)
    quiet, _ = recall_task(20, lag=10, noise=0.0, seed=0)
    assert torch.equal(quiet[:, 1:, :4], torch.zeros(20, 10, 4))


def test_the_noise_level_scales_the_same_draws_and_keeps_the_targets():
    x, y = recall_task(30, lag=6, noise=1.0, seed=2, dtype=torch.float64)
    half, y_half = recall_task(30, lag=6, noise=0.5, seed=2, dtype=torch.float64)
    assert torch.equal(y, y_half)
    assert torch.allclose(half[:, 1:, :4], 0.5 * x[:, 1:, :4])


def test_the_symbol_cannot_be_read_from_the_last_step():
    """Only memory solves it: the last step's inputs say nothing about the target."""
    x, y = recall_task(4000, lag=3, seed=0, dtype=torch.float64)
    last = x[:, -1, :4]
    mean_per_class = torch.stack([last[y == k].mean(dim=0) for k in range(4)])
    assert mean_per_class.abs().max().item() < 0.05


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"n": 0, "lag": 3}, ValueError, "n must be at least 1"),
        ({"n": 4, "lag": 0}, ValueError, "lag must be at least 1"),
        ({"n": 4, "lag": 2.5}, TypeError, "lag must be an int"),
        ({"n": 4, "lag": 3, "symbols": 1}, ValueError, "symbols must be at least 2"),
        ({"n": 4, "lag": 3, "noise": -0.1}, ValueError, "noise must be 0 or more"),
        ({"n": 4, "lag": 3, "seed": -1}, ValueError, "seed must be at least 0"),
        ({"n": 4, "lag": 3, "dtype": torch.int64}, TypeError, "floating-point torch.dtype"),
    ],
)
def test_bad_arguments_are_explained(kwargs, error, message):
    with pytest.raises(error, match=message):
        recall_task(**kwargs)
