"""A gradient-flow monitor: watch every layer's gradients and activations while a model trains.

>>> import torch
>>> from torch import nn
>>> model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 1))
>>> optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
>>> x, y = torch.randn(32, 4), torch.randn(32, 1)
>>> with GradientMonitor(model, optimizer=optimizer, every=1) as monitor:
...     for _ in range(3):
...         optimizer.zero_grad()
...         loss = nn.functional.mse_loss(model(x), y)
...         loss.backward()
...         optimizer.step()
...         monitor.step(loss)
>>> [record.step for record in monitor.history]
[0, 1, 2]
>>> print(monitor.diagnose())
healthy: no vanishing or exploding gradients, dead or saturated units, or odd update sizes.

How it works, and why it is cheap:

* **Gradients** are read from ``p.grad`` after the backward pass (no backward hooks, which
  break on in-place operations). On a recorded step all statistics of all parameters come
  from a few batched reductions (``torch._foreach_norm`` and friends) and reach Python in
  one transfer, instead of one ``.item()`` per parameter.
* **Activations** are summarised by forward hooks on the leaf modules, at the moment each
  module runs: an in-place ReLU that later overwrites a Linear output cannot spoil them.
* **Update-to-data ratios** ‖Δp‖ / ‖p‖ come from hooks on the optimizer's ``step``.
* Only every ``every``-th step is recorded (10 by default), and at most ``max_records``
  records are kept, each a few small NumPy arrays.
* **NaN and Inf**: the first time one shows up (in the loss passed to :meth:`step`, or in a
  recorded gradient), the monitor finds the first layer whose output went non-finite in
  the forward pass, or else the layer nearest the loss whose gradient did, and warns once.
"""

from __future__ import annotations

import math
import warnings
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
import torch
from torch import nn

from ._checks import require_int

__all__ = [
    "ActivationStats",
    "Diagnosis",
    "Finding",
    "GradStats",
    "GradientMonitor",
    "NonFiniteEvent",
    "StepRecord",
    "Thresholds",
]

# A unit counts as saturated when its output is this close to the activation's limits:
# tanh beyond ±0.99 (tanh' < 0.02), sigmoid below 0.01 or above 0.99 (σ' < 0.0099).
TANH_SATURATION = 0.99
SIGMOID_SATURATION = 0.01

_DEAD_KINDS = (nn.ReLU, nn.ReLU6)
_KEEP_FINITE = (
    nn.ReLU,
    nn.ReLU6,
    nn.LeakyReLU,
    nn.Tanh,
    nn.Sigmoid,
    nn.GELU,
    nn.SiLU,
    nn.Dropout,
    nn.Identity,
    nn.Flatten,
    nn.Unflatten,
)
_NO_RECORDS = "no step recorded yet: call monitor.step() after loss.backward() in your loop."
# Columns of the raw gradient array, from which GradStats are derived.
_GRAD_FIELDS = ("norm", "sum", "min", "max", "nonzero", "abs_sum")
_ACT_FIELDS = ("sum", "sum_sq", "flagged", "count", "units", "calls")


class GradStats(NamedTuple):
    """Statistics of one parameter's gradient at one step."""

    norm: float
    mean: float
    std: float
    max_abs: float
    mean_abs: float
    zero_fraction: float
    size: int

    @property
    def rms(self) -> float:
        """The typical size of one gradient entry: norm / sqrt(size)."""
        return self.norm / math.sqrt(self.size)


class ActivationStats(NamedTuple):
    """Statistics of one module's output at one step (over the whole batch).

    ``dead_fraction`` (ReLU layers only) is the fraction of output units that are zero for
    every example in the batch; ``saturated_fraction`` (tanh and sigmoid layers only) is
    the fraction of outputs within 0.01 of the activation's limits. Both are None for
    other modules.
    """

    mean: float
    std: float
    dead_fraction: float | None
    saturated_fraction: float | None


class NonFiniteEvent(NamedTuple):
    """Where a NaN or Inf first appeared."""

    step: int
    phase: str  # "forward", "backward" or "loss"
    layer: str | None
    message: str


