"""The monitor's plots: labelled, log-scaled, headless, and honest about what they leave out."""

import io

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
from torch import nn

from course_utils.gradflow import GradientMonitor
from course_utils.gradflow_plots import (
    plot_gradient_flow,
    plot_gradient_heatmap,
    plot_gradient_histograms,
    plot_update_ratios,
)
from course_utils.models import mlp


@pytest.fixture(scope="module")
def monitor():
    torch.manual_seed(0)
    model = mlp(6, 16, activation="sigmoid")
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    inputs, targets = torch.randn(32, 16), torch.randn(32, 1)
    with GradientMonitor(model, optimizer=optimizer, every=1, histograms=True) as monitor:
        for _ in range(5):
            optimizer.zero_grad()
            nn.functional.mse_loss(model(inputs), targets).backward()
            optimizer.step()
            monitor.step()
    return monitor


def renders(fig) -> bool:
    fig.savefig(io.BytesIO(), format="png")
    return True


def labelled(ax) -> bool:
    return bool(ax.get_title() and ax.get_xlabel() and ax.get_ylabel())


def test_gradient_flow_plot(monitor):
    before = plt.get_fignums()
    fig = plot_gradient_flow(monitor)
    (ax,) = fig.axes
    assert labelled(ax) and ax.get_yscale() == "log" and renders(fig)
    mean_line = ax.get_lines()[1]
    expected = [monitor.latest.gradient(f"{i}.weight").mean_abs for i in (0, 2, 4, 6, 8, 10, 12)]
    np.testing.assert_allclose(mean_line.get_ydata(), expected)
    assert ax.get_xticklabels()[0].get_text() == "1: 0.weight"
    assert plt.get_fignums() == before


def test_gradient_flow_plot_can_include_biases(monitor):
    assert (
        len(plot_gradient_flow(monitor, include_biases=True).axes[0].get_lines()[0].get_xdata())
        == 14
    )


def test_theory_overlay_shrinks_by_the_factor_per_layer(monitor):
    ax = plot_gradient_flow(monitor, theory_factor=0.25).axes[0]
    theory = next(line for line in ax.get_lines() if "theory" in line.get_label())
    values = theory.get_ydata()
    np.testing.assert_allclose(values[:-1] / values[1:], 0.25)
    assert values[-1] == pytest.approx(monitor.latest.gradient("12.weight").mean_abs)


def test_layers_without_gradient_are_skipped_and_counted():
    class HalfUsed(nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b, self.unused = nn.Linear(4, 4), nn.Linear(4, 1), nn.Linear(4, 4)

        def forward(self, x):
            return self.b(self.a(x))

    model = HalfUsed()
    with GradientMonitor(model, every=1) as monitor:
        model(torch.randn(8, 4)).sum().backward()
        monitor.step()
    ax = plot_gradient_flow(monitor).axes[0]
    assert len(ax.get_lines()[0].get_xdata()) == 2
    assert "(1 without gradient or all zero, not shown)" in [
        t.get_text() for t in ax.get_legend().get_texts()
    ]


def test_heatmap(monitor):
    fig = plot_gradient_heatmap(monitor)
    ax = fig.axes[0]
    assert labelled(ax) and renders(fig)
    assert ax.collections[0].get_array().shape == (7, 5)  # 7 weight matrices × 5 steps
    assert "log scale" in fig.axes[1].get_ylabel()


def test_update_ratio_plot(monitor):
    fig = plot_update_ratios(monitor)
    ax = fig.axes[0]
    assert labelled(ax) and ax.get_yscale() == "log" and renders(fig)
    guide = [line for line in ax.get_lines() if line.get_label() == "1e-3 rule of thumb"]
    assert guide and guide[0].get_ydata()[0] == 1e-3


def test_histograms(monitor):
    fig = plot_gradient_histograms(monitor, max_layers=4)
    visible = [ax for ax in fig.axes if ax.get_visible()]
    assert len(visible) == 4 and all(ax.get_title() and ax.get_xlabel() for ax in visible)
    assert visible[0].get_title() == "0.weight" and visible[-1].get_title() == "12.weight"
    assert fig.get_suptitle().startswith("Gradient magnitudes")
    assert renders(fig)


def test_plots_explain_what_they_need():
    model = mlp(2, 4)
    with GradientMonitor(model, every=1) as monitor:
        model(torch.randn(4, 16)).sum().backward()
        monitor.step()
    with pytest.raises(ValueError, match="histograms=True"):
        plot_gradient_histograms(monitor)
    with pytest.raises(ValueError, match="give the monitor your optimizer"):
        plot_update_ratios(monitor)
    with pytest.raises(ValueError, match="step 7 was not recorded"):
        plot_gradient_flow(monitor, step=7)
    with pytest.raises(TypeError, match="expected a GradientMonitor"):
        plot_gradient_flow(model)
