"""GradientMonitor records the truth, changes nothing it observes, and cleans up after itself."""

import gc
import math
import sys
import weakref

import numpy as np
import pytest
import torch
from torch import nn
from training import train

from course_utils.gradflow import GradientMonitor, Thresholds
from course_utils.models import SequenceModel, SmallCNN, mlp


def hook_counts(model, optimizer):
    """Forward hooks (the model's own and process-wide ones), backward hooks of modules and
    tensors, and optimizer hooks."""
    modules = list(model.modules())
    module_hooks = nn.modules.module
    return (
        sum(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in modules)
        + len(module_hooks._global_forward_hooks)
        + len(module_hooks._global_forward_pre_hooks),
        sum(len(m._backward_hooks) + len(m._backward_pre_hooks) for m in modules)
        + len(module_hooks._global_backward_hooks)
        + sum(len(p._post_accumulate_grad_hooks or {}) for p in model.parameters()),
        len(optimizer._optimizer_step_pre_hooks) + len(optimizer._optimizer_step_post_hooks),
    )


def test_detach_removes_every_hook():
    model = mlp(3, 8)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    monitor = GradientMonitor(model, optimizer=optimizer).attach()
    assert hook_counts(model, optimizer)[0] > 0 and hook_counts(model, optimizer)[2] == 2
    assert hook_counts(model, optimizer)[1] == 0  # no backward hooks, ever
    monitor.detach()
    assert hook_counts(model, optimizer) == (0, 0, 0)
    with GradientMonitor(model, optimizer=optimizer):
        assert hook_counts(model, optimizer)[0] > 0
    assert hook_counts(model, optimizer) == (0, 0, 0)


def test_between_recorded_steps_only_the_model_itself_is_hooked():
    model = mlp(3, 8)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    with GradientMonitor(model, optimizer=optimizer, every=3) as monitor:
        counts = []
        for _ in range(4):
            counts.append(hook_counts(model, optimizer)[0])
            train(model, monitor, steps=1, optimizer=optimizer)
        counts.append(hook_counts(model, optimizer)[0])
    # steps 0 and 3 are recorded: the model's two hooks and one process-wide hook
    assert counts == [3, 2, 2, 3, 2]
    assert [r.step for r in monitor.history] == [0, 3]
    assert hook_counts(model, optimizer) == (0, 0, 0)


def test_hooks_are_removed_even_when_training_raises():
    model = mlp(2, 8)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    with pytest.raises(ZeroDivisionError), GradientMonitor(model, optimizer=optimizer):
        raise ZeroDivisionError("a bug in the training loop")
    assert hook_counts(model, optimizer) == (0, 0, 0)


@pytest.mark.filterwarnings("ignore:std\\(\\)")  # torch.std of the 1-element output bias
def test_gradient_statistics_equal_direct_computation():
    model = mlp(3, 8)
    with GradientMonitor(model, every=1) as monitor:
        train(model, monitor, steps=1)
        # after one SGD step the grads are still those of the recorded step
        record = monitor.latest
        for name, p in model.named_parameters():
            stats = record.gradient(name)
            g = p.grad.double()
            assert stats.norm == pytest.approx(g.norm().item(), rel=1e-6)
            assert stats.mean == pytest.approx(g.mean().item(), rel=1e-5, abs=1e-9)
            assert stats.std == pytest.approx(g.std().item(), rel=1e-4, nan_ok=True)
            assert stats.max_abs == pytest.approx(g.abs().max().item(), rel=1e-6)
            assert stats.mean_abs == pytest.approx(g.abs().mean().item(), rel=1e-6)
            assert stats.zero_fraction == pytest.approx((g == 0).double().mean().item())
            assert stats.size == p.numel()


def test_zero_fraction_counts_exact_zeros():
    model = mlp(2, 8, bias=-100.0)  # every ReLU dead: the first layers' gradients are all zero
    with GradientMonitor(model, every=1) as monitor:
        train(model, monitor, steps=1)
    assert monitor.latest.gradient("0.weight").zero_fraction == 1.0
    assert monitor.latest.gradient("4.bias").zero_fraction == 0.0


def test_global_norm_equals_clip_grad_norm():
    model = mlp(4, 16)
    with GradientMonitor(model, every=1) as monitor:
        train(model, monitor, steps=1, optimizer=torch.optim.SGD(model.parameters(), lr=0.0))
    total = nn.utils.clip_grad_norm_(model.parameters(), max_norm=math.inf)
    assert monitor.latest.global_norm == pytest.approx(total.item(), rel=1e-6)


