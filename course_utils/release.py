"""Write a release of the course for a graded class: learner notebooks and a package without
solutions, and (on request) nbgrader instructor notebooks made from the same solutions.

    python -m course_utils.release --out release              # release/learners/
    python -m course_utils.release --out release --nbgrader   # and release/instructor/

``release/learners/`` is what learners get: the notebooks and a copy of ``course_utils``
without ``solutions``, ``grading``, ``grade.py`` and this file, so ``solution()`` says the
solution is withheld while ``check()`` and ``hint()`` work as before. Before it finishes,
the release searches every file it wrote for every line of every solution and of the
hidden cases, and fails if it finds one. It is a new folder with no git history; with
``--git`` it becomes a fresh repository of one commit, ready to publish.

``release/instructor/`` is an nbgrader course folder: ``source/<notebook>/<notebook>.ipynb``
with each exercise's solution between ``### BEGIN SOLUTION`` and ``### END SOLUTION``, and
the grader's hidden cases between ``### BEGIN HIDDEN TESTS`` and ``### END HIDDEN TESTS``
in the check cell, worth the exercise's points.
"""

from __future__ import annotations

import argparse
import ast
import copy
import inspect
import json
import re
import shutil
import subprocess
import sys
import types
from collections.abc import Iterable, Iterator
from pathlib import Path

import nbformat

from .grading import CourseNotebook, course_notebooks, exercise_module, hidden_source

__all__ = ["find_leaks", "instructor_notebook", "learner_package", "release", "secret_lines"]

PACKAGE = Path(__file__).resolve().parent
ROOT = PACKAGE.parent
PRIVATE = {"solutions", "grading", "grade.py", "release.py"}  # never in a learner release
ROOT_FILES = ("pyproject.toml", "LICENSE", "constraints.txt", "environment.yml", "binder")
MARKER = ".gradient-flow-release"
_COLAB_INSTALL = re.compile(r'%pip install --quiet --no-deps "[^"]*"')
_NO_COLAB = 'raise RuntimeError("No Colab install address for this copy: ask your instructor.")'

_README = """# Gradient Flow

The notebooks of the Gradient Flow course, as your instructor hands them out: every exercise
has `check()` and `hint()`; solutions are not included.

```bash
python3 -m venv .venv && .venv/bin/pip install -e .
.venv/bin/pip install jupyterlab && .venv/bin/jupyter lab notebooks/
```
"""

_NBGRADER_CONFIG = """\
# nbgrader's settings for this folder, written by python -m course_utils.release --nbgrader.
# Each course notebook is an assignment: source/<notebook>/<notebook>.ipynb. Hand out
#     nbgrader generate_assignment 01_chain_rule --no-db
# The hidden tests import course_utils.grading: autograde where the full package is installed.
c = get_config()  # noqa: F821
"""


def learner_package(destination: str | Path) -> Path:
    """Copy ``course_utils`` into ``destination``, leaving out solutions and grading.

    >>> import tempfile
    >>> copy = learner_package(tempfile.mkdtemp())
    >>> (copy / "exercises").is_dir(), (copy / "solutions").exists()
    (True, False)
    """

    def ignore(folder: str, names: list[str]) -> set[str]:
        private = PRIVATE if Path(folder).resolve() == PACKAGE else set()
        return {n for n in names if n in private or n == "__pycache__" or n.endswith(".pyc")}

    target = Path(destination) / PACKAGE.name
    shutil.copytree(PACKAGE, target, ignore=ignore)
    return target


def _header_lines(lines: list[str]) -> int:
    """How many of ``lines`` make up the ``def ...:`` line(s) that start them."""
    for count in range(1, len(lines) + 1):
        try:
            ast.parse("\n".join(lines[:count]) + " pass")
        except SyntaxError:
            continue
        return count
    raise ValueError(f"no function definition at the start of:\n{lines[0]}")


