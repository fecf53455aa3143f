"""The monitor's fast statistics equal the slow, obvious computation, for every size and type.

Large gradients (more than SMALL_GRADIENT entries) and small ones take different paths through
``course_utils._statistics``; each test runs both.
"""

import numpy as np
import pytest
import torch
from torch import nn

from course_utils import _one_pass
from course_utils._statistics import SMALL_GRADIENT
from course_utils.gradflow import GradientMonitor

SIZES = [(3, 7), (64, 300)]  # 21 entries (the small path) and 19,200 (the large path)
DTYPES = [torch.float16, torch.bfloat16, torch.float32, torch.float64]


def awkward_gradient(shape, dtype, seed=0):
    """Entries over many decades, with exact zeros, negative zeros and a few repeats."""
    generator = torch.Generator().manual_seed(seed)
    grad = torch.randn(shape, generator=generator, dtype=torch.float64)
    grad *= 10.0 ** torch.randint(-12, 3, shape, generator=generator)
    grad[torch.rand(shape, generator=generator) < 0.2] = 0.0
    grad[torch.rand(shape, generator=generator) < 0.05] = -0.0
    return grad.to(dtype)


def test_the_sizes_take_both_paths():
    small, large = (rows * columns for rows, columns in SIZES)
    assert small <= SMALL_GRADIENT < large


def record_of(layer, grad, **options):
    with GradientMonitor(layer, every=1, **options) as monitor:
        layer.weight.grad = grad
        monitor.step()
    return monitor.latest


@pytest.mark.parametrize("shape", SIZES)
@pytest.mark.parametrize("dtype", DTYPES)
def test_statistics_equal_the_direct_computation(shape, dtype):
    layer = nn.Linear(shape[1], shape[0], bias=False).to(dtype)
    grad = awkward_gradient(shape, dtype)
    stats = record_of(layer, grad).gradient("weight")
    exact = grad.double()
    assert stats.norm == pytest.approx(exact.norm().item(), rel=1e-5)
    assert stats.mean == pytest.approx(exact.mean().item(), rel=1e-4, abs=1e-12)
    assert stats.std == pytest.approx(exact.std().item(), rel=1e-4)
    assert stats.max_abs == exact.abs().max().item()
    assert stats.mean_abs == pytest.approx(exact.abs().mean().item(), rel=1e-5)
    assert stats.zero_fraction == pytest.approx((exact == 0).double().mean().item(), abs=1e-12)


@pytest.mark.filterwarnings("ignore:step 0")  # the NaN and Inf put in on purpose
@pytest.mark.parametrize("shape", SIZES)
@pytest.mark.parametrize("dtype", DTYPES)
def test_histograms_count_every_entry_in_its_power_of_two(shape, dtype):
    layer = nn.Linear(shape[1], shape[0], bias=False).to(dtype)
    grad = awkward_gradient(shape, dtype, seed=1)
    grad.view(-1)[:4] = torch.tensor([float("nan"), float("inf"), 2.0**20, 2.0**-60]).to(dtype)
    counts = record_of(layer, grad, histograms=True).histogram("weight")

    magnitude = grad.double().abs().numpy().ravel()
    exponents = np.floor(np.log2(magnitude[np.isfinite(magnitude) & (magnitude > 0)]))
    edges = GradientMonitor.HISTOGRAM_EDGES / np.log10(2)  # back to powers of two
    expected, _ = np.histogram(exponents, bins=np.round(edges) - 0.5)
    np.testing.assert_array_equal(counts, expected)
    # nothing is lost but zeros, NaN, Inf and entries outside the edges
    inside = (magnitude >= 2.0**-53) & (magnitude < 2.0**13)
    assert counts.sum() == inside.sum()


def test_histogram_edges_are_powers_of_two_in_log10():
    edges = GradientMonitor.HISTOGRAM_EDGES
    np.testing.assert_allclose(10**edges, 2.0 ** np.arange(-53, 14))


def test_a_large_gradient_with_nan_counts_its_zeros_and_reports_nan():
    layer = nn.Linear(300, 64, bias=False)
    grad = torch.ones(64, 300)
    grad[0, :10] = 0.0
    grad[1, 0] = float("nan")
    with pytest.warns(RuntimeWarning, match="backward"):
        stats = record_of(layer, grad).gradient("weight")
    assert stats.zero_fraction == pytest.approx(10 / 19200, abs=1e-12)
    assert np.isnan(stats.norm)


@pytest.mark.filterwarnings("ignore:step 0")  # the NaN put in on purpose
@pytest.mark.parametrize("shape", SIZES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.float16])
@pytest.mark.parametrize("special", [None, float("nan"), float("inf")])
def test_the_one_pass_loop_gives_the_same_statistics(shape, dtype, special):
    layer = nn.Linear(shape[1], shape[0], bias=False).to(dtype)
    grad = awkward_gradient(shape, dtype, seed=2)
    if special is not None:
        grad[1, 3] = special
    eager = record_of(layer, grad.clone(), histograms=True)
    compiled = record_of(layer, grad.clone(), histograms=True, compile=True)
    assert compiled._monitor.compile  # the loop compiled; it did not fall back
    np.testing.assert_allclose(compiled._grads, eager._grads, rtol=2e-6)
    np.testing.assert_array_equal(compiled.histogram("weight"), eager.histogram("weight"))


def test_without_a_c_compiler_the_monitor_warns_and_goes_on(monkeypatch):
    monkeypatch.setenv("CC", "no-such-compiler")
    _one_pass.load.cache_clear()
    layer = nn.Linear(300, 64, bias=False)
    grad = awkward_gradient((64, 300), torch.float32)
    try:
        with pytest.warns(RuntimeWarning, match="could not compile .* goes on without it"):
            record = record_of(layer, grad.clone(), compile=True)
    finally:
        _one_pass.load.cache_clear()
    assert not record._monitor.compile
    np.testing.assert_array_equal(record._grads, record_of(layer, grad.clone())._grads)


@pytest.mark.parametrize("compile", [False, True])
def test_huge_but_finite_gradients_have_a_finite_norm(compile):
    layer = nn.Linear(300, 64, bias=False)
    with GradientMonitor(layer, every=1, compile=compile) as monitor:
        layer.weight.grad = torch.full((64, 300), 1e20)  # squares overflow float32
        monitor.step()
    assert monitor.latest.gradient("weight").norm == pytest.approx(1e20 * 19200**0.5)
    assert monitor.latest.global_norm == pytest.approx(1e20 * 19200**0.5)
    assert monitor.nonfinite is None
