"""The claims notebook 04 teaches about powers of a weight matrix, asserted."""

import math

import pytest
import torch


def test_scalar_powers():
    assert 2**5 == 32
    assert pytest.approx(1e-5) == 0.1**5
    assert pytest.approx(4.2508e8, rel=1e-4) == 1.5**49
    assert pytest.approx(6.3762e8, rel=1e-4) == 1.5**50  # the figure one text gives for 1.5^49
    assert pytest.approx(5.154e-3, rel=1e-3) == 0.9**50
    assert pytest.approx(117.39, rel=1e-3) == 1.1**50


def test_a_symmetric_matrix_grows_exactly_as_its_spectral_radius():
    Q = torch.tensor([[1.0, 1.0], [-1.0, 1.0]], dtype=torch.float64) / math.sqrt(2)
    W = Q @ torch.diag(torch.tensor([1.1, 0.5], dtype=torch.float64)) @ Q.T
    for L in (1, 10, 50, 200):
        norm = torch.linalg.matrix_norm(torch.linalg.matrix_power(W, L), ord=2).item()
        assert norm == pytest.approx(1.1**L, rel=1e-9)


def test_transient_growth_with_every_eigenvalue_below_one():
    W = torch.tensor([[0.9, 5.0], [0.0, 0.9]], dtype=torch.float64)
    norms = [
        torch.linalg.matrix_norm(torch.linalg.matrix_power(W, L), ord=2).item()
        for L in range(1, 101)
    ]
    peak = max(range(1, 101), key=lambda L: norms[L - 1])
    assert peak == 9 and 19 < norms[peak - 1] < 20
    assert norms[-1] > 500 * 0.9**100
    for L in (1, 9, 50):
        assert torch.linalg.matrix_power(W, L)[0, 1].item() == pytest.approx(5 * L * 0.9 ** (L - 1))


def test_gelfand_formula_for_a_random_matrix():
    generator = torch.Generator().manual_seed(1)
    W = torch.randn(64, 64, generator=generator, dtype=torch.float64) / 8
    radius = torch.linalg.eigvals(W).abs().max().item()
    norm = torch.linalg.matrix_norm(torch.linalg.matrix_power(W, 400), ord=2).item()
    assert norm ** (1 / 400) == pytest.approx(radius, rel=0.02)


def test_circular_law_radius_is_about_the_scale():
    generator = torch.Generator().manual_seed(1)
    W = torch.randn(256, 256, generator=generator, dtype=torch.float64) / 16
    assert torch.linalg.eigvals(W).abs().max().item() == pytest.approx(1.0, abs=0.1)
    assert torch.linalg.matrix_norm(W, ord=2).item() == pytest.approx(2.0, abs=0.15)


@pytest.mark.parametrize("scale", [0.9, 1.0, 1.1])
def test_each_random_layer_multiplies_the_expected_squared_length_by_scale_squared(scale):
    generator = torch.Generator().manual_seed(2)
    h = torch.randn(200, 64, 1, generator=generator, dtype=torch.float64)
    ratios = []
    for _ in range(50):
        W = scale * torch.randn(200, 64, 64, generator=generator, dtype=torch.float64) / 8
        new = W @ h
        ratios.append((new.norm(dim=1) ** 2 / h.norm(dim=1) ** 2).flatten())
        h = new
    assert torch.cat(ratios).mean().item() == pytest.approx(scale**2, rel=0.01)
