"""The claims notebook 07 teaches about gradient clipping, asserted."""

import math
import warnings
from collections import namedtuple

import numpy as np
import pytest
import torch
from torch import nn

from course_utils.data import two_spirals
from course_utils.exercises import clipping as exercises
from course_utils.gradflow import GradientMonitor
from course_utils.models import mlp
from course_utils.solutions import clipping as solutions

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


Run = namedtuple("Run", ["losses", "norms", "cosines", "lengths", "monitor", "weights"])


def train(lr, clip=None, *, scale=3.0, steps=300, keep=(), spike=None):
    """Full-batch SGD; the monitor records each gradient before clipping.

    ``keep``: steps whose weights are saved; ``spike``: a step whose loss is multiplied by 1000.
    """
    net = make_net(scale)
    optimizer = torch.optim.SGD(net.parameters(), lr=lr)
    losses, cosines, lengths, weights = [], [], [], {}
    with GradientMonitor(net, every=1, activations=False) as monitor, warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        for step in range(steps):
            if step in keep:
                weights[step] = {name: t.clone() for name, t in net.state_dict().items()}
            optimizer.zero_grad()
            loss = spiral_loss(net)
            if step == spike:
                loss = 1000 * loss
            loss.backward()
            monitor.step(loss)
            if clip is not None:
                original = [p.grad.clone() for p in net.parameters()]
                clip(net.parameters())
                cosines.append(cosine([p.grad for p in net.parameters()], original))
                lengths.append(flat([p.grad for p in net.parameters()]).norm().item())
            optimizer.step()
            losses.append(loss.item())
    norms = np.array([record.global_norm for record in monitor.history])
    return Run(np.array(losses), norms, np.array(cosines), np.array(lengths), monitor, weights)


def net_at(run, step):
    net = make_net(3.0)
    net.load_state_dict(run.weights[step])
    return net


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
    assert (g != 0).all()  # the formula assumes no entry is exactly 0
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
    return train(0.1, keep=range(50)), train(0.1, clip_norm(0.5), keep=(0, 100, 200, 299))


@pytest.fixture(scope="module")
def slow():
    return train(0.008)


def saturated(net):
    """Is every unit of the last hidden layer exactly ±1, and the same for all inputs?"""
    hidden = net[:-1](INPUTS)
    return bool((hidden.abs() == 1).all() and (hidden == hidden[0]).all())


Milestones = namedtuple(
    "Milestones",
    ["first_inf", "first_nan", "growth", "settled", "saturated_from", "first_bad_gradient"],
)


@pytest.fixture(scope="module")
def milestones(diverging_and_clipped):
    """The steps the notebook computes from the diverging run; which steps they are depends
    on the processor's arithmetic, the order in which they come does not."""
    plain, _ = diverging_and_clipped
    first_inf = int(np.argmax(np.isinf(plain.losses)))
    first_nan = int(np.argmax(np.isnan(plain.losses)))
    growth = plain.losses[1:first_inf] / plain.losses[: first_inf - 1]  # loss[s + 1] / loss[s]
    # The first step from which every factor is the last one before inf, to within 0.01.
    settled = next(s for s in range(len(growth)) if np.allclose(growth[s:], growth[-1], atol=0.01))
    saturated_from = next(s for s in plain.weights if saturated(net_at(plain, s)))
    _, _, largest = plain.monitor.series("max_abs")
    first_bad_gradient = int(np.argmax(~np.isfinite(largest).all(axis=1)))
    return Milestones(first_inf, first_nan, growth, settled, saturated_from, first_bad_gradient)


def test_without_clipping_the_loss_grows_geometrically_to_inf_then_nan(
    diverging_and_clipped, milestones
):
    (losses, _, _, _, monitor, weights), _ = diverging_and_clipped
    first_inf, first_nan = milestones.first_inf, milestones.first_nan
    assert 0 < first_inf < first_nan < len(weights)  # the weights of every step until NaN kept
    assert np.isfinite(losses[:first_inf]).all() and losses[1] > losses[0]
    # It climbs, with one dip on the way (at step 6 under the pinned numerics).
    assert np.sum(milestones.growth < 1) == 1
    assert np.isinf(losses[first_inf:first_nan]).all() and np.isnan(losses[first_nan:]).all()
    assert losses[0] == pytest.approx(4.05, abs=0.005)  # 16 times the 0.25 of answering 1/2
    assert monitor.nonfinite is not None and monitor.nonfinite.step == first_inf