@dataclass(frozen=True, repr=False)
class StepRecord:
    """Everything recorded at one step. Use the methods to read it."""

    step: int
    loss: float | None
    global_norm: float
    _grads: np.ndarray  # (parameters, 6): see _GRAD_FIELDS
    _acts: np.ndarray  # (modules, 6): see _ACT_FIELDS
    _updates: np.ndarray  # (parameters,): update-to-data ratio, NaN where not measured
    _histograms: np.ndarray | None  # (parameters, bins) counts of log10|grad|
    _monitor: GradientMonitor

    def __repr__(self) -> str:
        loss = "None" if self.loss is None else f"{self.loss:.4g}"
        return (
            f"StepRecord(step={self.step}, loss={loss}, global_norm={self.global_norm:.4g}, "
            f"{len(self._grads)} parameters, {int(np.sum(~np.isnan(self._acts[:, 0])))} modules)"
        )

    def gradient(self, name: str) -> GradStats | None:
        """Gradient statistics of parameter ``name``, or None if it had no gradient."""
        return self._monitor._grad_stats(self._grads, self._monitor._param_index(name))

    def gradients(self) -> dict[str, GradStats]:
        """Gradient statistics of every parameter that had a gradient, in model order."""
        stats = {}
        for i, name in enumerate(self._monitor.parameter_names):
            row = self._monitor._grad_stats(self._grads, i)
            if row is not None:
                stats[name] = row
        return stats

    def activations(self) -> dict[str, ActivationStats]:
        """Activation statistics of every module that ran, in model order."""
        stats = {}
        for i, name in enumerate(self._monitor.module_names):
            row = self._monitor._act_stats(self._acts, i)
            if row is not None:
                stats[name] = row
        return stats

    def update_ratios(self) -> dict[str, float]:
        """‖Δp‖ / ‖p‖ of every parameter the optimizer updated at this step."""
        names = self._monitor.parameter_names
        return {n: float(r) for n, r in zip(names, self._updates, strict=True) if not np.isnan(r)}

    def histogram(self, name: str) -> np.ndarray | None:
        """Counts of log10|grad| of parameter ``name`` in the bins :attr:`HISTOGRAM_EDGES`."""
        if self._histograms is None:
            return None
        return self._histograms[self._monitor._param_index(name)]


@dataclass(frozen=True)
class Thresholds:
    """When :meth:`GradientMonitor.diagnose` raises a finding. Change them per model if needed.

    Attributes:
        vanishing_ratio: gradient RMS of the first weight over that of the last weight
            below this means the gradient vanishes on its way back.
        exploding_ratio: that ratio above this means it explodes on its way back.
        exploding_norm: a global gradient norm above this is called exploding (for losses
            of order 1; scale it with your loss).
        dead_fraction: a ReLU layer with more than this fraction of dead units.
        saturated_fraction: a tanh or sigmoid layer with more than this fraction of
            saturated outputs.
        update_ratio_low, update_ratio_high: a typical update moves a weight by about
            1e-3 of its size; the median ratio outside this range is reported.
    """

    vanishing_ratio: float = 1e-3
    exploding_ratio: float = 1e3
    exploding_norm: float = 1e3
    dead_fraction: float = 0.3
    saturated_fraction: float = 0.3
    update_ratio_low: float = 1e-5
    update_ratio_high: float = 1e-1


class Finding(NamedTuple):
    """One problem found by :meth:`GradientMonitor.diagnose`."""

    kind: str  # "non-finite", "vanishing", "exploding", "dead", "saturated", "update-ratio"
    message: str
    value: float | None


class Diagnosis(list):
    """The findings of :meth:`GradientMonitor.diagnose`; empty means healthy."""

    @property
    def healthy(self) -> bool:
        return not self

    def kinds(self) -> set[str]:
        return {finding.kind for finding in self}

    def __str__(self) -> str:
        if self.healthy:
            return (
                "healthy: no vanishing or exploding gradients, dead or saturated units, "
                "or odd update sizes."
            )
        return "\n".join(f"{f.kind}: {f.message}" for f in self)


