"""Exercises for notebook 08, the LSTM's cell state as a gradient highway.

The expected answers come from torch's own ``nn.LSTMCell``, from autograd and from
``torch.logit``, never from the solutions.
"""

from __future__ import annotations

import torch
from torch import nn

from .core import Exercise

__all__ = ["direct_path_gradient", "forget_bias_for", "lstm_cell_step"]

_SOLUTIONS = "course_utils.solutions.lstm"


def _step_cases() -> list[dict[str, object]]:
    generator = torch.Generator().manual_seed(8)
    cases = []
    for batch, inputs, hidden, forget_bias in ((1, 2, 3, 0.0), (4, 5, 6, 4.0), (3, 1, 8, -2.0)):

        def draw(*shape: int) -> torch.Tensor:
            return torch.randn(*shape, generator=generator, dtype=torch.float64)

        bias_ih = draw(4 * hidden)
        bias_ih[hidden : 2 * hidden] += forget_bias  # the forget block, second of four
        cases.append(
            {
                "x": draw(batch, inputs),
                "h": draw(batch, hidden),
                "c": draw(batch, hidden),
                "weight_ih": draw(4 * hidden, inputs) / inputs**0.5,
                "weight_hh": draw(4 * hidden, hidden) / hidden**0.5,
                "bias_ih": bias_ih,
                "bias_hh": draw(4 * hidden),
            }
        )
    return cases


def _step_expected(
    x: torch.Tensor,
    h: torch.Tensor,
    c: torch.Tensor,
    weight_ih: torch.Tensor,
    weight_hh: torch.Tensor,
    bias_ih: torch.Tensor,
    bias_hh: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor]:
    cell = nn.LSTMCell(x.shape[1], h.shape[1], dtype=torch.float64)
    with torch.no_grad():
        for name, value in zip(
            ("weight_ih", "weight_hh", "bias_ih", "bias_hh"),
            (weight_ih, weight_hh, bias_ih, bias_hh),
            strict=True,
        ):
            getattr(cell, name).copy_(value)
        h_new, c_new = cell(x, (h, c))
    return h_new, c_new


lstm_cell_step = Exercise(
    name="lstm_cell_step",
    title="one LSTM step from its weights, exactly as nn.LSTMCell computes it",
    cases=_step_cases,
    expected=_step_expected,
    hints=[
        "All four gates come from one matrix product: x times weight_ih transposed, plus h "
        "times weight_hh transposed, plus both biases. That gives 4·hidden numbers per "
        "example; split them into four equal blocks, in PyTorch's order i, f, g, o.",
        "i, f and o go through a sigmoid, g through tanh. Then the new cell state is the old "
        "one scaled by the forget gate plus the input gate times the candidate, and the new "
        "hidden state is o times tanh of the new cell state. Return (h_new, c_new).",
    ],
    solutions=_SOLUTIONS,
    output_names=("h", "c"),
    rtol=1e-10,
    atol=1e-12,
)


def _path_cases() -> list[dict[str, object]]:
    generator = torch.Generator().manual_seed(80)
    return [
        {"forget_gates": torch.rand(5, 3, generator=generator, dtype=torch.float64)},
        {"forget_gates": torch.rand(20, 2, 4, generator=generator, dtype=torch.float64)},
        {  # open gates, as with a forget bias of about 4
            "forget_gates": torch.sigmoid(
                4 + torch.randn(50, 6, generator=generator, dtype=torch.float64)
            )
        },
    ]


def _path_expected(forget_gates: torch.Tensor) -> torch.Tensor:
    """Autograd through the cell-state recurrence alone: C_t = f_t * C_{t-1} + (new input)."""
    start = torch.zeros(forget_gates.shape[1:], dtype=torch.float64, requires_grad=True)
    c = start
    for f in forget_gates:
        c = f * c + 1.0  # what i_t * g_t writes does not depend on the old cell state
    (gradient,) = torch.autograd.grad(c.sum(), start)
    return gradient


direct_path_gradient = Exercise(
    name="direct_path_gradient",
    title="the gradient along the cell state's direct path, ∂C_T/∂C_0",
    cases=_path_cases,
    expected=_path_expected,
    hints=[
        "Along the direct path each step computes C_t = f_t * C_{t-1} + (something that does "
        "not depend on C_{t-1}). What does one step multiply the gradient by? What do T "
        "steps multiply it by?",
        "Each unit has its own chain, so the answer has the shape of one time step's gates "
        "(everything but the first dimension of forget_gates): the product over time, "
        "taken along dimension 0.",
    ],
    solutions=_SOLUTIONS,
    rtol=1e-12,
    atol=1e-300,
)


def _bias_cases() -> list[dict[str, object]]:
    return [
        {"keep": 0.5, "steps": 100},
        {"keep": 0.9, "steps": 10},
        {"keep": 0.1, "steps": 30},
        {"keep": 0.5, "steps": 1},
    ]


def _bias_expected(keep: float, steps: int) -> float:
    gate = torch.tensor(keep, dtype=torch.float64) ** (1 / steps)
    return torch.logit(gate).item()


forget_bias_for = Exercise(
    name="forget_bias_for",
    title="the forget bias that keeps a fraction `keep` of the cell state over `steps` steps",
    cases=_bias_cases,
    expected=_bias_expected,
    hints=[
        "Work backwards in two steps. First: which constant gate value f, multiplied "
        "`steps` times, leaves `keep`? Then: which bias b gives sigmoid(b) = f?",
        "f is keep to the power 1/steps. The inverse of the sigmoid is the logit, "
        "log(f / (1 - f)); math.log or torch.logit both work.",
    ],
    solutions=_SOLUTIONS,
    rtol=1e-9,
)