def parameters_after_training(monitor_kwargs):
    torch.manual_seed(0)
    model = SmallCNN()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    images, targets = torch.randn(8, 1, 6, 6), torch.randn(8, 1)
    if monitor_kwargs is None:
        train(model, steps=4, optimizer=optimizer, inputs=images, targets=targets)
    else:
        with GradientMonitor(model, optimizer=optimizer, **monitor_kwargs) as monitor:
            train(model, monitor, steps=4, optimizer=optimizer, inputs=images, targets=targets)
    return torch.cat([p.detach().flatten() for p in model.parameters()])


def test_training_is_bit_identical_with_and_without_the_monitor():
    bare = parameters_after_training(None)
    watched = parameters_after_training({"every": 1, "histograms": True})
    assert torch.equal(bare, watched)


def test_records_every_k_steps_and_keeps_at_most_max_records():
    model = mlp(2, 8)
    with GradientMonitor(model, every=3, max_records=2) as monitor:
        train(model, monitor, steps=10)
    assert [r.step for r in monitor.history] == [6, 9]


def test_in_place_relu_does_not_spoil_the_linear_statistics():
    torch.manual_seed(0)
    linear = nn.Linear(16, 32)
    model = nn.Sequential(linear, nn.ReLU(inplace=True), nn.Linear(32, 1))
    inputs = torch.randn(64, 16)
    expected = linear(inputs).detach()
    with GradientMonitor(model, every=1) as monitor:
        train(
            model, monitor, steps=1, inputs=inputs, optimizer=torch.optim.SGD(model.parameters(), 0)
        )
    stats = monitor.latest.activations()["0"]
    assert stats.mean == pytest.approx(expected.mean().item(), abs=1e-6)
    assert stats.std == pytest.approx(expected.std().item(), rel=1e-5)
    assert expected.min() < 0  # the Linear output has negatives, which the ReLU zeroed in place


def test_dead_and_saturated_fractions():
    dead = nn.Sequential(nn.Linear(16, 10), nn.ReLU(), nn.Linear(10, 1))
    with torch.no_grad():
        dead[0].bias[:4] = -100.0  # 4 of 10 units can never fire
    with GradientMonitor(dead, every=1) as monitor:
        train(dead, monitor, steps=1)
    assert monitor.latest.activations()["1"].dead_fraction == pytest.approx(0.4)
    assert monitor.latest.activations()["0"].dead_fraction is None

    saturated = nn.Sequential(nn.Linear(16, 8), nn.Tanh(), nn.Linear(8, 1))
    with torch.no_grad():
        saturated[0].weight.fill_(0.0)
        saturated[0].bias.copy_(torch.tensor([10.0] * 6 + [0.0] * 2))
    with GradientMonitor(saturated, every=1) as monitor:
        train(saturated, monitor, steps=1, optimizer=torch.optim.SGD(saturated.parameters(), 0))
    assert monitor.latest.activations()["1"].saturated_fraction == pytest.approx(0.75)


def test_update_to_data_ratio_matches_the_sgd_step():
    model = mlp(2, 8)
    lr = 0.05
    with GradientMonitor(
        model, optimizer=torch.optim.SGD(model.parameters(), lr=lr), every=1
    ) as monitor:
        before = {n: p.detach().clone() for n, p in model.named_parameters()}
        train(model, monitor, steps=1, optimizer=monitor.optimizer)
    ratios = monitor.latest.update_ratios()
    for name, p in model.named_parameters():
        expected = (lr * p.grad).norm() / before[name].norm()
        assert ratios[name] == pytest.approx(expected.item(), rel=1e-5)


@pytest.mark.parametrize("order", ["before", "after"])
def test_update_ratios_land_on_the_right_step_whatever_the_call_order(order):
    torch.manual_seed(0)
    model = mlp(2, 8)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05)
    with GradientMonitor(model, optimizer=optimizer, every=2, update_every=2) as monitor:
        train(model, monitor, steps=5, optimizer=optimizer, order=order)
    assert [r.step for r in monitor.history] == [0, 2, 4]
    assert all(len(r.update_ratios()) == 6 for r in monitor.history)


def test_update_ratios_are_measured_every_update_every_steps():
    model = mlp(2, 8)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05)
    with GradientMonitor(model, optimizer=optimizer, every=1, update_every=3) as monitor:
        train(model, monitor, steps=7, optimizer=optimizer)
    measured = [r.step for r in monitor.history if r.update_ratios()]
    assert measured == [0, 3, 6]


def test_step_without_optimizer_has_no_update_ratios():
    model = mlp(2, 8)
    with GradientMonitor(model, every=1) as monitor:
        train(model, monitor, steps=1)
    assert monitor.latest.update_ratios() == {}


def test_frozen_parameters_are_reported_not_measured():
    model = mlp(3, 8)
    model[0].weight.requires_grad_(False)
    with GradientMonitor(model, every=1) as monitor:
        train(model, monitor, steps=1)
    assert monitor.frozen == ["0.weight"]
    assert monitor.latest.gradient("0.weight") is None
    assert "0.weight" not in monitor.latest.gradients()
    assert "0.weight                     frozen" in monitor.report()


