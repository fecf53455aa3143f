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
    return forget_gates.prod(dim=0)  # the key line
    # Each step multiplies the old cell state by f_t, unit by unit, and adds something that
    # does not depend on it, so ∂C_t/∂C_{t-1} is the diagonal matrix of f_t along this path.
    # A chain of T diagonal matrices is diagonal: its entries are the products of the gates.
    # With f = 0.5 that is 0.5**T, gone after a few dozen steps; with f = 0.98 the
    # gradient keeps more than a third of its size after 50 steps.


def forget_bias_for(keep: float, steps: int) -> float:
    gate = keep ** (1 / steps)  # the constant f with f**steps == keep
    return math.log(gate / (1 - gate))  # the key line: the logit, inverse of the sigmoid
    # Keeping half of the cell state (and of the gradient along the direct path) over 100
    # steps needs f = 0.9931, a bias of about 5. The default bias of 0 (f = 0.5) keeps
    # 0.5**100, about 1e-30; Jozefowicz et al.'s bias of 1 (f = 0.73) keeps about 2.5e-14.
