"""Solutions for notebook 08, the LSTM's cell state as a gradient highway."""

from __future__ import annotations

import math

import torch


def lstm_cell_step(
    x: torch.Tensor,
    h: torch.Tensor,
    c: torch.Tensor,
    weight_ih: torch.Tensor,
    weight_hh: torch.Tensor,
    bias_ih: torch.Tensor,
    bias_hh: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor]:
    pre = x @ weight_ih.T + h @ weight_hh.T + bias_ih + bias_hh
    i, f, g, o = pre.chunk(4, dim=1)  # PyTorch's gate order: input, forget, cell, output
    i, f, g, o = torch.sigmoid(i), torch.sigmoid(f), torch.tanh(g), torch.sigmoid(o)
    c_new = f * c + i * g  # the key line
    h_new = o * torch.tanh(c_new)
    return h_new, c_new
    # The new cell state is the old one, scaled unit by unit by f, plus what the input gate
    # lets in. No weight matrix and no squashing function stands between c and c_new: that
    # is the path along which the gradient can travel far back. Note the two biases: the
    # gate sees their sum, which is why set_forget_bias sets one and zeroes the other.


def direct_path_gradient(forget_gates: torch.Tensor) -> torch.Tensor:
    backwards = forget_gates.flip(0)  # the last gate first: the order the gradient meets them
    products = backwards.cumprod(dim=0)  # the key line: row k - 1 is f_T ... f_(T-k+1), per unit
    per_lag = products.reshape(len(products), -1).mean(dim=1)  # average each lag over units
    return torch.cat([torch.ones_like(per_lag[:1]), per_lag])  # lag 0: C_T itself, gradient 1
    # Along the cell state alone, ∂C_t/∂C_(t-1) is diag(f_t), so k steps back the gradient of
    # each unit has been multiplied by the last k gates, and by nothing else. Two traps: the
    # order (the gradient starts at the end), and the average (each unit multiplies its own
    # gates; the mean of the products is not the product of the mean gates, because one
    # small gate anywhere on a unit's chain shuts that unit's path). This is the explorer's
    # dashed line: with f = 0.5 it falls as 0.5**k, with f = 0.98 it keeps a third after
    # 50 steps.


def forget_bias_for(keep: float, steps: int) -> float:
    gate = keep ** (1 / steps)  # the constant f with f**steps == keep
    return math.log(gate / (1 - gate))  # the key line: the logit, inverse of the sigmoid
    # Keeping half of the cell state (and of the gradient along the direct path) over 100
    # steps needs f = 0.9931, a bias of about 5. The default bias of 0 (f = 0.5) keeps
    # 0.5**100, about 1e-30; Jozefowicz et al.'s bias of 1 (f = 0.73) keeps about 2.5e-14.
