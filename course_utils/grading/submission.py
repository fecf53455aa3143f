"""Grade one submitted notebook: run it in a sandboxed kernel, then grade every exercise.

The learner's code cells run first, in order, in a fresh kernel (:mod:`.sandbox`) with a
time limit for all of them together. Then, in the same kernel, one grading cell per
exercise calls the learner's function on the notebook's cases and on hidden ones
(:mod:`.in_kernel`); the hidden cases exist in the kernel only from that moment on. This
process compares what came back with the expected answers, so a kernel that patched the
checker cannot grade itself. Whatever a notebook does (loops forever, allocates too much,
raises, lost its exercise cell, is not a notebook at all), every exercise gets a score and
one line of feedback that says why.
"""

from __future__ import annotations

import asyncio
import contextlib
import difflib
import json
import math
import re
import secrets
import shutil
import tempfile
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nbformat
import torch
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import AsyncKernelManager
from nbclient import NotebookClient
from nbclient.exceptions import DeadKernelError

from . import CourseNotebook, hidden_cases, hidden_source
from .sandbox import Limits, kernel_spec

__all__ = ["Grade", "grade_submission"]

_GRACE = 10.0  # seconds an interrupted cell gets to stop before the kernel is killed
_MOST_OUTPUTS = 50  # kept per cell
_LARGEST_NOTEBOOK = 100 * 2**20  # bytes: a larger submission is not read
_LARGEST_RECORD = 64 * 2**20  # bytes: a record larger than this is not read
_RUNTIME = (Path(__file__).parent / "in_kernel.py").read_text(encoding="utf-8")


@dataclass(frozen=True)
class Grade:
    """One exercise of one submission: the row of the grades table."""

    learner: str
    notebook: str
    exercise: str
    points: int
    max: int
    feedback: str


@dataclass
class _Run:
    """One cell's fate: ``ok``, ``error``, ``timeout``, ``dead``, ``stuck`` or ``not run``."""

    source: str
    status: str = "not run"
    error: str = ""


class _Client(NotebookClient):
    """nbclient's client, keeping only a cell's first outputs (and its error): a cell that
    prints in an endless loop must not fill the grader's memory."""

    def output(self, outs: list, msg: dict, display_id: str | None, cell_index: int) -> Any:
        if len(outs) >= _MOST_OUTPUTS and msg["msg_type"] != "error":
            return None
        return super().output(outs, msg, display_id, cell_index)


def _quote(source: str) -> str:
    lines = [line.strip() for line in source.splitlines() if line.strip()]
    first = lines[0] if lines else ""
    return f"`{first[:50]}{'…' if len(first) > 50 or len(lines) > 1 else ''}`"


def _cell(runs: Sequence[_Run], index: int) -> str:
    return f"code cell {index + 1} ({_quote(runs[index].source)})"


async def _execute(client: _Client, cell: Any, index: int, seconds: float) -> _Run:
    """Run one cell for at most ``seconds``: interrupted then, killed if that fails."""
    run = _Run(cell.source)
    client.timeout = max(1, math.ceil(seconds))
    start = time.monotonic()
    task = asyncio.ensure_future(client.async_execute_cell(cell, index))
    done, _ = await asyncio.wait({task}, timeout=seconds + _GRACE)
    if not done:  # deaf to the interrupt: the kernel will be killed
        task.cancel()
        with contextlib.suppress(BaseException):  # nbclient reports the cancel as a dead kernel
            await task
        run.status = "stuck"
        return run
    try:
        task.result()
    except DeadKernelError:
        run.status = "dead"
        return run
    errors = [o for o in cell.outputs if o.output_type == "error"]
    if time.monotonic() - start >= seconds:
        run.status = "timeout"
    elif errors:
        run.status = "error"
        run.error = f"{errors[0].ename}: {errors[0].evalue}"[:200]
    else:
        run.status = "ok"
    return run


