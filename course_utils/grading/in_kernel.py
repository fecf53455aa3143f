"""The grader's code that runs inside the learner's kernel, after the learner's cells.

The grader sends this file's text into the kernel: the learner's copy of the package has
no ``grading``, so it cannot be imported there. :func:`record` calls the learner's function
on the notebook's cases and on the hidden ones, exactly as ``Exercise.evaluate`` calls it
(a copy of each case, torch seeded with 0), and writes what each call returned or raised
as JSON: numbers, text, lists, and tensors as their dtype, shape and values. The grader
rebuilds the answers from that plain data and compares them with the expected ones in its
own process, where nothing the learner ran can reach: a notebook that patches the checker
in memory changes nothing. Judged exercises (a repaired network, an optimiser) cannot
travel between processes, so they are judged here.

>>> _portable((1, 2.5, None, torch.tensor([0.5])))
{'tuple': [1, 2.5, None, {'tensor': 'float32', 'shape': [1], 'values': [0.5]}]}
>>> _portable(object())["opaque"]
'object'
"""

from __future__ import annotations

import copy
import importlib
import json
import numbers
import sys
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch

import course_utils

_LONGEST_TEXT = 500


def _tensor(value: torch.Tensor) -> dict[str, Any]:
    value = value.detach().cpu()
    flat = torch.view_as_real(value) if value.is_complex() else value
    return {
        "tensor": str(value.dtype).removeprefix("torch."),
        "shape": list(value.shape),
        "values": flat.flatten().tolist(),
    }


def _portable(value: Any, depth: int = 0) -> Any:
    """``value`` as JSON: numbers, text, None, lists; tuples, tensors and the rest marked."""
    if value is None or isinstance(value, (bool, str)):
        return value[:_LONGEST_TEXT] if isinstance(value, str) else value
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        return float(value)
    try:
        if isinstance(value, torch.Tensor):
            return _tensor(value)
        if isinstance(value, (list, tuple)) and depth < 8 and len(value) <= 100_000:
            items = [_portable(item, depth + 1) for item in value]
            return items if isinstance(value, list) else {"tuple": items}
    except Exception:  # e.g. a sparse tensor: described below instead
        pass
    return {"opaque": type(value).__name__, "repr": repr(value)[:60]}


def _learner_line(error: BaseException) -> str:
    """Where in the learner's cells ``error`` was raised: not in Python, its packages or ours."""
    libraries = (sys.prefix, sys.base_prefix, str(Path(course_utils.__file__).parent), "<")
    frames = [
        frame
        for frame in traceback.extract_tb(error.__traceback__)
        if not frame.filename.startswith(libraries)
    ]
    if not frames:
        return ""
    code = f": {frames[-1].line.strip()}" if frames[-1].line else ""
    return f" (at line {frames[-1].lineno}{code})"


def _call_each(
    answer: Callable[..., Any], cases: Sequence[dict[str, Any]], calls: list[tuple]
) -> None:
    """Call ``answer`` on each case until it raises or returns None, as ``evaluate`` does.

    What each call returned or raised is appended to ``calls`` as it happens, so that a
    call stopped by the time limit leaves the ones before it.
    """
    for case in cases:
        arguments = copy.deepcopy(case)
        try:
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(0)
                result = answer(*arguments.values())
        except Exception as error:
            message = f"{error}"[:_LONGEST_TEXT] + _learner_line(error)
            calls.append(("raised", type(error).__name__, message))
            break
        calls.append(("returned", _portable(result)))
        if result is None:
            break


def record(
    namespace: dict[str, Any], name: str, module: str, hidden_source: str, path: str
) -> None:
    """Call the learner's ``name`` on every case and save what happened to ``path``."""
    exercise = getattr(importlib.import_module(module), name)
    hidden: dict[str, Any] = {"__name__": "hidden_cases"}
    exec(compile(hidden_source, "<hidden cases>", "exec"), hidden)
    answer = namespace.get(name)
    report: dict[str, Any] = {
        "defined": name in namespace,
        "kind": "function" if callable(answer) else type(answer).__name__,
        "interrupted": False,
    }
    try:
        if not callable(answer):
            pass
        elif exercise.judge is not None:
            report["judged"] = []
            for cases in (exercise.cases(), hidden[name]()):
                report["judged"].append(tuple(exercise.evaluate(answer, cases)))
        else:
            report["calls"] = ([], [])
            every_case = (exercise.cases(), hidden[name]())
            for cases, calls in zip(every_case, report["calls"], strict=True):
                _call_each(answer, cases, calls)
    except KeyboardInterrupt:  # the grader's time limit for this exercise
        report["interrupted"] = True
    with open(path, "w", encoding="utf-8") as file:
        json.dump(report, file)
