"""How much does GradientMonitor slow training down? Ratios measured side by side, in one run.

    python benchmarks/monitor_overhead.py            # about three minutes on 2 CPU cores
    python benchmarks/monitor_overhead.py --quick    # a smoke run

For each model, blocks of training steps run in turn: bare, then under each monitor setting,
then under the naive per-parameter loop that the monitor replaces, and again, for many
rounds (the order rotates each round). Whole blocks of 10 steps, not single alternating
steps, because a monitored step slows the step after it; with 10 steps, a block under the
"every 10" settings holds exactly one recorded step. The ratio is a monitored block's time
over the bare block's time of the same round: the median over rounds, and in brackets the
middle half of the rounds' ratios, which shows how noisy the machine was. On a shared
machine, neighbours' work slows some blocks by 10-30% at random, so a ratio means little
without its spread. One torch thread and flushed denormals, as in the notebooks.

One more source of noise is the C library's allocator. By default glibc gives large freed
blocks back to the system and maps them again at the next step, and the kernel's page faults
then take 20-30% of a CNN's or an LSTM's step, at a speed that depends on what the other
core is doing. So, as PyTorch's CPU tuning guide suggests (there with jemalloc or tcmalloc),
the benchmark asks glibc to keep freed memory for reuse (``--system-allocator`` leaves the
default). This makes bare training faster, so it makes the ratios stricter, not looser.
"""

from __future__ import annotations

import argparse
import statistics
import time
import warnings
from collections.abc import Callable

import torch
from torch import nn

from course_utils.gradflow import GradientMonitor
from course_utils.models import SequenceModel, SmallCNN, mlp
from course_utils.repro import keep_freed_memory

SETTINGS: dict[str, dict] = {
    "default (every 10)": {"every": 10},
    "grads every step": {"every": 1, "activations": False},
    "grads every step, one pass": {"every": 1, "activations": False, "compile": True},
    "all + histograms every 10": {"every": 10, "histograms": True},
}
# Targets from the issue that asked for the monitor: (MLP, CNN, LSTM).
TARGETS = {
    "default (every 10)": (1.05, 1.05, 1.05),
    "grads every step": (1.20, 1.05, 1.05),
    "grads every step, one pass": (1.20, 1.05, 1.05),
    "all + histograms every 10": (1.15, 1.05, 1.05),
}


def naive_statistics(model: nn.Module) -> list[dict[str, float]]:
    """The widely copied loop: one .item() per statistic per parameter, every step."""
    stats = []
    for name, p in model.named_parameters():
        if p.grad is not None:
            g = p.grad
            stats.append(
                {
                    "name": name,
                    "norm": g.norm().item(),
                    "mean": g.mean().item(),
                    "std": g.std().item(),
                    "max": g.abs().max().item(),
                    "zeros": (g == 0).float().mean().item(),
                }
            )
    return stats


def workloads() -> dict[str, tuple[nn.Module, torch.Tensor, torch.Tensor]]:
    torch.manual_seed(0)
    return {
        "MLP 48x256, batch 128": (
            mlp(48, 256, in_features=256, out_features=10, init="kaiming"),
            torch.randn(128, 256),
            torch.randn(128, 10),
        ),
        "CNN, batch 64 of 1x16x16": (
            SmallCNN(hidden=32),
            torch.randn(64, 1, 16, 16),
            torch.randn(64, 1),
        ),
        "LSTM 2x128, batch 64 x 32 steps": (
            SequenceModel("lstm", 16, 128, num_layers=2),
            torch.randn(64, 32, 16),
            torch.randn(64, 1),
        ),
    }


def time_block(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    inputs: torch.Tensor,
    targets: torch.Tensor,
    steps: int,
    after_step: Callable[[torch.Tensor], object] | None,
) -> float:
    start = time.perf_counter()
    for _ in range(steps):
        optimizer.zero_grad(set_to_none=True)
        loss = nn.functional.mse_loss(model(inputs), targets)
        loss.backward()
        optimizer.step()
        if after_step is not None:
            after_step(loss)
    return (time.perf_counter() - start) / steps


