"""One plotting style for the whole course, and helpers that never forget a label.

Gradients in deep networks span many orders of magnitude, so the helpers here put them on
a log axis by default. Every figure gets a title and labelled axes: the helpers refuse to
draw without them.

Helpers return a matplotlib ``Figure`` that is not kept by pyplot: in a notebook, make it
the last line of a cell to show it (exactly once); elsewhere, ``fig.savefig(...)``.

>>> fig = log_plot([1, 2, 3], {"gradient": [1e-1, 1e-3, 1e-5]},
...                title="A vanishing gradient", xlabel="depth", ylabel="|gradient|")
>>> fig.axes[0].get_yscale()
'log'
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from ._checks import require_int, require_text

__all__ = [
    "COURSE_STYLE",
    "histogram_row",
    "log_plot",
    "new_figure",
    "new_grid",
    "use_course_style",
]

COURSE_STYLE: dict[str, object] = {
    "figure.figsize": (7.0, 4.0),
    "figure.dpi": 100,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.titlesize": 13,
    "axes.labelsize": 11,
    "legend.fontsize": 10,
    "legend.frameon": False,
    "lines.linewidth": 2.0,
    "lines.markersize": 5,
    "image.cmap": "viridis",
}


def use_course_style() -> None:
    """Apply the course's matplotlib style to every figure made from now on.

    >>> use_course_style()
    """
    matplotlib.rcParams.update(COURSE_STYLE)


def new_figure(
    *,
    title: str,
    xlabel: str,
    ylabel: str,
    logx: bool = False,
    logy: bool = False,
    figsize: tuple[float, float] | None = None,
) -> tuple[Figure, Axes]:
    """A figure with one labelled, titled axes (log scales on request).

    >>> fig, ax = new_figure(title="Loss", xlabel="step", ylabel="loss", logy=True)
    >>> ax.get_title(), ax.get_yscale()
    ('Loss', 'log')
    """
    # Made through pyplot so that Jupyter's display for figures is set up, then closed at
    # once: pyplot forgets it, so it is shown only where it is returned or displayed.
    fig = plt.figure(figsize=figsize, layout="constrained")
    plt.close(fig)
    ax = fig.add_subplot()
    ax.set_title(require_text(title, "title"))
    ax.set_xlabel(require_text(xlabel, "xlabel"))
    ax.set_ylabel(require_text(ylabel, "ylabel"))
    if logx:
        ax.set_xscale("log")
    if logy:
        ax.set_yscale("log")
    return fig, ax


def new_grid(
    rows: int,
    columns: int,
    *,
    title: str,
    figsize: tuple[float, float] | None = None,
) -> tuple[Figure, np.ndarray]:
    """A titled figure with a ``rows`` × ``columns`` grid of axes (label each one yourself).

    >>> fig, axes = new_grid(2, 3, title="Six panels")
    >>> axes.shape
    (2, 3)
    """
    rows = require_int(rows, "rows", minimum=1)
    columns = require_int(columns, "columns", minimum=1)
    fig = plt.figure(figsize=figsize, layout="constrained")
    plt.close(fig)  # not kept by pyplot: shown only where it is returned or displayed
    axes = fig.subplots(rows, columns, squeeze=False)
    fig.suptitle(require_text(title, "title"))
    return fig, axes


def log_plot(
    x: Sequence[float] | np.ndarray,
    series: Mapping[str, Sequence[float] | np.ndarray],
    *,
    title: str,
    xlabel: str,
    ylabel: str,
    styles: Mapping[str, Mapping[str, object]] | None = None,
    figsize: tuple[float, float] | None = None,
) -> Figure:
    """Plot named curves against ``x`` on a log y-axis, the natural axis for gradients.

    A log axis cannot show zero or negative values; those points are left out and the
    legend says how many, and so are NaN and infinite values (a run that diverged).
    ``styles`` maps a series name to keyword arguments for ``Axes.plot`` (for example
    ``{"bound": {"linestyle": "--", "color": "black"}}``; a ``"label"`` there replaces the
    name in the legend, ``"_nolegend_"`` leaves it out).

    >>> fig = log_plot([1, 2], {"a": [1.0, 0.0]}, title="t", xlabel="x", ylabel="y")
    >>> fig.axes[0].get_legend().get_texts()[0].get_text()
    'a (1 point ≤ 0 not shown)'
    """
    x = np.asarray(x, dtype=float)
    if x.ndim != 1 or x.size == 0:
        raise ValueError(f"x must be a non-empty 1-D sequence, got shape {x.shape}.")
    if not isinstance(series, Mapping) or not series:
        raise ValueError("series must be a non-empty dict mapping a name to a sequence of values.")
    styles = styles or {}
    fig, ax = new_figure(title=title, xlabel=xlabel, ylabel=ylabel, logy=True, figsize=figsize)
    for name, values in series.items():
        y = np.asarray(values, dtype=float)
        if y.shape != x.shape:
            raise ValueError(
                f"series {name!r} has {y.size} values but x has {x.size}; give one value per x."
            )
        finite = np.isfinite(y)
        shown = finite & (y > 0)
        notes = []
        if (finite & ~shown).any():
            count = int((finite & ~shown).sum())
            notes.append(f"{count} point{'s' * (count > 1)} ≤ 0")
        if not finite.all():
            notes.append(f"{int((~finite).sum())} NaN or inf")
        label = f"{name} ({', '.join(notes)} not shown)" if notes else name
        ax.plot(x[shown], y[shown], **{"label": label, **styles.get(name, {})})
    ax.legend()
    return fig


def histogram_row(
    samples: Mapping[str, Sequence[float] | np.ndarray],
    *,
    title: str,
    xlabel: str,
    log10: bool = False,
    bins: int = 30,
    shared_range: tuple[float, float] | None = None,
    panel_size: tuple[float, float] = (3.0, 3.0),
) -> Figure:
    """One histogram per named sample, side by side on a shared x-axis.

    With ``log10=True`` the histograms are of log10 of the (positive) values, the natural
    view of quantities spread over decades such as singular values or gradient sizes.

    >>> fig = histogram_row({"a": [1, 10, 100], "b": [1, 1, 1]}, title="T", xlabel="x", log10=True)
    >>> [ax.get_title() for ax in fig.axes]
    ['a', 'b']
    """
    if not isinstance(samples, Mapping) or not samples:
        raise ValueError("samples must be a non-empty dict mapping a name to values.")
    arrays = {}
    for name, values in samples.items():
        values = np.asarray(values, dtype=float).ravel()
        if log10:
            if np.any(values <= 0):
                raise ValueError(f"sample {name!r} has values <= 0, which have no log10.")
            values = np.log10(values)
        arrays[name] = values
    if shared_range is None:
        low = min(float(v.min()) for v in arrays.values())
        high = max(float(v.max()) for v in arrays.values())
        spread = high - low
        pad = 0.05 * spread if spread > 1e-6 else 0.5  # a spread of rounding errors: one spike
        shared_range = (low - pad, high + pad)
    width, height = panel_size
    fig, axes = new_grid(1, len(arrays), title=title, figsize=(width * len(arrays), height))
    for ax, (name, values) in zip(axes[0], arrays.items(), strict=True):
        ax.hist(values, bins=bins, range=shared_range, color="tab:blue")
        ax.set_title(name)
        ax.set_xlabel(f"log10 {xlabel}" if log10 else xlabel)
        ax.set_ylabel("count")
    return fig