def _first_tensor(output: Any) -> torch.Tensor | None:
    """The tensor to summarise from a module's output (LSTM returns (out, (h, c)))."""
    if isinstance(output, torch.Tensor):
        return output
    if isinstance(output, nn.utils.rnn.PackedSequence):
        return output.data
    if isinstance(output, (tuple, list)) and output:
        return _first_tensor(output[0])
    return None


def _activation_kind(module: nn.Module) -> str:
    if isinstance(module, _DEAD_KINDS):
        return "dead"
    if isinstance(module, nn.Tanh) or (
        isinstance(module, nn.RNN) and module.nonlinearity == "tanh"
    ):
        return "tanh"
    if isinstance(module, nn.Sigmoid):
        return "sigmoid"
    return "other"


class GradientMonitor:
    """Record gradient and activation statistics of ``model`` every ``every`` steps.

    Args:
        model: the network to watch.
        optimizer: give it to measure update-to-data ratios.
        every: record one step in this many (1 records every step).
        update_every: measure update-to-data ratios on the recorded steps whose number is a
            multiple of this. Each measurement copies the weights, which costs about as much
            as a recorded step's gradient statistics; hence not on every recorded step.
        activations: also summarise every leaf module's output.
        histograms: also keep a histogram of log10|grad| per parameter.
        max_records: keep at most this many records (the oldest are dropped).

    Use it as a context manager, or call :meth:`attach` and :meth:`detach`. Call
    :meth:`step` once per training step, after ``loss.backward()`` (best after
    ``optimizer.step()`` too).
    """

    HISTOGRAM_EDGES = np.linspace(-16.0, 4.0, 41)  # log10|grad| from 1e-16 to 1e4, 0.5 decade bins

    def __init__(
        self,
        model: nn.Module,
        *,
        optimizer: torch.optim.Optimizer | None = None,
        every: int = 10,
        update_every: int = 50,
        activations: bool = True,
        histograms: bool = False,
        max_records: int = 1000,
    ) -> None:
        if not isinstance(model, nn.Module):
            raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}.")
        if optimizer is not None and not isinstance(optimizer, torch.optim.Optimizer):
            raise TypeError(
                f"optimizer must be a torch.optim.Optimizer, got {type(optimizer).__name__}."
            )
        named = list(model.named_parameters())  # shared (tied) parameters appear once
        if not named:
            raise ValueError("model has no parameters, so there are no gradients to monitor.")
        self.model = model
        self.optimizer = optimizer
        self.every = require_int(every, "every", minimum=1)
        self.update_every = require_int(update_every, "update_every", minimum=1)
        self.max_records = require_int(max_records, "max_records", minimum=1)
        self.record_activations = bool(activations)
        self.record_histograms = bool(histograms)

        self.frozen = [name for name, p in named if not p.requires_grad]
        trainable = [(name, p) for name, p in named if p.requires_grad]
        if not trainable:
            raise ValueError("every parameter of model is frozen (requires_grad=False).")
        self.parameter_names = [name for name, _ in trainable]
        self._params = [p for _, p in trainable]
        self._index = {name: i for i, name in enumerate(self.parameter_names)}
        self.module_names = [
            name for name, m in model.named_modules() if not any(True for _ in m.children())
        ]
        self._modules = dict(model.named_modules())
        self._device = self._params[0].device

        self.history: deque[StepRecord] = deque(maxlen=self.max_records)
        self.nonfinite: NonFiniteEvent | None = None
        self._handles: list[Any] = []
        self._step = 0
        self._recording = True  # step 0 is recorded
        self._forward_seen = False
        # What the forward hooks gather during one forward pass, written into buffers made
        # once: many small tensors kept alive until step() would fragment the memory that
        # the big activations reuse, and slow training. Per module: sum, sum of squares and
        # flagged units of its output (on other than recorded steps only the sum, whose
        # finiteness tells whether the output held a NaN or Inf); count, units and calls;
        # and the order in which the modules first ran.
        self._sums = torch.zeros(len(self.module_names), 3, device=self._device)
        self._counts = [[0, 0, 0] for _ in self.module_names]
        self._order: list[int] = []
        # The weights before an optimizer step, to measure the update: allocated once, on
        # the first measurement, and reused while attached.
        self._weights_before: list[torch.Tensor] | None = None
        self._measuring_update: int | None = None  # the step whose update is being measured
        self._pending_updates: np.ndarray | None = None
        self._update_target: int | None = None

    # ----------------------------------------------------------------- attaching
    @property
    def attached(self) -> bool:
        return bool(self._handles)

    def attach(self) -> GradientMonitor:
        """Add the hooks. Returns the monitor, so ``monitor = GradientMonitor(m).attach()``."""
        if self.attached:
            raise RuntimeError("this monitor is already attached; call detach() first.")
        self._recording = self._step % self.every == 0
        self._handles.append(self.model.register_forward_pre_hook(self._on_model_forward))
        for i, name in enumerate(self.module_names):
            module = self._modules[name]
            hook = self._make_forward_hook(i, module)
            self._handles.append(module.register_forward_hook(hook))
        if self.optimizer is not None:
            self._handles.append(self.optimizer.register_step_pre_hook(self._before_update))
            self._handles.append(self.optimizer.register_step_post_hook(self._after_update))
        return self

    def detach(self) -> None:
        """Remove every hook this monitor added. The history stays readable."""
        for handle in self._handles:
            handle.remove()
        self._handles.clear()
        self._weights_before = None

    def __enter__(self) -> GradientMonitor:
        return self.attach()

    def __exit__(self, *exc_info: object) -> None:
        self.detach()

    # ------------------------------------------------------------------ recording
    @property
    def recording(self) -> bool:
        """Whether the step in progress will be recorded."""
        return self._recording

    def _on_model_forward(self, module: nn.Module, args: Any) -> None:
        """A new forward pass: forget what the hooks gathered in the previous one."""
        self._sums.zero_()
        for counts in self._counts:
            counts[:] = (0, 0, 0)
        self._order.clear()
        self._forward_seen = True

    def _make_forward_hook(self, index: int, module: nn.Module):
        kind = _activation_kind(module)
        # These map finite inputs to finite outputs: outside recorded steps, skip them.
        keeps_finite = isinstance(module, _KEEP_FINITE)
        counts = self._counts[index]
        row = self._sums[index]  # this module's sum, sum of squares and flagged units
        total = row[0]

        def hook(module: nn.Module, args: Any, output: Any) -> None:
            out = _first_tensor(output)
            if out is None or not out.is_floating_point():
                return
            if counts[2] == 0:
                self._order.append(index)
            counts[2] += 1
            if self._recording and self.record_activations:
                count, units = _summarise_activation(out, kind, row)
                counts[0] += count
                counts[1] += units
            elif not keeps_finite:
                total.add_(out.detach().sum().to(total.device, non_blocking=True))

        return hook

    def _before_update(self, optimizer: torch.optim.Optimizer, args: Any, kwargs: Any) -> None:
        # Which step does this update belong to? If no forward pass happened since the last
        # monitor.step(), step() was called before optimizer.step(): the previous step.
        target = self._step if self._forward_seen else self._step - 1
        if target % self.update_every != 0:
            return
        recorded = bool(self.history) and self.history[-1].step == target
        if (target == self._step and self._recording) or (target < self._step and recorded):
            self._measuring_update = target
            with torch.no_grad():
                if self._weights_before is None:
                    self._weights_before = [torch.empty_like(p) for p in self._params]
                torch._foreach_copy_(self._weights_before, [p.detach() for p in self._params])

    def _after_update(self, optimizer: torch.optim.Optimizer, args: Any, kwargs: Any) -> None:
        if self._measuring_update is None:
            return
        with torch.no_grad():
            ratios = torch.stack(
                [
                    torch.dist(before, p.detach()) / torch.linalg.vector_norm(before)
                    for before, p in zip(self._weights_before, self._params, strict=True)
                ]
            )
        ratios = ratios.double().cpu().numpy()
        if self._measuring_update == self._step:
            self._pending_updates = ratios
        elif self.history and self.history[-1].step == self._measuring_update:
            self.history[-1]._updates[:] = ratios
        self._measuring_update = None

    def step(self, loss: torch.Tensor | float | None = None) -> None:
        """Close the current training step (and record it, if it is one in ``every``).

        Call it after ``loss.backward()``. Passing ``loss`` lets the monitor catch a NaN or
        Inf on every step, not only on recorded ones.
        """
        if not self.attached:
            raise RuntimeError(
                "the monitor is not attached: use `with GradientMonitor(model) as monitor:` "
                "or call monitor.attach() before training."
            )
        if not any(p.grad is not None for p in self._params):
            raise RuntimeError(
                "no parameter has a gradient yet: call monitor.step() after loss.backward()."
            )
        if isinstance(loss, torch.Tensor):
            loss = loss.detach()
        loss_value = None if loss is None else float(loss)
        record = None
        if self._recording:
            record = self._record(loss_value)
            self.history.append(record)
        if self.nonfinite is None and (
            (loss_value is not None and not math.isfinite(loss_value))
            or (record is not None and not math.isfinite(record.global_norm))
        ):
            self._locate_nonfinite(loss_value)
        self._pending_updates = None
        self._forward_seen = False
        self._step += 1
        self._recording = self._step % self.every == 0

    def _record(self, loss: float | None) -> StepRecord:
        present = [i for i, p in enumerate(self._params) if p.grad is not None]
        grads = [self._params[i].grad.detach() for i in present]
        raw = np.full((len(self._params), len(_GRAD_FIELDS)), np.nan)
        raw[present] = _gradient_table(grads)
        global_norm = float(np.sqrt(np.sum(raw[present, 0] ** 2)))

        acts = np.full((len(self.module_names), len(_ACT_FIELDS)), np.nan)
        summarised = [i for i, (count, _, _) in enumerate(self._counts) if count > 0]
        if summarised:
            acts[summarised, :3] = self._sums[summarised].double().cpu().numpy()
            acts[summarised, 3:] = [self._counts[i] for i in summarised]

        histograms = None
        if self.record_histograms:
            histograms = np.zeros((len(self._params), len(self.HISTOGRAM_EDGES) - 1), np.int32)
            histograms[present] = _log_histograms(grads, self.HISTOGRAM_EDGES)

        updates = np.full(len(self._params), np.nan)
        if self._pending_updates is not None:
            updates[:] = self._pending_updates
        return StepRecord(self._step, loss, global_norm, raw, acts, updates, histograms, self)

    # ------------------------------------------------------------------ non-finite
    def _locate_nonfinite(self, loss: float | None) -> None:
        step = self._step
        sums = self._sums[:, 0].tolist()
        for index in self._order:
            if not math.isfinite(sums[index]):
                name = self.module_names[index]
                kind = type(self._modules[name]).__name__
                event = NonFiniteEvent(
                    step,
                    "forward",
                    name,
                    f"step {step}: the output of layer {name!r} ({kind}) is the first to contain "
                    "NaN or Inf in the forward pass.",
                )
                break
        else:
            if loss is not None and not math.isfinite(loss):
                event = NonFiniteEvent(
                    step,
                    "loss",
                    None,
                    f"step {step}: the loss is {loss}, although every layer's output was finite: "
                    "look at the loss function (log of 0? division by 0?).",
                )
            else:
                event = self._locate_nonfinite_gradient(step)
        self.nonfinite = event
        warnings.warn(event.message, RuntimeWarning, stacklevel=3)

    def _locate_nonfinite_gradient(self, step: int) -> NonFiniteEvent:
        order = {self.module_names[index]: i for i, index in enumerate(self._order)}
        bad_layers = [
            (order.get(layer, -1), layer or name)
            for name, p in zip(self.parameter_names, self._params, strict=True)
            if p.grad is not None and not bool(torch.isfinite(p.grad).all())
            for layer in [name.rpartition(".")[0]]
        ]
        # The layer that ran last in forward is the first that the gradient reaches.
        _, layer = max(bad_layers, default=(-1, None))
        return NonFiniteEvent(
            step,
            "backward",
            layer,
            f"step {step}: every layer's output was finite, but in the backward pass the "
            f"gradient of layer {layer!r} is the first to contain NaN or Inf.",
        )

    # ------------------------------------------------------------------ reading
    @property
    def latest(self) -> StepRecord:
        """The most recent record."""
        if not self.history:
            raise ValueError(_NO_RECORDS)
        return self.history[-1]

    def __iter__(self) -> Iterator[StepRecord]:
        return iter(self.history)

    def _param_index(self, name: str) -> int:
        try:
            return self._index[name]
        except KeyError:
            frozen = " (it is frozen)" if name in self.frozen else ""
            choices = ", ".join(self.parameter_names[:4])
            raise KeyError(
                f"no monitored parameter {name!r}{frozen}; names look like: {choices}, ..."
            ) from None

    def _grad_stats(self, raw: np.ndarray, i: int) -> GradStats | None:
        if np.isnan(raw[i, 0]) and np.isnan(raw[i, 1]):
            return None
        size = self._params[i].numel()
        derived = _derive_gradient_stats(raw[i], np.asarray(size))
        return GradStats(*(float(derived[field]) for field in GradStats._fields[:-1]), size)

    def _act_stats(self, raw: np.ndarray, i: int) -> ActivationStats | None:
        total, total_sq, flagged, count, units, _calls = raw[i]
        if np.isnan(count) or count == 0:
            return None
        mean = total / count
        std = math.sqrt(max(total_sq / count - mean**2, 0.0) * count / max(count - 1, 1))
        kind = _activation_kind(self._modules[self.module_names[i]])
        dead = float(flagged / units) if kind == "dead" else None
        saturated = float(flagged / count) if kind in ("tanh", "sigmoid") else None
        return ActivationStats(float(mean), std, dead, saturated)

    def series(self, statistic: str = "norm") -> tuple[np.ndarray, list[str], np.ndarray]:
        """One gradient statistic over time: (steps, parameter names, values[step, parameter]).

        ``statistic`` is a :class:`GradStats` field (``norm``, ``mean``, ``std``,
        ``max_abs``, ``zero_fraction``), ``rms``, or ``update_ratio``.
        """
        if not self.history:
            raise ValueError(_NO_RECORDS)
        records = list(self.history)
        steps = np.array([r.step for r in records])
        if statistic == "update_ratio":
            return steps, list(self.parameter_names), np.stack([r._updates for r in records])
        if statistic not in (*GradStats._fields, "rms"):
            raise ValueError(
                f"unknown statistic {statistic!r}; choose one of "
                f"{', '.join((*GradStats._fields[:-1], 'rms', 'update_ratio'))}."
            )
        sizes = np.array([p.numel() for p in self._params])
        derived = _derive_gradient_stats(np.stack([r._grads for r in records]), sizes)
        return steps, list(self.parameter_names), derived[statistic]

    # ------------------------------------------------------------------ diagnosis
    def diagnose(self, thresholds: Thresholds | None = None) -> Diagnosis:
        """Plain-language findings about the latest recorded step (see :class:`Thresholds`)."""
        limits = thresholds or Thresholds()
        record = self.latest
        findings = Diagnosis()
        if self.nonfinite is not None:
            findings.append(Finding("non-finite", self.nonfinite.message, None))

        # "Layers" here are the weight matrices and kernels (2+ dims): biases and norm scales
        # are left out of the first-versus-last comparison.
        grads = record.gradients()
        weights = [
            (n, grads[n])
            for n, p in zip(self.parameter_names, self._params, strict=True)
            if n in grads and p.dim() >= 2
        ]
        if len(weights) >= 2 and math.isfinite(record.global_norm):
            (first, g_first), (last, g_last) = weights[0], weights[-1]
            if g_last.rms > 0:
                ratio = g_first.rms / g_last.rms
                if ratio < limits.vanishing_ratio:
                    findings.append(
                        Finding(
                            "vanishing",
                            f"the gradient reaching the first layer ({first}) is {ratio:.1e} times "
                            f"that of the last layer ({last}): it vanishes on the way back "
                            f"(threshold {limits.vanishing_ratio:.0e}).",
                            ratio,
                        )
                    )
                elif ratio > limits.exploding_ratio:
                    findings.append(
                        Finding(
                            "exploding",
                            f"the gradient reaching the first layer ({first}) is {ratio:.1e} times "
                            f"that of the last layer ({last}): it grows on the way back "
                            f"(threshold {limits.exploding_ratio:.0e}).",
                            ratio,
                        )
                    )
        if math.isfinite(record.global_norm) and record.global_norm > limits.exploding_norm:
            findings.append(
                Finding(
                    "exploding",
                    f"the global gradient norm is {record.global_norm:.1e} "
                    f"(threshold {limits.exploding_norm:.0e}).",
                    record.global_norm,
                )
            )

        for name, stats in record.activations().items():
            if stats.dead_fraction is not None and stats.dead_fraction > limits.dead_fraction:
                findings.append(
                    Finding(
                        "dead",
                        f"{stats.dead_fraction:.0%} of the units of {name} are dead (zero for "
                        "every example in the batch): no gradient flows through them.",
                        stats.dead_fraction,
                    )
                )
            saturated = stats.saturated_fraction
            if saturated is not None and saturated > limits.saturated_fraction:
                findings.append(
                    Finding(
                        "saturated",
                        f"{saturated:.0%} of the outputs of {name} are saturated (within 0.01 of "
                        "the limits), where the derivative is nearly 0.",
                        saturated,
                    )
                )

        measured = next((r for r in reversed(self.history) if r.update_ratios()), record)
        ratios = list(measured.update_ratios().values())
        if ratios:
            median = float(np.median(ratios))
            if median < limits.update_ratio_low or median > limits.update_ratio_high:
                size = (
                    "small: learning barely moves the weights"
                    if median < limits.update_ratio_low
                    else "large: each step changes the weights a lot"
                )
                findings.append(
                    Finding(
                        "update-ratio",
                        f"the median update-to-data ratio is {median:.1e}, far from about 1e-3; "
                        f"updates are too {size}.",
                        median,
                    )
                )
        return findings

    def report(self) -> str:
        """A table of the latest record: one line per parameter, then the diagnosis."""
        record = self.latest
        lines = [f"step {record.step}: global gradient norm {record.global_norm:.3e}"]
        lines.append(f"{'parameter':<24}{'norm':>11}{'mean|g|':>11}{'max|g|':>11}{'zeros':>8}")
        stats = record.gradients()
        for name in self.parameter_names:
            if name in stats:
                s = stats[name]
                lines.append(
                    f"{name:<24}{s.norm:>11.3e}{s.mean_abs:>11.3e}{s.max_abs:>11.3e}"
                    f"{s.zero_fraction:>8.1%}"
                )
            else:
                lines.append(f"{name:<24}{'no gradient':>11}")
        lines += [f"{name:<24}{'frozen':>11}" for name in self.frozen]
        lines.append(str(self.diagnose()))
        return "\n".join(lines)


