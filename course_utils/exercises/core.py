"""The exercise API: every exercise has ``check()``, ``hint()`` and ``solution()``.

A learner writes a function in the notebook and hands it to ``check``, which calls it on
several inputs and compares the results with answers computed independently (usually by
autograd). ``check`` only ever prints: an untouched exercise says "not attempted yet", a
wrong answer says what differs, and nothing a learner writes can stop "Run All".

>>> import torch
>>> square = Exercise(
...     name="square", title="Square a tensor",
...     cases=lambda: [{"x": torch.tensor([1.0, 2.0])}],
...     expected=lambda x: x**2, hints=["Multiply x by itself."], solutions=None)
>>> square.check(lambda x: x * x)
✓ Correct: Square a tensor.
>>> square.check(lambda x: x + x)
✗ Not yet: values differ at index (0,): you returned 2, expected 1, for x=a tensor of shape (2,).
"""

from __future__ import annotations

import copy
import importlib
import inspect
import traceback
from collections.abc import Callable, Sequence
from numbers import Number
from pathlib import Path
from typing import Any, NamedTuple

import torch

from .._checks import require_int

__all__ = ["Exercise", "Outcome", "compare"]

PASSED, FAILED, NOT_ATTEMPTED, ERROR = "passed", "failed", "not attempted", "error"

_PACKAGE_DIR = str(Path(__file__).resolve().parent.parent)


class Outcome(NamedTuple):
    """The result of checking one answer: a status and the line shown to the learner."""

    status: str
    message: str

    @property
    def passed(self) -> bool:
        return self.status == PASSED


def _to_tensor(value: Any) -> torch.Tensor | None:
    if isinstance(value, torch.Tensor):
        return value.detach()
    if isinstance(value, bool):
        return None
    if isinstance(value, Number):
        return torch.tensor(value, dtype=torch.float64 if isinstance(value, float) else None)
    return None


def _short(value: Any) -> str:
    """A short description of a value: numbers in full, tensors and lists by their shape."""
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, torch.Tensor):
        return (
            f"{value.item():.6g}"
            if value.numel() == 1
            else f"a tensor of shape {tuple(value.shape)}"
        )
    if isinstance(value, torch.nn.Module):
        return f"a {type(value).__name__} network"
    if isinstance(value, (list, tuple)) and any(isinstance(v, torch.Tensor) for v in value):
        return f"a list of {len(value)} tensors"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _two_numbers(a: float, b: float) -> tuple[str, str]:
    """Format two different numbers with enough digits to see that they differ."""
    for digits in (6, 10, 17):
        left, right = f"{a:.{digits}g}", f"{b:.{digits}g}"
        if left != right:
            break
    return left, right


def compare(
    actual: Any, expected: Any, *, name: str = "", rtol: float = 1e-6, atol: float = 1e-9
) -> str | None:
    """Say how ``actual`` differs from ``expected``, or return None when they match.

    Numbers and tensors are compared by shape, kind of dtype, then values (within
    ``rtol``/``atol``, reporting the first mismatch); tuples element by element.

    >>> compare(torch.zeros(2), torch.zeros(3))
    'shape (2,) but expected shape (3,)'
    >>> compare((1.0, 2.0), (1.0, 2.5), name="grads")
    'grads[1]: values differ: you returned 2, expected 2.5'
    """
    label = f"{name}: " if name else ""
    if isinstance(expected, (tuple, list)):
        if isinstance(actual, torch.Tensor) and actual.numel() == len(expected):
            return f"{label}return the {len(expected)} values as a tuple (a, b), not one tensor"
        if not isinstance(actual, (tuple, list)):
            return f"{label}expected {len(expected)} values, got {type(actual).__name__}"
        if len(actual) != len(expected):
            return f"{label}expected {len(expected)} values, got {len(actual)}"
        for i, (a, e) in enumerate(zip(actual, expected, strict=True)):
            problem = compare(a, e, name=f"{name or 'result'}[{i}]", rtol=rtol, atol=atol)
            if problem:
                return problem
        return None

    want = _to_tensor(expected)
    got = _to_tensor(actual)
    if want is None:
        raise TypeError(f"compare cannot compare against {type(expected).__name__}")
    if got is None:
        if isinstance(actual, (list, tuple)) and all(isinstance(a, torch.Tensor) for a in actual):
            return (
                f"{label}expected one tensor, got {_short(actual)}: combine them with torch.stack"
            )
        return f"{label}expected a number or tensor, got {type(actual).__name__} {_short(actual)}"
    if got.shape != want.shape and not (got.numel() == want.numel() == 1):
        return f"{label}shape {tuple(got.shape)} but expected shape {tuple(want.shape)}"
    if want.is_floating_point() and not (got.is_floating_point() or got.is_complex()):
        if got.numel() == 1:
            return f"{label}you returned the whole number {got.item()}, but the answer is a float"
        return f"{label}dtype {got.dtype} but expected a floating-point result"
    single_precision = got.is_floating_point() and got.dtype != torch.float64
    if got.is_floating_point():  # a float32 answer is judged at float32's precision
        rtol = max(rtol, 10 * torch.finfo(got.dtype).eps)
    got = got.to(torch.float64).reshape(want.shape)
    want = want.to(torch.float64)
    close = torch.isclose(got, want, rtol=rtol, atol=atol)
    if bool(close.all()):
        return None
    first = torch.nonzero(~close)[0]
    index = tuple(int(i) for i in first)
    where = f" at index {index}" if want.dim() else ""
    yours, expected = _two_numbers(got[index].item(), want[index].item())
    precision = ""
    near = abs(got[index].item() - want[index].item()) <= 0.1 * abs(want[index].item())
    if single_precision and near:  # close, but not close enough: probably rounding
        precision = " (your result is in float32: compute in float64, or with math, to match)"
    return f"{label}values differ{where}: you returned {yours}, expected {expected}{precision}"


