"""A release for a graded class: no solution anywhere in it, nbgrader notebooks that work.

The release is written once (``python -m course_utils.release --nbgrader --git``); the
tests search it for every line of every solution and of the hidden cases, use its package
as a learner would, and hand its instructor notebooks to nbgrader.
"""

from __future__ import annotations

import inspect
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from course_utils.exercises import all_exercises
from course_utils.grading import course_notebooks, exercise_module, hidden_source
from course_utils.release import find_leaks, release, secret_lines

ROOT = Path(__file__).resolve().parent.parent
COURSES = course_notebooks(ROOT / "notebooks")
EXERCISES = list(all_exercises())


@pytest.fixture(scope="module")
def released(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("release")
    command = [sys.executable, "-m", "course_utils.release", "--out", str(out), "--nbgrader"]
    result = subprocess.run([*command, "--git"], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    assert "hand this folder to learners" in result.stdout
    return out


def _text(path: Path) -> str:
    return path.read_bytes().decode("utf-8", errors="replace")


def _public_text() -> str:
    """What learners see anyway: the course notebooks' code and the package's public modules."""
    package = ROOT / "course_utils"
    private = {"solutions", "grading", "grade.py", "release.py"}
    modules = [p for p in package.rglob("*.py") if not private & set(p.relative_to(package).parts)]
    texts = [_text(path) for path in sorted(modules)]
    notebooks = sorted((ROOT / "notebooks").glob("*.ipynb"))
    for path in notebooks:
        cells = json.loads(_text(path))["cells"]
        texts += ["".join(c["source"]) for c in cells if c["cell_type"] == "code"]
    return "\n".join(line.strip() for text in texts for line in text.splitlines())


def _secrets() -> dict[str, str]:
    """Each solution's and hidden case's lines, except those learners see anyway."""
    public = _public_text()
    secrets = {}
    for exercise in EXERCISES:
        for origin, source in (
            (exercise.name, inspect.getsource(exercise.solution_function())),
            (f"hidden {exercise_module(exercise)}", hidden_source(exercise)),
        ):
            for line in source.splitlines()[1:]:
                line = line.strip()
                if len(line) >= 12 and line not in public:
                    secrets[line] = origin
    return secrets


def _strings(value: object) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return ["".join(value)]
    items = value.values() if isinstance(value, dict) else value if isinstance(value, list) else []
    return [text for item in items for text in _strings(item)]


def test_every_solution_has_lines_to_search_for():
    origins = set(_secrets().values())
    assert {e.name for e in EXERCISES} <= origins  # each solution has at least one telling line
    assert len(_secrets()) > 150


def _leaks(folder: Path) -> list[str]:
    """Every file in ``folder`` that holds a solution's or a hidden case's line, and the line."""
    files = [p for p in folder.rglob("*") if p.is_file() and ".git" not in p.parts]
    secrets, leaks = _secrets(), []
    for path in files:
        text = _text(path)
        if path.suffix == ".ipynb":  # every string in it: sources, outputs, metadata
            text = "\n".join(_strings(json.loads(text)))
        text = "\n".join(line.strip() for line in text.splitlines())
        leaks += [
            f"{path.relative_to(folder)}: {o}: {line}"
            for line, o in secrets.items()
            if line in text
        ]
    return leaks


def test_no_solution_and_no_hidden_case_is_anywhere_in_the_learner_release(released):
    assert len(list((released / "learners").rglob("*.py"))) > 20
    assert _leaks(released / "learners") == []


def test_the_search_finds_a_solution_pasted_into_a_notebook(released, tmp_path):
    notebook = json.loads(_text(released / "learners" / "notebooks" / "01_chain_rule.ipynb"))
    (stub,) = [c for c in notebook["cells"] if "".join(c["source"]).startswith("def chain_grad")]
    stub["source"] = inspect.getsource(COURSES["01"].exercises[1].solution_function())
    (tmp_path / "01_chain_rule.ipynb").write_text(json.dumps(notebook), encoding="utf-8")
    assert (
        "01_chain_rule.ipynb: chain_gradient: grad *= weight * h * (1 - h)  # the key line: "
        in ("\n".join(_leaks(tmp_path)))
    )


def test_the_learner_release_has_the_notebooks_and_a_package_without_solutions(released):
    learners = released / "learners"
    assert sorted(p.name for p in (learners / "notebooks").glob("*.ipynb")) == sorted(
        p.name for p in (ROOT / "notebooks").glob("*.ipynb")
    )
    package = learners / "course_utils"
    assert (package / "exercises" / "chain_rule.py").is_file()
    for private in ("solutions", "grading", "grade.py", "release.py", "__pycache__"):
        assert not (package / private).exists(), private
    assert (learners / "pyproject.toml").is_file() and (learners / "LICENSE").is_file()


def test_the_learner_release_is_a_fresh_repository_of_one_commit(released):
    def git(*args: str) -> str:
        return subprocess.run(
            ["git", "-C", str(released / "learners"), *args],
            capture_output=True, text=True, check=True,
        ).stdout  # fmt: skip

    assert len(git("log", "--all", "--oneline").splitlines()) == 1
    assert git("status", "--porcelain") == ""
    key_line = "grad *= weight * h * (1 - h)"  # chain_gradient's key line
    assert key_line in inspect.getsource(COURSES["01"].exercises[1].solution_function())
    assert subprocess.run(
        ["git", "-C", str(released / "learners"), "grep", "-F", key_line, "HEAD"],
        capture_output=True,
    ).returncode == 1  # fmt: skip


def test_the_released_package_checks_and_hints_but_withholds_solutions(released, tmp_path):
    code = """
import importlib.util
import course_utils
from course_utils.exercises import chain_rule as exercises
print(course_utils.__file__)
exercises.chain_gradient.check(lambda x, depth, weight, bias: 0.25)
exercises.chain_gradient.hint()
exercises.chain_gradient.solution()
print(*(importlib.util.find_spec(f"course_utils.{m}") for m in ("solutions", "grading")))
"""
    env = {**os.environ, "PYTHONPATH": str(released / "learners")}
    # Like the grader's kernel: without the course repository's editable install.
    code = (
        "import sys\nsys.meta_path[:] = [f for f in sys.meta_path"
        " if not getattr(f, '__module__', '').startswith('__editable__')]\n" + code
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == str(released / "learners" / "course_utils" / "__init__.py")
    assert lines[1].startswith("✗ Not yet: values differ")
    assert lines[2].startswith("Hint 1: ")
    assert lines[3] == "Solutions are not included in this copy of the course; ask your instructor."
    assert lines[4] == "None None"


def test_the_colab_install_cell_installs_the_release_not_the_course(released, tmp_path):
    for path in (released / "learners" / "notebooks").glob("*.ipynb"):
        assert "gradient-flow-course/gradient-flow" not in _text(path), path.name
    first = json.loads(_text(released / "learners" / "notebooks" / "01_chain_rule.ipynb"))
    source = "".join(first["cells"][1]["source"])
    assert 'raise RuntimeError("No Colab install address for this copy' in source
    release(tmp_path, install_url="git+https://example.org/class/gradient-flow@fall")
    first = json.loads(_text(tmp_path / "learners" / "notebooks" / "01_chain_rule.ipynb"))
    assert '%pip install --quiet --no-deps "git+https://example.org/class/gradient-flow@fall"' in (
        "".join(first["cells"][1]["source"])
    )


def test_a_solution_that_slipped_into_a_notebook_stops_the_release(tmp_path):
    notebooks = tmp_path / "notebooks"
    shutil.copytree(ROOT / "notebooks", notebooks)
    path = notebooks / "01_chain_rule.ipynb"
    notebook = json.loads(_text(path))
    solution = inspect.getsource(COURSES["01"].exercises[1].solution_function())
    (stub,) = [c for c in notebook["cells"] if "".join(c["source"]).startswith("def chain_grad")]
    stub["source"] = solution
    path.write_text(json.dumps(notebook), encoding="utf-8")
    with pytest.raises(RuntimeError, match="would give away solutions") as error:
        release(tmp_path / "out", notebooks=notebooks)
    assert "notebooks/01_chain_rule.ipynb: the solution of chain_gradient" in str(error.value)
    assert not (tmp_path / "out" / "learners").exists()


def test_the_leak_search_looks_inside_notebooks_and_code(tmp_path):
    secrets = secret_lines(COURSES.values())
    line = next(line for line, origin in secrets.items() if "hidden cases of capstone" in origin)
    (tmp_path / "notes.py").write_text(f"x = 1\n    {line}\n")
    assert find_leaks(tmp_path, secrets) == [f"notes.py: the hidden cases of capstone: {line}"]


def test_a_folder_the_release_did_not_write_is_not_replaced(tmp_path):
    (tmp_path / "learners").mkdir()
    (tmp_path / "learners" / "thesis.tex").write_text("months of work")
    with pytest.raises(FileExistsError, match=r"not a release written by course_utils\.release"):
        release(tmp_path)
    assert (tmp_path / "learners" / "thesis.tex").exists()


def test_instructor_notebooks_mark_each_solution_and_hidden_test_for_nbgrader(released):
    for number, course in COURSES.items():
        path = released / "instructor" / "source" / course.path.stem / course.path.name
        cells = json.loads(_text(path))["cells"]
        marked = {
            c["metadata"]["nbgrader"]["grade_id"]: c for c in cells if "nbgrader" in c["metadata"]
        }
        for exercise in course.exercises:
            solution = "".join(marked[exercise.name]["source"])
            assert "    ### BEGIN SOLUTION\n" in solution and solution.endswith("### END SOLUTION")
            test = marked[f"{exercise.name}_tests"]
            assert test["metadata"]["nbgrader"]["points"] == exercise.points, number
            assert "### BEGIN HIDDEN TESTS" in "".join(test["source"])


def test_nbgrader_makes_student_versions_without_solutions_or_hidden_tests(released):
    pytest.importorskip("nbgrader")
    instructor = released / "instructor"
    result = subprocess.run(
        [sys.executable, "-m", "nbgrader", "generate_assignment", "*", "--no-db", "--force"],
        cwd=instructor, capture_output=True, text=True,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    secrets = _secrets()
    for course in COURSES.values():
        student = json.loads(_text(instructor / "release" / course.path.stem / course.path.name))
        code = "\n".join("".join(c["source"]) for c in student["cells"] if c["cell_type"] == "code")
        assert "HIDDEN TESTS" not in code and "assert_passes" not in code
        assert code.count("# YOUR CODE HERE") == len(course.exercises)
        found = [line for line in secrets if line in code]
        assert not found, found[:3]
    student = _text(instructor / "release" / "01_chain_rule" / "01_chain_rule.ipynb")
    assert "out = w2 * h" in student  # the stub's given forward pass stays


def test_instructor_notebooks_pass_every_check_and_hidden_test(released, tmp_path):
    """Run each instructor notebook's imports, solution cells and test cells: all must pass."""
    script = ["import sys, json", "failures = []"]
    for course in COURSES.values():
        path = released / "instructor" / "source" / course.path.stem / course.path.name
        cells = [c for c in json.loads(_text(path))["cells"] if c["cell_type"] == "code"]
        imports = next(
            "".join(c["source"]) for c in cells if "course_utils.setup(" in "".join(c["source"])
        )
        marked = ["".join(c["source"]) for c in cells if "nbgrader" in c["metadata"]]
        script.append(f"namespace = {{}}\nexec({imports!r}, namespace)")
        for source in marked:
            script.append(
                f"try:\n    exec({source!r}, namespace)\nexcept Exception as error:\n"
                f"    failures.append(({course.path.name!r}, repr(error)))"
            )
    script.append("print(json.dumps(failures))")
    (tmp_path / "run.py").write_text("\n".join(script), encoding="utf-8")
    result = subprocess.run(
        [sys.executable, str(tmp_path / "run.py")], capture_output=True, text=True, cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    *printed, failures = result.stdout.splitlines()
    assert json.loads(failures) == []
    checks = [line for line in printed if line[:1] in "✓✗○"]
    assert len(checks) == len(EXERCISES)
    assert all(line.startswith("✓ Correct") for line in checks), checks