def _derive_gradient_stats(raw: np.ndarray, sizes: np.ndarray) -> dict[str, np.ndarray]:
    """GradStats fields from the raw columns (see _GRAD_FIELDS), for any leading shape."""
    norm, total, low, high, nonzero, abs_total = np.moveaxis(raw, -1, 0)
    mean = total / sizes
    # The unbiased std, as torch.std computes it (undefined, NaN, for a single number).
    with np.errstate(divide="ignore", invalid="ignore"):
        variance = np.maximum(norm**2 / sizes - mean**2, 0.0) * sizes / (sizes - 1)
    variance = np.where(sizes > 1, variance, np.nan)
    return {
        "norm": norm,
        "mean": mean,
        "std": np.sqrt(variance),
        "max_abs": np.maximum(np.abs(low), np.abs(high)),
        "mean_abs": abs_total / sizes,
        "zero_fraction": 1 - nonzero / sizes,
        "rms": norm / np.sqrt(sizes),
    }


# ---------------------------------------------------------------------- batched kernels
def _norms(tensors: list[torch.Tensor]) -> list[torch.Tensor]:
    """L2 norms of many tensors at once (grouped by device and dtype for the foreach kernel)."""
    return list(torch._foreach_norm(tensors)) if tensors else []


_INT_VIEWS = {2: torch.int16, 4: torch.int32, 8: torch.int64}


