"""Pictures of what a :class:`~course_utils.gradflow.GradientMonitor` recorded.

Every function returns a matplotlib ``Figure`` (nothing is shown or kept by pyplot), with a
title, labelled axes and a log scale for anything that spans decades. Parameters that had
no gradient are left out and the legend says so.

>>> import torch
>>> from course_utils.gradflow import GradientMonitor
>>> from course_utils.models import mlp
>>> model = mlp(depth=4, width=16, activation="sigmoid")
>>> with GradientMonitor(model, every=1) as monitor:
...     model(torch.randn(8, 16)).pow(2).mean().backward()
...     monitor.step()
>>> fig = plot_gradient_flow(monitor, theory_factor=0.25)
>>> fig.axes[0].get_yscale()
'log'
"""

from __future__ import annotations

import matplotlib
import numpy as np
from matplotlib.axes import Axes
from matplotlib.colors import LogNorm
from matplotlib.figure import Figure

from ._checks import require_int
from .gradflow import GradientMonitor, StepRecord
from .plotting import new_figure, new_grid

__all__ = [
    "plot_gradient_flow",
    "plot_gradient_heatmap",
    "plot_gradient_histograms",
    "plot_update_ratios",
]


def _check_monitor(monitor: object) -> GradientMonitor:
    if not isinstance(monitor, GradientMonitor):
        raise TypeError(f"expected a GradientMonitor, got {type(monitor).__name__}.")
    return monitor


def _record_at(monitor: GradientMonitor, step: int | None) -> StepRecord:
    if step is None:
        return monitor.latest
    for record in monitor.history:
        if record.step == step:
            return record
    recorded = [r.step for r in monitor.history]
    raise ValueError(f"step {step} was not recorded; recorded steps: {recorded[:5]}...")


def _chosen(names: list[str], include_biases: bool) -> list[str]:
    """The parameters to draw: all of them, or all but the biases."""
    return [name for name in names if include_biases or "bias" not in name.rpartition(".")[2]]


def _layer_ticks(ax: Axes, names: list[str], *, axis: str = "x", offset: float = 0.0) -> None:
    """Label the layer axis "1: name", "2: name", ... (the position in forward order, then the
    parameter's name, whose numbers are module indices), thinned out to at most 16 labels."""
    keep = np.arange(len(names))[:: max(1, int(np.ceil(len(names) / 16)))]
    labels = [f"{i + 1}: {names[i]}" for i in keep]
    if axis == "x":
        ax.set_xticks(keep + offset, labels, rotation=60, ha="right", fontsize=8)
    else:
        ax.set_yticks(keep + offset, labels, fontsize=8)


def plot_gradient_flow(
    monitor: GradientMonitor,
    *,
    step: int | None = None,
    include_biases: bool = False,
    theory_factor: float | None = None,
) -> Figure:
    """Mean and largest |gradient entry| of each layer at one step, on a log axis.

    Layers run from the input (left) to the output (right). ``theory_factor`` overlays the
    line a gradient would follow if it shrank by that factor per layer on its way back
    from the last layer (for example 0.25 for a chain of sigmoids).
    """
    monitor = _check_monitor(monitor)
    record = _record_at(monitor, step)
    stats = record.gradients()
    names = _chosen(record.parameter_order(), include_biases)
    shown = [n for n in names if n in stats and stats[n].mean_abs > 0]
    if not shown:
        raise ValueError(f"no parameter had a non-zero gradient at step {record.step}.")
    positions = np.arange(len(shown))
    mean = np.array([stats[n].mean_abs for n in shown])
    largest = np.array([stats[n].max_abs for n in shown])

    fig, ax = new_figure(
        title=f"Gradient flow at step {record.step}",
        xlabel="layer (input → output)",
        ylabel="|gradient| (log scale)",
        logy=True,
        figsize=(8.0, 4.5),
    )
    ax.plot(positions, largest, "v-", alpha=0.6, label="largest |entry|")
    ax.plot(positions, mean, "o-", label="mean |entry|")
    if theory_factor is not None:
        distance = positions[-1] - positions
        theory = mean[-1] * float(theory_factor) ** distance
        ax.plot(
            positions, theory, "--", color="black", label=f"theory: ×{theory_factor:g} per layer"
        )
    skipped = len(names) - len(shown)
    if skipped:
        ax.plot([], [], " ", label=f"({skipped} without gradient or all zero, not shown)")
    _layer_ticks(ax, shown)
    ax.legend()
    return fig