def test_once_the_last_hidden_layer_saturates_every_step_multiplies_the_loss_by_144(
    diverging_and_clipped, milestones
):
    plain, _ = diverging_and_clipped
    start, growth = milestones.saturated_from, milestones.growth
    # Saturated from that step on, until the weights turn NaN.
    assert all(saturated(net_at(plain, s)) for s in range(start, milestones.first_nan))
    assert not saturated(net_at(plain, milestones.first_nan))  # NaN weights
    # From saturation until inf, every step multiplies the loss by 144, for several steps.
    assert np.abs(growth[start:] - 144).max() < 0.01
    assert milestones.first_inf - start >= 5
    # What the notebook measures first, the step from which the factor is constant, is 144
    # from there on, and comes no later than saturation.
    assert np.abs(growth[milestones.settled :] - 144).max() < 0.01
    assert milestones.settled <= start


def test_float32_overflows_in_the_sum_first_then_the_squares_then_the_gradient(
    diverging_and_clipped, milestones
):
    plain, _ = diverging_and_clipped
    first_inf, first_nan = milestones.first_inf, milestones.first_nan
    first_bad_gradient = milestones.first_bad_gradient
    float32_max = torch.finfo(torch.float32).max
    squares = {
        s: (net_at(plain, s)(INPUTS).squeeze(1) - LABELS) ** 2
        for s in range(first_inf - 1, first_nan + 1)
    }
    # The last finite loss: the sum fits. The first inf loss: each square still fits, their
    # sum (formed before dividing by 500) does not; it is 500 times each, all outputs equal.
    assert squares[first_inf - 1].double().sum().item() < float32_max
    largest, total = squares[first_inf].max().item(), squares[first_inf].double().sum().item()
    assert largest < float32_max < total
    assert total == pytest.approx(500 * largest, rel=1e-6)
    # mse_loss forms the sum before it divides: the float32 mean of squares that all fit is inf,
    # the float64 mean is finite.
    assert squares[first_inf].mean().isinf() and squares[first_inf].double().mean() < float32_max
    # Why the sum overflows first whatever the step: it is 144 times the step before's finite
    # sum, so at most 144 times the maximum, and each square is 1/500 of it.
    before = squares[first_inf - 1].double().sum().item()
    assert total / before == pytest.approx(144, abs=0.01)
    assert largest < 144 / 500 * float32_max
    # The squares overflow later, all at the same step; the float64 sum of them is inf too.
    first_inf_square = min(s for s, errors in squares.items() if errors.isinf().any())
    assert first_inf < first_inf_square and squares[first_inf_square].isinf().all()
    assert squares[first_inf_square].double().sum().isinf()
    # The gradient later still: the step after it turns non-finite, the loss is NaN.
    assert first_inf_square < first_bad_gradient == first_nan - 1
    _, _, entries = plain.monitor.series("max_abs")  # [step, parameter]; the last two: layer 5
    assert (entries[first_inf:first_bad_gradient, :-2] == 0).all()  # saturated tanh: tanh' = 0
    assert np.isfinite(entries[first_inf:first_bad_gradient, -2:]).all()
    assert np.isnan(entries[first_bad_gradient, :-2]).all()
    assert np.isfinite(entries[first_bad_gradient, -2:]).all()


def float32_tanh_one():
    """The smallest float32 z with tanh(z) == 1, among every float32 from 8 to 10."""
    z = 8 + torch.arange(2**21) / 2**20
    assert z.dtype == torch.float32 and ((z[1:] - z[:-1]) == 2**-20).all()  # no float32 missed
    one = z[torch.tanh(z) == 1].min().item()
    assert ((torch.tanh(z) == 1) == (z >= one)).all()  # 1 from there on, below 1 before
    assert (torch.tanh(-z) == -torch.tanh(z)).all()  # and -1 for z <= -one
    return one


def test_float32_tanh_rounds_to_exactly_one_above_about_9_though_tanh_is_below_1():
    one = float32_tanh_one()
    # 1 - tanh(z) ≈ 2 exp(-2z) drops below half the float32 spacing below 1, 2^-25, at 13 ln 2.
    assert one == pytest.approx(13 * math.log(2), abs=1e-3)
    assert math.tanh(one) < 1  # mathematically (here in float64) tanh' = 1 - tanh² is not 0
    assert 1 - torch.tanh(torch.tensor(one)) ** 2 == 0  # in float32 it is