def _gradient_table(grads: list[torch.Tensor]) -> np.ndarray:
    """Per tensor: norm, sum, min, max, nonzero count and sum of |g|, in one transfer to the CPU.

    Gradients are read from memory once: the first reduction of each tensor brings it into
    the cache, and the others run on the cached copy. Counting nonzeros on the integer view
    of the bits is many times faster on a CPU than on the floats: +0.0 is the only float
    whose bits are all 0. The other zero, -0.0, has the most negative integer as its bits,
    so the integer minimum tells where to look for it.
    """
    rows = []
    for g in grads:
        flat = g.reshape(-1)
        if flat.numel() == 0:
            rows.append(torch.zeros(7, device=g.device))
            continue
        bits = flat.view(_INT_VIEWS[flat.element_size()])
        low, high = torch.aminmax(flat)
        l1 = torch.linalg.vector_norm(flat, 1)
        columns = [
            flat.sum(),
            flat.dot(flat),
            low,
            high,
            torch.count_nonzero(bits),
            l1,
            bits.amin(),
        ]
        rows.append(torch.stack([c.float() for c in columns]))
    table = torch.stack(rows).double().cpu().numpy()
    table[:, 1] = np.sqrt(table[:, 1])  # sum of squares -> norm
    table[:, [0, 1]] = table[:, [1, 0]]  # columns: norm, sum, min, max, nonzero
    for i in np.flatnonzero(table[:, 6] == _most_negative(grads)):
        bits = grads[i].reshape(-1).view(_INT_VIEWS[grads[i].element_size()])
        table[i, 4] -= int((bits == bits.amin()).sum())  # -0.0 is zero too
    return table[:, :6]


