"""The autograder on real submissions of notebook 01: good, wrong, and hostile ones.

One batch of submitted notebooks, each made from notebooks/01_chain_rule.ipynb the way a
learner would change it, is graded once by ``python -m course_utils.grade`` (two at a time,
short time limits); each test reads what the grades say about one of them.
"""

from __future__ import annotations

import csv
import inspect
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from course_utils.exercises import all_exercises, chain_rule
from course_utils.grading import course_notebooks, hidden_cases, passes
from course_utils.grading.hidden import chain_rule as hidden_chain_rule
from course_utils.grading.in_kernel import _portable
from course_utils.grading.sandbox import Limits, bubblewrap
from course_utils.grading.submission import _replay, _restore

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK = ROOT / "notebooks" / "01_chain_rule.ipynb"
HIDDEN_FILE = Path(hidden_chain_rule.__file__)
SOLUTION = {
    e.name: inspect.getsource(e.solution_function())
    for e in (chain_rule.two_layer_backward, chain_rule.chain_gradient)
}
# Seconds. Notebook 01 runs in about 5 s, two or three times that on a busy machine; the
# notebook that loops forever is graded in a run of its own, with a shorter time limit.
TIMEOUT, LOOP_TIMEOUT, EXERCISE_TIMEOUT = 120, 20, 5

HARD_CODED = """\
def chain_gradient(x, depth, weight, bias):
    # The answers check() wants, copied from its output: right there, wrong anywhere else.
    known = {
        (round(c["x"], 6), c["depth"]): v for c, v in zip(CASES, ANSWERS)
    }
    return known.get((round(x, 6), depth), 0.1)
"""

TAMPERS_AND_RAISES = """\
from course_utils.exercises.core import Exercise, Outcome

Exercise.evaluate = lambda self, answer, cases=None: Outcome("passed", "Correct!")
exercises.two_layer_backward.evaluate = Exercise.evaluate.__get__(exercises.two_layer_backward)


def two_layer_backward(x, w1, w2, y):
    raise ValueError("no")
"""

# Deaf to interrupts, and stuck only on an input check() never uses: the kernel must be killed.
HANGS = """\
def chain_gradient(x, depth, weight, bias):
    import signal
    import time

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    while depth == 20:
        time.sleep(0.1)
    return 0.0
"""


def _cells(notebook: dict) -> list[dict]:
    return notebook["cells"]


def _stub(notebook: dict, name: str) -> dict:
    (cell,) = [c for c in _cells(notebook) if "".join(c["source"]).startswith(f"def {name}(")]
    return cell


def _solved() -> dict:
    notebook = json.loads(NOTEBOOK.read_text(encoding="utf-8"))
    for name, source in SOLUTION.items():
        _stub(notebook, name)["source"] = source
    return notebook


def _with(**sources: str) -> dict:
    """The solved notebook with these exercise cells replaced (None: cell deleted)."""
    notebook = _solved()
    for name, source in sources.items():
        cell = _stub(notebook, name)
        if source is None:
            notebook["cells"].remove(cell)
        else:
            cell["source"] = source
    return notebook


def _hard_coded() -> str:
    cases = chain_rule.chain_gradient.cases()
    answers = [chain_rule.chain_gradient.solution_function()(**c) for c in cases]
    return f"CASES = {cases!r}\nANSWERS = {answers!r}\n\n{HARD_CODED}"


