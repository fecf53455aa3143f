"""Cases found when practitioners tried the monitor on their own models."""

import math

import numpy as np
import pytest
import torch
from torch import nn
from training import train

from course_utils.gradflow import (
    GradientMonitor,
    Thresholds,
    monitor_one_batch,
    output_gradient_norms,
)
from course_utils.gradflow_plots import (
    plot_gradient_flow,
    plot_gradient_histograms,
    plot_update_ratios,
)
from course_utils.jacobians import batch_jacobian
from course_utils.models import mlp


def test_update_ratio_plot_shows_the_measured_steps_with_default_settings():
    model = mlp(2, 8)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    with GradientMonitor(model, optimizer=optimizer) as monitor:  # every=10, update_every=50
        train(model, monitor, steps=120, optimizer=optimizer)
    line = plot_update_ratios(monitor).axes[0].get_lines()[0]
    assert list(line.get_xdata()) == [0, 50, 100]


def test_torch_func_works_while_the_monitor_is_attached():
    model = mlp(2, 8)
    with GradientMonitor(model, every=1) as monitor:
        jacobians = batch_jacobian(model, torch.randn(3, 16))
        train(model, monitor, steps=1, inputs=torch.randn(32, 16), targets=torch.randn(32, 1))
    assert jacobians.shape == (3, 1, 16)
    assert monitor.latest.gradient("0.weight") is not None


def test_a_nan_gradient_is_reported_as_nan_not_as_missing():
    layer = nn.Linear(2, 2)
    with GradientMonitor(layer, every=1) as monitor, pytest.warns(RuntimeWarning):
        layer.weight.grad = torch.tensor([[float("nan"), 1.0], [0.0, 2.0]])
        layer.bias.grad = torch.zeros(2)
        monitor.step()
    assert math.isnan(monitor.latest.gradient("weight").norm)
    assert "no gradient" not in monitor.report()


def test_half_precision_gradients_do_not_overflow():
    layer = nn.Linear(64, 64).half()
    with GradientMonitor(layer, every=1) as monitor:
        layer.weight.grad = torch.full((64, 64), 10.0, dtype=torch.float16)  # sum of squares 409600
        layer.bias.grad = torch.zeros(64, dtype=torch.float16)
        monitor.step()
    assert monitor.latest.gradient("weight").norm == pytest.approx(640.0)
    assert monitor.nonfinite is None


def test_sparse_gradients():
    embedding = nn.Embedding(10, 4, sparse=True)
    with GradientMonitor(embedding, every=1) as monitor:
        embedding(torch.tensor([1, 2, 2])).sum().backward()
        monitor.step()
    stats = monitor.latest.gradient("weight")
    assert stats.zero_fraction == pytest.approx(0.8)  # 8 of 10 rows untouched
    assert stats.norm == pytest.approx(embedding.weight.grad.to_dense().norm().item())


def test_tied_weights_answer_to_both_names():
    class Tied(nn.Module):
        def __init__(self):
            super().__init__()
            self.enc = nn.Linear(4, 4)
            self.dec = nn.Linear(4, 4)
            self.dec.weight = self.enc.weight

        def forward(self, x):
            return self.dec(self.enc(x))

    model = Tied()
    with GradientMonitor(model, every=1) as monitor:
        model(torch.randn(8, 4)).sum().backward()
        monitor.step()
    assert monitor.latest.gradient("dec.weight") == monitor.latest.gradient("enc.weight")


def test_layers_are_ordered_as_they_run_not_as_they_are_defined():
    class HeadFirst(nn.Module):
        def __init__(self):
            super().__init__()
            self.head = nn.Linear(32, 1)  # defined first, runs last
            self.body = mlp(12, 32, activation="sigmoid", in_features=16, out_features=32)

        def forward(self, x):
            return self.head(torch.sigmoid(self.body(x)))

    torch.manual_seed(0)
    model = HeadFirst()
    with GradientMonitor(model, every=1) as monitor:
        train(model, monitor, steps=1, inputs=torch.randn(64, 16), targets=torch.randn(64, 1))
    order = monitor.latest.parameter_order()
    assert order[0] == "body.0.weight" and order[-1] == "head.bias"
    assert "vanishing" in monitor.diagnose().kinds()
    assert plot_gradient_flow(monitor).axes[0].get_xticklabels()[0].get_text() == "1: body.0.weight"