def _most_negative(grads: list[torch.Tensor]) -> np.ndarray:
    """The most negative integer of each tensor's integer view: the bits of -0.0."""
    return np.array([-(2.0 ** (8 * g.element_size() - 1)) for g in grads])


def _summarise_activation(out: torch.Tensor, kind: str, row: torch.Tensor) -> tuple[int, int]:
    """Add (sum, sum of squares, flagged) of ``out`` to ``row``; return its count and units.

    "Flagged" means dead units for ReLUs (a unit is one output position, dead when it is
    zero for every example in the batch), saturated outputs for tanh and sigmoid.
    """
    x = out.detach()
    if x.dtype not in (torch.float32, torch.float64):
        x = x.float()
    flat = x.reshape(-1)
    units = flat.numel()
    if kind == "dead":
        batch_max = x.amax(dim=0) if x.dim() > 1 else x
        flagged = (batch_max <= 0).sum(dtype=x.dtype)
        units = batch_max.numel()
    elif kind == "tanh":
        flagged = (flat.abs() > TANH_SATURATION).sum(dtype=x.dtype)
    elif kind == "sigmoid":
        flagged = ((flat < SIGMOID_SATURATION) | (flat > 1 - SIGMOID_SATURATION)).sum(dtype=x.dtype)
    else:
        flagged = None
    if flagged is None:
        stats, target = torch.stack([flat.sum(), flat.dot(flat)]), row[:2]
    else:
        stats, target = torch.stack([flat.sum(), flat.dot(flat), flagged]), row
    if stats.dtype != row.dtype or stats.device != row.device:
        stats = stats.to(row.device, row.dtype)
    target.add_(stats)
    return flat.numel(), units


def _log_histograms(grads: list[torch.Tensor], edges: np.ndarray) -> np.ndarray:
    """Histogram of log10|g| per tensor (zeros and values outside the edges are left out)."""
    low, high, bins = float(edges[0]), float(edges[-1]), len(edges) - 1
    rows = []
    for g in grads:
        magnitude = g.detach().abs().float()  # one temporary per tensor, then in place
        rows.append(torch.histc(magnitude.clamp_min_(1e-30).log10_(), bins=bins, min=low, max=high))
    return torch.stack(rows).cpu().numpy().astype(np.int32)
