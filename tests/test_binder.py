"""Binder, conda and Colab install the same course: one dependency list in three places,
a binder/ folder that mybinder builds, and a Colab cell pinned to this release."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

import course_utils

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    tomllib = pytest.importorskip("tomli")

ROOT = Path(__file__).parent.parent
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
REPOSITORY = PYPROJECT["project"]["urls"]["Repository"]
TAG = f"v{course_utils.__version__}"
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
CONDA_NAMES = {"pytorch-cpu": "torch", "matplotlib-base": "matplotlib"}  # conda → PyPI


def requirements(specs: list[str]) -> dict[str, str]:
    """{'torch': '>=2.1', ...} from 'torch>=2.1'-style strings, conda names translated."""
    found = {}
    for spec in specs:
        name, version = re.match(r"([A-Za-z0-9_.-]+)\s*(.*)", spec).groups()
        found[CONDA_NAMES.get(name, name).lower()] = version.strip()
    return found


def conda_packages(path: Path) -> dict[str, str]:
    environment = yaml.safe_load(path.read_text())
    assert environment["channels"] == ["conda-forge"]
    return requirements([d for d in environment["dependencies"] if isinstance(d, str)])


def pip_lines(path: Path) -> list[str]:
    environment = yaml.safe_load(path.read_text())
    return [line for d in environment["dependencies"] if isinstance(d, dict) for line in d["pip"]]


RUNTIME = requirements(PYPROJECT["project"]["dependencies"])
DEV = requirements(PYPROJECT["project"]["optional-dependencies"]["dev"])


@pytest.mark.parametrize("path", ["environment.yml", "binder/environment.yml"])
def test_conda_environments_have_the_runtime_dependencies_with_the_same_floors(path):
    packages = conda_packages(ROOT / path)
    for name, version in RUNTIME.items():
        assert packages.get(name) == version, f"{path}: {name} should be {version}"


@pytest.mark.parametrize("path", ["environment.yml", "binder/environment.yml"])
def test_conda_environments_take_a_cpu_only_torch(path):
    text = (ROOT / path).read_text()
    assert "pytorch-cpu" in text
    assert not re.search(r"cuda|pytorch-gpu|\bpytorch\b(?!-cpu)", text)


def test_the_local_environment_has_the_test_tools_of_the_dev_extra():
    packages = conda_packages(ROOT / "environment.yml")
    for name in ("jupyterlab", "nbval", "pytest", "pytest-xdist", "ruff", "hypothesis"):
        assert packages.get(name) == DEV[name], f"environment.yml: {name} should be {DEV[name]}"
    assert pip_lines(ROOT / "environment.yml") == ["--no-deps -e ."]


def test_binder_installs_the_package_itself_without_touching_the_conda_packages():
    post_build = ROOT / "binder" / "postBuild"
    assert os.access(post_build, os.X_OK), "binder/postBuild must be executable"
    assert "pip install --no-deps -e ." in post_build.read_text()
    assert conda_packages(ROOT / "binder" / "environment.yml")["jupyterlab"] == DEV["jupyterlab"]


def test_repo2docker_builds_from_binder_and_runs_post_build(tmp_path):
    # The dev extra installs repo2docker next to this Python: no skip, a missing one fails.
    executable = str(Path(sys.executable).parent / "jupyter-repo2docker")
    result = subprocess.run(
        [executable, "--no-build", "--debug", str(ROOT)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    dockerfile = result.stdout + result.stderr
    assert '--file "binder/environment.yml"' in dockerfile
    assert "RUN ./binder/postBuild" in dockerfile
    assert "environment.yml\n" not in dockerfile.replace("binder/environment.yml", "")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_the_colab_cell_installs_this_release_and_only_on_colab(path):
    cells = json.loads(path.read_text())["cells"]
    first_code = next(c for c in cells if c["cell_type"] == "code")
    source = "".join(first_code["source"])
    assert 'if "google.colab" in sys.modules:' in source
    assert f'%pip install --quiet --no-deps "git+{REPOSITORY}@{TAG}"' in source


def test_readme_links_binder_and_colab_for_every_notebook_at_this_release():
    readme = (ROOT / "README.md").read_text()
    slug = REPOSITORY.removeprefix("https://github.com/")
    assert f"https://mybinder.org/v2/gh/{slug}/{TAG}?urlpath=lab/tree/notebooks/01_" in readme
    for path in NOTEBOOKS:
        colab = f"https://colab.research.google.com/github/{slug}/blob/{TAG}/notebooks/{path.name}"
        assert colab in readme, f"README has no Colab link for {path.name}"
