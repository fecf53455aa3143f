"""Grading: hidden cases for every exercise, and what a notebook's exercises are.

This package is for instructors and is left out of a learner release, together with
``course_utils.solutions``. The hidden cases (``hidden/<module>.py``, one function per
exercise, named like it) give other inputs and other seeds than the notebook's own checks,
so an answer hard-coded to pass ``check()`` fails when it is graded.

>>> from course_utils.exercises import chain_rule
>>> passes(chain_rule.chain_gradient, chain_rule.chain_gradient.solution_function())
True
>>> passes(chain_rule.chain_gradient, lambda x, depth, weight, bias: 0.25)
False

The autograder is ``python -m course_utils.grade``; an nbgrader test cell calls
:func:`assert_passes`.
"""

from __future__ import annotations

import importlib
import json
import pkgutil
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..exercises import Exercise

__all__ = [
    "CourseNotebook",
    "assert_passes",
    "course_notebooks",
    "exercise_module",
    "hidden_cases",
    "hidden_source",
    "passes",
]

_IMPORT = re.compile(r"^from course_utils\.exercises import (\w+) as exercises$", re.MULTILINE)
_NUMBER = re.compile(r"^(\d+)_")


@dataclass(frozen=True)
class CourseNotebook:
    """A notebook of the course: its file and the exercises module it imports."""

    path: Path
    module: str

    @property
    def exercises(self) -> list[Exercise]:
        """The notebook's exercises, in the order they are defined in their module."""
        from ..exercises import Exercise

        module = importlib.import_module(f"course_utils.exercises.{self.module}")
        return [value for value in vars(module).values() if isinstance(value, Exercise)]


def course_notebooks(folder: str | Path) -> dict[str, CourseNotebook]:
    """The course's numbered notebooks in ``folder`` that have exercises, by number.

    >>> sorted(course_notebooks("notebooks"))[:2]
    ['01', '02']
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(
            f"no course notebooks at {folder}: pass the folder of the course's notebooks "
            "(notebooks/ in the course repository)."
        )
    found = {}
    for path in sorted(folder.glob("*.ipynb")):
        if not _NUMBER.match(path.name):
            continue
        cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
        code = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")
        match = _IMPORT.search(code)
        if match:
            found[_NUMBER.match(path.name).group(1)] = CourseNotebook(path, match.group(1))
    return found


def exercise_module(exercise: Exercise) -> str:
    """The name of the module of ``course_utils.exercises`` that defines ``exercise``.

    >>> from course_utils.exercises import chain_rule
    >>> exercise_module(chain_rule.chain_gradient)
    'chain_rule'
    """
    from .. import exercises

    for info in pkgutil.iter_modules(exercises.__path__):
        module = importlib.import_module(f"{exercises.__name__}.{info.name}")
        if getattr(module, exercise.name, None) is exercise:
            return info.name
    raise LookupError(f"{exercise.name} is not an exercise of course_utils.exercises")


def _hidden_module(exercise: Exercise) -> Any:
    name = exercise_module(exercise)
    try:
        return importlib.import_module(f"{__name__}.hidden.{name}")
    except ModuleNotFoundError:
        raise LookupError(
            f"no hidden cases for notebook module {name}: add course_utils/grading/hidden/{name}.py"
        ) from None


def hidden_cases(exercise: Exercise) -> list[dict[str, Any]]:
    """The grader's own cases for ``exercise``: other inputs and seeds than ``check()`` uses."""
    make = getattr(_hidden_module(exercise), exercise.name, None)
    if make is None:
        raise LookupError(
            f"no hidden cases for {exercise.name}: add a function {exercise.name}() to "
            f"course_utils/grading/hidden/{exercise_module(exercise)}.py"
        )
    return make()


def hidden_source(exercise: Exercise) -> str:
    """The source of the module holding ``exercise``'s hidden cases (sent into the kernel)."""
    return Path(_hidden_module(exercise).__file__).read_text(encoding="utf-8")


def passes(exercise: Exercise, answer: Callable[..., Any] | None) -> bool:
    """Whether ``answer`` passes both the notebook's cases and the hidden ones."""
    return all(exercise.evaluate(answer, cases).passed for cases in (None, hidden_cases(exercise)))


def assert_passes(exercise: Exercise, answer: Callable[..., Any] | None) -> None:
    """Raise an AssertionError that says what is wrong unless ``answer`` passes every case.

    This is the hidden test of an nbgrader test cell: nbgrader gives the cell's points when
    it runs without an error.
    """
    for label, cases in (("", None), ("hidden case: ", hidden_cases(exercise))):
        outcome = exercise.evaluate(answer, cases)
        if not outcome.passed:
            raise AssertionError(f"{label}{outcome.message}")
