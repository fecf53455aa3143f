"""Exercises for notebook 09, the capstone: repair three broken networks.

A repair has no single right answer, so these checks judge it: they build what you return,
train it the way the patient was trained, and say whether it now learns.
"""

from __future__ import annotations

import torch
from torch import nn

from ..patients import PATIENTS, spiral_task, train_on_spirals
from .core import Exercise

__all__ = ["standardize", "treat_a", "treat_f"]

_SOLUTIONS = "course_utils.solutions.capstone"
_STEPS = 150


def _describe_findings(run) -> str:
    findings = [f.kind for f in run.monitor.diagnose() if f.kind != "healthy"]
    return f" (the monitor reports: {', '.join(findings)})" if findings else ""


def _judge_treat_a(network: object, depth: int, width: int) -> str | None:
    if not isinstance(network, nn.Module):
        kind = type(network).__name__
        return f"treat_a must return the repaired network, an nn.Module, not a {kind}"
    linears = [m for m in network.modules() if isinstance(m, nn.Linear)]
    if len(linears) != depth + 1:
        return (
            f"your network has {len(linears)} Linear layers where it needs {depth + 1}: "
            f"{depth} hidden layers and the output layer. Build it from the depth and width "
            "arguments"
            + (" (the cure is not to make it shallower)" if len(linears) < depth else "")
        )
    if any(m.out_features != width for m in linears[:-1]):
        return f"keep every hidden layer {width} units wide (the width argument)"
    if linears[0].in_features != 2 or linears[-1].out_features != 1:
        return (
            f"the network takes {linears[0].in_features} inputs and gives "
            f"{linears[-1].out_features} outputs; the spirals need 2 inputs and 1 output "
            "(mlp(..., in_features=2))"
        )
    inputs, labels = spiral_task()
    run = train_on_spirals(network, inputs, labels, steps=_STEPS)
    first = run.monitor.history[0].gradients()
    weights = [n for n in first if n.endswith("weight")]
    ratio = first[weights[0]].mean_abs / max(first[weights[-1]].mean_abs, 1e-300)
    if ratio < 1e-3:
        return (
            f"at the first step the first layer still gets only {ratio:.1e} times the gradient "
            "of the last: the gradient still vanishes"
        )
    if not run.losses[-1] < 0.3:
        return (
            f"the gradient now reaches the first layer, but after {_STEPS} steps of Adam "
            f"(lr 1e-3) the loss is {run.losses[-1]:.3f}; a network that learns the spirals "
            f"well gets below 0.3{_describe_findings(run)}"
        )
    return None


treat_a = Exercise(
    name="treat_a",
    title="patient A repaired: its gradient reaches the first layer, and it learns",
    cases=lambda: [{"depth": 20, "width": 32}, {"depth": 12, "width": 24}],
    judge=_judge_treat_a,
    hints=[
        "The monitor said the first layer gets about 1e-14 of the last layer's gradient: "
        "every layer multiplies it by a factor well below 1. That factor is the activation's "
        "derivative (at most 1/4 for a sigmoid) times the weights' scale (PyTorch's default "
        "here). Notebooks 03 and 05.",
        "Swap the activation for one whose derivative is 1 where it is active, and choose "
        "the initialisation derived for it in notebook 05. course_utils.models.mlp takes "
        "activation=..., init=... and in_features=2 (the spirals have two coordinates).",
    ],
    solutions=_SOLUTIONS,
    points=2,
)


def _standardize_cases() -> list[dict[str, object]]:
    generator = torch.Generator().manual_seed(9)
    patient_inputs, _ = spiral_task(input_scale=PATIENTS["E"].input_scale)
    shifted = 3.0 * torch.randn(300, 4, generator=generator) + torch.tensor([5.0, -2.0, 0.0, 1e3])
    return [{"x": patient_inputs}, {"x": shifted}]


def _standardize_expected(x: torch.Tensor) -> torch.Tensor:
    variance, mean = torch.var_mean(x, dim=0, correction=0)
    return (x - mean) / variance.sqrt()


standardize = Exercise(
    name="standardize",
    title="every input feature rescaled to mean 0 and standard deviation 1",
    cases=_standardize_cases,
    expected=_standardize_expected,
    hints=[
        "Each column of x is one feature, measured in its own units. What two numbers "
        "describe where a column's values sit and how widely they spread? Use them to "
        "bring every column to the same place and the same spread.",
        "Reduce over the examples, dim=0, with keepdim=True so that the result broadcasts "
        "back over x, once for the mean and once for the standard deviation; subtract the "
        "first and divide by the second.",
    ],
    mistakes=[
        (
            lambda x: (x - x.mean(dim=1, keepdim=True)) / x.std(dim=1, keepdim=True),
            "you standardised each row (one example across its features); standardise each "
            "column, one feature across all the examples: dim=0",
        ),
        (
            lambda x: x / x.std(dim=0, keepdim=True),
            "the spread is right but the columns' means are not 0: subtract the mean too",
        ),
        (
            lambda x: (x - x.mean()) / x.std(),
            "you used one mean and one standard deviation for the whole tensor; each column "
            "(feature) needs its own: reduce over dim=0",
        ),
    ],
    solutions=_SOLUTIONS,
    points=1,
    rtol=5e-3,  # dividing by n or by n - 1 are both fine here
    atol=1e-5,
)


def _treat_f_cases() -> list[dict[str, object]]:
    cases = []
    for seed in (0, 1):
        torch.manual_seed(seed)
        cases.append({"model": PATIENTS["F"].build()})
    return cases


def _judge_treat_f(optimizer: object, model: nn.Module) -> str | None:
    if not isinstance(optimizer, torch.optim.Optimizer):
        return (
            "treat_f must return an optimizer, such as torch.optim.SGD(...), "
            f"not a {type(optimizer).__name__}"
        )
    updated = {id(p) for group in optimizer.param_groups for p in group["params"]}
    if updated != {id(p) for p in model.parameters()}:
        return "the optimizer must update this model's parameters: build it from model.parameters()"
    inputs, labels = spiral_task()
    run = train_on_spirals(model, inputs, labels, optimizer=optimizer, steps=_STEPS)
    if run.monitor.nonfinite is not None:
        return f"the loss still becomes NaN or infinite at step {len(run.losses) - 1}"
    if not run.losses[-1] < 0.6:
        ratios = list(run.monitor.history[0].update_ratios().values())
        ratio = float(torch.tensor(ratios).nanmedian())
        side = "too small" if ratio < 1e-3 else "still too large"
        return (
            f"no more NaN, but after {_STEPS} steps the loss is {run.losses[-1]:.3f}, not below "
            f"0.6. The first step's median update-to-data ratio was {ratio:.1e}: {side} "
            "(about 1e-3 is healthy)"
        )
    return None


treat_f = Exercise(
    name="treat_f",
    title="patient F repaired: an optimizer that trains it without blowing up",
    cases=_treat_f_cases,
    judge=_judge_treat_f,
    hints=[
        "The monitor measured an update-to-data ratio of about 0.2 at the first step: every "
        "step changes the weights by a fifth of their size. A healthy ratio is near 1e-3. "
        "vital_signs('F') shows which optimiser and learning rate the patient came with.",
        "Plain SGD moves each weight by lr × gradient, so the update shrinks in proportion to "
        "the learning rate. Build torch.optim.SGD for model.parameters() with a rate 50 to "
        "200 times smaller, or use Adam, whose steps are about lr in size.",
    ],
    solutions=_SOLUTIONS,
    points=2,
)