def _given(stub_body: list[str]) -> list[str]:
    """The lines a stub gives before ``# YOUR CODE``, when that line ends them at body level.

    They stay outside nbgrader's solution markers, so its student version keeps them.
    """
    for count, line in enumerate(stub_body):
        if "# YOUR CODE" in line:
            return stub_body[:count] if line.startswith("    #") else []
    return []


def _bound_names(notebook: nbformat.NotebookNode) -> set[str]:
    """The names the notebook's code cells import, define or assign at the top level."""
    names = set()
    for cell in notebook.cells:
        if cell.cell_type != "code":
            continue
        code = "\n".join(line for line in cell.source.splitlines() if line.lstrip()[:1] not in "%!")
        try:
            tree = ast.parse(code)
        except SyntaxError:
            continue
        for node in tree.body:
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                names.update((a.asname or a.name).split(".")[0] for a in node.names)
            elif isinstance(node, (ast.FunctionDef, ast.ClassDef)):
                names.add(node.name)
            elif isinstance(node, ast.Assign):
                names.update(t.id for t in node.targets if isinstance(t, ast.Name))
    return names


def _imports_missing(function: types.FunctionType, notebook: nbformat.NotebookNode) -> list[str]:
    """The imports of ``function``'s module that it uses and the notebook does not have."""

    def names(code: types.CodeType) -> set[str]:  # comprehensions are code objects of their own
        inner = (names(c) for c in code.co_consts if isinstance(c, types.CodeType))
        return set(code.co_names).union(*inner)

    missing = names(function.__code__) - _bound_names(notebook)
    lines = []
    for node in ast.parse(inspect.getsource(inspect.getmodule(function))).body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            for alias in node.names:
                if (alias.asname or alias.name).split(".")[0] in missing:
                    single = copy.copy(node)
                    single.names = [alias]
                    lines.append(ast.unparse(single))
    return lines


def _cell_index(notebook: nbformat.NotebookNode, test: str, what: str, name: str) -> int:
    found = [
        i
        for i, c in enumerate(notebook.cells)
        if c.cell_type == "code" and re.search(test, c.source)
    ]
    if len(found) != 1:
        raise ValueError(f"{name}: expected one {what} cell in the notebook, found {len(found)}.")
    return found[0]


def _nbgrader(grade_id: str, *, points: int | None = None) -> dict:
    """nbgrader's metadata: a solution cell, or (with ``points``) a locked test cell."""
    test = points is not None
    cell = {
        "grade": test,
        "grade_id": grade_id,
        "locked": test,
        "schema_version": 3,
        "solution": not test,
        "task": False,
    }
    return {**cell, "points": points} if test else cell


def instructor_notebook(course: CourseNotebook) -> nbformat.NotebookNode:
    """The notebook in nbgrader's format: solutions and hidden tests marked, points set."""
    notebook = nbformat.read(course.path, as_version=4)
    for exercise in course.exercises:
        name = exercise.name
        stub = _cell_index(notebook, rf"^def {name}\(", "exercise", name)
        check = _cell_index(notebook, rf"exercises\.{name}\.check\({name}\)", "check", name)
        stub_lines = notebook.cells[stub].source.splitlines()
        header = stub_lines[: _header_lines(stub_lines)]
        solution = exercise.solution_function()
        solution_lines = inspect.getsource(solution).rstrip().splitlines()
        body = solution_lines[_header_lines(solution_lines) :]
        imports = [f"    {line}" for line in _imports_missing(solution, notebook)]
        given = _given(stub_lines[len(header) :])
        notebook.cells[stub].source = "\n".join(
            [*header, *given, "    ### BEGIN SOLUTION", *imports, *body, "    ### END SOLUTION"]
        )
        notebook.cells[stub].outputs = []
        notebook.cells[stub].metadata["nbgrader"] = _nbgrader(name)
        notebook.cells[check].source = "\n".join(
            [
                notebook.cells[check].source.rstrip(),
                "### BEGIN HIDDEN TESTS",
                "from course_utils.grading import assert_passes",
                "",
                f"assert_passes(exercises.{name}, {name})",
                "### END HIDDEN TESTS",
            ]
        )
        notebook.cells[check].outputs = []
        notebook.cells[check].metadata["nbgrader"] = _nbgrader(
            f"{name}_tests", points=exercise.points
        )
    return notebook


