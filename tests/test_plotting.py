"""Plots always carry a title and labelled axes, put gradients on a log axis, and leak nothing."""

import matplotlib.pyplot as plt
import pytest
from matplotlib.figure import Figure

from course_utils.plotting import COURSE_STYLE, log_plot, new_figure, use_course_style


def test_new_figure_is_labelled_and_not_kept_by_pyplot():
    before = plt.get_fignums()
    fig, ax = new_figure(title="T", xlabel="X", ylabel="Y", logx=True, logy=True)
    assert isinstance(fig, Figure)
    assert (ax.get_title(), ax.get_xlabel(), ax.get_ylabel()) == ("T", "X", "Y")
    assert (ax.get_xscale(), ax.get_yscale()) == ("log", "log")
    assert plt.get_fignums() == before


@pytest.mark.parametrize("missing", ["title", "xlabel", "ylabel"])
def test_a_figure_without_labels_is_refused(missing):
    labels = {"title": "T", "xlabel": "X", "ylabel": "Y", missing: " "}
    with pytest.raises(ValueError, match=missing):
        new_figure(**labels)


def test_log_plot_draws_every_series_on_a_log_axis():
    fig = log_plot(
        [1, 2, 3],
        {"measured": [1e-1, 1e-5, 1e-9], "bound": [1.0, 1e-4, 1e-8]},
        title="T",
        xlabel="depth",
        ylabel="gradient",
        styles={"bound": {"linestyle": "--"}},
    )
    (ax,) = fig.axes
    assert ax.get_yscale() == "log"
    assert [line.get_label() for line in ax.get_lines()] == ["measured", "bound"]
    assert ax.get_lines()[1].get_linestyle() == "--"
    fig.savefig(__import__("io").BytesIO(), format="png")  # renders headless


def test_log_plot_leaves_out_non_positive_values_and_says_so():
    fig = log_plot([1, 2, 3], {"g": [1.0, 0.0, -2.0]}, title="T", xlabel="X", ylabel="Y")
    line = fig.axes[0].get_lines()[0]
    assert list(line.get_xdata()) == [1.0]
    assert line.get_label() == "g (2 points ≤ 0 not shown)"


@pytest.mark.parametrize(
    ("x", "series", "message"),
    [
        ([1, 2], {"g": [1.0]}, "has 1 values but x has 2"),
        ([], {"g": []}, "non-empty 1-D"),
        ([1, 2], {}, "non-empty dict"),
    ],
)
def test_log_plot_bad_input(x, series, message):
    with pytest.raises(ValueError, match=message):
        log_plot(x, series, title="T", xlabel="X", ylabel="Y")


def test_course_style_applies():
    import matplotlib

    use_course_style()
    for key, value in COURSE_STYLE.items():
        assert matplotlib.rcParams[key] == (list(value) if isinstance(value, tuple) else value)


def test_a_style_can_rename_or_hide_a_legend_entry():
    fig = log_plot(
        [1, 2],
        {"a": [1.0, 2.0], "b": [2.0, 3.0]},
        title="T",
        xlabel="X",
        ylabel="Y",
        styles={"a": {"label": "renamed"}, "b": {"label": "_nolegend_"}},
    )
    assert [t.get_text() for t in fig.axes[0].get_legend().get_texts()] == ["renamed"]


def test_log_plot_counts_nan_and_inf_apart_from_non_positive_points():
    fig = log_plot(
        [1, 2, 3, 4],
        {"run": [1.0, 0.0, float("nan"), float("inf")]},
        title="t",
        xlabel="x",
        ylabel="y",
    )
    (line,) = fig.axes[0].get_lines()
    assert line.get_label() == "run (1 point ≤ 0, 2 NaN or inf not shown)"
    assert list(line.get_xdata()) == [1]
