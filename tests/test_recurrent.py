"""course_utils.recurrent: gates in PyTorch's order, the forget bias, per-step gradients."""

import math

import pytest
import torch
from torch import nn

from course_utils.models import SequenceModel
from course_utils.recurrent import (
    LSTM_GATES,
    direct_path_gain,
    forget_gates,
    gradient_vs_lag,
    lstm_gates,
    per_step_factor,
    set_forget_bias,
    train_recall,
    unroll,
)


def test_gate_order_is_pytorchs():
    assert LSTM_GATES == ("input", "forget", "cell", "output")


@pytest.mark.parametrize("module", [nn.LSTMCell(3, 4), nn.LSTM(3, 4, num_layers=2)])
def test_set_forget_bias_sets_the_sum_of_both_biases_and_nothing_else(module):
    before = {name: p.detach().clone() for name, p in module.named_parameters()}
    set_forget_bias(module, 2.5)
    for name, parameter in module.named_parameters():
        if name.startswith("weight"):
            assert torch.equal(parameter, before[name])
            continue
        others = torch.cat([parameter[:4], parameter[8:]])
        assert torch.equal(others, torch.cat([before[name][:4], before[name][8:]]))
    biases = [n for n in before if n.startswith("bias_ih")]
    for name in biases:
        total = getattr(module, name) + getattr(module, name.replace("_ih", "_hh"))
        assert total[4:8].tolist() == [2.5] * 4


def test_set_forget_bias_reaches_both_directions_of_a_bidirectional_lstm():
    lstm = nn.LSTM(2, 3, bidirectional=True)
    set_forget_bias(lstm, 1.0)
    assert lstm.bias_ih_l0_reverse[3:6].tolist() == [1.0] * 3
    assert lstm.bias_hh_l0_reverse[3:6].tolist() == [0.0] * 3


def test_a_forget_bias_opens_the_forget_gate_to_sigmoid_of_it():
    lstm = nn.LSTM(2, 16, batch_first=True)
    with torch.no_grad():
        lstm.weight_ih_l0.zero_()
        lstm.weight_hh_l0.zero_()
    set_forget_bias(lstm, 3.0)
    gates = forget_gates(lstm, torch.randn(4, 7, 2))
    assert gates.shape == (7, 4, 16)
    assert torch.allclose(gates, torch.sigmoid(torch.tensor(3.0)).expand_as(gates))


def test_set_forget_bias_explains_what_it_needs():
    with pytest.raises(
        TypeError, match=r"set_forget_bias needs an nn\.LSTM or nn\.LSTMCell, got GRU"
    ):
        set_forget_bias(nn.GRU(2, 3), 1.0)
    with pytest.raises(TypeError, match=r"pass its recurrent layer \(SequenceModel.rnn\)"):
        set_forget_bias(SequenceModel("lstm", 2, 3), 1.0)
    with pytest.raises(ValueError, match="bias=False"):
        set_forget_bias(nn.LSTM(2, 3, bias=False), 1.0)
    with pytest.raises(TypeError, match="value must be a real number"):
        set_forget_bias(nn.LSTM(2, 3), "1")
    with pytest.raises(ValueError, match="finite"):
        set_forget_bias(nn.LSTM(2, 3), math.inf)


@pytest.mark.parametrize("module", [nn.LSTMCell(3, 5), nn.LSTM(3, 5)])
def test_lstm_gates_reproduce_the_modules_own_step(module):
    module = module.double()
    x = torch.randn(4, 3, dtype=torch.float64)
    h = torch.randn(4, 5, dtype=torch.float64)
    c = torch.randn(4, 5, dtype=torch.float64)
    i, f, g, o = lstm_gates(module, x, h)
    c_new = f * c + i * g
    h_new = o * torch.tanh(c_new)
    if isinstance(module, nn.LSTMCell):
        h_torch, c_torch = module(x, (h, c))
    else:
        _, (h_torch, c_torch) = module(x.unsqueeze(0), (h.unsqueeze(0), c.unsqueeze(0)))
        h_torch, c_torch = h_torch[0], c_torch[0]
    assert torch.allclose(c_new, c_torch, atol=1e-14)
    assert torch.allclose(h_new, h_torch, atol=1e-14)