def _normalized(text: str) -> str:
    return "\n".join(" ".join(line.split()) for line in text.splitlines())


def _public_text(courses: Iterable[CourseNotebook]) -> str:
    """What learners see anyway: the package's public modules and the notebooks' code cells,
    except an exercise cell without its ``# YOUR CODE`` stub (solved?), of which only the
    ``def`` line counts."""
    parts = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if not PRIVATE.intersection(path.relative_to(PACKAGE).parts):
            parts.append(path.read_text(encoding="utf-8"))
    for course in courses:
        stubs = {rf"^def {e.name}\(" for e in course.exercises}
        for cell in nbformat.read(course.path, as_version=4).cells:
            if cell.cell_type != "code":
                continue
            lines = cell.source.splitlines()
            solved = "# YOUR CODE" not in cell.source
            if solved and any(re.search(stub, cell.source) for stub in stubs):
                lines = lines[: _header_lines(lines)]
            parts.append("\n".join(lines))
    return _normalized("\n".join(parts))


def secret_lines(courses: Iterable[CourseNotebook], shortest: int = 12) -> dict[str, str]:
    """Every line of a solution or of the hidden cases that learners do not otherwise see.

    Returns {line: where it comes from}; lines shorter than ``shortest`` characters
    (``return grad``) are too common to tell anything.
    """
    courses = list(courses)
    public = _public_text(courses)
    secrets: dict[str, str] = {}
    for course in courses:
        for exercise in course.exercises:
            sources = {
                f"the solution of {exercise.name}": inspect.getsource(exercise.solution_function()),
                f"the hidden cases of {exercise_module(exercise)}": hidden_source(exercise),
            }
            for origin, source in sources.items():
                for line in _normalized(source).splitlines():
                    if len(line) >= shortest and line not in public:
                        secrets.setdefault(line, origin)
    return secrets


def _texts_of(path: Path) -> str:
    """The text of a file; for a notebook, every string in it (sources and outputs)."""
    raw = path.read_bytes().decode("utf-8", errors="replace")
    if path.suffix != ".ipynb":
        return raw
    try:
        data = json.loads(raw)
    except json.JSONDecodeError:
        return raw

    def strings(value: object) -> Iterator[str]:
        if isinstance(value, str):
            yield value
        elif isinstance(value, list):
            if all(isinstance(v, str) for v in value):
                yield "".join(value)
            else:
                for v in value:
                    yield from strings(v)
        elif isinstance(value, dict):
            for key, v in value.items():
                if not key.startswith("image/"):  # pictures hold no text
                    yield from strings(v)

    return "\n".join(strings(data))


def find_leaks(folder: str | Path, secrets: dict[str, str]) -> list[str]:
    """Each place in ``folder`` where a secret line appears, as 'file: origin: line'."""
    leaks = []
    folder = Path(folder)
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and ".git" not in p.parts):
        text = _normalized(_texts_of(path))
        for line, origin in secrets.items():
            if line in text:
                leaks.append(f"{path.relative_to(folder)}: {origin}: {line}")
    return leaks


def _learner_notebook(course: CourseNotebook, install_url: str | None) -> nbformat.NotebookNode:
    notebook = nbformat.read(course.path, as_version=4)
    target = f'%pip install --quiet --no-deps "{install_url}"' if install_url else _NO_COLAB
    for cell in notebook.cells:
        if cell.cell_type == "code":
            cell.source = _COLAB_INSTALL.sub(lambda _: target, cell.source)
    return notebook