def test_the_nan_gradient_is_an_overflowed_gradient_times_the_saturated_tanhs_zero(
    diverging_and_clipped, milestones
):
    plain, _ = diverging_and_clipped
    one = float32_tanh_one()
    for step, overflowed in (
        (milestones.first_bad_gradient - 1, False),
        (milestones.first_bad_gradient, True),
    ):
        net = net_at(plain, step)
        hidden = net[:-1](INPUTS)  # the last tanh layer's output
        hidden.retain_grad()
        loss = nn.functional.mse_loss(net[-1](hidden).squeeze(1), LABELS)
        loss.backward()
        assert (1 - hidden**2 == 0).all()  # in float32, tanh' = 0 at every unit and input,
        assert net[:-2](INPUTS).abs().min() > one  # since every |z| is above the rounding point
        assert hidden.grad.isinf().all() if overflowed else hidden.grad.isfinite().all()
        first_layers = torch.cat([p.grad.reshape(-1) for p in list(net.parameters())[:-2]])
        assert first_layers.isnan().all() if overflowed else (first_layers == 0).all()


def test_clipping_by_norm_trains_but_fires_on_every_step(diverging_and_clipped):
    _, clipped = diverging_and_clipped
    assert np.isfinite(clipped.losses).all() and clipped.losses[-1] == pytest.approx(
        0.0678, abs=5e-5
    )
    assert np.all(clipped.norms > 0.5)
    assert np.abs(clipped.cosines - 1).max() < 1e-6
    assert np.abs(clipped.lengths - 0.5).max() < 1e-5


def test_clipping_by_value_turns_every_training_step_and_takes_longer_steps(
    diverging_and_clipped,
):
    _, clipped = diverging_and_clipped
    valued = train(0.1, lambda p: nn.utils.clip_grad_value_(p, 0.01))
    assert np.isfinite(valued.losses).all()
    assert valued.cosines.max() < 0.8 and valued.cosines.min() > 0.5
    # It ends lower than the norm-clipped run, but its steps are longer: not a fair race.
    assert valued.losses[-1] == pytest.approx(0.0619, abs=5e-5)
    assert valued.losses[-1] < clipped.losses[-1]
    assert valued.lengths.min() > 0.82 and valued.lengths.max() < 1.09
    assert np.median(valued.lengths) == pytest.approx(0.88, abs=0.005)
    assert valued.lengths.max() <= 0.01 * 12737**0.5  # the c·√n bound, 1.13


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
    assert (
        large > 0 and xavier > 0
    )  # power iteration's answer is the largest, not the most negative
    assert 0.1 * large > 2 > 0.1 * xavier
    assert 2 / large < 0.01  # so η = 0.008 is below the limit
    assert round((1 - 0.1 * large) ** 2) == 524  # what the starting curvature would predict


def test_at_the_saturation_step_the_network_is_a_parabola_of_curvature_2_times_65(
    diverging_and_clipped, milestones
):
    plain, _ = diverging_and_clipped
    start = milestones.saturated_from
    net = net_at(plain, start)
    output = net(INPUTS)
    assert (output == output[0]).all()  # one output for all inputs
    # The loss is (o - 1/2)² + 1/4 in o: the labels are 250 zeros and 250 ones.
    assert (LABELS == 0).sum() == (LABELS == 1).sum() == 250 and LABELS.mean() == 0.5
    curvature = top_curvature(net)
    assert curvature == pytest.approx(2 * (64 + 1), abs=0.01)
    assert (1 - 0.1 * curvature) ** 2 == pytest.approx(144, abs=0.01)
    # The same parabola at the last finite loss, however far the output has run off.
    last = top_curvature(net_at(plain, milestones.first_inf - 1))
    assert last == pytest.approx(130, abs=0.01)
    # One step before saturation the picture does not hold yet.
    assert abs(top_curvature(net_at(plain, start - 1)) - 130) > 1


def test_power_iteration_returns_the_eigenvalue_of_largest_magnitude_even_if_negative():
    d = torch.tensor([1.0, -5.0, 2.0], dtype=torch.float64)
    w = torch.ones(3, dtype=torch.float64, requires_grad=True)
    (grad,) = torch.autograd.grad(0.5 * (d * w**2).sum(), w, create_graph=True)
    v = torch.randn(3, dtype=torch.float64)
    for _ in range(60):
        v = v / v.norm()
        (hv,) = torch.autograd.grad(grad, w, grad_outputs=v, retain_graph=True)
        curvature = (hv @ v).item()
        v = hv.detach()
    assert curvature == pytest.approx(-5.0, rel=1e-6)


