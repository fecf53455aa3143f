"""Interactive explorers: sliders that redraw a figure.

``explore(draw, depth=IntSlider(...), ...)`` shows the sliders and the figure that
``draw(depth=..., ...)`` returns; moving a slider calls ``draw`` again and replaces the
figure. The first figure is an ordinary image output, so a notebook viewed without a
running kernel (GitHub, nbviewer, a PDF) still shows it.

Works with ipywidgets 7.7 (Colab) and 8.

>>> import ipywidgets
>>> from course_utils.plotting import new_figure
>>> def draw(scale):
...     fig, ax = new_figure(title="A line", xlabel="x", ylabel="y")
...     ax.plot([0, 1], [0, scale])
...     return fig
>>> explore(draw, scale=ipywidgets.FloatSlider(value=1.0, min=0.0, max=2.0))  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Callable

import ipywidgets
from IPython.display import display
from matplotlib.figure import Figure

__all__ = ["explore"]


def explore(draw: Callable[..., Figure], **controls: ipywidgets.ValueWidget) -> None:
    """Show ``draw(**values)`` under one control per keyword; redraw when a control moves."""
    if not callable(draw):
        raise TypeError(f"draw must be a function returning a Figure, got {type(draw).__name__}.")
    if not controls:
        raise ValueError("give at least one control, e.g. explore(draw, depth=IntSlider(...)).")
    for name, control in controls.items():
        if not isinstance(control, ipywidgets.ValueWidget):
            raise TypeError(
                f"control {name!r} must be an ipywidgets control such as IntSlider, "
                f"got {type(control).__name__}."
            )
        if hasattr(control, "continuous_update"):
            control.continuous_update = False  # redraw when the slider is released, not per pixel

    def current_figure() -> Figure:
        fig = draw(**{name: control.value for name, control in controls.items()})
        if not isinstance(fig, Figure):
            raise TypeError(f"draw must return a matplotlib Figure, got {type(fig).__name__}.")
        return fig

    first = current_figure()  # fail here, with a clear error, before showing any slider
    box = ipywidgets.VBox(list(controls.values()))
    names = ", ".join(controls)
    display(
        {
            "application/vnd.jupyter.widget-view+json": {
                "version_major": 2,
                "version_minor": 0,
                "model_id": box.model_id,
            },
            # What a page without a running kernel shows instead of the sliders:
            "text/plain": f"[explorer: sliders for {names}; run the notebook to move them]",
        },
        raw=True,
    )
    figure_display = display(first, display_id=True)

    def redraw(_change: dict) -> None:
        figure_display.update(current_figure())

    for control in controls.values():
        control.observe(redraw, names="value")
