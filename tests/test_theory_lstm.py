"""The claims notebook 08 teaches about the LSTM's cell state and forget gates, asserted.

Each claim is checked on three seeds where the notebook shows one: the same recall task,
hidden size 32 and PyTorch's default initialisation apart from the forget bias.
"""

import math
from functools import cache

import pytest
import torch
from torch import nn

from course_utils.data import recall_task
from course_utils.exercises import lstm as exercises
from course_utils.models import SequenceModel
from course_utils.recurrent import (
    forget_gates,
    gradient_vs_lag,
    lstm_gates,
    per_step_factor,
    set_forget_bias,
    train_recall,
    unroll,
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


@cache
def curve(cell, seed, forget_bias=None):
    """‖∂L/∂h_(T-k)‖ / ‖∂L/∂h_T‖ at initialisation, for k = 0 to 100."""
    sequences, targets = recall_batch()
    norms = gradient_vs_lag(
        model(cell, seed, forget_bias),
        sequences,
        loss=lambda out: nn.functional.cross_entropy(out, targets),
    )
    return norms / norms[0]


def test_pytorch_initialises_rnn_weights_with_n_var_one_third():
    torch.manual_seed(0)
    rnn = nn.RNN(4, 256)
    assert 256 * rnn.weight_hh_l0.var().item() == pytest.approx(1 / 3, rel=0.02)
    assert rnn.weight_hh_l0.abs().max().item() <= 256**-0.5


@pytest.mark.parametrize("seed", SEEDS)
def test_a_vanilla_rnn_gradient_shrinks_at_about_the_spectral_radius_one_over_root_3(seed):
    """The same W_hh at every step: notebook 04's one matrix, powered (circular law)."""
    weight = model("rnn", seed).rnn.weight_hh_l0.detach()
    radius = torch.linalg.eigvals(weight).abs().max().item()
    assert radius == pytest.approx(3**-0.5, rel=0.1)
    assert per_step_factor(curve("rnn", seed)) == pytest.approx(3**-0.5, rel=0.1)


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


@cache
def cell_state_jacobians(seed, forget_bias, steps=20):
    """∂C_T/∂C_0 of a real nn.LSTM from the zero state: direct path (h detached), in full,
    and the product of the forget gates, as the notebook computes them."""
    torch.manual_seed(seed)
    lstm = nn.LSTM(5, HIDDEN, batch_first=True).double()
    if forget_bias is not None:
        set_forget_bias(lstm, forget_bias)
    inputs = recall_batch()[0][seed : seed + 1, 1 : steps + 1]

    def final_cell_state(c, detach_h):
        h = torch.zeros_like(c)
        for t in range(steps):
            _, (h, c) = lstm(inputs[:, t : t + 1], (h.detach() if detach_h else h, c))
        return c

    c0 = torch.zeros(1, 1, HIDDEN, dtype=torch.float64)
    jacobian = torch.autograd.functional.jacobian
    direct = jacobian(lambda c: final_cell_state(c, True), c0).reshape(HIDDEN, HIDDEN)
    full = jacobian(lambda c: final_cell_state(c, False), c0).reshape(HIDDEN, HIDDEN)
    return direct, full, forget_gates(lstm, inputs).prod(dim=0)[0]


@pytest.mark.parametrize("forget_bias", [None, 1.0, 4.0])
@pytest.mark.parametrize("seed", SEEDS)
def test_the_direct_path_is_exactly_the_product_of_the_forget_gates(seed, forget_bias):
    direct, _, product = cell_state_jacobians(seed, forget_bias)
    assert torch.equal(direct, torch.diag(direct.diagonal()))  # off-diagonal exactly 0
    assert torch.allclose(direct.diagonal(), product, rtol=1e-13, atol=0)


@pytest.mark.parametrize("seed", SEEDS)
def test_the_paths_through_h_carry_closed_gates_and_mix_the_units_of_open_ones(seed):
    direct, full, product = cell_state_jacobians(seed, None)
    off_diagonal = full - torch.diag(full.diagonal())
    assert product.mean() < 1e-4  # the default highway is closed after 20 steps
    assert full.norm() / direct.norm() > 10 and off_diagonal.norm() > 0.95 * full.norm()
    direct, full, product = cell_state_jacobians(seed, 4.0)
    off_diagonal = full - torch.diag(full.diagonal())
    assert product.mean() > 0.5
    assert 2 < full.norm() / direct.norm() < 5 and off_diagonal.norm() / direct.norm() > 2
    ratio = full.diagonal() / product  # on each unit's own diagonal: close to ∏ f
    assert 0.8 < ratio.median() < 1.25 and ratio.min() > 0 and ratio.max() < 4


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
    factor = {cell: per_step_factor(curve(cell, seed), skip=1) for cell in ("rnn", "gru")}
    for bias in (None, 1.0, 4.0):
        factor[bias] = per_step_factor(curve("lstm", seed, bias), skip=1)
        assert 0.1 < curve("lstm", seed, bias)[1] < 0.2  # the drop on the first step back
    assert factor["rnn"] < factor["gru"] < 0.7 and factor[None] < 0.7
    assert 0.7 < factor[1.0] < 0.95
    assert curve("lstm", seed, 4.0)[2:].min() > 0.01  # bias 4: no longer vanishing


@pytest.mark.parametrize("seed", SEEDS)
def test_with_open_gates_the_cell_state_saturates_so_the_gradient_sags_then_climbs(seed):
    """Bias 4: where tanh(c) saturates the side roads carry little and the gradient shrinks
    by about the gates alone; near the start, where c is small, it grows again."""
    bias_4 = curve("lstm", seed, 4.0)
    sigmoid_4 = 1 / (1 + math.exp(-4))
    assert per_step_factor(bias_4[2:33]) == pytest.approx(sigmoid_4, abs=0.03)
    assert per_step_factor(bias_4[92:]) > 1.05
    with torch.no_grad():
        _, cell_states = unroll(model("lstm", seed, 4.0).rnn, recall_batch()[0])
    start, end = cell_states[5], cell_states[100]
    assert start.abs().mean() < 1 and (1 - start.tanh() ** 2).mean() > 0.6
    assert end.abs().mean() > 4 and (1 - end.tanh() ** 2).mean() < 0.2
    if seed == 0:  # the notebook's network: flat within a factor of 4 after lag 2
        assert bias_4[2:].max() / bias_4[2:].min() < 4
    else:  # the two others climb more: 2 to 3 times the last step's gradient at lag 100
        assert 2 < bias_4[100] < 3


@pytest.mark.parametrize("seed", SEEDS)
def test_ten_steps_back_the_default_lstm_gets_about_the_rnns_gradient(seed):
    assert 1 / 3 < curve("lstm", seed)[10] / curve("rnn", seed)[10] < 3


@cache
def run(cell, lag, forget_bias, seed):
    return train_recall(cell, lag, forget_bias=forget_bias, seed=seed)


def final_loss(result):
    return sum(result.losses[-15:]) / 15


@pytest.mark.parametrize("seed", SEEDS)
def test_at_lag_10_the_rnn_and_the_gru_learn_and_the_default_lstm_stays_at_chance(seed):
    assert run("rnn", 10, None, seed).accuracy > 0.95
    assert run("gru", 10, None, seed).accuracy > 0.5  # slower: 0.54 to 1.0 after 150 steps
    default = run("lstm", 10, None, seed)
    assert default.accuracy < 0.3 and final_loss(default) == pytest.approx(math.log(4), abs=0.01)


@pytest.mark.parametrize("seed", SEEDS)
def test_at_lag_30_only_the_lstm_with_open_forget_gates_learns(seed):
    assert run("lstm", 30, 4.0, seed).accuracy > 0.95
    bias_1 = run("lstm", 30, 1.0, seed)
    assert bias_1.accuracy < 0.3 and final_loss(bias_1) == pytest.approx(math.log(4), abs=0.01)


@pytest.mark.parametrize(
    ("exercise", "mistakes"),
    [
        (exercises.lstm_cell_step, exercises._STEP_MISTAKES),
        (exercises.direct_path_gradient, exercises._PATH_MISTAKES),
        (exercises.forget_bias_for, exercises._BIAS_MISTAKES),
    ],
    ids=lambda value: getattr(value, "name", ""),
)
def test_each_known_mistake_in_the_exercises_gets_its_own_message(exercise, mistakes):
    names = list(exercise.cases()[0])
    for wrong, message in mistakes:

        def answer(*args, wrong=wrong):
            return wrong(**dict(zip(names, args, strict=True)))

        outcome = exercise.evaluate(answer)
        assert outcome.status == "failed" and message in outcome.message