def plot_gradient_heatmap(
    monitor: GradientMonitor, *, statistic: str = "mean_abs", include_biases: bool = False
) -> Figure:
    """One gradient statistic for every layer (rows) and recorded step (columns), log colours."""
    monitor = _check_monitor(monitor)
    steps, names, values = monitor.series(statistic)
    chosen = _chosen(monitor.latest.parameter_order(), include_biases)
    grid = values[:, [names.index(n) for n in chosen]].T
    positive = grid[np.isfinite(grid) & (grid > 0)]
    if positive.size == 0:
        raise ValueError(f"no positive values of {statistic!r} were recorded, nothing to draw.")
    fig, ax = new_figure(
        title=f"Gradient {statistic} per layer over training",
        xlabel="training step",
        ylabel="layer (input at top)",
        figsize=(8.0, 4.5),
    )
    ax.grid(False)
    masked = np.ma.masked_invalid(np.where(grid > 0, grid, np.nan))
    image = ax.pcolormesh(
        np.arange(len(steps) + 1),
        np.arange(len(chosen) + 1),
        masked,
        norm=LogNorm(vmin=positive.min(), vmax=positive.max()),
        shading="flat",
    )
    ax.invert_yaxis()
    ticks = np.arange(len(steps))[:: max(1, len(steps) // 10)]
    ax.set_xticks(ticks + 0.5, [str(steps[i]) for i in ticks])
    _layer_ticks(ax, chosen, axis="y", offset=0.5)
    readable = {"mean_abs": "mean |gradient|", "max_abs": "largest |gradient|"}
    fig.colorbar(image, ax=ax, label=f"{readable.get(statistic, statistic)} (log scale)")
    return fig


def plot_update_ratios(monitor: GradientMonitor, *, include_biases: bool = False) -> Figure:
    """‖Δp‖ / ‖p‖ of each layer over training, with the 1e-3 rule of thumb as a guide line."""
    monitor = _check_monitor(monitor)
    steps, names, ratios = monitor.series("update_ratio")
    order = _chosen(monitor.latest.parameter_order(), include_biases)
    chosen = [names.index(n) for n in order if np.any(ratios[:, names.index(n)] > 0)]
    if not chosen and np.any(ratios == 0):
        raise ValueError(
            "every measured update-to-data ratio is exactly 0: no update changed any weight "
            "(no gradient reached them, or the updates were too small to change a float)."
        )
    if not chosen:
        raise ValueError(
            "no update-to-data ratios were recorded: give the monitor your optimizer, "
            "GradientMonitor(model, optimizer=optimizer), and record steps that are multiples "
            "of its update_every."
        )
    fig, ax = new_figure(
        title="Update-to-data ratio per layer",
        xlabel="training step",
        ylabel="‖update‖ / ‖weight‖ (log scale)",
        logy=True,
    )
    colours = matplotlib.colormaps["viridis"](np.linspace(0, 0.9, len(chosen)))
    labelled = {chosen[0], chosen[len(chosen) // 2], chosen[-1]}
    for colour, i in zip(colours, chosen, strict=True):
        measured = np.isfinite(ratios[:, i]) & (ratios[:, i] > 0)  # only the measured steps
        label = names[i] if i in labelled else None
        ax.plot(steps[measured], ratios[measured, i], "o-", color=colour, markersize=3, label=label)
    ax.axhline(1e-3, color="black", linestyle="--", linewidth=1, label="1e-3 rule of thumb")
    ax.legend(title="layer", loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return fig


def plot_gradient_histograms(
    monitor: GradientMonitor,
    *,
    step: int | None = None,
    include_biases: bool = False,
    max_layers: int = 12,
) -> Figure:
    """Histograms of log10|gradient| for up to ``max_layers`` layers, spread evenly over depth.

    Needs ``GradientMonitor(..., histograms=True)``. A histogram sliding left from one layer
    to the next is a gradient vanishing on its way back.
    """
    monitor = _check_monitor(monitor)
    max_layers = require_int(max_layers, "max_layers", minimum=1)
    if not monitor.record_histograms:
        raise ValueError("histograms were not recorded: use GradientMonitor(..., histograms=True).")
    record = _record_at(monitor, step)
    chosen = _chosen(record.parameter_order(), include_biases)
    spread = np.unique(np.linspace(0, len(chosen) - 1, max_layers).round().astype(int))
    picks = [chosen[i] for i in spread]
    edges = monitor.HISTOGRAM_EDGES
    columns = min(4, len(picks))
    rows = int(np.ceil(len(picks) / columns))
    fig, axes = new_grid(
        rows,
        columns,
        title=f"Gradient magnitudes per layer at step {record.step} (input first)",
        figsize=(2.6 * columns, 1.9 * rows + 0.6),
    )
    for ax, name in zip(axes.flat, picks, strict=False):
        counts = record.histogram(name)
        ax.bar(edges[:-1], counts, width=np.diff(edges), align="edge", color="tab:blue")
        ax.set_title(name, fontsize=9)
        ax.set_xlabel("log10 |gradient|", fontsize=8)
        ax.set_ylabel("entries", fontsize=8)
        ax.tick_params(labelsize=7)
    for ax in list(axes.flat)[len(picks) :]:
        ax.set_visible(False)
    return fig
