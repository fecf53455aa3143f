"""The exercise API: solutions pass, stubs are 'not attempted', mistakes are explained."""

import inspect
import re

import pytest
import torch

from course_utils.exercises import Exercise, all_exercises, compare
from course_utils.exercises import chain_rule as nb01

EXERCISES = list(all_exercises())


def test_every_notebook_has_at_least_two_exercises():
    assert {e.name for e in EXERCISES} >= {"two_layer_backward", "chain_gradient"}


@pytest.mark.parametrize("exercise", EXERCISES, ids=lambda e: e.name)
def test_every_solution_passes_its_check(exercise):
    solution = exercise.solution_function()
    assert solution is not None
    outcome = exercise.evaluate(solution)
    assert outcome.passed, outcome.message


@pytest.mark.parametrize("exercise", EXERCISES, ids=lambda e: e.name)
def test_untouched_stubs_are_not_attempted(exercise):
    def stub_returning_none(*args):
        return None

    def stub_raising(*args):
        raise NotImplementedError

    for stub in (None, stub_returning_none, stub_raising):
        outcome = exercise.evaluate(stub)
        assert outcome.status == "not attempted"
        assert outcome.message.startswith("Not attempted yet")


@pytest.mark.parametrize("exercise", EXERCISES, ids=lambda e: e.name)
def test_a_constant_answer_fails_on_some_case(exercise):
    """The cases vary enough that no hard-coded answer passes."""
    solution = exercise.solution_function()
    first_case = exercise.cases()[0]
    frozen = solution(*first_case.values())
    outcome = exercise.evaluate(lambda *args: frozen)
    assert outcome.status == "failed"


@pytest.mark.parametrize("exercise", EXERCISES, ids=lambda e: e.name)
def test_every_exercise_has_graded_hints_that_do_not_quote_the_solution(exercise, capsys):
    assert len(exercise.hints) >= 2
    exercise.hint()
    first = capsys.readouterr().out
    assert first.startswith("Hint 1: ") and "(More help: hint(2).)" in first
    exercise.hint(len(exercise.hints) + 5)  # past the last hint: shows the last one
    assert capsys.readouterr().out.startswith(f"Hint {len(exercise.hints)}: ")
    source = inspect.getsource(exercise.solution_function())
    code_lines = [line.split("#")[0].strip() for line in source.splitlines()[1:]]
    for hint in exercise.hints:
        giveaways = [line for line in code_lines if len(line) > 12 and line in hint]
        assert not giveaways, f"the hint quotes the solution: {giveaways}"


def test_a_bad_hint_number_is_explained(capsys):
    nb01.chain_gradient.hint(0)
    assert "hint number from 1 to 2" in capsys.readouterr().out


def test_a_wrong_answer_says_what_differs():
    def forgets_the_tanh_derivative(x, w1, w2, y):
        h = torch.tanh(torch.tensor(w1 * x)).item()
        d_out = w2 * h - y
        return d_out * w2 * x, d_out * h

    outcome = nb01.two_layer_backward.evaluate(forgets_the_tanh_derivative)
    assert outcome.status == "failed"
    assert outcome.message.startswith("Not yet: dL_dw1: values differ: you returned 2.70069")
    assert outcome.message.endswith("for x=1.5, w1=0.8, w2=-1.2, y=0.5.")


def test_answers_in_the_wrong_order_are_named_as_such():
    solution = nb01.two_layer_backward.solution_function()
    outcome = nb01.two_layer_backward.evaluate(lambda *args: tuple(reversed(solution(*args))))
    assert "right but in the wrong order: return (dL_dw1, dL_dw2)" in outcome.message


def test_one_tensor_instead_of_a_tuple_is_explained():
    solution = nb01.two_layer_backward.solution_function()
    outcome = nb01.two_layer_backward.evaluate(lambda *args: torch.tensor(solution(*args)))
    assert "as a tuple (a, b), not one tensor" in outcome.message


def test_dropping_the_sign_fails():
    solution = nb01.chain_gradient.solution_function()
    outcome = nb01.chain_gradient.evaluate(lambda *args: abs(solution(*args)))
    assert outcome.status == "failed"


def test_an_exception_in_learner_code_is_reported_without_a_traceback(capsys):
    def buggy(x, depth, weight, bias):
        return x / 0

    nb01.chain_gradient.check(buggy)
    out = capsys.readouterr().out
    assert out.startswith(
        "✗ Your function raised ZeroDivisionError: float division by zero (at line"
    )
    assert "return x / 0" in out
    assert "Traceback" not in out


def test_passing_the_result_instead_of_the_function_is_explained():
    outcome = nb01.chain_gradient.evaluate(0.25)
    assert "check(chain_gradient), not check(chain_gradient(...))" in outcome.message


