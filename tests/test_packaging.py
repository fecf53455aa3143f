"""The install path: dependencies without upper pins, torch pinned only locally, two commands."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    tomllib = pytest.importorskip("tomli")

ROOT = Path(__file__).parent.parent
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())


def test_python_3_10_or_newer():
    assert PYPROJECT["project"]["requires-python"] == ">=3.10"


def test_runtime_dependencies_have_no_upper_pins():
    dependencies = PYPROJECT["project"]["dependencies"]
    names = {re.split(r"[<>=!~ ]", d)[0] for d in dependencies}
    assert names == {"torch", "numpy", "matplotlib", "ipywidgets"}
    assert not [d for d in dependencies if "<" in d or "==" in d]
    assert "ipywidgets>=7.7" in dependencies  # Colab ships 7.7.1


def test_dev_extra_has_the_test_tools():
    dev = {
        re.split(r"[<>=!~ ]", d)[0] for d in PYPROJECT["project"]["optional-dependencies"]["dev"]
    }
    assert dev >= {"jupyterlab", "pytest", "nbval", "pytest-xdist", "ruff", "hypothesis"}


def test_local_install_pins_torch_through_the_constraints_file():
    assert "torch==2.13.0" in (ROOT / "constraints.txt").read_text().splitlines()
    assert "-c constraints.txt" in (ROOT / "Makefile").read_text()


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    assert "make lab" in readme and "make test" in readme
    ci = (ROOT / ".ci" / "run").read_text()
    assert "make test" in ci
    assert "--nbval-lax" not in (ROOT / "Makefile").read_text()


def test_importing_the_package_does_not_import_torch():
    """Colab and 3.13 users can import course_utils before torch is ready."""
    code = "import sys, course_utils; print('torch' in sys.modules, course_utils.__version__)"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.split() == ["False", "0.1.0"]