def _fresh(folder: Path) -> Path:
    """Empty ``folder`` for a new release; refuse a folder this module did not write."""
    if folder.exists():
        if not (folder / MARKER).is_file():
            raise FileExistsError(
                f"{folder} exists and is not a release written by course_utils.release: "
                "remove it, or choose another --out."
            )
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    (folder / MARKER).write_text("Written by python -m course_utils.release.\n")
    return folder


def _commit(folder: Path) -> None:
    def git(*args: str) -> None:
        subprocess.run(["git", *args], cwd=folder, check=True, capture_output=True)

    git("init", "--quiet")
    git("add", "--all")
    git(
        "-c", "user.name=Gradient Flow release", "-c", "user.email=release@localhost",
        "commit", "--quiet", "-m", "Gradient Flow: learner release",
    )  # fmt: skip


def release(
    out: str | Path = "release",
    *,
    notebooks: str | Path = ROOT / "notebooks",
    nbgrader: bool = False,
    install_url: str | None = None,
    git: bool = False,
) -> Path:
    """Write ``out``/learners (and ``out``/instructor with ``nbgrader``); return ``out``.

    Args:
        out: the folder to write; ``learners`` and ``instructor`` inside it are replaced.
        notebooks: the course notebooks to release (all the numbered ones in the folder).
        nbgrader: also write nbgrader instructor notebooks.
        install_url: where Colab installs this release from (``git+https://...``); without
            it, the notebooks' Colab install cell asks learners to ask their instructor.
        git: make ``out``/learners a fresh git repository with one commit.
    """
    out = Path(out)
    courses = list(course_notebooks(notebooks).values())
    if not courses:
        raise FileNotFoundError(f"no numbered course notebooks with exercises in {notebooks}")
    learners = _fresh(out / "learners")
    learner_package(learners)
    (learners / "notebooks").mkdir()
    for path in sorted(Path(notebooks).glob("*.ipynb")):
        course = next((c for c in courses if c.path == path), None)
        if course is None:
            shutil.copyfile(path, learners / "notebooks" / path.name)
        else:
            nbformat.write(
                _learner_notebook(course, install_url), learners / "notebooks" / path.name
            )
    for name in ROOT_FILES:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, learners / name)
        elif source.is_file():
            shutil.copyfile(source, learners / name)
    (learners / "README.md").write_text(_README, encoding="utf-8")
    leaks = find_leaks(learners, secret_lines(courses))
    if leaks:
        shutil.rmtree(learners)
        raise RuntimeError("the release would give away solutions:\n" + "\n".join(leaks[:20]))
    if git:
        _commit(learners)
    if nbgrader:
        instructor = _fresh(out / "instructor")
        (instructor / "nbgrader_config.py").write_text(_NBGRADER_CONFIG, encoding="utf-8")
        for course in courses:
            folder = instructor / "source" / course.path.stem
            folder.mkdir(parents=True)
            nbformat.write(instructor_notebook(course), folder / course.path.name)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m course_utils.release", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--out", default="release", help="folder to write (default: release)")
    parser.add_argument("--notebooks", default=str(ROOT / "notebooks"), help="course notebooks")
    parser.add_argument("--nbgrader", action="store_true", help="also write out/instructor/")
    parser.add_argument("--install-url", help="pip address Colab installs the release from")
    parser.add_argument("--git", action="store_true", help="make out/learners a fresh git repo")
    args = parser.parse_args(argv)
    try:
        out = release(
            args.out,
            notebooks=args.notebooks,
            nbgrader=args.nbgrader,
            install_url=args.install_url,
            git=args.git,
        )
    except (OSError, ValueError, RuntimeError) as error:
        print(f"release: {error}", file=sys.stderr)
        return 1
    print(f"Wrote {out / 'learners'}: hand this folder to learners (no solutions in it).")
    if args.nbgrader:
        print(f"Wrote {out / 'instructor'}: nbgrader's source/ folder, with solutions.")
    if not args.install_url:
        print("No --install-url: the notebooks' Colab install cell asks for your address.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
