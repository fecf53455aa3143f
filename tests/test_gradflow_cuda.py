"""The monitor on a GPU: the same statistics as a direct computation, and NaN tracing.

Skipped where there is no CUDA device (as in CI); the statistics take other code paths on a
GPU (no NumPy counting, results gathered from the device once).
"""

import pytest
import torch
from torch import nn

from course_utils.gradflow import GradientMonitor
from course_utils.models import SmallCNN, mlp

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


@pytest.mark.parametrize("make", [lambda: mlp(6, 128, in_features=64), lambda: SmallCNN()])
def test_statistics_on_the_gpu_equal_the_direct_computation(make):
    torch.manual_seed(0)
    model = make().cuda()
    shape = (32, 64) if isinstance(model, nn.Sequential) else (32, 1, 8, 8)
    inputs, targets = torch.randn(shape, device="cuda"), torch.randn(32, 1, device="cuda")
    with GradientMonitor(model, every=1, histograms=True) as monitor:
        optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
        optimizer.zero_grad()
        loss = nn.functional.mse_loss(model(inputs), targets)
        loss.backward()
        monitor.step(loss)
    for name, p in model.named_parameters():
        stats = monitor.latest.gradient(name)
        g = p.grad.double()
        assert stats.norm == pytest.approx(g.norm().item(), rel=1e-5)
        assert stats.max_abs == pytest.approx(g.abs().max().item(), rel=1e-6)
        assert stats.mean_abs == pytest.approx(g.abs().mean().item(), rel=1e-5)
        assert stats.zero_fraction == pytest.approx((g == 0).double().mean().item(), abs=1e-12)
        assert monitor.latest.histogram(name).sum() <= p.numel()
    assert monitor.diagnose() is not None


def test_a_forward_overflow_between_recorded_steps_is_traced_on_the_gpu():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 8), nn.ReLU(), nn.Linear(8, 8), nn.Linear(8, 1)).cuda()
    inputs = torch.randn(16, 8, device="cuda")
    with GradientMonitor(model, every=100) as monitor:
        for step in range(3):
            if step == 2:
                with torch.no_grad():
                    model[2].weight.fill_(1e38)
            model.zero_grad()
            loss = model(inputs).mean()
            loss.backward()
            if step == 2:
                with pytest.warns(RuntimeWarning, match="layer '2'"):
                    monitor.step(loss)
            else:
                monitor.step(loss)
    assert monitor.nonfinite[:3] == (2, "forward", "2")