def _describe(case: dict[str, Any]) -> str:
    return ", ".join(f"{k}={_short(v)}" for k, v in case.items())


def _learner_line(error: BaseException) -> str:
    """Where in the learner's own code an exception was raised (not inside this package)."""
    frames = [
        f
        for f in traceback.extract_tb(error.__traceback__)
        if not f.filename.startswith(_PACKAGE_DIR)
    ]
    if not frames:
        return ""
    frame = frames[-1]
    code = f": {frame.line.strip()}" if frame.line else ""
    return f" (at line {frame.lineno}{code})"


class Exercise:
    """One exercise: test cases, the expected answers, a hint and a withheld solution.

    Args:
        name: the name of the function the learner writes (and of the solution).
        title: one line that says what the exercise asks.
        cases: returns the inputs to try, one dict of arguments per call, in order.
        expected: computes the right answer for one case, independently of the solution.
        judge: instead of ``expected``, for answers that cannot be compared with one right
            value (a repaired network, an optimiser): ``judge(result, **case)`` returns None
            when the result is right, or a sentence saying what is wrong with it.
        hints: from a gentle nudge to a near-answer; ``hint()`` shows the first, ``hint(2)``
            the second, and so on.
        solutions: the module holding the solution function, or None if there is none.
        output_names: names of the returned values, when the answer is a tuple.
        mistakes: common wrong answers, each a function computing it (with the same
            arguments as ``expected``) and the sentence to show a learner who returned it.
        rtol, atol: tolerances for comparing numbers.
        points: what the exercise is worth when the autograder grades it (all or nothing).
    """

    def __init__(
        self,
        *,
        name: str,
        title: str,
        cases: Callable[[], Sequence[dict[str, Any]]],
        expected: Callable[..., Any] | None = None,
        judge: Callable[..., str | None] | None = None,
        hints: Sequence[str],
        solutions: str | None,
        output_names: Sequence[str] = (),
        mistakes: Sequence[tuple[Callable[..., Any], str]] = (),
        rtol: float = 1e-6,
        atol: float = 1e-9,
        points: int = 1,
    ) -> None:
        if isinstance(hints, str) or not hints:
            raise ValueError("hints must be a non-empty list of strings, gentlest first.")
        if (expected is None) == (judge is None):
            raise ValueError("give an Exercise either `expected` or `judge`, not both or neither.")
        self.name = name
        self.title = title
        self.cases = cases
        self.expected = expected
        self.judge = judge
        self.hints = tuple(hints)
        self.solutions = solutions
        self.output_names = tuple(output_names)
        self.mistakes = tuple(mistakes)
        self.rtol = rtol
        self.atol = atol
        self.points = require_int(points, "points", minimum=1)

    def __repr__(self) -> str:
        return (
            f"<Exercise {self.name}: {self.title}. Use .check(your_function), .hint(), .solution()>"
        )

    def evaluate(
        self, answer: Callable[..., Any] | None, cases: Sequence[dict[str, Any]] | None = None
    ) -> Outcome:
        """Check ``answer`` and return the outcome without printing anything.

        ``cases`` replaces the exercise's own cases (the autograder passes its hidden ones).
        """
        if answer is None:
            return Outcome(
                NOT_ATTEMPTED, f"Not attempted yet: write {self.name} above, then check it."
            )
        if not callable(answer):
            return Outcome(
                FAILED,
                f"check() takes your function itself: "
                f"check({self.name}), not check({self.name}(...)).",
            )
        for case in self.cases() if cases is None else cases:
            arguments = copy.deepcopy(case)  # the learner's own copy: the case stays intact
            try:
                with torch.random.fork_rng(devices=[]):  # seeded, and the learner's RNG untouched
                    torch.manual_seed(0)
                    result = answer(*arguments.values())
            except NotImplementedError:
                return Outcome(
                    NOT_ATTEMPTED,
                    f"Not attempted yet: {self.name} still raises NotImplementedError.",
                )
            except Exception as error:  # any mistake in learner code is reported, never raised
                return Outcome(
                    ERROR,
                    f"Your function raised {type(error).__name__}: {error}{_learner_line(error)}.",
                )
            if result is None:
                return Outcome(
                    NOT_ATTEMPTED,
                    f"Not attempted yet: {self.name} returned None "
                    "(if you have written your code, make it return the answer).",
                )
            if self.judge is not None:
                problem = self._judged(result, arguments)  # e.g. the model it was given
            else:
                problem = self._compare(result, self.expected(**case))
                if problem:
                    problem = self._known_mistake(result, case) or problem
            if problem:
                return Outcome(FAILED, f"Not yet: {problem}, for {_describe(case)}.")
        return Outcome(PASSED, f"Correct: {self.title}.")

    def _known_mistake(self, result: Any, case: dict[str, Any]) -> str | None:
        """The message of the first known mistake that ``result`` matches, if any."""
        for wrong, message in self.mistakes:
            if compare(result, wrong(**case), rtol=self.rtol, atol=self.atol) is None:
                return message
        return None

    def _judged(self, result: Any, case: dict[str, Any]) -> str | None:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            try:
                return self.judge(result, **case)
            except Exception as error:  # e.g. a network whose forward pass fails
                return f"using what you returned raised {type(error).__name__}: {error}"

    def _compare(self, result: Any, expected: Any) -> str | None:
        if not self.output_names:
            return compare(result, expected, rtol=self.rtol, atol=self.atol)
        names = ", ".join(self.output_names)
        if isinstance(result, (tuple, list)) and len(result) == len(expected) == 2:
            swapped = compare(tuple(reversed(result)), expected, rtol=self.rtol, atol=self.atol)
            if swapped is None and compare(result, expected, rtol=self.rtol, atol=self.atol):
                return f"your values are right but in the wrong order: return ({names})"
        problem = compare(result, expected, rtol=self.rtol, atol=self.atol)
        if problem is None:
            return None
        for i, output in enumerate(self.output_names):
            problem = problem.replace(f"result[{i}]", output)
        if "values differ" in problem:
            return problem
        return f"{problem}; return ({names})"

    def check(self, answer: Callable[..., Any] | None) -> None:
        """Check your function and print what was found. Never raises."""
        outcome = self.evaluate(answer)
        symbol = {PASSED: "✓", FAILED: "✗", ERROR: "✗", NOT_ATTEMPTED: "○"}[outcome.status]
        print(f"{symbol} {outcome.message}")

    def hint(self, level: int = 1) -> None:
        """Print hint number ``level`` (1 is the gentlest)."""
        if isinstance(level, bool) or not isinstance(level, int) or level < 1:
            print(f"hint() takes a hint number from 1 to {len(self.hints)}, e.g. hint(2).")
            return
        last = len(self.hints)
        more = (
            f"  (More help: hint({level + 1}).)" if level < last else "  (That is the last hint.)"
        )
        level = min(level, last)
        print(f"Hint {level}: {self.hints[level - 1]}{more}")

    def solution_function(self) -> Callable[..., Any] | None:
        """The solution function, or None where solutions are withheld."""
        if self.solutions is None:
            return None
        try:
            module = importlib.import_module(self.solutions)
        except ModuleNotFoundError:
            return None
        return getattr(module, self.name)

    def solution(self) -> None:
        """Print the solution's code, with the comments that explain it."""
        function = self.solution_function()
        if function is None:
            print("Solutions are not included in this copy of the course; ask your instructor.")
            return
        print(inspect.getsource(function).rstrip())