def measure(
    model, inputs, targets, *, rounds: int, block: int
) -> tuple[float, dict[str, list[float]]]:
    """Median bare ms/step, and for each contender its block time over the bare block time of
    the same round, one ratio per round (pairing cancels slow drifts of the machine)."""
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-4)
    monitors = {
        name: GradientMonitor(model, optimizer=optimizer, **kwargs)
        for name, kwargs in SETTINGS.items()
    }
    contenders = ["bare", *SETTINGS, "naive loop"]
    times: dict[str, list[float]] = {name: [] for name in contenders}
    time_block(model, optimizer, inputs, targets, block, None)  # warm up
    for monitor in monitors.values():  # and compile the one-pass loop before any timing
        with monitor:
            time_block(model, optimizer, inputs, targets, 2, monitor.step)
    for round_ in range(rounds):
        shift = round_ % len(contenders)
        for name in contenders[shift:] + contenders[:shift]:
            if name == "bare":
                times[name].append(time_block(model, optimizer, inputs, targets, block, None))
            elif name == "naive loop":
                hook = lambda loss: naive_statistics(model)  # noqa: E731
                times[name].append(time_block(model, optimizer, inputs, targets, block, hook))
            else:
                with monitors[name] as monitor:
                    times[name].append(
                        time_block(model, optimizer, inputs, targets, block, monitor.step)
                    )
    ratios = {
        name: [t / b for t, b in zip(times[name], times["bare"], strict=True)]
        for name in contenders[1:]
    }
    return statistics.median(times["bare"]), ratios


def summary(ratios: list[float]) -> tuple[float, float, float]:
    """The median ratio and the middle half of the ratios (first and third quartile)."""
    if len(ratios) < 2:
        return ratios[0], ratios[0], ratios[0]
    low, middle, high = statistics.quantiles(ratios, n=4)
    return middle, low, high


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=40, help="blocks per contender (default 40)")
    parser.add_argument("--block", type=int, default=10, help="steps per block (default 10)")
    parser.add_argument("--quick", action="store_true", help="2 rounds of 10 steps: a smoke run")
    parser.add_argument(
        "--system-allocator", action="store_true", help="leave glibc's allocator as it is"
    )
    args = parser.parse_args()
    rounds, block = (2, 10) if args.quick else (args.rounds, args.block)
    torch.set_num_threads(1)
    torch.set_flush_denormal(True)
    # The naive loop's std of a one-entry bias (the CNN's head) warns on every step.
    warnings.filterwarnings("ignore", message=r"std\(\): degrees of freedom")
    allocator = "the system's allocator"
    if not args.system_allocator and keep_freed_memory():
        allocator = "glibc keeping freed memory"

    columns = ["naive loop", *SETTINGS]
    print(
        f"torch {torch.__version__}, 1 thread, {allocator}, {rounds} rounds of {block}-step "
        "blocks\n"
    )
    header = f"{'model':<33}{'bare ms/step':>13}" + "".join(f"{c:>30}" for c in columns)
    print(header)
    print("-" * len(header))
    misses = []
    for index, (name, (model, inputs, targets)) in enumerate(workloads().items()):
        bare, ratios = measure(model, inputs, targets, rounds=rounds, block=block)
        cells = []
        for column in columns:
            ratio, low, high = summary(ratios[column])
            target = TARGETS.get(column, (None,) * 3)[index]
            mark = ""
            if target is not None:
                mark = " ok" if ratio <= target else f" >{target:.2f}"
                if ratio > target:
                    misses.append(f"{name}, {column}: {ratio:.2f}x > {target:.2f}x")
            cells.append(f"{ratio:.2f}x ({low:.2f}-{high:.2f}){mark}".rjust(30))
        print(f"{name:<33}{bare * 1e3:>13.1f}" + "".join(cells))
    print("\nratio = monitored / bare block time in the same round: the median over rounds, and in")
    print(
        "brackets the middle half of the rounds; 'ok' = within the target the monitor was built to."
    )
    if misses:
        print("over target: " + "; ".join(misses))


if __name__ == "__main__":
    main()
