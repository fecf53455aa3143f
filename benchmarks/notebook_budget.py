"""Time and memory of every notebook: the course's budget is 30 s and 1 GB (mybinder) each.

    python benchmarks/notebook_budget.py            # every notebook, twice
    python benchmarks/notebook_budget.py notebooks/01_chain_rule.ipynb

Each notebook runs in a fresh kernel, as `make notebooks` and nbval run it. Reported: the
time to execute its cells (kernel start-up not included, and shown apart), and the kernel's
peak resident memory (VmHWM, Linux only). Each notebook runs twice, because the first run
of a fresh process can be slower (imports, caches) and denormal slowdowns vary by run.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient


def peak_memory_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def run(path: Path) -> tuple[float, float, float]:
    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(
        notebook,
        kernel_name="python3",
        timeout=600,
        resources={"metadata": {"path": str(path.parent)}},
    )
    start = time.perf_counter()
    with client.setup_kernel():
        started = time.perf_counter()
        for index, cell in enumerate(notebook.cells):
            client.execute_cell(cell, index)
        executed = time.perf_counter()
        memory = peak_memory_mb(client.km.provisioner.process.pid)
    return started - start, executed - started, memory


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", type=Path)
    args = parser.parse_args()
    paths = args.notebooks or sorted(Path("notebooks").glob("*.ipynb"))
    columns = ("kernel start", "cells, run 1", "cells, run 2", "peak memory")
    print(f"{'notebook':<42}" + "".join(f"{c:>14}" for c in columns))
    for path in paths:
        start, first, memory = run(path)
        _, second, memory_again = run(path)
        peak = max(memory, memory_again)
        print(f"{path.name:<42}{start:>13.1f}s{first:>13.1f}s{second:>13.1f}s{peak:>11.0f} MB")


if __name__ == "__main__":
    main()