def _submissions(folder: Path, looping: Path) -> None:
    """One folder per learner, named for what their notebook does (the looping one apart)."""
    solution = SOLUTION["chain_gradient"]
    notebooks = {
        "correct": _solved(),
        "too_much_memory_and_hard_coded": _with(
            two_layer_backward="hog = bytearray(2 * 10**10)\n\n" + SOLUTION["two_layer_backward"],
            chain_gradient=_hard_coded(),
        ),
        "deleted_and_renamed": _with(
            two_layer_backward=None,
            chain_gradient=solution.replace("def chain_gradient(", "def chain_grad("),
        ),
        "reads_hidden_and_writes_outside": _with(
            two_layer_backward="def two_layer_backward(x, w1, w2, y):\n"
            "    try:\n"
            "        from course_utils.solutions.chain_rule import two_layer_backward as s\n"
            "    except ImportError:\n"
            f"        return len(open({str(HIDDEN_FILE)!r}).read()), 0.0\n"
            "    return s(x, w1, w2, y)",
            chain_gradient="def chain_gradient(x, depth, weight, bias):\n"
            "    try:  # the grader's own folder, outside the notebook's\n"
            f"        open({str(folder.parent / 'escaped.txt')!r}, 'w').write('out')\n"
            "    except OSError:\n"
            "        pass\n"
            "    import course_utils  # the package every other notebook is graded with\n"
            "    open(course_utils.__file__, 'a').write('# changed')\n"
            "    return 0.0",
        ),
        "tampers_raises_and_hangs": _with(
            two_layer_backward=TAMPERS_AND_RAISES, chain_gradient=HANGS
        ),
        looping / "loops_forever": _with(
            two_layer_backward="def two_layer_backward(x, w1, w2, y):\n"
            "    return len(bytearray(10**10)), 0.0",
            chain_gradient="while True:\n    pass\n\n" + solution,
        ),
    }
    for learner, notebook in notebooks.items():
        (folder / learner).mkdir(parents=True)
        path = folder / learner / NOTEBOOK.name
        path.write_text(json.dumps(notebook, ensure_ascii=False), encoding="utf-8")
    (folder / "not_json").mkdir()
    (folder / "not_json" / NOTEBOOK.name).write_text('{"cells": [', encoding="utf-8")
    (folder / "wrong_name").mkdir()
    (folder / "wrong_name" / "my_notebook.ipynb").write_text(json.dumps(_solved()))


def _grade(submissions: Path, out: Path, timeout: int) -> subprocess.Popen:
    command = [
        sys.executable, "-m", "course_utils.grade", str(submissions), "--out", str(out),
        "--jobs", "2", "--timeout", str(timeout), "--exercise-timeout", str(EXERCISE_TIMEOUT),
    ]  # fmt: skip
    return subprocess.Popen(command, stderr=subprocess.PIPE, text=True, cwd=ROOT)


@pytest.fixture(scope="module")
def graded(tmp_path_factory: pytest.TempPathFactory) -> dict:
    folder = tmp_path_factory.mktemp("grading")
    _submissions(folder / "submitted", folder / "looping")
    runs = [
        _grade(folder / "looping", folder / "looping.csv", LOOP_TIMEOUT),
        _grade(folder / "submitted", folder / "grades.csv", TIMEOUT),
    ]
    stderr = "".join(run.communicate(timeout=600)[1] for run in runs)
    assert [run.returncode for run in runs] == [0, 0], stderr
    rows, records = [], []
    for name in ("grades", "looping"):
        with open(folder / f"{name}.csv", newline="", encoding="utf-8") as file:
            rows += list(csv.DictReader(file))
        records += json.loads((folder / f"{name}.json").read_text(encoding="utf-8"))
    return {
        "rows": rows,
        "json": records,
        "stderr": stderr,
        "folder": folder,
        "by": {(r["learner"], r["exercise"]): r for r in rows},
    }


def _row(graded: dict, learner: str, exercise: str) -> dict:
    return graded["by"][(learner, exercise)]


def _points(graded: dict, learner: str) -> list[int]:
    return [int(r["points"]) for r in graded["rows"] if r["learner"] == learner]


def test_every_submission_gets_a_row_per_exercise_in_csv_and_json(graded):
    learners = [r["learner"] for r in graded["rows"]]
    assert len(set(learners)) == 8 and len(learners) == 15  # 7 notebooks of 2 exercises, 1 misnamed
    assert graded["json"] == [
        {**r, "points": int(r["points"]), "max": int(r["max"])} for r in graded["rows"]
    ]
    assert list(graded["rows"][0]) == [
        "learner",
        "notebook",
        "exercise",
        "points",
        "max",
        "feedback",
    ]
    for row in graded["rows"]:
        assert row["feedback"], row


def test_a_correct_notebook_gets_full_marks(graded):
    assert _points(graded, "correct") == [1, 1]
    assert _row(graded, "correct", "chain_gradient")["feedback"].startswith("Correct: ")
    assert (
        "also on the grader's hidden cases" in _row(graded, "correct", "chain_gradient")["feedback"]
    )


def test_a_hard_coded_answer_passes_check_but_fails_the_hidden_cases(graded):
    row = _row(graded, "too_much_memory_and_hard_coded", "chain_gradient")
    assert row["points"] == "0"
    assert row["feedback"].startswith("Passes the notebook's check, not the hidden cases. Not yet:")


def test_a_cell_that_allocates_too_much_memory_raises_memory_error(graded):
    row = _row(graded, "too_much_memory_and_hard_coded", "two_layer_backward")
    assert row["feedback"] == (
        "Not graded: two_layer_backward was never defined: the cell that defines it raised "
        "MemoryError: ."
    )