def test_the_clipped_run_sits_at_the_edge_of_stability(diverging_and_clipped):
    _, clipped = diverging_and_clipped
    effective = np.median(0.1 * np.minimum(1, 0.5 / clipped.norms))
    assert effective == pytest.approx(0.0155, abs=5e-5) and effective > 2 / 238.9
    steps = (0, 100, 200, 299)
    curvatures = [top_curvature(net_at(clipped, step)) for step in steps]
    assert [round(c) for c in curvatures] == [239, 134, 127, 118]
    # Each step's own effective rate η·min(1, c/‖g‖) times the curvature at that step: far
    # below 2 at the start, near 2 from step 100 on.
    rates = [0.1 * min(1, 0.5 / clipped.norms[s]) for s in steps]
    products = [r * c for r, c in zip(rates, curvatures, strict=True)]
    assert [round(p, 2) for p in products] == [0.42, 2.08, 2.07, 1.94]
    assert products[0] < 1 and all(abs(p - 2) < 0.1 for p in products[1:])
    assert np.mean(np.diff(clipped.losses) > 0) == pytest.approx(0.49, abs=0.005)  # sawtooth
    signs = np.sign(np.diff(clipped.losses[200:]))  # the last 100 steps: up, down, up, ...
    assert (signs[1:] == -signs[:-1]).all()


def test_a_threshold_that_fires_on_every_step_is_tuned_like_a_learning_rate(
    diverging_and_clipped, slow
):
    _, clipped = diverging_and_clipped
    runs = {c: clipped if c == 0.5 else train(0.1, clip_norm(c)) for c in (10, 2, 0.5, 0.1)}
    fires = {c: np.mean(run.norms > c) for c, run in runs.items()}
    last = {c: run.losses[200:] for c, run in runs.items()}  # the last 100 steps
    assert 0.05 < fires[10] < 0.2 and all(fires[c] > 0.98 for c in (2, 0.5, 0.1))
    # Fixed-length steps η·c: the shorter the step, the lower the loss and its swings.
    assert last[2].max() > last[0.5].max() > last[0.1].max()
    assert last[2].min() > last[0.5].min() > last[0.1].min()
    # At c = 2 the loss zigzags, up and down on alternate steps, and every other step it is
    # worse than answering 1/2, so its value at one step says only which of the two it was.
    signs = np.sign(np.diff(last[2]))
    assert (signs[1:] == -signs[:-1]).all()
    high, low = sorted([last[2][0::2], last[2][1::2]], key=np.max, reverse=True)
    assert high.min() > 0.25 > low.max()
    # Runs that do not settle (10 and 2) against runs that do (0.5 and 0.1).
    assert all(last[c].max() > 3 * last[c].min() for c in (10, 2))
    assert all(last[c].max() < 1.5 * last[c].min() for c in (0.5, 0.1))
    assert runs[0.1].losses[-1] < slow.losses[-1]  # tuned, fixed-length steps beat η = 0.008


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


def test_a_smaller_learning_rate_or_xavier_weights_need_no_clipping(diverging_and_clipped, slow):
    _, clipped = diverging_and_clipped
    xavier = train(0.1, scale=1.0)
    assert np.isfinite(slow.losses).all() and slow.losses[-1] < clipped.losses[-1]
    assert slow.losses[-1] == pytest.approx(0.0395, abs=5e-5)
    # Xavier's weights make η = 0.1 stable, but it learns slowly: not far below guessing.
    assert np.isfinite(xavier.losses).all()
    assert clipped.losses[-1] < xavier.losses[-1] < 0.25


