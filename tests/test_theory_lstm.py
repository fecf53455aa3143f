"""The claims notebook 08 teaches about the LSTM's cell state and forget gates, asserted.

Each claim is checked on three seeds where the notebook shows one: the same recall task,
hidden size 32 and PyTorch's default initialisation apart from the forget bias.
"""

from functools import cache

import pytest
import torch
from torch import nn

from course_utils.data import recall_task
from course_utils.models import SequenceModel
from course_utils.recurrent import (
    forget_gates,
    gradient_vs_lag,
    lstm_gates,
    per_step_factor,
    set_forget_bias,
    train_recall,
)

SEEDS = (0, 1, 2)
HIDDEN = 32


@cache
def recall_batch():
    return recall_task(256, lag=100, seed=0, dtype=torch.float64)


def model(cell, seed, forget_bias=None):
    torch.manual_seed(seed)
    net = SequenceModel(cell, 5, HIDDEN, out_features=4).double()
    if forget_bias is not None:
        set_forget_bias(net.rnn, forget_bias)
    return net


def norms_by_lag(net):
    sequences, targets = recall_batch()
    return gradient_vs_lag(
        net, sequences, loss=lambda out: nn.functional.cross_entropy(out, targets)
    )


def test_pytorch_initialises_rnn_weights_with_n_var_one_third():
    torch.manual_seed(0)
    rnn = nn.RNN(4, 256)
    assert 256 * rnn.weight_hh_l0.var().item() == pytest.approx(1 / 3, rel=0.02)
    assert rnn.weight_hh_l0.abs().max().item() <= 256**-0.5


@pytest.mark.parametrize("seed", SEEDS)
def test_a_vanilla_rnn_gradient_shrinks_by_about_one_over_root_three_per_step(seed):
    factor = per_step_factor(norms_by_lag(model("rnn", seed)))
    assert factor == pytest.approx(3**-0.5, rel=0.1)


@pytest.mark.parametrize("seed", SEEDS)
def test_the_cell_state_update_is_what_nn_lstmcell_computes(seed):
    torch.manual_seed(seed)
    cell = nn.LSTMCell(5, HIDDEN).double()
    x = torch.randn(16, 5, dtype=torch.float64)
    h, c = (
        torch.randn(16, HIDDEN, dtype=torch.float64),
        torch.randn(16, HIDDEN, dtype=torch.float64),
    )
    i, f, g, o = lstm_gates(cell, x, h)
    h_torch, c_torch = cell(x, (h, c))
    assert torch.allclose(f * c + i * g, c_torch, rtol=0, atol=1e-14)
    assert torch.allclose(o * torch.tanh(f * c + i * g), h_torch, rtol=0, atol=1e-14)


def cell_state_jacobians(seed, forget_bias, steps=20):
    """∂C_T/∂C_0 of a real nn.LSTMCell: direct path (h detached), in full, and ∏ f."""
    torch.manual_seed(seed)
    cell = nn.LSTMCell(5, HIDDEN).double()
    if forget_bias is not None:
        set_forget_bias(cell, forget_bias)
    inputs = recall_batch()[0][seed : seed + 1]
    c0 = torch.zeros(1, HIDDEN, dtype=torch.float64)  # the usual start

    def final_cell_state(c, detach_h, gates=None):
        h = torch.zeros(1, HIDDEN, dtype=torch.float64)
        for t in range(1, steps + 1):
            if gates is not None:
                gates.append(lstm_gates(cell, inputs[:, t], h)[1][0])
            h, c = cell(inputs[:, t], (h.detach() if detach_h else h, c))
        return c

    direct = torch.autograd.functional.jacobian(lambda c: final_cell_state(c, True), c0)
    full = torch.autograd.functional.jacobian(lambda c: final_cell_state(c, False), c0)
    gates = []
    with torch.no_grad():
        final_cell_state(c0, False, gates)
    return direct[0, :, 0], full[0, :, 0], torch.stack(gates).prod(dim=0)


