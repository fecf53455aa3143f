"""The claims notebook 07 teaches about gradient clipping, asserted."""

import math
import warnings

import numpy as np
import pytest
import torch
from torch import nn

from course_utils.data import two_spirals
from course_utils.gradflow import GradientMonitor
from course_utils.models import mlp

INPUTS, LABELS = two_spirals(500, seed=0)


def flat(tensors):
    return torch.cat([t.reshape(-1) for t in tensors]).double()


def cosine(a, b):
    a, b = flat(a), flat(b)
    return (a @ b / (a.norm() * b.norm())).item()


def spiral_loss(net):
    return nn.functional.mse_loss(net(INPUTS).squeeze(1), LABELS)


def make_net(scale):
    """The notebook's network: 4 tanh layers of width 64, weights N(0, scale²/fan_in)."""
    torch.manual_seed(0)
    net = mlp(4, 64, activation="tanh", in_features=2)
    for layer in net[::2]:
        nn.init.normal_(layer.weight, std=scale / layer.in_features**0.5)
        nn.init.zeros_(layer.bias)
    return net


def gradient(scale=3.0):
    net = make_net(scale)
    spiral_loss(net).backward()
    return net, [p.grad.clone() for p in net.parameters()]


def train(lr, clip=None, *, scale=3.0, steps=300):
    """Full-batch SGD; the monitor records each gradient before clipping."""
    net = make_net(scale)
    optimizer = torch.optim.SGD(net.parameters(), lr=lr)
    losses, cosines = [], []
    with GradientMonitor(net, every=1, activations=False) as monitor, warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        for _ in range(steps):
            optimizer.zero_grad()
            loss = spiral_loss(net)
            loss.backward()
            monitor.step(loss)
            if clip is not None:
                original = [p.grad.clone() for p in net.parameters()]
                clip(net.parameters())
                cosines.append(cosine([p.grad for p in net.parameters()], original))
            optimizer.step()
            losses.append(loss.item())
    norms = np.array([record.global_norm for record in monitor.history])
    return np.array(losses), norms, np.array(cosines), monitor


def clip_norm(threshold):
    return lambda parameters: nn.utils.clip_grad_norm_(parameters, threshold)


def test_clipping_by_norm_keeps_the_direction_and_by_value_turns_it():
    g = torch.tensor([4.0, 1.0])
    by_norm, by_value = g / g.norm(), g.clamp(-1, 1)
    assert (by_norm @ g / g.norm()).item() == pytest.approx(1.0, abs=1e-6)
    assert (by_value @ g / (by_value.norm() * g.norm())).item() == pytest.approx(5 / 34**0.5)

    _, grad = gradient()
    length = flat(grad).norm().item()
    assert cosine([x * min(1.0, 1.0 / length) for x in grad], grad) == pytest.approx(1, abs=1e-6)
    assert cosine([x.clamp(-0.1, 0.1) for x in grad], grad) < 0.8


def test_clipping_by_value_tends_to_the_sign_whose_cosine_has_a_formula():
    _, grad = gradient()
    g = flat(grad)
    formula = (g.abs().sum() / (g.numel() ** 0.5 * g.norm())).item()
    assert cosine([x.sign() for x in grad], grad) == pytest.approx(formula, abs=1e-9)
    cosines = [cosine([x.clamp(-c, c) for x in grad], grad) for c in (0.1, 0.01, 0.001)]
    assert cosines[0] > cosines[1] > cosines[2] > formula
    assert cosines[2] == pytest.approx(formula, abs=0.01)


def test_clip_grad_norm_returns_the_norm_before_clipping_and_leaves_max_norm():
    net, original = gradient()
    returned = nn.utils.clip_grad_norm_(net.parameters(), max_norm=1.0)
    assert returned.item() == pytest.approx(flat(original).norm().item(), rel=1e-6)
    assert flat([p.grad for p in net.parameters()]).norm().item() == pytest.approx(1, rel=1e-5)
    assert cosine([p.grad for p in net.parameters()], original) == pytest.approx(1, abs=1e-6)


def test_clip_grad_value_returns_nothing_and_bounds_every_entry():
    net, _ = gradient()
    assert nn.utils.clip_grad_value_(net.parameters(), clip_value=0.01) is None
    assert max(p.grad.abs().max().item() for p in net.parameters()) == pytest.approx(0.01)


def test_one_nan_entry_raises_with_error_if_nonfinite_and_poisons_everything_without():
    net, _ = gradient()
    net[0].weight.grad[0, 0] = float("nan")
    with pytest.raises(RuntimeError, match="non-finite"):
        nn.utils.clip_grad_norm_(net.parameters(), max_norm=1.0, error_if_nonfinite=True)
    nn.utils.clip_grad_norm_(net.parameters(), max_norm=1.0)
    assert flat([p.grad for p in net.parameters()]).isnan().all()


def test_error_if_nonfinite_also_raises_on_an_inf_gradient():
    net, _ = gradient()
    net[2].bias.grad[0] = float("inf")
    with pytest.raises(RuntimeError, match="non-finite"):
        nn.utils.clip_grad_norm_(net.parameters(), max_norm=1.0, error_if_nonfinite=True)


@pytest.fixture(scope="module")
def diverging_and_clipped():
    return train(0.1), train(0.1, clip_norm(0.5))