def test_a_threshold_from_a_healthy_history_absorbs_one_corrupted_step(slow):
    threshold = float(np.percentile(slow.norms, 99))
    assert threshold == pytest.approx(3.549, abs=5e-4)
    # The baseline: the same run clipped at the threshold, no accident. The healthy run is above
    # the threshold on its first three steps (1%); clipped, it descends more slowly from the
    # too-large start, so its gradient stays above the threshold longer: ten steps.
    belt_only = train(0.008, clip_norm(threshold))
    assert list(np.flatnonzero(slow.norms > threshold)) == [0, 1, 2]
    assert list(np.flatnonzero(belt_only.norms > threshold)) == list(range(10))
    assert np.mean(slow.norms > threshold) <= 0.01 < np.mean(belt_only.norms > threshold)
    assert (belt_only.losses[1:10] > slow.losses[1:10]).all()
    assert belt_only.losses[5] == pytest.approx(1.349, abs=5e-4)
    assert belt_only.losses[-1] == pytest.approx(0.0399, abs=5e-5)
    assert abs(belt_only.losses[-1] - slow.losses[-1]) < 0.003
    bumped = train(0.008, spike=150)
    belted = train(0.008, clip_norm(threshold), spike=150)
    assert bumped.norms[150] == pytest.approx(212, abs=0.5)
    assert bumped.losses[149] == pytest.approx(0.071, abs=5e-4)
    # Without clipping the accident throws the run far above guessing, for many steps.
    assert bumped.losses[151] == pytest.approx(0.977, abs=5e-4) and bumped.losses[151] > 0.25
    assert 151 + int(np.argmax(bumped.losses[151:] < bumped.losses[149])) == 204
    # With the belt the loss keeps falling and ends about where the run without accident did.
    assert belted.losses[151] == pytest.approx(0.064, abs=5e-4)
    assert belted.losses[151] < bumped.losses[149]
    assert belted.losses[-1] == pytest.approx(0.0383, abs=5e-5)
    assert belted.losses[-1] < bumped.losses[-1]
    assert abs(belted.losses[-1] - slow.losses[-1]) < 0.003
    assert abs(belted.losses[-1] - belt_only.losses[-1]) < 0.003
    assert np.array_equal(belted.losses[:150], belt_only.losses[:150])  # the same until 150
    fired = np.flatnonzero(belted.norms > threshold)
    # The first ten steps, as without the accident, and the accident.
    assert list(fired) == [*np.flatnonzero(belt_only.norms > threshold), 150] == [*range(10), 150]


def test_a_threshold_from_a_healthy_history_fires_mostly_at_a_high_rate(slow):
    threshold = float(np.percentile(slow.norms, 99))
    misused = train(0.1, clip_norm(threshold))
    assert np.isfinite(misused.losses).all()
    assert np.mean(misused.norms > threshold) == pytest.approx(0.837, abs=5e-4)


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


def test_exercise_feedback_names_the_known_mistakes():
    def stretched(grads, max_norm):
        total = math.sqrt(sum(g.pow(2).sum().item() for g in grads))
        return [g * (max_norm / total) for g in grads]

    def each_tensor(grads, max_norm):
        return [g * min(1.0, max_norm / g.norm().item()) for g in grads]

    message = exercises.clip_by_global_norm.evaluate(stretched).message
    assert "global norm, 0.24, is already below max_norm = 1" in message
    assert "unchanged" in message
    message = exercises.clip_by_global_norm.evaluate(each_tensor).message
    assert "each tensor by its own norm" in message

    def keeps_inf(norms, percentile):
        return float(np.percentile([n for n in norms if not math.isnan(n)], percentile))

    def fraction(norms, percentile):
        return float(np.percentile([n for n in norms if math.isfinite(n)], percentile / 100))

    assert "kept the inf norms" in exercises.choose_threshold.evaluate(keeps_inf).message
    assert "0 to 100 scale" in exercises.choose_threshold.evaluate(fraction).message


def test_the_clipping_solution_leaves_an_all_zero_gradient_alone():
    zeros = [torch.zeros(3), torch.zeros(2, 2)]
    assert all((g == 0).all() for g in solutions.clip_by_global_norm(zeros, 1.0))


def test_the_diverging_history_suggests_a_useless_threshold(
    diverging_and_clipped, milestones, slow
):
    plain, _ = diverging_and_clipped
    # The norms are finite until the gradient turns non-finite, NaN from then on.
    finite = plain.norms[np.isfinite(plain.norms)]
    assert len(finite) == milestones.first_bad_gradient
    assert np.isnan(plain.norms[milestones.first_bad_gradient :]).all()
    suggested = solutions.choose_threshold(list(plain.norms), 99)
    # The 99th percentile of a few dozen norms lies between the two largest, from the runaway:
    assert sorted(finite)[-2] <= suggested <= finite.max() and suggested > 1e21
    # so it would never fire on a healthy run, and on the runaway at most once.
    assert slow.norms.max() < suggested and (finite > suggested).sum() <= 1