@pytest.mark.parametrize("module", [nn.LSTMCell(2, 3, bias=False), nn.LSTM(2, 3, bias=False)])
def test_lstm_gates_without_biases(module):
    with torch.no_grad():
        for parameter in module.parameters():
            parameter.zero_()
    _, f, g, _ = lstm_gates(module, torch.ones(1, 2), torch.ones(1, 3))
    assert torch.equal(f, torch.full((1, 3), 0.5)) and torch.equal(g, torch.zeros(1, 3))


def test_lstm_gates_rejects_bad_input():
    with pytest.raises(TypeError, match=r"lstm_gates needs an nn\.LSTM or nn\.LSTMCell, got RNN"):
        lstm_gates(nn.RNN(2, 3), torch.zeros(1, 2), torch.zeros(1, 3))
    with pytest.raises(ValueError, match="one layer"):
        lstm_gates(nn.LSTM(2, 3, num_layers=2), torch.zeros(1, 2), torch.zeros(1, 3))
    with pytest.raises(ValueError, match="same N"):
        lstm_gates(nn.LSTMCell(2, 3), torch.zeros(2, 2), torch.zeros(1, 3))
    with pytest.raises(ValueError, match=r"shapes \(N, 2\) and \(N, 3\)"):
        lstm_gates(nn.LSTMCell(2, 3), torch.zeros(1, 4), torch.zeros(1, 3))
    with pytest.raises(TypeError, match=r"x must be a torch\.Tensor"):
        lstm_gates(nn.LSTMCell(2, 3), [[0.0, 0.0]], torch.zeros(1, 3))


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
@pytest.mark.parametrize("batch_first", [True, False])
def test_unroll_matches_the_full_sequence_forward(cell, batch_first):
    rnn = SequenceModel.CELLS[cell](2, 4, batch_first=batch_first).double()
    sequences = torch.randn(3, 6, 2, dtype=torch.float64)
    if not batch_first:
        sequences = sequences.transpose(0, 1)
    outputs, _ = rnn(sequences)
    hs, cs = unroll(rnn, sequences)
    stacked = torch.stack(hs, dim=1 if batch_first else 0)
    assert torch.allclose(stacked, outputs, atol=1e-14)
    assert (cs is not None) == (cell == "lstm")


def test_gradient_vs_lag_matches_autograd_on_the_full_sequence():
    """Entry k is the gradient reaching step T-k; at lag 0 it is what the head sends back."""
    torch.manual_seed(0)
    model = SequenceModel("lstm", 2, 4).double()
    sequences = torch.randn(3, 5, 2, dtype=torch.float64)
    norms = gradient_vs_lag(model, sequences)
    outputs, _ = model.rnn(sequences)
    last = outputs[:, -1].detach().requires_grad_()
    (grad,) = torch.autograd.grad(model.head(last).sum(), last)
    assert norms.shape == (5,)
    assert norms[0].item() == pytest.approx(grad.norm().item(), rel=1e-12)
    assert bool((norms > 0).all())


def test_gradient_vs_lag_of_a_linear_rnn_is_a_power_of_its_weight():
    """tanh is the identity near zero: with tiny inputs h_t = W h_{t-1}, so each step back
    multiplies the gradient by W transposed, here 0.5 times the identity."""
    rnn = nn.RNN(1, 3, batch_first=True, bias=False).double()
    with torch.no_grad():
        rnn.weight_hh_l0.copy_(0.5 * torch.eye(3, dtype=torch.float64))
    sequences = 1e-9 * torch.ones(1, 8, 1, dtype=torch.float64)
    norms = gradient_vs_lag(rnn, sequences)
    assert per_step_factor(norms) == pytest.approx(0.5, rel=1e-9)