def test_check_prints_one_line_per_outcome(capsys):
    solution = nb01.chain_gradient.solution_function()
    nb01.chain_gradient.check(solution)
    nb01.chain_gradient.check(None)
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("✓ Correct")
    assert lines[1].startswith("○ Not attempted yet")


def test_solution_prints_the_code_with_its_explanation(capsys):
    nb01.chain_gradient.solution()
    out = capsys.readouterr().out
    assert out.startswith("def chain_gradient(")
    assert "# the key line" in out


def test_a_release_without_solutions_says_so(capsys):
    exercise = Exercise(
        name="chain_gradient",
        title="t",
        cases=nb01.chain_gradient.cases,
        expected=nb01.chain_gradient.expected,
        hints=["h"],
        solutions="course_utils.solutions_not_shipped",
    )
    exercise.solution()
    assert "not included in this copy" in capsys.readouterr().out
    assert exercise.evaluate(nb01.chain_gradient.solution_function()).passed


@pytest.mark.parametrize(
    ("actual", "expected", "message"),
    [
        (torch.zeros(2, 3), torch.zeros(3, 2), "shape (2, 3) but expected shape (3, 2)"),
        (
            torch.tensor([1, 2]),
            torch.tensor([1.0, 2.0]),
            "dtype torch.int64 but expected a floating",
        ),
        (
            torch.tensor([1.0, 2.0, 3.0]),
            torch.tensor([1.0, 2.5, 3.5]),
            "values differ at index (1,)",
        ),
        ((1.0,), (1.0, 2.0), "expected 2 values, got 1"),
        (1.0, (1.0, 2.0), "expected 2 values, got float"),
        ("0.5", 0.5, "expected a number or tensor, got str"),
        (float("nan"), 0.5, "you returned nan"),
    ],
)
def test_compare_explains_each_kind_of_difference(actual, expected, message):
    assert message in compare(actual, expected)


def test_compare_accepts_equal_values_in_any_numeric_form():
    assert compare(0.5, torch.tensor(0.5, dtype=torch.float64)) is None
    assert compare(torch.tensor([0.5]), 0.5) is None
    assert compare((torch.tensor(1.0), 2.0), (1.0, torch.tensor(2.0))) is None


def test_a_known_mistake_gets_its_own_explanation():
    from course_utils.exercises import residual

    def forgets_the_identity(weight, x):
        return weight * (1 - torch.tanh(x) ** 2)

    outcome = residual.block_jacobian.evaluate(forgets_the_identity)
    assert outcome.status == "failed"
    assert "without the identity" in outcome.message


def test_an_unknown_mistake_still_says_what_differs():
    from course_utils.exercises import residual

    outcome = residual.block_jacobian.evaluate(lambda weight, x: 2 * weight)
    assert outcome.message.startswith("Not yet: values differ")


def test_a_judged_exercise_reports_a_judge_that_raises():
    def judge(result, n):
        raise RuntimeError("shapes do not match")

    exercise = Exercise(
        name="f", title="t", cases=lambda: [{"n": 1}], judge=judge, hints=["a", "b"], solutions=None
    )
    outcome = exercise.evaluate(lambda n: n)
    assert (
        outcome.status == "failed" and "raised RuntimeError: shapes do not match" in outcome.message
    )


def test_an_exercise_needs_expected_or_judge_but_not_both():
    with pytest.raises(ValueError, match="either `expected` or `judge`"):
        Exercise(name="f", title="t", cases=list, hints=["a"], solutions=None)


def test_checking_does_not_move_the_learners_random_numbers():
    from course_utils.exercises import residual

    torch.manual_seed(123)
    before = torch.random.get_rng_state()
    residual.block_jacobian.evaluate(lambda weight, x: torch.randn(len(x), len(x)))
    assert torch.equal(torch.random.get_rng_state(), before)


def _notebook_for(module: str) -> str:
    from pathlib import Path

    for path in sorted((Path(__file__).parent.parent / "notebooks").glob("*.ipynb")):
        text = path.read_text(encoding="utf-8")
        if f"from course_utils.exercises import {module} as exercises" in text:
            return text
    raise AssertionError(f"no notebook imports course_utils.exercises.{module}")


@pytest.mark.parametrize("exercise", EXERCISES, ids=lambda e: e.name)
def test_a_pasted_solution_runs_in_its_notebook(exercise):
    """Every module or helper a solution uses is imported in the notebook that asks for it."""
    import types

    solution = exercise.solution_function()
    notebook = _notebook_for(exercise.solutions.rpartition(".")[2])
    used = set(solution.__code__.co_names) & set(solution.__globals__)
    imported = {
        name
        for name in used
        if isinstance(solution.__globals__[name], types.ModuleType)
        or callable(solution.__globals__[name])
    }
    for name in imported - {"annotations"}:
        bound = re.search(rf"(import {name}\b|as {name}\b|import .*\b{name}\b)", notebook)
        assert bound, f"{exercise.name}'s solution uses {name}, which its notebook never imports"