async def _run_notebook(
    notebook: Any, learner_cells: int, client: _Client, limits: Limits, **start: Any
) -> list[_Run]:
    """Run the learner's cells within ``limits.timeout``, then the grading cells."""
    runs = [_Run(cell.source) for cell in notebook.cells]
    async with client.async_setup_kernel(**start):
        deadline = time.monotonic() + limits.timeout
        for index in range(len(notebook.cells)):
            grading = index >= learner_cells
            seconds = limits.exercise_timeout if grading else deadline - time.monotonic()
            if seconds <= 0:
                continue
            runs[index] = await _execute(client, notebook.cells[index], index, seconds)
            if runs[index].status in ("dead", "stuck"):
                break
            if runs[index].status == "timeout" and not grading:
                deadline = -math.inf  # the learner's time is used up: on to grading
    return runs


def _grading_cells(course: CourseNotebook, work: Path, token: str) -> list[str]:
    module = f"course_utils.exercises.{course.module}"
    setup = (
        "__grader__ = {'__name__': '__grader__'}\n"
        f"exec(compile({_RUNTIME!r}, '<grader>', 'exec'), __grader__)"
    )
    cells = [setup]
    for exercise in course.exercises:
        path = str(work / f".grader-{token}-{exercise.name}.json")
        cells.append(
            f"__grader__['record'](globals(), {exercise.name!r}, {module!r}, "
            f"{hidden_source(exercise)!r}, {path!r})"
        )
    return cells


def _replay(calls: Sequence[Sequence]) -> Callable[..., Any]:
    """A function that returns (or raises) what the learner's function did, call by call."""
    pending = [
        (kind, *details) if kind == "raised" else (kind, _restore(details[0]))
        for kind, *details in calls
    ]

    def answer(*args: Any) -> Any:
        kind, *details = pending.pop(0)
        if kind == "raised":
            name, message = details
            if name == "NotImplementedError":
                raise NotImplementedError
            raise type(str(name), (Exception,), {})(message)
        return details[0]

    return answer


def _restore(value: Any) -> Any:
    """A value as the learner's function returned it, from its JSON record."""
    if isinstance(value, list):
        return [_restore(item) for item in value]
    if not isinstance(value, dict):
        return value
    if "tuple" in value:
        return tuple(_restore(item) for item in value["tuple"])
    if "tensor" in value:
        dtype = getattr(torch, str(value["tensor"]), None)
        if not isinstance(dtype, torch.dtype):
            raise ValueError(f"not a dtype: {value['tensor']!r}")
        shape = [int(n) for n in value["shape"]]
        if dtype.is_complex:
            real = torch.tensor(value["values"], dtype=dtype.to_real())
            return torch.view_as_complex(real.reshape(*shape, 2))
        return torch.tensor(value["values"], dtype=dtype).reshape(shape)
    described = str(value.get("repr", "?"))
    return type(str(value.get("opaque", "object")), (), {"__repr__": lambda self: described})()


def _complete(calls: Sequence[tuple], cases: Sequence[dict]) -> bool:
    """Whether ``calls`` holds every call ``evaluate`` will make on ``cases``."""
    if len(calls) == len(cases):
        return True
    if not calls or len(calls) > len(cases):
        return False
    kind, *details = calls[-1]
    return kind == "raised" or details[0] is None


def _load(path: Path) -> dict | None:
    """The kernel's record at ``path``: plain JSON, read only if it is a small, plain file."""
    if path.is_symlink() or not path.is_file() or path.stat().st_size > _LARGEST_RECORD:
        return None
    try:
        report = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return report if isinstance(report, dict) else None


def _too_slow(name: str, limits: Limits) -> str:
    return (
        f"Not graded: {name} ran longer than the {limits.exercise_timeout:g} s the grader "
        "allows for all its cases; make it finish quickly (no endless loop)."
    )