def test_a_parameter_unfrozen_after_construction_is_measured():
    model = mlp(3, 8)
    model[0].weight.requires_grad_(False)
    monitor = GradientMonitor(model, every=1)
    model[0].weight.requires_grad_(True)
    with monitor:
        train(model, monitor, steps=1, optimizer=torch.optim.SGD(model.parameters(), lr=0.0))
    total = nn.utils.clip_grad_norm_(model.parameters(), max_norm=math.inf)
    assert monitor.latest.global_norm == pytest.approx(total.item(), rel=1e-6)


def test_tied_weights_are_counted_once():
    class Tied(nn.Module):
        def __init__(self):
            super().__init__()
            self.embed = nn.Embedding(10, 8)
            self.out = nn.Linear(8, 10, bias=False)
            self.out.weight = self.embed.weight

        def forward(self, tokens):
            return self.out(self.embed(tokens)).mean(dim=1, keepdim=True)

    model = Tied()
    with GradientMonitor(model, every=1) as monitor:
        train(model, monitor, steps=1, inputs=torch.randint(0, 10, (4,)), targets=torch.randn(4, 1))
    assert monitor.parameter_names == ["embed.weight"]
    assert monitor.latest.gradient("embed.weight").norm == pytest.approx(
        model.embed.weight.grad.norm().item(), rel=1e-6
    )


def test_unused_parameters_have_no_gradient_and_are_skipped():
    class Branchy(nn.Module):
        def __init__(self):
            super().__init__()
            self.used = nn.Linear(16, 1)
            self.unused = nn.Linear(16, 1)

        def forward(self, x):
            return self.used(x)

    model = Branchy()
    with GradientMonitor(model, every=1) as monitor:
        train(model, monitor, steps=1)
    assert monitor.latest.gradient("unused.weight") is None
    assert set(monitor.latest.gradients()) == {"used.weight", "used.bias"}
    assert "no gradient" in monitor.report()


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_recurrent_networks(cell):
    model = SequenceModel(cell, input_size=4, hidden_size=8, num_layers=2)
    with GradientMonitor(model, every=1) as monitor:
        train(model, monitor, steps=2, inputs=torch.randn(8, 5, 4), targets=torch.randn(8, 1))
    record = monitor.latest
    assert set(record.gradients()) == {n for n, _ in model.named_parameters()}
    assert set(record.activations()) == {"rnn", "head"}
    tanh_rnn = record.activations()["rnn"].saturated_fraction
    assert (tanh_rnn is not None) == (cell == "rnn")


def test_residual_network_with_layer_norm():
    class Residual(nn.Module):
        def __init__(self):
            super().__init__()
            self.blocks = nn.ModuleList(
                nn.Sequential(nn.LayerNorm(16), nn.Linear(16, 16), nn.ReLU()) for _ in range(3)
            )
            self.out = nn.Linear(16, 1)

        def forward(self, x):
            for block in self.blocks:
                x = x + block(x)
            return self.out(x)

    model = Residual()
    with GradientMonitor(model, every=1) as monitor:
        train(model, monitor, steps=1)
    assert "blocks.2.0.weight" in monitor.latest.gradients()  # the LayerNorm scale
    assert "blocks.0.2" in monitor.latest.activations()


def test_a_module_called_twice_per_forward_is_summarised_over_both_calls():
    shared = nn.Linear(16, 16)
    model = nn.Sequential(shared, nn.Tanh(), shared, nn.Linear(16, 1))
    with GradientMonitor(model, every=1) as monitor:
        train(model, monitor, steps=1)
    assert monitor.module_names == ["0", "1", "3"]  # the shared Linear is one module
    assert monitor.latest._acts[0, 5] == 2  # ... seen in two calls


def test_series_and_report():
    model = mlp(2, 8)
    with GradientMonitor(
        model, optimizer=torch.optim.SGD(model.parameters(), 0.1), every=1
    ) as monitor:
        train(model, monitor, steps=3, optimizer=monitor.optimizer)
    steps, names, norms = monitor.series("norm")
    assert steps.tolist() == [0, 1, 2] and names == monitor.parameter_names
    assert norms.shape == (3, 6)
    assert norms[-1, 0] == pytest.approx(monitor.latest.gradient("0.weight").norm)
    assert monitor.series("update_ratio")[2].shape == (3, 6)
    assert monitor.report().startswith("step 2: global gradient norm")


def record_bytes(record) -> int:
    """Size of one record: the object, plus each array's data and header."""
    arrays = [
        a
        for a in (record._grads, record._acts, record._updates, record._histograms)
        if a is not None
    ]
    header = sys.getsizeof(np.empty(0))
    return sys.getsizeof(record) + sum(a.nbytes + header for a in arrays)


