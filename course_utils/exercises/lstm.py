"""Exercises for notebook 08, the LSTM's cell state as a gradient highway.

The expected answers come from torch's own ``nn.LSTMCell``, from autograd and from
``torch.logit``, never from the solutions.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from .core import Exercise

__all__ = ["direct_path_gradient", "forget_bias_for", "lstm_cell_step"]

_SOLUTIONS = "course_utils.solutions.lstm"


def step_cases(
    seed: int = 8,
    sizes: tuple[tuple[int, int, int, float], ...] = (
        (1, 2, 3, 0.0),
        (4, 5, 6, 4.0),
        (3, 1, 8, -2.0),
    ),
) -> list[dict[str, object]]:
    """Random LSTM-cell inputs, one case per (batch, inputs, hidden, forget bias) in ``sizes``.

    The autograder's hidden cases call it with another seed and other sizes.
    """
    generator = torch.Generator().manual_seed(seed)
    cases = []
    for batch, inputs, hidden, forget_bias in sizes:

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


def _step_variant(
    x,
    h,
    c,
    weight_ih,
    weight_hh,
    bias_ih,
    bias_hh,
    *,
    order="ifgo",
    bias="sum",
    g_squash=torch.tanh,
    tanh_c=True,
):
    """One LSTM step with one known mistake; the defaults give nn.LSTMCell's own step."""
    biases = {
        "sum": bias_ih + bias_hh,
        "mean": (bias_ih + bias_hh) / 2,
        "ih": bias_ih,
        "hh": bias_hh,
        "none": 0.0,
    }
    pre = x @ weight_ih.T + h @ weight_hh.T + biases[bias]
    blocks = dict(zip(order, pre.chunk(4, dim=1), strict=True))
    i, f, o = (torch.sigmoid(blocks[gate]) for gate in "ifo")
    c_new = f * c + i * g_squash(blocks["g"])
    return o * (torch.tanh(c_new) if tanh_c else c_new), c_new


def _step_mistake(message, **variant):
    return (lambda **case: _step_variant(**case, **variant), message)


_ORDER = "PyTorch stacks the four gate blocks in the order i, f, g, o"
_STEP_MISTAKES = [
    _step_mistake(f"you read the gates in the order i, f, o, g; {_ORDER}", order="ifog"),
    _step_mistake(f"you read the gates in the order f, i, g, o; {_ORDER}", order="figo"),
    _step_mistake(f"you read the gates in the order i, o, f, g; {_ORDER}", order="iofg"),
    _step_mistake(
        "you put g through a sigmoid: the candidate g uses tanh, so that it can write negative "
        "values; only i, f and o are sigmoids",
        g_squash=torch.sigmoid,
    ),
    _step_mistake("you added only bias_ih: the gates see bias_ih + bias_hh", bias="ih"),
    _step_mistake("you added only bias_hh: the gates see bias_ih + bias_hh", bias="hh"),
    _step_mistake(
        "you averaged the two biases: the gates see their sum, bias_ih + bias_hh", bias="mean"
    ),
    _step_mistake("you left out the biases: the gates see bias_ih + bias_hh", bias="none"),
    _step_mistake(
        "your c_new is right, but h_new is o * c_new: the hidden state is o * tanh(c_new)",
        tanh_c=False,
    ),
]


