"""Exercises for the notebooks, one module per notebook, all built on :class:`Exercise`.

In a notebook::

    from course_utils.exercises import chain_rule as exercises
    exercises.chain_gradient.check(chain_gradient)   # your function
    exercises.chain_gradient.hint()
    exercises.chain_gradient.solution()

The solutions live apart, in ``course_utils.solutions``, so a release for a graded class
can leave them out.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Iterator

from .core import Exercise, Outcome, compare

__all__ = ["Exercise", "Outcome", "all_exercises", "compare"]


def all_exercises() -> Iterator[Exercise]:
    """Every exercise of every notebook, in module order.

    >>> any(e.name == "chain_gradient" for e in all_exercises())
    True
    """
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if info.name == "core":
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        for value in vars(module).values():
            if isinstance(value, Exercise):
                yield value
