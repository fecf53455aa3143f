"""The explorer shows a figure with a static fallback and redraws it when a slider moves."""

import ipywidgets
import pytest

from course_utils import widgets
from course_utils.plotting import new_figure


def make_draw(calls):
    def draw(depth, weight):
        calls.append((depth, weight))
        fig, ax = new_figure(title="t", xlabel="x", ylabel="y")
        ax.plot([0, depth], [0, weight])
        return fig

    return draw


@pytest.fixture
def shown(monkeypatch):
    """Record what explore() displays, and the updates sent to its figure."""
    record = {"displayed": [], "updates": []}

    class Handle:
        def update(self, obj):
            record["updates"].append(obj)

    def fake_display(obj, raw=False, display_id=None):
        record["displayed"].append(obj)
        return Handle() if display_id else None

    monkeypatch.setattr(widgets, "display", fake_display)
    return record


def test_explore_shows_controls_then_figure_and_redraws_on_change(shown):
    calls = []
    depth = ipywidgets.IntSlider(value=3, min=1, max=10)
    weight = ipywidgets.FloatSlider(value=1.0, min=0.0, max=2.0)
    widgets.explore(make_draw(calls), depth=depth, weight=weight)

    controls, figure = shown["displayed"]
    assert (
        controls["text/plain"]
        == "[explorer: sliders for depth, weight; run the notebook to move them]"
    )
    assert "model_id" in controls["application/vnd.jupyter.widget-view+json"]
    assert figure.axes[0].get_title() == "t"
    assert calls == [(3, 1.0)]
    assert depth.continuous_update is False

    depth.value = 7
    assert calls[-1] == (7, 1.0)
    assert len(shown["updates"]) == 1
    assert shown["updates"][0].axes[0].get_lines()[0].get_xdata()[-1] == 7


def test_explore_rejects_bad_arguments(shown):
    slider = ipywidgets.IntSlider()
    with pytest.raises(TypeError, match="draw must be a function"):
        widgets.explore("not a function", depth=slider)
    with pytest.raises(ValueError, match="at least one control"):
        widgets.explore(lambda: None)
    with pytest.raises(TypeError, match="control 'depth' must be an ipywidgets control"):
        widgets.explore(lambda depth: None, depth=3)
    with pytest.raises(TypeError, match="must return a matplotlib Figure"):
        widgets.explore(lambda depth: "fig", depth=slider)
    assert shown["displayed"] == []  # nothing half-shown after an error