lstm_cell_step = Exercise(
    name="lstm_cell_step",
    title="one LSTM step from its weights, exactly as nn.LSTMCell computes it",
    cases=step_cases,
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
    mistakes=_STEP_MISTAKES,
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
    """Autograd through the cell-state recurrence alone, C_t = f_t * C_{t-1} + (new input):
    ∂C_T/∂C_{T-k} for every lag k from 0 to T, averaged over units (and sequences)."""
    states = [torch.zeros(forget_gates.shape[1:], dtype=torch.float64, requires_grad=True)]
    for f in forget_gates:
        states.append(f * states[-1] + 1.0)  # what i_t * g_t writes does not depend on C_{t-1}
    gradients = torch.autograd.grad(states[-1].sum(), states)  # ∂C_T/∂C_t, unit by unit
    return torch.stack([gradient.mean() for gradient in reversed(gradients)])


def _per_lag(products: torch.Tensor, lag_0: bool = True, mean: bool = True) -> torch.Tensor:
    """Rows of running products, averaged over units, with the 1 of lag 0 in front."""
    if mean:
        products = products.reshape(len(products), -1).mean(dim=1)
    return torch.cat([torch.ones_like(products[:1]), products]) if lag_0 else products


_PATH_MISTAKES = [
    (
        lambda forget_gates: _per_lag(forget_gates.cumprod(dim=0)),
        "you multiplied the first k gates; going back from C_T the gradient meets the last "
        "gate first: f_T, then f_T f_(T-1), and so on",
    ),
    (
        lambda forget_gates: _per_lag(forget_gates.flip(0).cumprod(dim=0), lag_0=False),
        "lags 1 to T are right, but lag 0 is missing: at C_T itself the gradient is whole (1), "
        "so the answer has T + 1 entries",
    ),
    (
        lambda forget_gates: _per_lag(_per_lag(forget_gates, lag_0=False).flip(0).cumprod(dim=0)),
        "you averaged the gates over the units before multiplying them; each unit is a chain of "
        "its own, so multiply each unit's gates, then average the products (the mean of "
        "products is not the product of means)",
    ),
    (
        lambda forget_gates: _per_lag(forget_gates.flip(0).cumsum(dim=0)),
        "you added the gates; each step back multiplies the gradient by a gate, so over k "
        "steps the gates multiply",
    ),
    (
        lambda forget_gates: _per_lag(forget_gates.flip(0).cumprod(dim=0), mean=False),
        "these are the right products, unit by unit; now average each lag over the units (and "
        "sequences): one number per lag",
    ),
]


direct_path_gradient = Exercise(
    name="direct_path_gradient",
    title="the gradient along the cell state's direct path, ∂C_T/∂C_(T-k), for every lag k",
    cases=_path_cases,
    expected=_path_expected,
    hints=[
        "Walk back from C_T one step at a time. Each step back multiplies every unit's "
        "gradient by that step's forget gate: after k steps back, which gates has it met? "
        "And what is the gradient at lag 0, at C_T itself?",
        "Reverse the time axis (flip dimension 0), then take running products along it "
        "(cumprod): row k - 1 holds each unit's product of the last k gates. Average each "
        "row over everything but time (reshape to (T, -1), mean over dimension 1), and put "
        "a 1 in front for lag 0 (torch.cat).",
    ],
    solutions=_SOLUTIONS,
    mistakes=_PATH_MISTAKES,
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


def _logit(p: float) -> float:
    return math.log(p / (1 - p))


_BIAS_MISTAKES = [
    (
        lambda keep, steps: math.log(keep) / steps,
        "you returned log f = log(keep) / steps, the log of the gate; the bias b is the number "
        "with sigmoid(b) = f, the logit log(f / (1 - f))",
    ),
    (
        lambda keep, steps: keep ** (1 / steps),
        "you returned the gate f itself; the bias is the b with sigmoid(b) = f, its logit",
    ),
    (
        lambda keep, steps: _logit(keep) / steps,
        "you divided the logit of keep by steps; take the root first (the gate is "
        "keep ** (1 / steps)), then the logit of the gate",
    ),
    (
        lambda keep, steps: -_logit(keep ** (1 / steps)),
        "right size, wrong sign: the logit is log(f / (1 - f)), and an open gate needs a "
        "positive bias",
    ),
]


forget_bias_for = Exercise(
    name="forget_bias_for",
    title="the forget bias that keeps a fraction `keep` of the cell state over `steps` steps",
    cases=_bias_cases,
    expected=_bias_expected,
    hints=[
        "Work backwards in two steps. First: which constant gate value f, multiplied "
        "`steps` times, leaves `keep`? Then: which bias b gives sigmoid(b) = f?",
        "f is keep to the power 1/steps. The inverse of the sigmoid is the logit, "
        "log(f / (1 - f)): math.log, or torch.logit on a float64 tensor (in float32, 1 - f "
        "keeps too few digits).",
    ],
    solutions=_SOLUTIONS,
    mistakes=_BIAS_MISTAKES,
    rtol=1e-5,  # a float32 torch.logit is off by up to 2e-6 (hidden cases included)
)