def _score(exercise: Any, report: dict, limits: Limits) -> tuple[bool, str]:
    """Whether the exercise passed, and the feedback line, from the kernel's record."""
    name = exercise.name
    if report.get("interrupted"):
        return False, _too_slow(name, limits)
    if report.get("kind") == "NoneType":
        return False, exercise.evaluate(None).message
    if report.get("kind") != "function":
        return False, f"Not graded: {name} is a {report.get('kind')}, not a function."
    if exercise.judge is not None:  # judged in the kernel: (status, message) twice
        outcomes = [tuple(outcome) for outcome in report.get("judged", ())]
    else:  # what the function returned, judged here
        outcomes = []
        every_case = (exercise.cases(), hidden_cases(exercise))
        for calls, cases in zip(report.get("calls", ()), every_case, strict=False):
            if not _complete(calls, cases):
                break
            outcomes.append(tuple(exercise.evaluate(_replay(calls), cases)))
    if len(outcomes) != 2:
        return False, f"Not graded: the record of {name}'s answers is incomplete."
    (status, message), (hidden_status, hidden_message) = outcomes
    if status != "passed":
        return False, message
    if hidden_status != "passed":
        return False, f"Passes the notebook's check, not the hidden cases. {hidden_message}"
    return True, f"{message.rstrip('.')}, also on the grader's hidden cases."


_DEF = re.compile(r"^def\s+(\w+)\s*\(", re.MULTILINE)


def _missing(name: str, runs: Sequence[_Run], learner_cells: int, stop: str) -> str:
    """Why ``name`` was not defined when grading began."""
    defined_in = [i for i in range(learner_cells) if name in _DEF.findall(runs[i].source)]
    if defined_in:
        run = runs[defined_in[-1]]
        if run.status == "error":
            return (
                f"Not graded: {name} was never defined: the cell that defines it raised "
                f"{run.error}."
            )
        if run.status != "ok":
            return f"Not graded: {stop}, before the cell that defines {name} ran."
        return f"Not graded: {name} was no longer defined when the notebook finished."
    defined = {n for i in range(learner_cells) for n in _DEF.findall(runs[i].source)}
    near = difflib.get_close_matches(name, sorted(defined - {name}), n=1, cutoff=0.6)
    renamed = f" Did you rename it to {near[0]}?" if near else ""
    return (
        f"Not graded: the notebook has no function named {name}.{renamed} Keep the exercise's "
        f"cell and its name: def {name}(...)."
    )


def _stop_reason(runs: Sequence[_Run], learner_cells: int, limits: Limits) -> str:
    """Why the learner's cells did not all run (the first one that stopped), or ''."""
    for index in range(learner_cells):
        status = runs[index].status
        if status == "timeout":
            return (
                f"the notebook stopped at {_cell(runs, index)}, which was still running when "
                f"the {limits.timeout:g} s for the whole notebook ran out"
            )
        if status == "dead":
            return (
                f"the kernel died in {_cell(runs, index)}: it crashed, or used more than "
                f"{limits.memory_gb:g} GiB of memory"
            )
        if status == "stuck":
            return (
                f"the notebook stopped at {_cell(runs, index)}, which did not stop when "
                f"interrupted after the {limits.timeout:g} s for the whole notebook"
            )
    return ""


def _grading_failure(run: _Run, name: str, limits: Limits) -> str:
    if run.status == "dead":
        return (
            f"Not graded: the kernel died while grading {name}: it crashed, or used more than "
            f"{limits.memory_gb:g} GiB of memory."
        )
    if run.status in ("timeout", "stuck"):
        return _too_slow(name, limits)
    if run.status == "error":
        return f"Not graded: grading {name} failed with {run.error}."
    if run.status == "ok":
        return f"Not graded: the grader's record of {name} went missing from the notebook's folder."
    return f"Not graded: the kernel stopped before {name} could be graded."


def _read(path: Path) -> Any:
    """The notebook at ``path``, or a ValueError that says in a few words why it is not one."""
    if path.stat().st_size > _LARGEST_NOTEBOOK:
        raise ValueError(f"it is larger than {_LARGEST_NOTEBOOK // 2**20} MiB")
    try:
        text = path.read_text(encoding="utf-8")
        json.loads(text)
    except UnicodeDecodeError:
        raise ValueError("it is not a text file") from None
    except json.JSONDecodeError as error:
        raise ValueError(
            f"it is not valid JSON: {error.msg} at line {error.lineno}, column {error.colno}"
        ) from None
    try:
        with warnings.catch_warnings():  # e.g. cells without ids, which Jupyter adds itself
            warnings.simplefilter("ignore")
            notebook = nbformat.reads(text, as_version=4)
            nbformat.validate(notebook)
    except Exception as error:
        first = str(error).strip().splitlines()[0] if str(error).strip() else ""
        raise ValueError(
            f"it is not a valid notebook: {first[:120] or type(error).__name__}"
        ) from None
    return notebook