def test_a_function_that_allocates_too_much_memory_raises_memory_error(graded):
    row = _row(graded, "loops_forever", "two_layer_backward")
    assert row["feedback"] == (
        "Your function raised MemoryError:  (at line 2: return len(bytearray(10**10)), 0.0)."
    )


def test_a_notebook_that_loops_forever_is_stopped_and_the_rest_graded(graded):
    assert _row(graded, "loops_forever", "two_layer_backward")["feedback"].startswith(
        "Your function raised"  # defined before the loop: graded
    )
    feedback = _row(graded, "loops_forever", "chain_gradient")["feedback"]
    assert feedback.startswith("Not graded: the notebook stopped at code cell ")
    assert f"(`while True:…`), which was still running when the {LOOP_TIMEOUT} s" in feedback
    assert feedback.endswith("before the cell that defines chain_gradient ran.")


def test_a_deleted_cell_and_a_renamed_function_are_explained(graded):
    deleted = _row(graded, "deleted_and_renamed", "two_layer_backward")["feedback"]
    assert deleted.startswith("Not graded: the notebook has no function named two_layer_backward.")
    renamed = _row(graded, "deleted_and_renamed", "chain_gradient")["feedback"]
    assert "Did you rename it to chain_grad? Keep the exercise's cell and its name" in renamed


def test_a_file_that_is_not_a_notebook_gets_zero_and_says_why(graded):
    rows = [r for r in graded["rows"] if r["learner"] == "not_json"]
    assert [r["points"] for r in rows] == ["0", "0"]
    assert rows[0]["feedback"] == (
        "Not graded: 01_chain_rule.ipynb is not a notebook Jupyter can open (it is not valid "
        "JSON: Expecting value at line 1, column 12)."
    )


def test_a_notebook_that_is_not_a_course_notebook_is_named(graded):
    (row,) = [r for r in graded["rows"] if r["learner"] == "wrong_name"]
    assert row["max"] == "0"
    assert row["feedback"].startswith("Not graded: my_notebook.ipynb is not a course notebook")


def test_a_function_that_raises_gets_zero_even_if_it_patched_the_checker(graded):
    row = _row(graded, "tampers_raises_and_hangs", "two_layer_backward")
    assert row["points"] == "0"
    assert (
        row["feedback"]
        == 'Your function raised ValueError: no (at line 8: raise ValueError("no")).'
    )


def test_a_function_that_never_returns_is_stopped_even_deaf_to_interrupts(graded):
    row = _row(graded, "tampers_raises_and_hangs", "chain_gradient")
    assert row["feedback"] == (
        f"Not graded: chain_gradient ran longer than the {EXERCISE_TIMEOUT} s the grader "
        "allows for all its cases; make it finish quickly (no endless loop)."
    )


needs_bubblewrap = pytest.mark.skipif(
    bubblewrap() is None, reason="bubblewrap cannot make a sandbox here"
)


def test_the_learners_kernel_cannot_import_the_solutions(graded):
    row = _row(graded, "reads_hidden_and_writes_outside", "two_layer_backward")
    assert row["points"] == "0"  # the solution it tried to import would have passed


@needs_bubblewrap
def test_the_sandbox_hides_the_hidden_cases_and_the_solutions(graded):
    hidden = _row(graded, "reads_hidden_and_writes_outside", "two_layer_backward")["feedback"]
    assert hidden.startswith("Your function raised FileNotFoundError: [Errno 2] No such file")


@needs_bubblewrap
def test_the_sandbox_lets_nothing_be_written_outside_the_notebooks_folder(graded):
    outside = _row(graded, "reads_hidden_and_writes_outside", "chain_gradient")["feedback"]
    assert outside.startswith("Your function raised OSError: [Errno 30] Read-only file system")
    assert "(at line 7: open(course_utils.__file__, 'a').write('# changed'))" in outside
    assert not (graded["folder"] / "escaped.txt").exists()


def test_the_run_is_summed_up_and_a_missing_sandbox_is_announced(graded):
    assert "Graded 7 notebooks of 7 learners in" in graded["stderr"]
    warned = "WARNING: bubblewrap (bwrap) is missing or cannot make a sandbox here"
    assert (warned in graded["stderr"]) == (bubblewrap() is None)


# The parts, without a kernel.