def test_without_clipping_the_loss_grows_geometrically_to_inf_then_nan(diverging_and_clipped):
    (losses, _, _, monitor), _ = diverging_and_clipped
    first_inf = int(np.argmax(np.isinf(losses)))
    assert 10 < first_inf < 30 and np.isfinite(losses[:first_inf]).all()
    assert np.isnan(losses[first_inf:]).any() and np.isnan(losses[-1])
    assert np.median(losses[9:first_inf] / losses[8 : first_inf - 1]) > 10
    assert losses[0] > 10 * 0.25  # far above the loss of always answering 1/2
    assert monitor.nonfinite is not None and monitor.nonfinite.step == first_inf


def test_clipping_by_norm_trains_but_fires_on_every_step(diverging_and_clipped):
    _, (losses, norms, cosines, _) = diverging_and_clipped
    assert np.isfinite(losses).all() and losses[-1] < 0.1
    assert np.all(norms > 0.5)
    assert np.abs(cosines - 1).max() < 1e-6


def test_clipping_by_value_turns_every_training_step():
    losses, _, cosines, _ = train(0.1, lambda p: nn.utils.clip_grad_value_(p, 0.01))
    assert np.isfinite(losses).all()
    assert cosines.max() < 0.8 and cosines.min() > 0.5


@pytest.mark.parametrize(("rate", "shrinks"), [(0.5, True), (1.9, True), (2.1, False)])
def test_gradient_descent_on_a_parabola_is_stable_only_below_eta_lambda_2(rate, shrinks):
    x = 1.0
    for _ in range(20):
        x -= rate * x
    assert (abs(x) < 1) == shrinks


def top_curvature(net, iterations=30):
    torch.manual_seed(0)
    params = list(net.parameters())
    grads = torch.autograd.grad(spiral_loss(net), params, create_graph=True)
    v = [torch.randn_like(p) for p in params]
    for _ in range(iterations):
        length = flat(v).norm().item()
        v = [x / length for x in v]
        hv = torch.autograd.grad(grads, params, grad_outputs=v, retain_graph=True)
        curvature = sum((h * x).sum() for h, x in zip(hv, v, strict=True)).item()
        v = [h.detach() for h in hv]
    return curvature


def test_large_weights_make_the_curvature_too_large_for_the_learning_rate():
    large, xavier = top_curvature(make_net(3.0)), top_curvature(make_net(1.0))
    assert 0.1 * large > 2 > 0.1 * xavier
    assert 2 / large < 0.01  # so η = 0.008 is below the limit


def test_power_iteration_finds_the_largest_eigenvalue_of_a_known_hessian():
    # L(w) = ½ Σ d_i w_i²: the Hessian is diag(d), its largest eigenvalue max(d).
    d = torch.tensor([1.0, 5.0, 2.0, 0.5], dtype=torch.float64)
    w = torch.ones(4, dtype=torch.float64, requires_grad=True)
    (grad,) = torch.autograd.grad(0.5 * (d * w**2).sum(), w, create_graph=True)
    v = torch.randn(4, dtype=torch.float64)
    for _ in range(60):
        v = v / v.norm()
        (hv,) = torch.autograd.grad(grad, w, grad_outputs=v, retain_graph=True)
        curvature = (hv @ v).item()
        v = hv.detach()
    assert curvature == pytest.approx(5.0, rel=1e-6)


def test_a_smaller_learning_rate_or_xavier_weights_need_no_clipping(diverging_and_clipped):
    _, (clipped, _, _, _) = diverging_and_clipped
    slow, _, _, _ = train(0.008)
    xavier, _, _, _ = train(0.1, scale=1.0)
    assert np.isfinite(slow).all() and slow[-1] < clipped[-1]
    assert np.isfinite(xavier).all()


def test_a_threshold_from_a_healthy_history_rarely_fires_there_and_mostly_at_a_high_rate():
    _, healthy_norms, _, _ = train(0.008)
    threshold = float(np.percentile(healthy_norms, 99))
    _, norms, _, _ = train(0.008, clip_norm(threshold))
    assert np.mean(norms > threshold) < 0.05
    losses, norms, _, _ = train(0.1, clip_norm(threshold))
    assert np.isfinite(losses).all() and np.mean(norms > threshold) > 0.5


def monitor_free_norm(net):
    """The global gradient norm, computed without the monitor or torch's clipping."""
    return math.sqrt(sum(p.grad.double().pow(2).sum().item() for p in net.parameters()))


def test_the_monitor_called_after_clipping_records_the_clipped_norm():
    net = make_net(3.0)
    with GradientMonitor(net, every=1) as monitor:
        loss = spiral_loss(net)
        loss.backward()
        before = monitor_free_norm(net)
        total = nn.utils.clip_grad_norm_(net.parameters(), max_norm=1.0)
        monitor.step(loss)
    assert total.item() == pytest.approx(before, rel=1e-6)
    assert monitor.latest.global_norm == pytest.approx(1.0, rel=1e-5)


def test_the_monitor_called_before_clipping_records_the_norm_clip_grad_norm_returns():
    net = make_net(3.0)
    with GradientMonitor(net, every=1) as monitor:
        loss = spiral_loss(net)
        loss.backward()
        monitor.step(loss)
        total = nn.utils.clip_grad_norm_(net.parameters(), max_norm=1.0)
    assert monitor.latest.global_norm == pytest.approx(total.item(), rel=1e-6)
