"""The monitor names the first layer where a NaN or Inf appeared, in forward or in backward."""

from contextlib import nullcontext

import pytest
import torch
from torch import nn

from course_utils.gradflow import GradientMonitor


class RootOfZero(nn.Module):
    """sqrt(0 · x): the value is a finite 0, but the backward pass computes 0 · ∞ = NaN."""

    def forward(self, x):
        return torch.sqrt(x * 0)


def run(model, loss_fn, *, steps=1, every=1):
    inputs = torch.randn(16, 8)
    with GradientMonitor(model, every=every) as monitor:
        for _ in range(steps):
            model.zero_grad()
            loss = loss_fn(model(inputs))
            loss.backward()
            monitor.step(loss)
    return monitor


def test_forward_overflow_names_the_first_layer_that_produced_it():
    model = nn.Sequential(nn.Linear(8, 8), nn.ReLU(), nn.Linear(8, 8), nn.ReLU(), nn.Linear(8, 1))
    with torch.no_grad():
        model[2].weight.fill_(1e38)  # finite weights, but their sums overflow to inf
    with pytest.warns(RuntimeWarning, match="layer '2' \\(Linear\\) is the first"):
        monitor = run(model, lambda out: out.mean())
    event = monitor.nonfinite
    assert (event.step, event.phase, event.layer) == (0, "forward", "2")
    assert monitor.diagnose().kinds() >= {"non-finite"}


def test_non_finite_weights_are_named_as_such():
    model = nn.Sequential(nn.Linear(8, 8), nn.ReLU(), nn.Linear(8, 8), nn.ReLU(), nn.Linear(8, 1))
    with torch.no_grad():
        model[2].weight[0, 0] = float("inf")
        model[4].weight[0, 0] = float("nan")
    with pytest.warns(RuntimeWarning, match="weights of layer '4'"):
        monitor = run(model, lambda out: out.mean())
    assert monitor.nonfinite[:3] == (0, "weights", "4")  # the one nearest the output


def test_a_nan_only_in_backward_between_recorded_steps_is_traced_to_the_weights():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 8), RootOfZero(), nn.Linear(8, 1))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    with GradientMonitor(model, every=100) as monitor, pytest.warns(RuntimeWarning):
        for _ in range(3):
            optimizer.zero_grad()
            loss = model(torch.randn(16, 8)).mean()
            loss.backward()
            optimizer.step()  # step 0 is recorded; the NaN gradient then breaks layer 0
            monitor.step(loss)
    assert monitor.nonfinite.phase in ("backward", "weights")
    assert monitor.nonfinite.layer == "0"


def test_backward_nan_names_the_layer_nearest_the_loss():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 8), RootOfZero(), nn.Linear(8, 1))
    with pytest.warns(RuntimeWarning, match="backward"):
        monitor = run(model, lambda out: out.mean())
    event = monitor.nonfinite
    assert (event.phase, event.layer) == ("backward", "0")
    assert torch.isfinite(model[2].weight.grad).all()  # the layer after the sqrt is fine


def test_a_non_finite_loss_from_finite_outputs_blames_the_loss():
    model = nn.Sequential(nn.Linear(8, 1))
    with pytest.warns(RuntimeWarning, match="look at the loss function"):
        monitor = run(model, lambda out: torch.log(out * 0).mean())
    assert monitor.nonfinite.phase == "loss"


def test_passing_the_loss_catches_nan_between_recorded_steps():
    model = nn.Sequential(nn.Linear(8, 4), nn.Linear(4, 1))
    with GradientMonitor(model, every=100) as monitor, pytest.warns(RuntimeWarning):
        for step in range(6):
            inputs = torch.randn(16, 8)
            if step == 3:  # not a recorded step
                inputs[0, 0] = float("nan")
            model.zero_grad()
            loss = model(inputs).pow(2).mean()
            loss.backward()
            monitor.step(loss)
    assert monitor.nonfinite[:3] == (3, "input", None)