def test_answers_travel_from_the_kernel_as_plain_data():
    value = (
        torch.ones(2, 3, dtype=torch.float64, requires_grad=True),
        [1, 2.5, float("nan")],
        None,
        "text",
        torch.tensor([1 + 2j]),
        object(),
    )
    restored = _restore(json.loads(json.dumps(_portable(value))))
    assert isinstance(restored, tuple) and isinstance(restored[1], list)
    assert torch.equal(restored[0], torch.ones(2, 3, dtype=torch.float64))
    assert restored[1][:2] == [1, 2.5] and restored[2:4] == (None, "text")
    assert torch.equal(restored[4], torch.tensor([1 + 2j]))
    assert type(restored[5]).__name__ == "object"
    assert repr(restored[5]).startswith("<object object at")


def test_a_made_up_record_cannot_smuggle_objects_in():
    with pytest.raises(ValueError, match="not a dtype"):
        _restore({"tensor": "Tensor", "shape": [1], "values": [1.0]})


def test_a_replayed_answer_gets_the_feedback_the_learner_saw():
    exercise = chain_rule.chain_gradient
    calls = [("returned", 0.25)] * len(exercise.cases())
    assert exercise.evaluate(_replay(calls)) == exercise.evaluate(lambda *args: 0.25)
    raised = [("raised", "ZeroDivisionError", "division by zero (at line 2: 1 / 0)")]
    assert exercise.evaluate(_replay(raised)).message == (
        "Your function raised ZeroDivisionError: division by zero (at line 2: 1 / 0)."
    )
    assert exercise.evaluate(_replay([("raised", "NotImplementedError", "")])).status == (
        "not attempted"
    )


EXERCISES = list(all_exercises())
COMPARED = [e for e in EXERCISES if e.judge is None]  # judged ones: see test_release.py


def test_every_exercise_has_hidden_cases_of_its_own():
    for exercise in EXERCISES:
        cases = hidden_cases(exercise)
        assert cases and repr(cases) != repr(exercise.cases()), exercise.name


@pytest.mark.parametrize("exercise", COMPARED, ids=lambda e: e.name)
def test_the_solution_passes_the_hidden_cases(exercise):
    assert passes(exercise, exercise.solution_function())


def _key(value: object) -> object:
    if isinstance(value, torch.Tensor):
        return (tuple(value.shape), tuple(map(repr, value.flatten().tolist())))
    if isinstance(value, (list, tuple)):
        return tuple(_key(v) for v in value)
    return repr(value)


@pytest.mark.parametrize("exercise", COMPARED, ids=lambda e: e.name)
def test_an_answer_that_memorised_the_checks_fails_the_hidden_cases(exercise):
    solution = exercise.solution_function()
    table = {_key(tuple(case.values())): solution(**case) for case in exercise.cases()}
    first = next(iter(table.values()))

    def memorised(*args):
        return table.get(_key(args), first)

    assert exercise.evaluate(memorised).passed
    assert not passes(exercise, memorised)


def test_the_batch_goes_on_when_the_grader_fails_on_a_notebook(monkeypatch, tmp_path, capsys):
    import course_utils.grade as grade

    def fails(path, **settings):
        raise RuntimeError("Kernel died before replying to kernel_info")

    monkeypatch.setattr(grade, "grade_submission", fails)
    (tmp_path / "ada").mkdir()
    (tmp_path / "ada" / NOTEBOOK.name).write_text(json.dumps(_solved()), encoding="utf-8")
    courses = course_notebooks(ROOT / "notebooks")
    rows = grade.grade(grade.find_submissions(tmp_path), courses, progress=False)
    assert [(r.exercise, r.points, r.max) for r in rows] == [
        ("two_layer_backward", 0, 1),
        ("chain_gradient", 0, 1),
    ]
    assert rows[0].feedback == (
        "Not graded: the grader failed on this notebook (Kernel died before replying to "
        "kernel_info); grade it again."
    )
    assert "grade: ada/01_chain_rule.ipynb: RuntimeError(" in capsys.readouterr().err


def test_the_command_line_says_what_is_wrong_with_its_arguments(tmp_path, capsys):
    from course_utils.grade import main

    assert main([str(tmp_path / "nowhere")]) == 2
    assert capsys.readouterr().err == f"grade: no folder of submissions at {tmp_path / 'nowhere'}\n"
    assert main([str(tmp_path), "--timeout", "0"]) == 2
    assert "timeout must be a positive number, got 0.0" in capsys.readouterr().err


def test_limits_must_be_positive():
    with pytest.raises(ValueError, match="timeout must be a positive number, got 0"):
        Limits(timeout=0)
