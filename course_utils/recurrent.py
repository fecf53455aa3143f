"""Tools for recurrent networks: the LSTM's gates, its forget-gate bias, and the gradient
that reaches each earlier time step.

PyTorch stores an LSTM's four gates as four blocks of rows of one weight matrix, in the
order input, forget, cell candidate, output (``i, f, g, o``), and adds *two* bias vectors,
``bias_ih`` and ``bias_hh``. The helpers here take care of both, so that "set the forget
bias to 1" means exactly that.

>>> import torch
>>> from torch import nn
>>> _ = torch.manual_seed(0)
>>> lstm = nn.LSTM(3, 8, batch_first=True)
>>> set_forget_bias(lstm, 4.0)
>>> norms = gradient_vs_lag(lstm, torch.randn(2, 30, 3))
>>> norms.shape  # the gradient reaching each of the 30 steps, by lag from the last one
torch.Size([30])
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import NamedTuple

import torch
from torch import nn

from ._checks import require_floating, require_int, require_real, require_tensor

__all__ = [
    "LSTM_GATES",
    "RecallRun",
    "direct_path_gain",
    "forget_gates",
    "gradient_vs_lag",
    "lstm_gates",
    "per_step_factor",
    "set_forget_bias",
    "train_recall",
    "unroll",
]

LSTM_GATES = ("input", "forget", "cell", "output")
"""PyTorch's order of the four gate blocks in an LSTM's weights and biases (i, f, g, o)."""

_RECURRENT = (nn.RNN, nn.LSTM, nn.GRU)
_KINDS = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")


def _lstm_parameter_sets(lstm: object, caller: str) -> list[tuple[str, str, str, str]]:
    """The (weight_ih, weight_hh, bias_ih, bias_hh) names of every layer of an LSTM."""
    if isinstance(lstm, nn.LSTMCell):
        return [_KINDS]
    if isinstance(lstm, nn.LSTM):
        suffixes = [
            f"_l{layer}{'_reverse' * direction}"
            for layer in range(lstm.num_layers)
            for direction in range(2 if lstm.bidirectional else 1)
        ]
        return [tuple(f"{kind}{s}" for kind in _KINDS) for s in suffixes]  # type: ignore[misc]
    got = type(lstm).__name__
    hint = ""
    if isinstance(getattr(lstm, "rnn", None), nn.Module):
        hint = f"; for a model that holds one, pass its recurrent layer ({got}.rnn)"
    raise TypeError(f"{caller} needs an nn.LSTM or nn.LSTMCell, got {got}{hint}.")


def set_forget_bias(lstm: nn.LSTM | nn.LSTMCell, value: float) -> None:
    """Set the forget-gate bias of every layer of ``lstm`` to ``value``, in place.

    The forget gate is the second of PyTorch's four gate blocks (``i, f, g, o``), and the
    gate sees the *sum* ``bias_ih + bias_hh``. So this fills the forget block of
    ``bias_ih`` with ``value`` and that of ``bias_hh`` with 0: the total is ``value``.
    The other gates' biases are not touched. With inputs and hidden state near zero the
    forget gate is then about ``sigmoid(value)``: 0.5 for PyTorch's default of about 0,
    0.73 for 1 (Jozefowicz et al., 2015), 0.98 for 4.

    >>> cell = nn.LSTMCell(2, 3)
    >>> set_forget_bias(cell, 1.0)
    >>> (cell.bias_ih + cell.bias_hh)[3:6].tolist()  # rows 3 to 5: the forget gate
    [1.0, 1.0, 1.0]
    """
    parameter_sets = _lstm_parameter_sets(lstm, "set_forget_bias")
    value = require_real(value, "value")
    if not lstm.bias:
        raise ValueError("this LSTM was built with bias=False, so it has no forget bias to set.")
    hidden = lstm.hidden_size
    forget = slice(hidden, 2 * hidden)
    with torch.no_grad():
        for _, _, bias_ih, bias_hh in parameter_sets:
            getattr(lstm, bias_ih)[forget] = value
            getattr(lstm, bias_hh)[forget] = 0.0


def _check_one_layer(rnn: nn.Module, caller: str) -> None:
    if isinstance(rnn, nn.RNNBase):
        if rnn.num_layers != 1 or rnn.bidirectional:
            raise ValueError(
                f"{caller} works on one layer in one direction, got num_layers="
                f"{rnn.num_layers}, bidirectional={rnn.bidirectional}."
            )
        if getattr(rnn, "proj_size", 0):
            raise ValueError(f"{caller} does not handle an LSTM with proj_size > 0.")


def lstm_gates(
    lstm: nn.LSTM | nn.LSTMCell, x: torch.Tensor, h: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """The four gates ``(i, f, g, o)`` of one LSTM step, computed from the module's weights.

    ``x`` is a batch of inputs (N, input_size) and ``h`` the previous hidden state
    (N, hidden_size). Returned after their nonlinearities: ``i``, ``f``, ``o`` in (0, 1)
    (sigmoid), the candidate ``g`` in (-1, 1) (tanh). The step itself is then
    ``c_new = f * c + i * g`` and ``h_new = o * tanh(c_new)``.

    >>> cell = nn.LSTMCell(2, 3)
    >>> set_forget_bias(cell, 4.0)
    >>> with torch.no_grad():
    ...     _ = cell.weight_ih.zero_(), cell.weight_hh.zero_()
    >>> i, f, g, o = lstm_gates(cell, torch.randn(5, 2), torch.randn(5, 3))
    >>> round(f[0, 0].item(), 4)  # sigmoid(4)
    0.982
    """
    names = _lstm_parameter_sets(lstm, "lstm_gates")[0]  # layer 0: the only one
    _check_one_layer(lstm, "lstm_gates")
    x = require_floating(require_tensor(x, "x"), "x")
    h = require_floating(require_tensor(h, "h"), "h")
    expected = f"(N, {lstm.input_size}) and (N, {lstm.hidden_size})"
    if (
        x.dim() != 2
        or h.dim() != 2
        or x.shape[0] != h.shape[0]
        or (x.shape[1], h.shape[1]) != (lstm.input_size, lstm.hidden_size)
    ):
        raise ValueError(
            f"x and h must be batches of shapes {expected} with the same N, got "
            f"{tuple(x.shape)} and {tuple(h.shape)}."
        )
    weight_ih, weight_hh, bias_ih, bias_hh = (getattr(lstm, name, None) for name in names)
    pre = x @ weight_ih.T + h @ weight_hh.T
    if bias_ih is not None:
        pre = pre + bias_ih + bias_hh
    i, f, g, o = pre.chunk(4, dim=1)
    return torch.sigmoid(i), torch.sigmoid(f), torch.tanh(g), torch.sigmoid(o)


def _recurrent_layer(model: object, caller: str) -> tuple[nn.RNNBase, nn.Module | None]:
    """Split a model into its recurrent layer and its head (None for a bare layer)."""
    if isinstance(model, _RECURRENT):
        rnn, head = model, None
    elif isinstance(getattr(model, "rnn", None), _RECURRENT) and isinstance(
        getattr(model, "head", None), nn.Module
    ):
        rnn, head = model.rnn, model.head  # type: ignore[union-attr]
    else:
        raise TypeError(
            f"{caller} needs a SequenceModel or a one-layer nn.RNN, nn.LSTM or nn.GRU, "
            f"got {type(model).__name__}."
        )
    _check_one_layer(rnn, caller)
    return rnn, head


def _check_sequences(sequences: object, rnn: nn.RNNBase) -> torch.Tensor:
    sequences = require_floating(require_tensor(sequences, "sequences"), "sequences")
    if sequences.dim() != 3 or sequences.shape[2] != rnn.input_size:
        layout = "(N, T, features)" if rnn.batch_first else "(T, N, features)"
        raise ValueError(
            f"sequences must have shape {layout} with {rnn.input_size} features, "
            f"got {tuple(sequences.shape)}."
        )
    dtype = next(rnn.parameters()).dtype
    if sequences.dtype != dtype:
        raise TypeError(
            f"sequences are {sequences.dtype} but the model is {dtype}; convert one of them "
            "(for example model.double() and sequences.double())."
        )
    return sequences


def unroll(
    rnn: nn.RNN | nn.LSTM | nn.GRU, sequences: torch.Tensor
) -> tuple[list[torch.Tensor], list[torch.Tensor] | None]:
    """Run a one-layer recurrent module one time step at a time and keep every state.

    Returns the hidden states ``h_1 .. h_T``, each of shape (N, hidden_size), and for an
    LSTM the cell states ``c_1 .. c_T`` (None otherwise). Every step calls the module
    itself, so the values are the module's own; and because each state is the tensor the
    next step reads, ``torch.autograd.grad(loss, states)`` gives the gradient that reaches
    each time step.

    >>> hs, cs = unroll(nn.GRU(2, 4, batch_first=True), torch.randn(3, 6, 2))
    >>> len(hs), hs[0].shape, cs
    (6, torch.Size([3, 4]), None)
    """
    if not isinstance(rnn, _RECURRENT):
        raise TypeError(f"unroll needs an nn.RNN, nn.LSTM or nn.GRU, got {type(rnn).__name__}.")
    _check_one_layer(rnn, "unroll")
    sequences = _check_sequences(sequences, rnn)
    steps = sequences.unbind(1 if rnn.batch_first else 0)
    time_dim = 1 if rnn.batch_first else 0
    state = None
    hs: list[torch.Tensor] = []
    cs: list[torch.Tensor] = []
    for x in steps:
        _, state = rnn(x.unsqueeze(time_dim), state)
        if isinstance(rnn, nn.LSTM):
            h, c = state
            h, c = h[0], c[0]
            cs.append(c)
            state = (h.unsqueeze(0), c.unsqueeze(0))
        else:
            h = state[0]
            state = h.unsqueeze(0)
        hs.append(h)
    return hs, (cs if isinstance(rnn, nn.LSTM) else None)


def gradient_vs_lag(
    model: nn.Module,
    sequences: torch.Tensor,
    *,
    loss: Callable[[torch.Tensor], torch.Tensor] | None = None,
) -> torch.Tensor:
    """The size of the gradient that reaches each time step, by lag from the last step.

    ``model`` is a :class:`~course_utils.models.SequenceModel` (its output is the head
    applied to the last hidden state) or a bare one-layer ``nn.RNN``, ``nn.LSTM`` or
    ``nn.GRU`` (its output is the last hidden state). ``loss`` turns that output into a
    number (default: its sum). Returns a 1-D tensor whose entry ``k`` is
    ``‖∂L/∂h_{T-k}‖``, over the whole batch: entry 0 is the last step, entry ``T-1`` the
    first.

    It is the gradient with respect to the hidden state ``h_t`` that the next step reads,
    through every path after it: exactly what the backward pass delivers to that step.
    (For an LSTM the state is the pair ``h_t, c_t``; this measures its ``h`` part, as
    :func:`unroll` returns it.) Compute in float64 for long sequences: a vanishing
    gradient soon falls below float32's smallest number.

    >>> rnn = nn.RNN(1, 4, batch_first=True)
    >>> norms = gradient_vs_lag(rnn, torch.randn(2, 10, 1))
    >>> norms.shape, bool(norms[-1] < norms[0])
    (torch.Size([10]), True)
    """
    rnn, head = _recurrent_layer(model, "gradient_vs_lag")
    if loss is not None and not callable(loss):
        raise TypeError(f"loss must be a function of the output, got {type(loss).__name__}.")
    with torch.enable_grad():
        hs, _ = unroll(rnn, sequences)
        output = hs[-1] if head is None else head(hs[-1])
        value = output.sum() if loss is None else loss(output)
        if not (isinstance(value, torch.Tensor) and value.numel() == 1):
            raise ValueError("loss must return a single number (a tensor with one element).")
        grads = torch.autograd.grad(value, hs)
    return torch.stack([g.detach().norm() for g in reversed(grads)])


def per_step_factor(norms: torch.Tensor, *, skip: int = 0) -> float:
    """The factor by which a gradient changes per step of lag: a least-squares fit of
    ``log(norms)`` against the lag, from lag ``skip`` on (to leave out a first transient).

    >>> round(per_step_factor(torch.tensor([1.0, 0.5, 0.25, 0.125])), 6)
    0.5
    """
    norms = require_floating(require_tensor(norms, "norms"), "norms").detach()
    skip = require_int(skip, "skip", minimum=0)
    if norms.dim() != 1 or norms.numel() - skip < 2:
        raise ValueError(
            f"norms must be 1-D with at least skip + 2 = {skip + 2} values, "
            f"got shape {tuple(norms.shape)}."
        )
    values = norms[skip:].to(torch.float64)
    if not bool((values > 0).all()):
        raise ValueError(
            "norms must be positive to take their log; a zero means the gradient underflowed: "
            "measure in float64, or over fewer steps."
        )
    lags = torch.arange(values.numel(), dtype=torch.float64)
    logs = values.log()
    centred = lags - lags.mean()
    slope = (centred * (logs - logs.mean())).sum() / (centred**2).sum()
    return math.exp(slope.item())


def forget_gates(lstm: nn.LSTM, sequences: torch.Tensor) -> torch.Tensor:
    """The forget gates of a one-layer LSTM along a batch of sequences: shape (T, N, hidden).

    Entry ``t`` is the gate ``f`` that multiplies the cell state *entering* step ``t``.

    >>> lstm = nn.LSTM(2, 3, batch_first=True)
    >>> set_forget_bias(lstm, 100.0)
    >>> bool(forget_gates(lstm, torch.randn(4, 5, 2)).min() > 0.999)
    True
    """
    if not isinstance(lstm, nn.LSTM):
        raise TypeError(f"forget_gates needs an nn.LSTM, got {type(lstm).__name__}.")
    with torch.no_grad():
        hs, _ = unroll(lstm, sequences)
        inputs = sequences.unbind(1 if lstm.batch_first else 0)
        previous = [torch.zeros_like(hs[0]), *hs[:-1]]
        return torch.stack(
            [lstm_gates(lstm, x, h)[1] for x, h in zip(inputs, previous, strict=True)]
        )


def direct_path_gain(gates: torch.Tensor) -> torch.Tensor:
    """What the cell state's direct path keeps of a gradient, by lag: entry ``k`` is the
    product of the *last* ``k`` forget gates, averaged over units (and sequences).

    ``gates`` holds the forget gates in time order along dimension 0, shape (T, ...), as
    :func:`forget_gates` returns them. Along the cell state alone (``C_t = f_t * C_{t-1}``
    plus what is written) ``∂C_T/∂C_{T-k}`` is ``f_T * ... * f_{T-k+1}`` for each unit, so
    entry 0 is 1 and entry ``T`` is the product of all the gates: ``T + 1`` entries.

    >>> direct_path_gain(torch.tensor([[0.1, 0.1], [0.5, 1.0]]))  # two steps, two units
    tensor([1.0000, 0.7500, 0.0750])
    """
    gates = require_floating(require_tensor(gates, "gates"), "gates").detach()
    if gates.dim() < 1 or gates.shape[0] == 0:
        raise ValueError(f"gates must have a time dimension first, got shape {tuple(gates.shape)}.")
    products = gates.flip(0).cumprod(dim=0)  # the last gate, the last two, ...
    gain = products.reshape(gates.shape[0], -1).mean(dim=1)
    return torch.cat([gain.new_ones(1), gain])


class RecallRun(NamedTuple):
    """What :func:`train_recall` returns: the trained model, the loss at every step, and
    the accuracy on 1,000 fresh test sequences."""

    model: nn.Module
    losses: list[float]
    accuracy: float


def train_recall(
    cell: str,
    lag: int,
    *,
    forget_bias: float | None = None,
    hidden_size: int = 32,
    steps: int = 150,
    batch_size: int = 64,
    lr: float = 1e-2,
    seed: int = 0,
) -> RecallRun:
    """Train a :class:`~course_utils.models.SequenceModel` on the recall task at one lag.

    ``cell`` is "rnn", "lstm" or "gru"; ``forget_bias`` (LSTM only) is set with
    :func:`set_forget_bias` before training, None keeps PyTorch's default. Every step
    draws a fresh batch of :func:`~course_utils.data.recall_task` (4 symbols, noise 0.5)
    and takes one Adam step on the cross-entropy; the test set is 1,000 other sequences.
    Deterministic for a given ``seed``. Guessing scores 25%.

    >>> run = train_recall("rnn", lag=3, steps=5)
    >>> len(run.losses), 0 <= run.accuracy <= 1
    (5, True)
    """
    from .data import recall_task  # keeps importing this module light
    from .models import SequenceModel

    lag = require_int(lag, "lag", minimum=1)
    steps = require_int(steps, "steps", minimum=1)
    batch_size = require_int(batch_size, "batch_size", minimum=1)
    seed = require_int(seed, "seed", minimum=0)
    lr = require_real(lr, "lr", positive=True)
    if forget_bias is not None and cell != "lstm":
        raise ValueError(f"forget_bias is for cell='lstm' only, got cell={cell!r}.")
    symbols = 4
    torch.manual_seed(seed)
    model = SequenceModel(cell, symbols + 1, hidden_size, out_features=symbols)
    if forget_bias is not None:
        set_forget_bias(model.rnn, forget_bias)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    losses = []
    for step in range(steps):
        sequences, targets = recall_task(batch_size, lag, seed=10_000 * seed + step + 1)
        loss = nn.functional.cross_entropy(model(sequences), targets)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    test_sequences, test_targets = recall_task(1000, lag, seed=10_000 * seed)
    with torch.no_grad():
        predictions = model(test_sequences).argmax(dim=1)
    accuracy = (predictions == test_targets).double().mean().item()
    return RecallRun(model, losses, accuracy)