def test_gradient_vs_lag_takes_a_loss_of_the_output():
    torch.manual_seed(0)
    model = SequenceModel("gru", 2, 4, out_features=3)
    sequences = torch.randn(5, 6, 2)
    targets = torch.tensor([0, 1, 2, 0, 1])
    norms = gradient_vs_lag(
        model, sequences, loss=lambda out: nn.functional.cross_entropy(out, targets)
    )
    assert norms.shape == (6,) and bool((norms > 0).all())


def test_gradient_vs_lag_explains_bad_input():
    with pytest.raises(TypeError, match="needs a SequenceModel or a one-layer"):
        gradient_vs_lag(nn.Linear(2, 2), torch.zeros(1, 3, 2))
    with pytest.raises(ValueError, match="one layer in one direction"):
        gradient_vs_lag(nn.GRU(2, 3, num_layers=2), torch.zeros(1, 3, 2))
    with pytest.raises(ValueError, match=r"shape \(N, T, features\) with 2 features"):
        gradient_vs_lag(SequenceModel("rnn", 2, 3), torch.zeros(1, 3, 4))
    with pytest.raises(TypeError, match=r"model\.double"):
        gradient_vs_lag(SequenceModel("rnn", 2, 3), torch.zeros(1, 3, 2, dtype=torch.float64))
    with pytest.raises(ValueError, match="single number"):
        gradient_vs_lag(SequenceModel("rnn", 2, 3), torch.zeros(2, 3, 2), loss=lambda out: out)
    with pytest.raises(TypeError, match="loss must be a function"):
        gradient_vs_lag(SequenceModel("rnn", 2, 3), torch.zeros(2, 3, 2), loss=1.0)


def test_per_step_factor_fits_a_geometric_decay_and_refuses_zeros():
    norms = 3.0 * 0.8 ** torch.arange(20, dtype=torch.float64)
    assert per_step_factor(norms) == pytest.approx(0.8, rel=1e-12)
    bumpy = torch.cat([torch.tensor([100.0]), norms])
    assert per_step_factor(bumpy, skip=1) == pytest.approx(0.8, rel=1e-12)
    with pytest.raises(ValueError, match="underflowed"):
        per_step_factor(torch.tensor([1.0, 0.0, 0.5]))
    with pytest.raises(ValueError, match="at least skip"):
        per_step_factor(torch.tensor([1.0, 0.5]), skip=1)


def test_direct_path_gain_is_autograd_along_the_cell_state_alone():
    gates = torch.rand(6, 3, 4, dtype=torch.float64)
    states = [torch.ones(3, 4, dtype=torch.float64, requires_grad=True)]
    for f in gates:
        states.append(f * states[-1] + 1.0)  # what is written does not depend on C_{t-1}
    grads = torch.autograd.grad(states[-1].sum(), states)  # ∂C_T/∂C_t, unit by unit
    expected = torch.stack([g.mean() for g in reversed(grads)])
    assert torch.allclose(direct_path_gain(gates), expected, rtol=1e-13, atol=0)
    with pytest.raises(ValueError, match="time dimension first"):
        direct_path_gain(torch.tensor(0.5))


def test_forget_gates_needs_an_lstm():
    with pytest.raises(TypeError, match=r"forget_gates needs an nn\.LSTM, got GRU"):
        forget_gates(nn.GRU(2, 3), torch.zeros(1, 3, 2))


def test_train_recall_is_deterministic_and_checks_its_arguments():
    first = train_recall("lstm", 3, forget_bias=1.0, steps=3, seed=2)
    again = train_recall("lstm", 3, forget_bias=1.0, steps=3, seed=2)
    assert first.losses == again.losses and first.accuracy == again.accuracy
    with pytest.raises(ValueError, match="forget_bias is for cell='lstm' only"):
        train_recall("rnn", 3, forget_bias=1.0)
    with pytest.raises(ValueError, match="unknown cell"):
        train_recall("transformer", 3)
    with pytest.raises(ValueError, match="lag must be at least 1"):
        train_recall("rnn", 0)
