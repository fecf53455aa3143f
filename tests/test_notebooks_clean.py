"""Every committed notebook is clean: run top to bottom, no errors, no widget state or timings.

nbval compares fresh outputs with the committed ones, so the committed ones must come from a
clean run (``make notebooks``) of the current code.
"""

import json
import re
from pathlib import Path

import pytest

NOTEBOOKS = sorted((Path(__file__).parent.parent / "notebooks").glob("*.ipynb"))


def load(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def code_cells(notebook: dict) -> list[dict]:
    return [
        c for c in notebook["cells"] if c["cell_type"] == "code" and "".join(c["source"]).strip()
    ]


def test_there_are_notebooks():
    assert NOTEBOOKS, "no notebooks found under notebooks/"


def test_notebooks_are_numbered_in_sequence():
    numbers = [int(re.match(r"(\d+)_", p.name).group(1)) for p in NOTEBOOKS]
    assert numbers == list(range(1, len(NOTEBOOKS) + 1))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_executed_top_to_bottom_in_one_kernel(path):
    counts = [c["execution_count"] for c in code_cells(load(path))]
    assert counts == list(range(1, len(counts) + 1)), "re-run it with `make notebooks`"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_no_error_outputs_except_tagged_cells(path):
    for cell in code_cells(load(path)):
        errors = [o for o in cell.get("outputs", []) if o["output_type"] == "error"]
        if "raises-exception" not in cell["metadata"].get("tags", []):
            assert not errors, f"error output in cell: {''.join(cell['source'])[:80]}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_no_widget_state_or_timing_metadata(path):
    notebook = load(path)
    assert "widgets" not in notebook["metadata"]
    for cell in notebook["cells"]:
        assert "execution" not in cell["metadata"], "timing metadata: run `make notebooks`"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_python3_kernel_and_course_utils(path):
    notebook = load(path)
    assert notebook["metadata"]["kernelspec"]["name"] == "python3"
    source = "\n".join("".join(c["source"]) for c in code_cells(notebook))
    assert "course_utils" in source
    assert "course_utils.setup(" in source, "call course_utils.setup(seed=...) at the top"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_first_code_cell_installs_course_utils_only_on_colab(path):
    first = "".join(code_cells(load(path))[0]["source"])
    assert 'if "google.colab" in sys.modules:' in first
    assert "%pip install" in first and "--no-deps" in first


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_figures_are_png_not_svg(path):
    for cell in code_cells(load(path)):
        for output in cell.get("outputs", []):
            assert "image/svg+xml" not in output.get("data", {})


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_exercise_stubs_are_committed_unanswered(path):
    """The learner version: every exercise check in the committed notebook is not yet attempted."""
    for cell in code_cells(load(path)):
        text = "".join("".join(o.get("text", "")) for o in cell.get("outputs", []))
        assert "✓ Correct" not in text, "a committed notebook must not contain a solved exercise"