def test_update_ratios_skip_zero_weights_and_parameters_outside_the_optimizer():
    model = mlp(2, 8)
    nn.init.zeros_(model[0].bias)
    optimizer = torch.optim.SGD(model[2:].parameters(), lr=0.01)  # only part of the model
    with GradientMonitor(model, optimizer=optimizer, every=1, update_every=1) as monitor:
        train(
            model,
            monitor,
            steps=1,
            inputs=torch.randn(32, 16),
            targets=torch.randn(32, 1),
            optimizer=optimizer,
        )
    ratios = monitor.latest.update_ratios()
    assert set(ratios) == {"2.weight", "2.bias", "4.weight", "4.bias"}
    assert all(np.isfinite(list(ratios.values())))
    assert "update-ratio" not in monitor.diagnose().kinds()


def test_tiny_float32_gradients_do_not_underflow_to_a_zero_norm():
    torch.manual_seed(0)
    model = mlp(40, 32, activation="sigmoid")
    with GradientMonitor(model, every=1) as monitor:
        train(model, monitor, steps=1, inputs=torch.randn(64, 16), targets=torch.randn(64, 1))
    first = monitor.latest.gradient("0.weight")
    assert 0 < first.max_abs <= first.norm
    assert "vanishing" in monitor.diagnose().kinds()


def test_evaluation_passes_under_no_grad_are_ignored():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(16, 8), nn.Tanh(), nn.Linear(8, 1))
    inputs, targets = torch.randn(32, 16), torch.randn(32, 1)
    with GradientMonitor(model, every=1) as monitor:
        nn.functional.mse_loss(model(inputs), targets).backward()
        with torch.no_grad():
            model(100 * torch.randn(32, 16))  # an evaluation batch, far larger
        monitor.step()
    expected = model[0](inputs).detach()
    assert monitor.latest.activations()["0"].std == pytest.approx(expected.std().item(), rel=1e-5)


def test_submodules_called_directly_are_still_summarised_per_step():
    class TwoPart(nn.Module):
        def __init__(self):
            super().__init__()
            self.body = nn.Linear(16, 8)
            self.head = nn.Linear(8, 1)

    model = TwoPart()
    with GradientMonitor(model, every=1) as monitor:
        for _ in range(3):
            inputs = torch.randn(32, 16)
            model.head(model.body(inputs)).sum().backward()
            monitor.step()
    assert monitor.latest._acts[0, 5] == 1  # one call per step, not accumulated over steps
    assert monitor.latest.activations()["body"].std == pytest.approx(
        model.body(inputs).detach().std().item(), rel=1e-5
    )


def test_no_dead_verdict_from_a_batch_of_one_and_no_alarm_for_a_saturated_output():
    model = nn.Sequential(nn.Linear(16, 32), nn.ReLU(), nn.Linear(32, 1), nn.Sigmoid())
    with torch.no_grad():
        model[2].bias.fill_(10.0)  # a confident classifier: the output sigmoid saturates
    with GradientMonitor(model, every=1) as monitor:
        model(torch.randn(1, 16)).sum().backward()
        monitor.step()
    assert monitor.latest.activations()["1"].dead_fraction is None
    assert monitor.latest.activations()["3"].saturated_fraction == 1.0
    assert monitor.diagnose().healthy


