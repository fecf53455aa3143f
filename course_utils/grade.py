"""The autograder: grade every submitted notebook, write the grades as CSV and JSON.

    python -m course_utils.grade SUBMISSIONS --out grades.csv

``SUBMISSIONS`` holds one folder per learner, named after them, with their notebooks in it
(at any depth, so nbgrader's ``submitted/`` folder works too). A notebook is matched to the
course notebook with the same number (``01_...``). Each one runs in its own sandboxed kernel
(:mod:`course_utils.grading.sandbox`), several at a time, and every exercise gets its
points or 0, with one line of feedback. ``grades.csv`` and ``grades.json`` hold the same
rows: learner, notebook, exercise, points, max, feedback.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import json
import os
import re
import sys
import tempfile
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

from .grading import CourseNotebook, course_notebooks
from .grading.sandbox import Limits, bubblewrap
from .grading.submission import Grade, grade_submission
from .release import learner_package

__all__ = ["find_submissions", "grade", "main"]

COLUMNS = ("learner", "notebook", "exercise", "points", "max", "feedback")
_NUMBER = re.compile(r"^(\d+)_")
_ROOT = Path(__file__).resolve().parent.parent


def find_submissions(folder: str | Path) -> list[tuple[str, Path]]:
    """(learner, notebook) for every notebook in ``folder``/<learner>/, sorted.

    Notebooks directly in ``folder`` belong to no learner and are left out.

    >>> find_submissions(tempfile.mkdtemp())
    []
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"no folder of submissions at {folder}")
    found = []
    for learner in sorted(p for p in folder.iterdir() if p.is_dir()):
        for path in sorted(learner.rglob("*.ipynb")):
            if ".ipynb_checkpoints" not in path.parts and path.is_file():
                found.append((learner.name, path))
    return found


def grade(
    submissions: Sequence[tuple[str, Path]],
    courses: dict[str, CourseNotebook],
    *,
    limits: Limits | None = None,
    jobs: int = 2,
    sandbox: bool = True,
    progress: bool | None = None,
) -> list[Grade]:
    """Grade ``submissions`` (learner, notebook path), ``jobs`` at a time; return the rows.

    ``progress`` shows a progress bar (tqdm) on standard error; None shows it on a terminal.
    """
    try:
        from tqdm import tqdm
    except ModuleNotFoundError:
        raise ModuleNotFoundError("the autograder needs tqdm: pip install 'tqdm>=4.60'") from None
    for course in courses.values():
        course.exercises  # noqa: B018  (import every exercises module once, before the threads)
    with tempfile.TemporaryDirectory(prefix="grade-package-") as package:
        learner_package(package)
        Path(package).chmod(0o755)  # readable by the kernel, whichever user it runs as

        def one(learner: str, path: Path) -> list[Grade]:
            match = _NUMBER.match(path.name)
            course = courses.get(match.group(1)) if match else None
            if course is None:
                numbers = ", ".join(f"{n}_" for n in sorted(courses))
                line = (
                    f"Not graded: {path.name} is not a course notebook (their names start with "
                    f"{numbers}); keep the name you downloaded it with."
                )
                return [Grade(learner, path.name, "", 0, 0, line)]
            try:
                return grade_submission(
                    path,
                    learner=learner,
                    course=course,
                    package=Path(package),
                    limits=limits,
                    sandbox=sandbox,
                )
            except Exception as error:  # the grader's own failure: the batch goes on
                print(f"grade: {learner}/{path.name}: {error!r}", file=sys.stderr)
                line = f"Not graded: the grader failed on this notebook ({error}); grade it again."
                return [
                    Grade(learner, path.name, e.name, 0, e.points, line) for e in course.exercises
                ]

        rows: dict[int, list[Grade]] = {}
        bar = tqdm(
            total=len(submissions),
            unit="notebook",
            disable=None if progress is None else not progress,
        )
        with bar, ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
            futures = {pool.submit(one, *item): n for n, item in enumerate(submissions)}
            for future in as_completed(futures):
                rows[futures[future]] = future.result()
                bar.update()
    return [row for n in sorted(rows) for row in rows[n]]


def write(rows: Sequence, csv_path: Path, json_path: Path) -> None:
    """Write the rows to ``csv_path`` and ``json_path``."""
    records = [dataclasses.asdict(row) for row in rows]
    with open(csv_path, "w", newline="", encoding="utf-8") as file:
        writer = csv.DictWriter(file, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(records)
    json_path.write_text(json.dumps(records, indent=1, ensure_ascii=False), encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m course_utils.grade", description=__doc__.splitlines()[0]
    )
    parser.add_argument("submissions", type=Path, help="one folder per learner, notebooks inside")
    parser.add_argument("--out", type=Path, default=Path("grades.csv"), help="the CSV to write")
    parser.add_argument("--json", type=Path, help="the JSON to write (default: beside --out)")
    parser.add_argument("--notebooks", type=Path, default=_ROOT / "notebooks")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="notebooks at once")
    defaults = Limits()
    limit = parser.add_argument_group("limits for each notebook")
    limit.add_argument("--timeout", type=float, default=defaults.timeout,
                       help="seconds for its own cells (default: %(default)s)")  # fmt: skip
    limit.add_argument("--exercise-timeout", type=float, default=defaults.exercise_timeout,
                       help="seconds to grade one exercise (default: %(default)s)")  # fmt: skip
    limit.add_argument("--memory-gb", type=float, default=defaults.memory_gb,
                       help="memory of its kernel (default: %(default)s)")  # fmt: skip
    parser.add_argument("--no-sandbox", action="store_true",
                        help="no bubblewrap: only for submissions you trust")  # fmt: skip
    args = parser.parse_args(argv)
    try:
        limits = Limits(args.timeout, args.exercise_timeout, args.memory_gb)
        courses = course_notebooks(args.notebooks)
        submissions = find_submissions(args.submissions)
    except (OSError, ValueError) as error:
        print(f"grade: {error}", file=sys.stderr)
        return 2
    loose = sorted(p.name for p in args.submissions.glob("*.ipynb"))
    if loose:
        print(
            f"grade: not graded, in no learner's folder: {', '.join(loose)} (put each "
            f"learner's notebooks in {args.submissions}/<learner>/)",
            file=sys.stderr,
        )
    sandbox = not args.no_sandbox
    if sandbox and bubblewrap() is None:
        print(
            "grade: WARNING: bubblewrap (bwrap) is missing or cannot make a sandbox here, so "
            "submissions run with the file access of your user (install it: sudo apt-get "
            "install bubblewrap). Time and memory limits still apply.",
            file=sys.stderr,
        )
        sandbox = False
    start = time.perf_counter()
    rows = grade(submissions, courses, limits=limits, jobs=args.jobs, sandbox=sandbox)
    json_path = args.json or args.out.with_suffix(".json")
    write(rows, args.out, json_path)
    learners = len({learner for learner, _ in submissions})
    print(
        f"Graded {len(submissions)} notebooks of {learners} learners in "
        f"{time.perf_counter() - start:.0f} s: wrote {args.out} and {json_path}.",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