@pytest.mark.parametrize("forget_bias", [None, 1.0, 4.0])
@pytest.mark.parametrize("seed", SEEDS)
def test_the_direct_path_is_exactly_the_product_of_the_forget_gates(seed, forget_bias):
    direct, _, product = cell_state_jacobians(seed, forget_bias)
    assert torch.equal(direct, torch.diag(direct.diagonal()))  # off-diagonal exactly 0
    assert torch.allclose(direct.diagonal(), product, rtol=1e-13, atol=0)


@pytest.mark.parametrize("seed", SEEDS)
def test_the_paths_through_h_dominate_closed_gates_and_add_to_open_ones(seed):
    direct, full, product = cell_state_jacobians(seed, None)
    assert product.mean() < 1e-4  # the default highway is closed after 20 steps
    assert full.norm() / direct.norm() > 10
    direct, full, _ = cell_state_jacobians(seed, 4.0)
    assert 2 < full.norm() / direct.norm() < 5


@pytest.mark.parametrize("seed", SEEDS)
def test_forget_gates_start_at_sigmoid_of_the_bias(seed):
    sequences = recall_batch()[0]
    kept = {}
    for bias in (None, 1.0, 4.0):
        gates = forget_gates(model("lstm", seed, bias).rnn, sequences)
        expected = torch.sigmoid(torch.tensor(bias or 0.0)).item()
        assert gates.mean().item() == pytest.approx(expected, abs=0.02)
        kept[bias] = gates[1:].prod(dim=0).median().item()
    assert kept[None] < kept[1.0] < 1e-10 < 0.1 < kept[4.0]


@pytest.mark.parametrize("seed", SEEDS)
def test_only_open_forget_gates_keep_the_gradient_over_100_steps(seed):
    curves = {"rnn": norms_by_lag(model("rnn", seed)), "gru": norms_by_lag(model("gru", seed))}
    for bias in (None, 1.0, 4.0):
        curves[bias] = norms_by_lag(model("lstm", seed, bias))
    factor = {name: per_step_factor(norms, skip=1) for name, norms in curves.items()}
    assert factor["rnn"] < factor["gru"] < 0.7 and factor[None] < 0.7
    assert 0.7 < factor[1.0] < 0.95 and 0.98 < factor[4.0] < 1.1
    sequences = recall_batch()[0]
    for bias in (None, 1.0, 4.0):
        assert curves[bias][1] / curves[bias][0] < 0.2  # the drop on the first step back
        average_f = forget_gates(model("lstm", seed, bias).rnn, sequences).mean().item()
        assert factor[bias] > average_f  # the side roads add to the direct path


@pytest.mark.parametrize("seed", SEEDS)
def test_ten_steps_back_the_default_lstm_gets_the_rnns_gradient_and_bias_1_ten_times_more(seed):
    def ten_back(net):
        norms = norms_by_lag(net)
        return (norms[10] / norms[0]).item()

    rnn, default = ten_back(model("rnn", seed)), ten_back(model("lstm", seed))
    bias_1 = ten_back(model("lstm", seed, 1.0))
    assert 1 / 3 < default / rnn < 3
    assert bias_1 > 5 * default


def accuracy(cell, lag, forget_bias, seed):
    return train_recall(cell, lag, forget_bias=forget_bias, seed=seed).accuracy


def test_at_lag_10_the_rnn_and_a_bias_1_lstm_learn_and_the_default_lstm_does_not():
    assert sum(accuracy("rnn", 10, None, seed) > 0.95 for seed in SEEDS) >= 2
    assert all(accuracy("lstm", 10, None, seed) < 0.6 for seed in SEEDS)
    assert all(accuracy("lstm", 10, 1.0, seed) > 0.95 for seed in SEEDS)


def test_at_lag_30_only_the_lstm_with_open_forget_gates_learns():
    assert all(accuracy("rnn", 30, None, seed) < 0.3 for seed in SEEDS)
    assert all(accuracy("lstm", 30, 1.0, seed) < 0.3 for seed in SEEDS)
    assert all(accuracy("lstm", 30, 4.0, seed) > 0.95 for seed in SEEDS)