def _run_in_kernel(
    learned: list[str], grading: list[str], root: Path, package: Path, limits: Limits, sandbox: bool
) -> list[_Run]:
    """Run the learner's cells, then the grading cells, in a new kernel working in
    ``root``/work; say how each cell went."""
    work, sockets, kernels = root / "work", root / "ipc", root / "kernels"
    for folder in (sockets, kernels):
        folder.mkdir()
    env = kernel_spec(
        kernels, work=work, package=package, sockets=sockets, limits=limits, sandbox=sandbox
    )
    manager = AsyncKernelManager(
        kernel_name="grader",
        kernel_spec_manager=KernelSpecManager(kernel_dirs=[str(kernels)]),
        transport="ipc",  # Unix sockets: the sandbox has no network
        ip=str(sockets / "kernel"),
        connection_file=str(sockets / "kernel.json"),
    )
    cells = [nbformat.v4.new_code_cell(source) for source in [*learned, *grading]]
    notebook = nbformat.v4.new_notebook(cells=cells)
    client = _Client(
        notebook,
        km=manager,
        allow_errors=True,
        interrupt_on_timeout=True,
        record_timing=False,
        store_widget_state=False,
        shutdown_kernel="immediate",
    )
    with open(root / "kernel.log", "wb") as log:
        start = {"cwd": str(work), "env": env, "stdout": log, "stderr": log}
        return asyncio.run(_run_notebook(notebook, len(learned), client, limits, **start))


def grade_submission(
    path: Path,
    *,
    learner: str,
    course: CourseNotebook,
    package: Path,
    limits: Limits | None = None,
    sandbox: bool = True,
) -> list[Grade]:
    """Grade the notebook at ``path``, one :class:`Grade` per exercise of ``course``.

    Args:
        path: the submitted notebook.
        learner: who submitted it (the name in the grades table).
        course: the course notebook it is a copy of, which says what the exercises are.
        package: a folder holding the learner's copy of ``course_utils`` (no solutions,
            no grading), which the kernel imports.
        limits: time and memory limits (the defaults of :class:`.sandbox.Limits` if None).
        sandbox: run the kernel inside bubblewrap (see :mod:`.sandbox`).
    """
    limits = limits or Limits()
    exercises = course.exercises

    def rows(results: Sequence[tuple[bool, str]]) -> list[Grade]:
        return [
            Grade(learner, path.name, e.name, e.points if passed else 0, e.points, feedback)
            for e, (passed, feedback) in zip(exercises, results, strict=True)
        ]

    try:
        submitted = _read(path)
    except (OSError, ValueError) as error:
        line = f"Not graded: {path.name} is not a notebook Jupyter can open ({error})."
        return rows([(False, line)] * len(exercises))

    root = Path(tempfile.mkdtemp(prefix="grade-"))
    try:
        work = root / "work"
        work.mkdir()
        shutil.copyfile(path, work / path.name)
        token = secrets.token_hex(8)  # names the records: not guessable by the notebook
        learned = [c.source for c in submitted.cells if c.cell_type == "code"]
        grading = _grading_cells(course, work, token)
        runs = _run_in_kernel(learned, grading, root, package, limits, sandbox)
        stop = _stop_reason(runs, len(learned), limits)
        results = []
        for number, exercise in enumerate(exercises):
            run = runs[len(learned) + 1 + number]  # after the grading set-up cell
            report = _load(work / f".grader-{token}-{exercise.name}.json")
            if report is None and run.status == "not run" and stop:
                results.append((False, f"Not graded: {stop}."))
            elif report is None:
                results.append((False, _grading_failure(run, exercise.name, limits)))
            elif not report.get("defined"):
                results.append((False, _missing(exercise.name, runs, len(learned), stop)))
            else:
                try:
                    results.append(_score(exercise, report, limits))
                except (ValueError, TypeError, KeyError, IndexError):  # a record made up
                    results.append(
                        (False, f"Not graded: the record of {exercise.name} is damaged.")
                    )
        return rows(results)
    finally:
        shutil.rmtree(root, ignore_errors=True)
