"""A Jupyter kernel for a learner's notebook: its own process, limits, and a narrow view.

Every submission runs in a new ``ipykernel`` process that

* has at most ``Limits.memory_gb`` of address space and writes no file larger than
  ``Limits.file_mb`` (``RLIMIT_AS``, ``RLIMIT_FSIZE``), and no core dumps;
* gets a clean environment (no variable of the grader's shell reaches it) and imports the
  learner's copy of ``course_utils``, without ``solutions`` and ``grading``;
* with `bubblewrap <https://github.com/containers/bubblewrap>`_ (``bwrap``, Debian package
  ``bubblewrap``), sees a read-only file system holding only Python, its packages, the
  learner's copy of the package and its own work folder, the one place it can write;
  runs with no network, in its own process tree (everything it starts dies with it), with
  every capability dropped, and a private ``/tmp``.

Without a working ``bwrap`` the kernel still has its own process, limits and environment,
but it can read and write whatever the grader's user can: :func:`bubblewrap` says which.
"""

from __future__ import annotations

import functools
import json
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Limits", "bubblewrap", "kernel_spec"]


@dataclass(frozen=True)
class Limits:
    """What one submission may use.

    Args:
        timeout: seconds for all the learner's cells together; the cell running at the end
            is interrupted and the cells after it are not run.
        exercise_timeout: seconds to grade one exercise (its cases and hidden cases).
        memory_gb: the kernel's address space, in GiB (a larger allocation raises MemoryError).
        file_mb: the largest file the kernel may write, in MiB.
    """

    timeout: float = 300.0
    exercise_timeout: float = 60.0
    memory_gb: float = 4.0
    file_mb: int = 256

    def __post_init__(self) -> None:
        for name in ("timeout", "exercise_timeout", "memory_gb", "file_mb"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
                raise ValueError(f"{name} must be a positive number, got {value!r}.")


@functools.cache
def bubblewrap() -> str | None:
    """The path of a ``bwrap`` that can make a sandbox here, or None.

    ``bwrap`` may be installed but unable to work, e.g. in a container that forbids new
    namespaces; this runs it once to find out.
    """
    path = shutil.which("bwrap")
    if path is None:
        return None
    probe = [path, "--ro-bind", "/", "/", "--unshare-all", "--die-with-parent", "true"]
    try:
        subprocess.run(probe, capture_output=True, timeout=30, check=True)
    except (OSError, subprocess.SubprocessError):
        return None
    return path


def _launcher(limits: Limits) -> str:
    """Python code that sets the limits, forgets editable installs, then becomes an ipykernel."""
    memory = int(limits.memory_gb * 2**30)
    files = int(limits.file_mb * 2**20)
    return (
        "import resource, sys\n"
        # An editable install of the course finds course_utils.solutions beside the
        # learner's copy: drop its finder (the sandbox also hides the files).
        "sys.meta_path[:] = [f for f in sys.meta_path"
        " if not getattr(f, '__module__', '').startswith('__editable__')]\n"
        f"resource.setrlimit(resource.RLIMIT_AS, ({memory}, {memory}))\n"
        f"resource.setrlimit(resource.RLIMIT_FSIZE, ({files}, {files}))\n"
        "resource.setrlimit(resource.RLIMIT_CORE, (0, 0))\n"
        "from ipykernel.kernelapp import launch_new_instance\n"
        "launch_new_instance()\n"
    )


def _environment(work: Path, package: Path) -> dict[str, str]:
    return {
        "PATH": f"{Path(sys.executable).parent}:/usr/local/bin:/usr/bin:/bin",
        "HOME": str(work),
        "PYTHONPATH": str(package),
        "PYTHONDONTWRITEBYTECODE": "1",
        "MPLCONFIGDIR": str(work / ".matplotlib"),
        "IPYTHONDIR": str(work / ".ipython"),
        "OMP_NUM_THREADS": "1",
        "LANG": "C.UTF-8",
    }


def _sandbox(bwrap: str, work: Path, package: Path, sockets: Path, env: dict[str, str]) -> list:
    """The bwrap command line: what the kernel sees, and nothing else."""
    command = [bwrap, "--tmpfs", "/tmp"]  # first: the folders below may live under /tmp
    for folder in ("/usr", "/etc/alternatives"):
        command += ["--ro-bind-try", folder, folder]
    for name in ("bin", "lib", "lib64", "sbin"):  # merged /usr: these are links into /usr
        link = Path("/") / name
        if link.is_symlink():
            command += ["--symlink", str(link.readlink()), str(link)]
        elif link.is_dir():
            command += ["--ro-bind", str(link), str(link)]
    for name in ("ld.so.cache", "ld.so.conf", "ld.so.conf.d", "localtime", "passwd", "group"):
        command += ["--ro-bind-try", f"/etc/{name}", f"/etc/{name}"]
    trusted_package = Path(__file__).resolve().parents[1]
    for folder in sorted({Path(sys.base_prefix).resolve(), Path(sys.prefix).resolve()}):
        command += ["--ro-bind", str(folder), str(folder)]
        if folder in trusted_package.parents:  # installed, not editable: hide the original
            command += ["--tmpfs", str(trusted_package)]
    command += ["--ro-bind", str(package), str(package)]
    command += ["--bind", str(work), str(work), "--bind", str(sockets), str(sockets)]
    command += ["--proc", "/proc", "--dev", "/dev", "--remount-ro", "/"]
    command += ["--unshare-all", "--die-with-parent", "--cap-drop", "ALL", "--chdir", str(work)]
    command += ["--clearenv"]
    for key, value in env.items():
        command += ["--setenv", key, value]
    return command


def kernel_spec(
    folder: Path, *, work: Path, package: Path, sockets: Path, limits: Limits, sandbox: bool
) -> dict[str, str]:
    """Write a kernel spec named ``grader`` into ``folder``/grader; return the kernel's env.

    The spec starts the kernel (inside bubblewrap when ``sandbox``) with the limits set,
    and asks for interrupts by message: a signal would stop bwrap, not the code inside.
    """
    env = _environment(work, package)
    python = [sys.executable, "-c", _launcher(limits), "-f", "{connection_file}"]
    argv = python
    if sandbox:
        if bubblewrap() is None:
            raise RuntimeError(
                "bubblewrap (bwrap) is missing or cannot make a sandbox here: install it "
                "(sudo apt-get install bubblewrap), or grade without the sandbox."
            )
        argv = _sandbox(bubblewrap(), work, package, sockets, env) + python
    spec = {
        "argv": argv,
        "display_name": "Python 3 (grader)",
        "language": "python",
        "interrupt_mode": "message",
    }
    (folder / "grader").mkdir(parents=True, exist_ok=True)
    (folder / "grader" / "kernel.json").write_text(json.dumps(spec, indent=1), encoding="utf-8")
    return env