def test_only_the_first_event_is_kept_and_warned():
    model = nn.Sequential(nn.Linear(8, 8), nn.Linear(8, 1))
    with torch.no_grad():
        model[0].bias.fill_(float("nan"))
    with pytest.warns(RuntimeWarning) as warned:
        monitor = run(model, lambda out: out.mean(), steps=3)
    assert len(warned) == 1
    assert monitor.nonfinite.step == 0


def overflow_at_step(model, overflowing, *, at, every, **options):
    """Train ``model``; before step ``at``, set ``overflowing``'s weights to finite values
    whose sums overflow. Returns the monitor and, from step ``at``, the generator's state
    and the model's buffers just before and just after monitor.step()."""
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    seen = {}
    with GradientMonitor(model, optimizer=optimizer, every=every, **options) as monitor:
        for step in range(at + 1):
            if step == at:
                with torch.no_grad():
                    overflowing.weight.fill_(1e38)
            optimizer.zero_grad()
            loss = model(torch.randn(32, 8)).mean()
            loss.backward()
            seen["before"] = (torch.get_rng_state(), [b.clone() for b in model.buffers()])
            with pytest.warns(RuntimeWarning) if step == at else nullcontext():
                monitor.step(loss)
            seen["after"] = (torch.get_rng_state(), [b.clone() for b in model.buffers()])
    return monitor, seen


def test_a_forward_overflow_between_recorded_steps_is_traced_by_running_the_batch_again():
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Linear(8, 16),
        nn.BatchNorm1d(16),
        nn.ReLU(),
        nn.Dropout(0.5),
        nn.Linear(16, 8),
        nn.ReLU(),
        nn.Linear(8, 1),
    )
    monitor, seen = overflow_at_step(model, model[4], at=3, every=100)
    assert monitor.nonfinite[:3] == (3, "forward", "4")
    # running the batch again changed neither the random numbers to come nor BatchNorm's
    # running statistics
    (rng_before, buffers_before), (rng_after, buffers_after) = seen["before"], seen["after"]
    assert torch.equal(rng_before, rng_after)
    assert all(torch.equal(a, b) for a, b in zip(buffers_before, buffers_after, strict=True))


def test_a_forward_overflow_on_a_recorded_step_without_activation_statistics():
    model = nn.Sequential(nn.Linear(8, 8), nn.Tanh(), nn.Linear(8, 8), nn.Linear(8, 1))
    monitor, _ = overflow_at_step(model, model[2], at=0, every=1, activations=False)
    assert monitor.nonfinite[:3] == (0, "forward", "2")


def test_a_large_finite_half_precision_output_is_not_a_false_alarm():
    layer = nn.Linear(100, 100).half()
    with torch.no_grad():
        layer.bias.fill_(10.0)  # the output adds up to about 64 * 100 * 10, over float16's 65504
    with GradientMonitor(layer, every=100) as monitor:
        for _ in range(2):
            layer.zero_grad()
            out = layer(torch.randn(64, 100).half())
            out.float().mean().backward()
            monitor.step()
    assert monitor.nonfinite is None


def test_a_model_that_cannot_run_again_without_gradients_still_gets_a_report():
    class NeedsGradients(nn.Module):
        def __init__(self):
            super().__init__()
            self.layer = nn.Linear(8, 1)
            self.scale = 1.0

        def forward(self, x):
            if not torch.is_grad_enabled():
                raise RuntimeError("this model only runs with gradients")
            return self.layer(x) * self.scale

    model = NeedsGradients()
    with GradientMonitor(model, every=100) as monitor:
        for step in range(2):
            model.scale = float("inf") if step == 1 else 1.0  # step 1 is not recorded
            model.zero_grad()
            model(torch.randn(4, 8)).mean().backward()
            with pytest.warns(RuntimeWarning) if step == 1 else nullcontext():
                monitor.step()
    assert monitor.nonfinite[:3] == (1, "forward", None)
    assert "every=1" in monitor.nonfinite.message
