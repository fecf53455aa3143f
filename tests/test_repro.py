"""seed_everything makes every source of randomness repeat; configure_torch fixes the CPU."""

import os
import random
import re
import resource
import runpy
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import course_utils
from course_utils.repro import configure_torch, keep_freed_memory, seed_everything


def draw_everything():
    numpy_draw = np.random.rand()  # noqa: NPY002  (the global generator, which seed_everything seeds)
    return random.random(), numpy_draw, torch.rand(3).tolist()


def test_seed_everything_repeats_python_numpy_and_torch():
    seed_everything(123)
    first = draw_everything()
    seed_everything(123)
    assert draw_everything() == first
    seed_everything(124)
    assert draw_everything() != first


def test_seed_everything_turns_on_deterministic_algorithms():
    seed_everything(0, deterministic=False)
    torch.use_deterministic_algorithms(False)
    seed_everything(0)
    assert torch.are_deterministic_algorithms_enabled()


def test_training_is_bit_identical_after_reseeding():
    def train() -> torch.Tensor:
        seed_everything(7)
        model = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.Tanh(), torch.nn.Linear(16, 1))
        optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
        x, y = torch.randn(32, 8), torch.randn(32, 1)
        for _ in range(5):
            optimizer.zero_grad()
            torch.nn.functional.mse_loss(model(x), y).backward()
            optimizer.step()
        return torch.cat([p.detach().flatten() for p in model.parameters()])

    assert torch.equal(train(), train())


def test_configure_torch_sets_threads_and_flushes_denormals():
    configure_torch(threads=1, flush_denormal=False)
    denormal = torch.tensor([1e-40], dtype=torch.float32)
    assert (denormal * 1.0).item() > 0.0
    configure_torch(threads=1, flush_denormal=True)
    assert torch.get_num_threads() == 1
    assert (denormal * 1.0).item() == 0.0


def test_setup_prepares_a_notebook():
    course_utils.setup(seed=3)
    assert torch.get_num_threads() == 1
    assert torch.are_deterministic_algorithms_enabled()
    import matplotlib

    assert matplotlib.rcParams["axes.grid"] is True


@pytest.mark.parametrize(
    ("seed", "error", "message"),
    [
        (-1, ValueError, "at least 0"),
        (2**32, ValueError, "2\\*\\*32"),
        (1.5, TypeError, "int"),
        (True, TypeError, "int"),
    ],
)
def test_bad_seeds_get_clear_errors(seed, error, message):
    with pytest.raises(error, match=message):
        seed_everything(seed)


def test_bad_thread_count_gets_a_clear_error():
    with pytest.raises(ValueError, match="threads must be at least 1"):
        configure_torch(threads=0)


def test_the_makefile_and_pytest_pin_the_same_cpu_kernels():
    """Every make target and every bare `pytest` run with the settings that give the same
    numbers on every x86 processor (see the root conftest.py); they must not drift apart."""
    root = Path(__file__).parents[1]
    pinned = runpy.run_path(str(root / "conftest.py"))["CPU_REPRODUCIBILITY"]
    makefile = (root / "Makefile").read_text()
    exported = dict(re.findall(r"^export (\w+) := (\S+)$", makefile, flags=re.MULTILINE))
    assert exported == pinned
    assert {name: os.environ[name] for name in pinned} == pinned


def test_torch_runs_the_pinned_kernels_in_the_tests():
    assert os.environ["ATEN_CPU_CAPABILITY"] == "avx2"
    if torch.backends.cpu.get_cpu_capability() != "DEFAULT":  # a processor without AVX2
        assert torch.backends.cpu.get_cpu_capability() == "AVX2"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's allocator")
def test_keep_freed_memory_lets_a_training_loop_run_without_page_faults():
    """Without it this loop takes about 1,500 page faults a step (measured on the course's
    machine): the C library returns the freed activations to the system every step."""
    from torch import nn

    from course_utils.models import SmallCNN

    assert keep_freed_memory()
    model, x = SmallCNN(hidden=32), torch.randn(64, 1, 16, 16)

    def step():
        model.zero_grad(set_to_none=True)
        nn.functional.mse_loss(model(x), torch.zeros(64, 1)).backward()

    def minor_page_faults():
        return resource.getrusage(resource.RUSAGE_SELF).ru_minflt

    for _ in range(20):  # the heap grows to what a step needs
        step()
    before = minor_page_faults()
    for _ in range(20):
        step()
    assert (minor_page_faults() - before) / 20 < 100