def test_multihead_attention_is_summarised():
    attention = nn.MultiheadAttention(8, 2, batch_first=True)
    x = torch.randn(4, 5, 8)
    with GradientMonitor(attention, every=1) as monitor:
        attention(x, x, x)[0].sum().backward()
        monitor.step()
    assert "" in monitor.latest.activations()  # the attention module itself


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (lambda m: m.diagnose("strict"), TypeError, "thresholds must be a Thresholds"),
        (lambda m: m.step("abc"), TypeError, "takes a tensor or a number"),
        (lambda m: m.step(torch.ones(5)), ValueError, "single number"),
        (lambda m: m.series("size"), ValueError, "choose one of norm"),
        (lambda m: plot_gradient_histograms(m, max_layers=0), ValueError, "max_layers"),
    ],
)
def test_bad_arguments_get_clear_errors(call, error, message):
    model = mlp(2, 8)
    with GradientMonitor(model, every=1) as monitor:
        train(model, monitor, steps=1, inputs=torch.randn(32, 16), targets=torch.randn(32, 1))
        with pytest.raises(error, match=message):
            call(monitor)


@pytest.mark.parametrize(
    ("make", "error", "message"),
    [
        (lambda: Thresholds(update_ratio_low=1.0, update_ratio_high=1e-3), ValueError, "low < "),
        (lambda: Thresholds(dead_fraction=-1), ValueError, "positive"),
        (lambda: GradientMonitor(mlp(2, 8), activations="no"), TypeError, "True or False"),
        (lambda: GradientMonitor(mlp(2, 8), compile=1), TypeError, "compile must be True or False"),
        (
            lambda: GradientMonitor(
                mlp(2, 8), optimizer=torch.optim.SGD(nn.Linear(2, 2).parameters(), 0.1)
            ),
            ValueError,
            "another model",
        ),
    ],
)
def test_bad_settings_get_clear_errors(make, error, message):
    with pytest.raises(error, match=message):
        make()


def test_output_gradient_norms_leave_parameter_gradients_alone_and_refuse_in_place_layers():
    model = nn.Sequential(nn.Linear(4, 4), nn.Tanh(), nn.Linear(4, 1))
    norms = output_gradient_norms(model, torch.randn(8, 4), lambda out: out.sum())
    assert all(p.grad is None for p in model.parameters())
    assert norms["2"] == pytest.approx(math.sqrt(8))  # d(sum)/d(output) is all ones
    with pytest.raises(ValueError, match="in-place"):
        output_gradient_norms(
            nn.Sequential(nn.Linear(4, 4), nn.ReLU(inplace=True)),
            torch.randn(2, 4),
            lambda o: o.sum(),
        )


@pytest.mark.parametrize("size", [3, 5000])  # small tensors are summarised together, large alone
def test_tiny_float64_gradients_and_nan_entries_are_counted_right(size):
    layer = nn.Linear(size, 1, bias=False).double()
    grad = torch.full((1, size), 1e-200, dtype=torch.float64)
    grad[0, 0] = 0.0
    with GradientMonitor(layer, every=1) as monitor:
        layer.weight.grad = grad
        monitor.step()
    stats = monitor.latest.gradient("weight")
    assert stats.mean_abs == pytest.approx(1e-200 * (size - 1) / size)
    assert stats.zero_fraction == pytest.approx(1 / size)
    with GradientMonitor(layer, every=1) as monitor, pytest.warns(RuntimeWarning):
        grad[0, 1] = float("nan")
        layer.weight.grad = grad
        monitor.step()
    assert monitor.latest.gradient("weight").zero_fraction == pytest.approx(1 / size)


def test_monitor_one_batch_records_one_clean_step_and_detaches():
    model = mlp(3, 8)
    inputs = torch.randn(32, 16)
    model(inputs).sum().backward()  # stale gradients, which the look must not add to
    monitor = monitor_one_batch(model, lambda m: m(inputs).pow(2).mean())
    model.zero_grad()
    loss = model(inputs).pow(2).mean()
    loss.backward()
    assert [r.step for r in monitor.history] == [0] and not monitor.attached
    assert monitor.latest.gradient("0.weight").norm == pytest.approx(
        model[0].weight.grad.norm().item()
    )
    assert monitor.latest.loss == pytest.approx(loss.item())
    with pytest.raises(ValueError, match="single-number"):
        monitor_one_batch(model, lambda m: m(inputs))
    with pytest.raises(TypeError, match="function of the model"):
        monitor_one_batch(model, 3.0)