def test_history_of_1000_steps_of_a_50_layer_model_stays_small():
    model = mlp(50, 4)  # memory per record depends on the number of layers, not their width
    inputs, targets = torch.randn(8, 16), torch.randn(8, 1)
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-3)
    with GradientMonitor(model, optimizer=optimizer, every=1, histograms=True) as monitor:
        train(model, monitor, steps=1000, optimizer=optimizer, inputs=inputs, targets=targets)
    assert len(monitor.history) == 1000
    total = sum(record_bytes(r) for r in monitor.history)
    assert total < 50e6, f"{total / 1e6:.1f} MB"


@pytest.mark.parametrize(
    ("make", "error", "message"),
    [
        (lambda: GradientMonitor("model"), TypeError, "torch.nn.Module"),
        (lambda: GradientMonitor(nn.ReLU()), ValueError, "no parameters"),
        (lambda: GradientMonitor(nn.Linear(2, 2).requires_grad_(False)), ValueError, "frozen"),
        (lambda: GradientMonitor(nn.Linear(2, 2), every=0), ValueError, "every must be at least 1"),
        (lambda: GradientMonitor(nn.Linear(2, 2), optimizer="sgd"), TypeError, "Optimizer"),
    ],
)
def test_bad_construction_gets_a_clear_error(make, error, message):
    with pytest.raises(error, match=message):
        make()


def test_misuse_gets_a_clear_error():
    model = mlp(2, 8)
    monitor = GradientMonitor(model)
    with pytest.raises(RuntimeError, match="not attached"):
        monitor.step()
    with pytest.raises(ValueError, match="no step recorded yet"):
        _ = monitor.latest
    with pytest.raises(ValueError, match="no step recorded yet"):
        monitor.diagnose()
    with monitor:
        with pytest.raises(RuntimeError, match=r"after loss\.backward"):
            monitor.step()
        with pytest.raises(RuntimeError, match="already attached"):
            monitor.attach()
        train(model, monitor, steps=1)
        with pytest.raises(ValueError, match="unknown statistic"):
            monitor.series("median")
        with pytest.raises(KeyError, match="no parameter 'nope'"):
            monitor.latest.gradient("nope")


def test_thresholds_can_be_changed():
    model = mlp(2, 8)
    with GradientMonitor(model, every=1) as monitor:
        train(model, monitor, steps=1)
    assert monitor.diagnose().healthy
    strict = Thresholds(exploding_norm=1e-12)
    assert monitor.diagnose(strict).kinds() == {"exploding"}
    assert np.isfinite(monitor.latest.global_norm)


def test_negative_zero_counts_as_zero_in_every_float_type():
    for dtype in (torch.float16, torch.bfloat16, torch.float32, torch.float64):
        layer = nn.Linear(2, 2, bias=False).to(dtype)
        with GradientMonitor(layer, every=1) as monitor:
            layer.weight.grad = torch.tensor([[0.0, -0.0], [1.0, -2.0]], dtype=dtype)
            monitor.step()
        stats = monitor.latest.gradient("weight")
        assert stats.zero_fraction == 0.5, dtype
        assert stats.max_abs == 2.0 and stats.mean == pytest.approx(-0.25)


def test_inputs_are_kept_only_for_a_few_calls_and_only_while_needed():
    model = mlp(2, 8)
    with GradientMonitor(model, every=100) as monitor:
        train(model, monitor, steps=1)  # step 0 is recorded with activations: nothing kept
        for _ in range(20):  # forward passes with gradients, and no step(): a validation loop
            model(torch.randn(4, 16))
        assert len(monitor._calls) == 8
        train(model, monitor, steps=1)
        assert len(monitor._calls) == 0


def test_a_monitor_dropped_without_detach_takes_its_process_wide_hook_with_it():
    model = mlp(2, 8)
    monitor = GradientMonitor(model).attach()  # step 0 is recorded: the process-wide hook is on
    assert len(nn.modules.module._global_forward_hooks) == 1
    del monitor, model
    gc.collect()
    assert len(nn.modules.module._global_forward_hooks) == 0


def test_a_long_run_leaves_no_finalizers_behind():
    def finalizers_of(monitor):
        objects = gc.get_objects()
        return sum(isinstance(f, weakref.finalize) and f.peek()[0] is monitor for f in objects)

    model = mlp(2, 8)
    with GradientMonitor(model, every=2) as monitor:
        train(model, monitor, steps=40)  # 20 recorded steps: the hook goes on and off 20 times
        assert finalizers_of(monitor) <= 1
    assert finalizers_of(monitor) == 0
    assert len(nn.modules.module._global_forward_hooks) == 0
