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

* Only every ``every``-th step is recorded (10 by default), and at most ``max_records``
  records are kept, each a few small NumPy arrays. Between recorded steps the monitor
  watches only the model's calls, its output and the loss: a few operations per step.
* **Gradients** are read from ``p.grad`` after the backward pass (no backward hooks, which
  break on in-place operations, and no gradient hooks, which run slower inside autograd).
  On a recorded step every statistic of a large gradient comes from a few reductions, and
  they all reach Python in one transfer, instead of one ``.item()`` per statistic and
  parameter; the small gradients (biases, norm scales) are copied into one array and
  summarised together. With ``compile=True`` one C loop reads each gradient once for all
  of its statistics (``course_utils._one_pass``).
* **Activations** are summarised on recorded steps by a forward hook, at the moment each
  module runs: an in-place ReLU that later overwrites a Linear output cannot spoil them.
  Forward passes run under ``torch.no_grad()`` (evaluation) are ignored, and the passes of
  one step (gradient accumulation) are pooled. A module called several times per step is
  pooled over its calls.
* **Layer order** is the order in which the modules ran in the forward pass, not the
  order in which they were defined.
* **Update-to-data ratios** ‖Δp‖ / ‖p‖ come from hooks on the optimizer's ``step``.
* **NaN and Inf**: the loss passed to :meth:`step` and the model's output are checked on
  every step; every layer's output and the gradients on recorded steps. The first time
  something is non-finite, the monitor works out where it started (the input, an earlier
  update of the weights, the first layer whose output went bad, the loss, or the layer
  nearest the loss whose gradient went bad) and warns once. Between recorded steps it finds
  the first bad layer by running the model again on that step's inputs, checking every
  layer (without gradients; the random numbers and buffers such as BatchNorm's running
  statistics are left as they were). An Inf that a later layer hides (tanh(inf) = 1)
  without spoiling the output or the loss is caught at the next recorded step.
"""

from __future__ import annotations

import math
import warnings
import weakref
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
import torch
from torch import nn

from ._checks import require_int
from ._one_pass import CompileError
from ._statistics import (
    HISTOGRAM_EXPONENTS,
    gradient_table,
    summarise_activation,
)

__all__ = [
    "ActivationStats",
    "Diagnosis",
    "Finding",
    "GradStats",
    "GradientMonitor",
    "NonFiniteEvent",
    "StepRecord",
    "Thresholds",
    "monitor_one_batch",
    "output_gradient_norms",
]


_DEAD_KINDS = (nn.ReLU, nn.ReLU6)
# Modules that map finite inputs to finite outputs: their outputs need no NaN check.
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
_CALLS_KEPT = 8  # the model's calls kept per step, to run them again if a NaN appears
_NO_RECORDS = "no step recorded yet: call monitor.step() after loss.backward() in your loop."
# Columns of the raw gradient array, from which GradStats are derived.
_GRAD_FIELDS = ("norm", "sum", "max_abs", "nonzero", "abs_sum")
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
        """The root-mean-square gradient entry: norm / sqrt(size)."""
        return self.norm / math.sqrt(self.size)


STATISTICS = (*GradStats._fields[:-1], "rms", "update_ratio")


class ActivationStats(NamedTuple):
    """Statistics of one module's output at one step (over the whole batch).

    ``dead_fraction`` (ReLU layers, batches of 16 or more) is the fraction of output units
    that are zero for every example, where a unit is one output position (a feature of a
    Linear layer, one channel-and-pixel of a convolution) and dim 0 is the batch.
    ``saturated_fraction`` (tanh and sigmoid layers) is the fraction of outputs within 0.01
    of the activation's limits. Both are None where they do not apply.
    """

    mean: float
    std: float
    dead_fraction: float | None
    saturated_fraction: float | None


class NonFiniteEvent(NamedTuple):
    """Where a NaN or Inf first appeared."""

    step: int
    phase: str  # "input", "weights", "forward", "loss" or "backward"
    layer: str | None
    message: str


@dataclass(frozen=True, repr=False)
class StepRecord:
    """Everything recorded at one step. Use the methods to read it."""

    step: int
    loss: float | None
    global_norm: float
    _grads: np.ndarray  # (parameters, 5): see _GRAD_FIELDS
    _has_grad: np.ndarray  # (parameters,) bool
    _acts: np.ndarray  # (modules, 6): see _ACT_FIELDS
    _order: tuple[int, ...]  # indices of the modules in the order they first ran
    _updates: np.ndarray  # (parameters,): update-to-data ratio, NaN where not measured
    _histograms: np.ndarray | None  # (parameters, bins) entries of |grad| per power of two
    _monitor: GradientMonitor

    def __repr__(self) -> str:
        loss = "None" if self.loss is None else f"{self.loss:.4g}"
        return (
            f"StepRecord(step={self.step}, loss={loss}, global_norm={self.global_norm:.4g}, "
            f"{int(self._has_grad.sum())} gradients, {len(self._order)} modules ran)"
        )

    def parameter_order(self) -> list[str]:
        """Parameter names from input to output: in the order their modules ran at this step
        (parameters of modules that did not run come last, in definition order)."""
        monitor = self._monitor
        position = {module: rank for rank, module in enumerate(self._order)}
        last = len(position)
        ranked = sorted(
            range(len(monitor.parameter_names)),
            key=lambda i: (position.get(monitor._param_module[i], last), i),
        )
        return [monitor.parameter_names[i] for i in ranked]

    def gradient(self, name: str) -> GradStats | None:
        """Gradient statistics of parameter ``name``, or None if it had no gradient."""
        return self._monitor._grad_stats(self, self._monitor._param_index(name))

    def gradients(self) -> dict[str, GradStats]:
        """Gradient statistics of every parameter that had a gradient, input to output."""
        stats = {}
        for name in self.parameter_order():
            row = self.gradient(name)
            if row is not None:
                stats[name] = row
        return stats

    def activations(self) -> dict[str, ActivationStats]:
        """Activation statistics of every module that ran, in the order they ran."""
        stats = {}
        for i in self._order:
            row = self._monitor._act_stats(self._acts, i)
            if row is not None:
                stats[self._monitor.module_names[i]] = row
        return stats

    def update_ratios(self) -> dict[str, float]:
        """‖Δp‖ / ‖p‖ of every parameter whose update was measured at this step."""
        names = self._monitor.parameter_names
        return {n: float(r) for n, r in zip(names, self._updates, strict=True) if np.isfinite(r)}

    def histogram(self, name: str) -> np.ndarray | None:
        """Entries of |grad| of parameter ``name`` per bin of ``GradientMonitor.HISTOGRAM_EDGES``
        (zeros, NaN and Inf are left out, as are entries outside the edges)."""
        if self._histograms is None:
            return None
        return self._histograms[self._monitor._param_index(name)]


@dataclass(frozen=True)
class Thresholds:
    """When :meth:`GradientMonitor.diagnose` raises a finding. Change them per model if needed.

    Attributes:
        vanishing_ratio: the mean |gradient| of the first weight matrix over that of the
            last one (in forward order) below this means the gradient vanishes on its way
            back.
        exploding_ratio: that ratio above this means it explodes on its way back.
        exploding_norm: a global gradient norm above this is called exploding. Set for
            losses averaged over the batch; scale it for a summed loss.
        dead_fraction: a ReLU layer with more than this fraction of dead units.
        saturated_fraction: a tanh or sigmoid layer with more than this fraction of
            saturated outputs (the network's final output layer is not judged: confident
            predictions saturate it on purpose).
        update_ratio_low, update_ratio_high: a typical update moves a weight by about
            1e-3 of its size; a median ratio outside this range is reported.
    """

    vanishing_ratio: float = 1e-3
    exploding_ratio: float = 1e3
    exploding_norm: float = 1e3
    dead_fraction: float = 0.5
    saturated_fraction: float = 0.3
    update_ratio_low: float = 1e-5
    update_ratio_high: float = 1e-1

    def __post_init__(self) -> None:
        for name, value in vars(self).items():
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
                raise ValueError(f"Thresholds.{name} must be a positive number, got {value!r}.")
        if not self.vanishing_ratio < 1 < self.exploding_ratio:
            raise ValueError("Thresholds need vanishing_ratio < 1 < exploding_ratio.")
        if not self.update_ratio_low < self.update_ratio_high:
            raise ValueError("Thresholds need update_ratio_low < update_ratio_high.")
        if self.dead_fraction > 1 or self.saturated_fraction > 1:
            raise ValueError("dead_fraction and saturated_fraction are fractions, at most 1.")


class Finding(NamedTuple):
    """One problem found by :meth:`GradientMonitor.diagnose`."""

    kind: str  # non-finite, vanishing, zero-gradient, exploding, dead, saturated, update-ratio
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


def _owns_parameters(module: nn.Module) -> bool:
    return any(True for _ in module.parameters(recurse=False))


def _all_finite(tensor: torch.Tensor) -> bool:
    with torch.no_grad():
        return bool(torch.isfinite(tensor).all())


def _inside_torch_func() -> bool:
    """True inside torch.func transforms (vmap, grad, jacrev), where hooks must not write."""
    peek = getattr(torch._C._functorch, "peek_interpreter_stack", None)
    return peek is not None and peek() is not None


def _watching() -> bool:
    """Whether a forward pass should be summarised: a training pass, outside torch.func."""
    return torch.is_grad_enabled() and not _inside_torch_func()


def _require_bool(value: object, name: str) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be True or False, got {value!r}.")
    return value


class GradientMonitor:
    """Record gradient and activation statistics of ``model`` every ``every`` steps.

    Args:
        model: the network to watch.
        optimizer: give it to measure update-to-data ratios.
        every: record one step in this many (1 records every step).
        update_every: measure update-to-data ratios on the steps whose number is a multiple
            of this, if they are recorded (with the defaults: steps 0, 50, 100, ...). Each
            measurement copies the weights, which costs about as much as a recorded step's
            gradient statistics.
        activations: also summarise the output of every module that runs.
        histograms: also keep a histogram of |grad| per parameter, one bin per power of two.
        max_records: keep at most this many records (the oldest are dropped).
        compile: compute the gradient statistics on the CPU with one loop compiled by the
            system's C compiler, which reads each gradient once for all of them instead of
            once per statistic: worth it when recording every step (see
            ``course_utils._one_pass``). Without a compiler the monitor warns and goes on
            without it.

    Use it as a context manager, or call :meth:`attach` and :meth:`detach`. Call
    :meth:`step` once per training step, after ``loss.backward()`` (best after
    ``optimizer.step()`` too).
    """

    # Histogram bin edges in log10|grad|: the powers of two from 2**-53 (1.1e-16) to 2**13.
    HISTOGRAM_EDGES = np.append(HISTOGRAM_EXPONENTS, HISTOGRAM_EXPONENTS[-1] + 1) * np.log10(2)

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
        compile: bool = False,
    ) -> None:
        if not isinstance(model, nn.Module):
            raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}.")
        if optimizer is not None and not isinstance(optimizer, torch.optim.Optimizer):
            raise TypeError(
                f"optimizer must be a torch.optim.Optimizer, got {type(optimizer).__name__}."
            )
        named = list(model.named_parameters())  # a shared (tied) parameter appears once
        if not named:
            raise ValueError("model has no parameters, so there are no gradients to monitor.")
        if not any(p.requires_grad for _, p in named):
            raise ValueError("every parameter of model is frozen (requires_grad=False).")
        self.model = model
        self.optimizer = optimizer
        self.every = require_int(every, "every", minimum=1)
        self.update_every = require_int(update_every, "update_every", minimum=1)
        self.max_records = require_int(max_records, "max_records", minimum=1)
        self.record_activations = _require_bool(activations, "activations")
        self.record_histograms = _require_bool(histograms, "histograms")
        self.compile = _require_bool(compile, "compile")

        self.parameter_names = [name for name, _ in named]
        self._params = [p for _, p in named]
        position = {id(p): i for i, p in enumerate(self._params)}
        # Every name of a parameter finds it, the second name of a tied weight included.
        self._index = {
            name: position[id(p)] for name, p in model.named_parameters(remove_duplicate=False)
        }
        self._in_optimizer = np.ones(len(self._params), dtype=bool)
        if optimizer is not None:
            updated = {id(p) for group in optimizer.param_groups for p in group["params"]}
            self._in_optimizer = np.array([id(p) in updated for p in self._params])
            if not self._in_optimizer.any():
                raise ValueError(
                    "optimizer updates none of model's parameters: is it another model's?"
                )

        modules = dict(model.named_modules())
        self.module_names = [
            name
            for name, m in modules.items()
            if not any(True for _ in m.children()) or _owns_parameters(m)
        ]
        self._modules = modules
        module_index = {name: i for i, name in enumerate(self.module_names)}
        self._param_module = [
            module_index.get(name.rpartition(".")[0], len(self.module_names))
            for name in self.parameter_names
        ]

        self.history: deque[StepRecord] = deque(maxlen=self.max_records)
        self.nonfinite: NonFiniteEvent | None = None
        self._handles: list[Any] = []
        self._step = 0
        self._recording = True
        # What the hooks gather during one step, written into buffers made once: many small
        # tensors kept alive until step() would fragment the memory that the activations
        # reuse, and slow training. On every step: the model's calls (their arguments, kept
        # to trace a NaN) and the sum of its outputs (non-finite if they held a NaN or Inf).
        # On recorded steps, per module: sum, sum of squares and flagged units of its output;
        # count, units and calls; the order in which modules first ran.
        device = self._params[0].device
        self._calls: deque[tuple[tuple, dict]] = deque(maxlen=_CALLS_KEPT)
        sum_type = torch.float64 if device.type in ("cpu", "cuda") else torch.float32
        self._output_sum = torch.zeros((), dtype=sum_type, device=device)
        self._sums = torch.zeros(len(self.module_names), 3, device=device)
        self._counts = [[0, 0, 0] for _ in self.module_names]
        self._order: list[int] = []
        self._forward_seen = False
        # The modules watched on recorded steps: id -> (index, activation kind, whether it has
        # parameters of its own), and the hook that watches them, there only on those steps.
        self._watched = {
            id(module): (i, _activation_kind(module), _owns_parameters(module))
            for i, module in enumerate(self._modules[name] for name in self.module_names)
        }
        self._step_hook: weakref.finalize | None = None  # removes the hook when called
        # The weights before an optimizer step, to measure the update: allocated on the
        # first measurement, reused while attached.
        self._weights_before: list[torch.Tensor] | None = None
        self._sizes_before: torch.Tensor | None = None
        self._measuring_update: int | None = None
        self._pending_updates: np.ndarray | None = None
        self._scratch: dict[Any, torch.Tensor] = {}  # reused working memory, see gradient_table

    # ----------------------------------------------------------------- attaching
    @property
    def attached(self) -> bool:
        return bool(self._handles)

    @property
    def frozen(self) -> list[str]:
        """Names of the parameters that do not require a gradient right now."""
        return [
            n
            for n, p in zip(self.parameter_names, self._params, strict=True)
            if not p.requires_grad
        ]

    @property
    def recording(self) -> bool:
        """Whether the step in progress will be recorded."""
        return self._recording

    def attach(self) -> GradientMonitor:
        """Add the hooks. Returns the monitor, so ``monitor = GradientMonitor(m).attach()``."""
        if self.attached:
            raise RuntimeError("this monitor is already attached; call detach() first.")
        self._recording = self._step % self.every == 0
        self._clear_step()
        model = self.model
        self._handles.append(model.register_forward_pre_hook(self._on_call, with_kwargs=True))
        self._handles.append(model.register_forward_hook(self._on_output))
        self._watch_step()
        if self.optimizer is not None:
            self._handles.append(self.optimizer.register_step_pre_hook(self._before_update))
            self._handles.append(self.optimizer.register_step_post_hook(self._after_update))
        return self

    def detach(self) -> None:
        """Remove every hook this monitor added. The history stays readable."""
        for handle in self._handles:
            handle.remove()
        self._handles.clear()
        self._watch_step()
        self._calls.clear()
        self._weights_before = None
        self._scratch.clear()

    def __enter__(self) -> GradientMonitor:
        return self.attach()

    def __exit__(self, *exc_info: object) -> None:
        self.detach()

    # ------------------------------------------------------------------ the hooks
    def _watch_step(self) -> None:
        """Add the hook of a recorded step, or remove it if the next step is not one (or the
        monitor is detached). It is one process-wide forward hook: adding it is one call, not
        one per module, and between recorded steps no module pays for a hook at all (only
        the model's calls and outputs are watched then)."""
        watch = self._recording and self.attached
        if watch and self._step_hook is None:
            # The hook holds the monitor weakly: a monitor dropped without detach() is freed,
            # and its hook goes with it.
            method = weakref.WeakMethod(self._on_module_output)

            def hook(module: nn.Module, args: Any, output: Any) -> None:
                summarise = method()
                if summarise is not None:
                    summarise(module, args, output)

            handle = nn.modules.module.register_module_forward_hook(hook)
            # Calling the finalizer removes the hook, once; it also runs if the monitor is
            # collected first. One finalizer per hook: none pile up over a long run.
            self._step_hook = weakref.finalize(self, handle.remove)
        elif not watch and self._step_hook is not None:
            self._step_hook()
            self._step_hook = None

    def _on_call(self, module: nn.Module, args: tuple, kwargs: dict) -> None:
        if _watching():
            self._forward_seen = True
            # Kept only while they may be needed to trace a first NaN between recorded steps.
            if self.nonfinite is None and not (self._recording and self.record_activations):
                self._calls.append((args, kwargs))

    def _on_output(self, module: nn.Module, args: Any, output: Any) -> None:
        out = _first_tensor(output)
        if out is not None and out.is_floating_point() and _watching():
            total = self._output_sum  # in float64: a large, finite output does not overflow
            total.add_(out.detach().sum(dtype=total.dtype).to(total.device))

    def _on_module_output(self, module: nn.Module, args: Any, output: Any) -> None:
        """Summarise a module's output on a recorded step, the moment it runs: an in-place
        operation later cannot spoil it. Other modules (of other models too) pass through."""
        watched = self._watched.get(id(module))
        if watched is None:
            return
        index, kind, owns_parameters = watched
        if not (self.record_activations or owns_parameters):
            return
        out = _first_tensor(output)
        if out is None or not out.is_floating_point() or not _watching():
            return
        self._forward_seen = True
        counts = self._counts[index]
        if counts[2] == 0:
            self._order.append(index)
        counts[2] += 1
        if self.record_activations:
            count, units = summarise_activation(out, kind, self._sums[index])
            counts[0] += count
            counts[1] += units

    def _before_update(self, optimizer: torch.optim.Optimizer, args: Any, kwargs: Any) -> None:
        # Which step does this update belong to? If no training forward pass happened since
        # the last monitor.step(), step() was called before optimizer.step(): the previous one.
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
                self._sizes_before = torch.stack(torch._foreach_norm(self._weights_before))

    def _after_update(self, optimizer: torch.optim.Optimizer, args: Any, kwargs: Any) -> None:
        if self._measuring_update is None:
            return
        with torch.no_grad():
            torch._foreach_sub_(self._weights_before, [p.detach() for p in self._params])
            changes = torch.stack(torch._foreach_norm(self._weights_before))  # ‖Δp‖
            sizes = self._sizes_before
        changes, sizes = changes.double().cpu().numpy(), sizes.double().cpu().numpy()
        with np.errstate(divide="ignore", invalid="ignore"):
            ratios = np.where(sizes > 0, changes / sizes, np.nan)  # a zero weight has no ratio
        ratios[~self._in_optimizer] = np.nan  # not this optimizer's to update
        if self._measuring_update == self._step:
            self._pending_updates = ratios
        elif self.history and self.history[-1].step == self._measuring_update:
            self.history[-1]._updates[:] = ratios
        self._measuring_update = None

    # ------------------------------------------------------------------ stepping
    def step(self, loss: torch.Tensor | float | None = None) -> None:
        """Close the current training step (and record it, if it is one in ``every``).

        Call it after ``loss.backward()``. Passing ``loss`` lets the monitor catch a NaN or
        Inf in the loss on every step, not only on recorded ones. If you clip gradients,
        call it before clipping: afterwards it would record the clipped gradients, whose
        norm is never above the threshold.
        """
        if not self.attached:
            raise RuntimeError(
                "the monitor is not attached: use `with GradientMonitor(model) as monitor:` "
                "or call monitor.attach() before training."
            )
        loss_value = _loss_value(loss)
        if not any(p.grad is not None for p in self._params):
            raise RuntimeError(
                "no parameter has a gradient yet: call monitor.step() after loss.backward()."
            )
        record = None
        if self._recording:
            record = self._record(loss_value)
            self.history.append(record)
        if self.nonfinite is None and self._something_nonfinite(loss_value, record):
            self._locate_nonfinite(loss_value)
        self._clear_step()
        self._step += 1
        self._recording = self._step % self.every == 0
        self._watch_step()

    def _clear_step(self) -> None:
        self._calls.clear()
        self._output_sum.zero_()
        if self._order:  # modules were watched at this step (a recorded one)
            self._sums.zero_()
            for index in self._order:
                self._counts[index][:] = (0, 0, 0)
        self._order.clear()
        self._forward_seen = False
        self._pending_updates = None

    def _record(self, loss: float | None) -> StepRecord:
        grads = [p.grad for p in self._params]
        present = [i for i, grad in enumerate(grads) if grad is not None]
        has_grad = np.array([grad is not None for grad in grads])
        raw = np.full((len(grads), len(_GRAD_FIELDS)), np.nan)
        table, counts = self._gradient_table([grads[i] for i in present])
        raw[present] = table
        global_norm = float(np.linalg.norm(table[:, 0]))  # the norm of all the norms

        acts = np.full((len(self.module_names), len(_ACT_FIELDS)), np.nan)
        summarised = [i for i in self._order if self._counts[i][0] > 0]
        if summarised:
            acts[summarised, :3] = self._sums[summarised].double().cpu().numpy()
            acts[summarised, 3:] = [self._counts[i] for i in summarised]

        histograms = None
        if counts is not None:
            histograms = np.zeros((len(self._params), len(self.HISTOGRAM_EDGES) - 1), np.int32)
            histograms[present] = counts

        updates = np.full(len(self._params), np.nan)
        if self._pending_updates is not None:
            updates[:] = self._pending_updates
        order = tuple(self._order)
        return StepRecord(
            self._step, loss, global_norm, raw, has_grad, acts, order, updates, histograms, self
        )

    def _gradient_table(self, grads: list[torch.Tensor]) -> tuple[np.ndarray, np.ndarray | None]:
        histograms = self.record_histograms
        if self.compile:
            try:
                return gradient_table(grads, self._scratch, histograms=histograms, one_pass=True)
            except CompileError as error:
                self.compile = False
                warnings.warn(
                    f"{error}; the monitor goes on without it.", RuntimeWarning, stacklevel=4
                )
        return gradient_table(grads, self._scratch, histograms=histograms)

    # ------------------------------------------------------------------ non-finite
    def _something_nonfinite(self, loss: float | None, record: StepRecord | None) -> bool:
        if loss is not None and not math.isfinite(loss):
            return True
        if not math.isfinite(self._output_sum.item()):
            return True
        if record is None:  # between recorded steps, the loss and the output are all we see
            return False
        if not math.isfinite(record.global_norm):
            return True
        sums, counted = record._acts[:, 0], record._acts[:, 3] > 0  # the modules summarised
        return not np.isfinite(sums[counted]).all()

    def _locate_nonfinite(self, loss: float | None) -> None:
        self.nonfinite = self._find_nonfinite(self._step, loss)
        warnings.warn(self.nonfinite.message, RuntimeWarning, stacklevel=3)

    def _find_nonfinite(self, step: int, loss: float | None) -> NonFiniteEvent:
        inputs = [_first_tensor(args) for args, _ in self._calls]
        if any(x is not None and x.is_floating_point() and not _all_finite(x) for x in inputs):
            return NonFiniteEvent(
                step,
                "input",
                None,
                f"step {step}: the model's input already contains NaN or Inf: check the data.",
            )
        finite_weights = [_all_finite(p) for p in self._params]
        if not all(finite_weights):
            layer = self._nearest_output([i for i, ok in enumerate(finite_weights) if not ok])
            return NonFiniteEvent(
                step,
                "weights",
                layer,
                f"step {step}: the weights of layer {layer!r} contain NaN or Inf: set that way, "
                "or broken by an earlier update (a non-finite gradient, or a learning rate far "
                "too large; record every step, every=1, to see when).",
            )
        name = self._first_nonfinite_output()
        if name is not None:
            module = self._modules[name]
            return NonFiniteEvent(
                step,
                "forward",
                name,
                f"step {step}: the output of layer {name!r} ({type(module).__name__}) is the "
                "first to contain NaN or Inf in the forward pass.",
            )
        if not math.isfinite(self._output_sum.item()):
            return NonFiniteEvent(
                step,
                "forward",
                None,
                f"step {step}: the model's output contains NaN or Inf, but running the model "
                "again on this step's inputs did not show which layer made it (the weights "
                "changed since, dropout drew other numbers, or the model cannot run without "
                "gradients): record every step, every=1, to see it.",
            )
        if loss is not None and not math.isfinite(loss):
            return NonFiniteEvent(
                step,
                "loss",
                None,
                f"step {step}: the loss is {loss} although every layer's output was finite: look "
                "at the loss function (a log of 0? a division by 0?) and at the outputs' size "
                "(large outputs overflow when squared).",
            )
        bad = [
            i for i, p in enumerate(self._params) if p.grad is not None and not _all_finite(p.grad)
        ]
        layer = self._nearest_output(bad)
        return NonFiniteEvent(
            step,
            "backward",
            layer,
            f"step {step}: every layer's output was finite, but in the backward pass the "
            f"gradient of layer {layer!r} is the first to contain NaN or Inf.",
        )

    def _first_nonfinite_output(self) -> str | None:
        """The first layer, in running order, whose output held a NaN or Inf at this step.

        A recorded step summarised every layer's output as it ran. Between recorded steps
        only the model's output was summed; if it is not finite, the model runs again on this
        step's inputs (its last 8 calls) with a check after every layer: without gradients,
        on a copy of the random number generator's state, and with its buffers, such as
        BatchNorm's running statistics, put back afterwards. This finds the layer unless the
        second run differs from the first: weights already updated by the optimizer, other
        dropout masks, no autocast. None if no layer's output was found non-finite.
        """
        if self._recording and self.record_activations:
            sums = self._sums[:, 0].tolist()
            for index in self._order:
                name = self.module_names[index]
                can_overflow = not isinstance(self._modules[name], _KEEP_FINITE)
                if can_overflow and not math.isfinite(sums[index]):
                    return name
            return None
        if math.isfinite(self._output_sum.item()):
            return None
        return self._replay(self._calls)

    def _replay(self, calls: list[tuple[tuple, dict]]) -> str | None:
        """Run the model on ``calls`` again and return the first layer whose output is not
        finite (None if every output is), leaving the model and the random state as they were."""
        found: list[str] = []

        def check(name: str):
            def hook(module: nn.Module, args: Any, output: Any) -> None:
                out = _first_tensor(output)
                floats = out is not None and out.is_floating_point()
                if not found and floats and not _all_finite(out):
                    found.append(name)

            return hook

        handles = [
            self._modules[name].register_forward_hook(check(name))
            for name in self.module_names
            if not isinstance(self._modules[name], _KEEP_FINITE)
        ]
        buffers = [(b, b.clone()) for b in self.model.buffers()]
        cuda = sorted({p.device.index or 0 for p in self._params if p.device.type == "cuda"})
        try:
            with torch.no_grad(), torch.random.fork_rng(devices=cuda):
                for args, kwargs in calls:
                    self.model(*args, **kwargs)
                    if found:
                        break
        except Exception:  # a model that cannot run this way: the layer stays unknown
            return None
        finally:
            for handle in handles:
                handle.remove()
            with torch.no_grad():
                for buffer, saved in buffers:
                    buffer.copy_(saved)
        return found[0] if found else None

    def _nearest_output(self, parameters: list[int]) -> str | None:
        """Of these parameters' layers, the one that ran last in the forward pass (the first
        one the gradient reaches), named by module; None if there are none."""
        if not parameters:
            return None
        order = self._order or (list(self.history[-1]._order) if self.history else [])
        position = {module: rank for rank, module in enumerate(order)}
        nearest = max(parameters, key=lambda i: (position.get(self._param_module[i], -1), i))
        module = self._param_module[nearest]
        if module < len(self.module_names) and self.module_names[module]:
            return self.module_names[module]
        return self.parameter_names[nearest]

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
            choices = ", ".join(self.parameter_names[:4])
            raise KeyError(f"no parameter {name!r}; names look like: {choices}, ...") from None

    def _grad_stats(self, record: StepRecord, i: int) -> GradStats | None:
        if not record._has_grad[i]:
            return None
        size = self._params[i].numel()
        derived = _derive_gradient_stats(record._grads[i], np.asarray(size))
        return GradStats(*(float(derived[field]) for field in GradStats._fields[:-1]), size)

    def _act_stats(self, raw: np.ndarray, i: int) -> ActivationStats | None:
        total, total_sq, flagged, count, units, _calls = raw[i]
        if np.isnan(count) or count == 0:
            return None
        mean = total / count
        with np.errstate(invalid="ignore", over="ignore"):  # a non-finite output gives NaN
            variance = max(total_sq / count - mean**2, 0.0) * count / max(count - 1, 1)
        std = math.sqrt(variance) if math.isfinite(variance) else math.nan
        kind = _activation_kind(self._modules[self.module_names[i]])
        dead = float(flagged / units) if kind == "dead" and units > 0 else None
        saturated = float(flagged / count) if kind in ("tanh", "sigmoid") else None
        return ActivationStats(float(mean), std, dead, saturated)

    def series(self, statistic: str = "mean_abs") -> tuple[np.ndarray, list[str], np.ndarray]:
        """One statistic over time: (steps, parameter names, values[step, parameter]).

        ``statistic`` is a :class:`GradStats` field (``norm``, ``mean``, ``std``,
        ``max_abs``, ``mean_abs``, ``zero_fraction``), ``rms``, or ``update_ratio``.
        Columns are in definition order; NaN marks a missing value.
        """
        if statistic not in STATISTICS:
            raise ValueError(
                f"unknown statistic {statistic!r}; choose one of {', '.join(STATISTICS)}."
            )
        if not self.history:
            raise ValueError(_NO_RECORDS)
        records = list(self.history)
        steps = np.array([r.step for r in records])
        if statistic == "update_ratio":
            return steps, list(self.parameter_names), np.stack([r._updates for r in records])
        sizes = np.array([p.numel() for p in self._params])
        derived = _derive_gradient_stats(np.stack([r._grads for r in records]), sizes)
        values = np.where(np.stack([r._has_grad for r in records]), derived[statistic], np.nan)
        return steps, list(self.parameter_names), values

    # ------------------------------------------------------------------ diagnosis
    def diagnose(self, thresholds: Thresholds | None = None) -> Diagnosis:
        """Plain-language findings about the latest recorded step (see :class:`Thresholds`)."""
        if thresholds is not None and not isinstance(thresholds, Thresholds):
            raise TypeError(
                "thresholds must be a Thresholds, e.g. Thresholds(dead_fraction=0.5), "
                f"got {thresholds!r}."
            )
        limits = thresholds or Thresholds()
        record = self.latest
        findings = Diagnosis()
        if self.nonfinite is not None:
            findings.append(Finding("non-finite", self.nonfinite.message, None))
        findings += self._diagnose_depth(record, limits)
        if math.isfinite(record.global_norm) and record.global_norm > limits.exploding_norm:
            findings.append(
                Finding(
                    "exploding",
                    f"the global gradient norm is {record.global_norm:.1e} "
                    f"(threshold {limits.exploding_norm:.0e}, for a loss averaged over the batch).",
                    record.global_norm,
                )
            )
        findings += self._diagnose_units(record, limits)
        findings += self._diagnose_updates(limits)
        return findings

    def _diagnose_depth(self, record: StepRecord, limits: Thresholds) -> list[Finding]:
        """Compare the first and the last weight matrix, in forward order."""
        if not math.isfinite(record.global_norm):
            return []
        grads = record.gradients()
        weights = [(n, grads[n]) for n in grads if self._params[self._index[n]].dim() >= 2]
        if len(weights) < 2 or weights[-1][1].mean_abs == 0:
            return []
        (first, g_first), (last, g_last) = weights[0], weights[-1]
        ratio = g_first.mean_abs / g_last.mean_abs
        where = (
            f"the first layer ({first}) gets {ratio:.1e} times the gradient of the last ({last})"
        )
        if ratio == 0:
            return [
                Finding(
                    "zero-gradient",
                    f"{where}: exactly zero. A dead layer, or a layer whose weights are all zero, "
                    "blocks every gradient on the way back.",
                    ratio,
                )
            ]
        if ratio < limits.vanishing_ratio:
            return [
                Finding(
                    "vanishing",
                    f"{where}: the gradient vanishes on the way back "
                    f"(threshold {limits.vanishing_ratio:.0e}).",
                    ratio,
                )
            ]
        if ratio > limits.exploding_ratio:
            return [
                Finding(
                    "exploding",
                    f"{where}: the gradient grows on the way back "
                    f"(threshold {limits.exploding_ratio:.0e}).",
                    ratio,
                )
            ]
        return []

    def _diagnose_units(self, record: StepRecord, limits: Thresholds) -> list[Finding]:
        """One finding for dead units and one for saturated units, naming the worst layer."""
        activations = record.activations()
        output_layer = next(reversed(activations), None)  # saturating on purpose, if at all
        dead = {
            name: s.dead_fraction
            for name, s in activations.items()
            if s.dead_fraction is not None and s.dead_fraction > limits.dead_fraction
        }
        saturated = {
            name: s.saturated_fraction
            for name, s in activations.items()
            if s.saturated_fraction is not None
            and s.saturated_fraction > limits.saturated_fraction
            and name != output_layer
        }
        findings = []
        if dead:
            findings.append(
                _worst_layer_finding(
                    "dead",
                    dead,
                    f"more than {limits.dead_fraction:.0%} dead ReLU units (zero for every "
                    "example in the batch",
                    "no gradient flows through a dead unit.",
                )
            )
        if saturated:
            findings.append(
                _worst_layer_finding(
                    "saturated",
                    saturated,
                    f"more than {limits.saturated_fraction:.0%} saturated outputs (within 0.01 "
                    "of the limits",
                    "where the derivative is nearly 0.",
                )
            )
        return findings

    def _diagnose_updates(self, limits: Thresholds) -> list[Finding]:
        measured = next((r for r in reversed(self.history) if r.update_ratios()), None)
        if measured is None:
            return []
        median = float(np.median(list(measured.update_ratios().values())))
        if limits.update_ratio_low <= median <= limits.update_ratio_high:
            return []
        size = (
            "small: learning barely moves the weights"
            if median < limits.update_ratio_low
            else "large: each step changes the weights a lot"
        )
        return [
            Finding(
                "update-ratio",
                f"at step {measured.step} the median update-to-data ratio is {median:.1e}, "
                f"far from about 1e-3; updates are too {size}.",
                median,
            )
        ]

    def report(self) -> str:
        """The latest record as a table, a line per parameter (input first), then the diagnosis."""
        record = self.latest
        lines = [f"step {record.step}: global gradient norm {record.global_norm:.3e}"]
        lines.append(f"{'parameter':<24}{'norm':>11}{'mean|g|':>11}{'max|g|':>11}{'zeros':>8}")
        frozen = set(self.frozen)
        for name in record.parameter_order():
            stats = record.gradient(name)
            if stats is not None:
                lines.append(
                    f"{name:<24}{stats.norm:>11.3e}{stats.mean_abs:>11.3e}{stats.max_abs:>11.3e}"
                    f"{stats.zero_fraction:>8.1%}"
                )
            else:
                lines.append(f"{name:<24}{'frozen' if name in frozen else 'no gradient':>11}")
        lines.append(str(self.diagnose()))
        return "\n".join(lines)


def _worst_layer_finding(kind: str, found: dict[str, float], what: str, why: str) -> Finding:
    """One finding for all the layers in ``found`` (name -> fraction), naming the worst."""
    worst = max(found, key=found.get)
    layers = f"layer {worst} has" if len(found) == 1 else f"{len(found)} layers have"
    return Finding(
        kind, f"{layers} {what}; worst: layer {worst}, {found[worst]:.0%}): {why}", found[worst]
    )


def _loss_value(loss: object) -> float | None:
    if loss is None:
        return None
    if isinstance(loss, torch.Tensor):
        if loss.numel() != 1:
            raise ValueError(
                "step(loss) takes the loss, a single number; "
                f"got a tensor of shape {tuple(loss.shape)}."
            )
        return float(loss.detach())
    if isinstance(loss, (int, float)) and not isinstance(loss, bool):
        return float(loss)
    raise TypeError(f"step(loss) takes a tensor or a number, got {type(loss).__name__}.")


def _derive_gradient_stats(raw: np.ndarray, sizes: np.ndarray) -> dict[str, np.ndarray]:
    """GradStats fields from the raw columns (see _GRAD_FIELDS), for any leading shape."""
    norm, total, max_abs, nonzero, abs_total = np.moveaxis(raw, -1, 0)
    mean = total / sizes
    # The unbiased std, as torch.std computes it (undefined, NaN, for a single number).
    with np.errstate(divide="ignore", invalid="ignore"):
        variance = np.maximum(norm**2 / sizes - mean**2, 0.0) * sizes / (sizes - 1)
    variance = np.where(sizes > 1, variance, np.nan)
    return {
        "norm": norm,
        "mean": mean,
        "std": np.sqrt(variance),
        "max_abs": max_abs,
        "mean_abs": abs_total / sizes,
        "zero_fraction": 1 - nonzero / sizes,
        "rms": norm / np.sqrt(sizes),
    }


def monitor_one_batch(
    model: nn.Module, loss_fn: Callable[[nn.Module], torch.Tensor], **options: Any
) -> GradientMonitor:
    """A one-batch look: clear the gradients, run ``loss_fn(model).backward()`` under a
    fresh monitor, record that step, detach, and return the monitor to read or plot.

    ``options`` go to :class:`GradientMonitor` (``every`` is always 1).

    >>> model = nn.Sequential(nn.Linear(3, 3), nn.Tanh(), nn.Linear(3, 1))
    >>> monitor = monitor_one_batch(model, lambda m: m(torch.randn(8, 3)).pow(2).mean())
    >>> monitor.latest.step, sorted(monitor.latest.gradients())[:2]
    (0, ['0.bias', '0.weight'])
    """
    if not callable(loss_fn):
        raise TypeError(
            "loss_fn must be a function of the model, e.g. lambda m: m(x).pow(2).mean()."
        )
    monitor = GradientMonitor(model, every=1, **options)
    model.zero_grad(set_to_none=True)
    with monitor:
        loss = loss_fn(model)
        if not isinstance(loss, torch.Tensor) or loss.numel() != 1:
            raise ValueError("loss_fn must return a single-number tensor, the loss.")
        loss.backward()
        monitor.step(loss)
    return monitor


def output_gradient_norms(
    model: nn.Sequential, inputs: torch.Tensor, loss_fn: Callable[[torch.Tensor], torch.Tensor]
) -> dict[str, float]:
    """‖dL/dh‖ for the output h of every layer of a Sequential model, for one batch.

    This is the gradient as it travels back *between* layers (the "δ" of backpropagation),
    where :class:`GradientMonitor` sees the gradients of the weights. The parameters'
    ``.grad`` are left untouched. Use a float64 model (``model.double()``) for deep
    networks: these norms underflow float32 after a few dozen sigmoid layers.

    >>> model = nn.Sequential(nn.Linear(3, 3), nn.Sigmoid(), nn.Linear(3, 1))
    >>> norms = output_gradient_norms(model, torch.randn(4, 3), lambda out: out.sum())
    >>> list(norms)
    ['0', '1', '2']
    """
    if not isinstance(model, nn.Sequential):
        raise TypeError(
            f"model must be an nn.Sequential (a plain stack of layers), got {type(model).__name__}."
        )
    if not isinstance(inputs, torch.Tensor):
        raise TypeError(f"inputs must be a torch.Tensor, got {type(inputs).__name__}.")
    if any(getattr(layer, "inplace", False) for layer in model):
        raise ValueError(
            "an in-place layer (inplace=True) overwrites the output of the layer before it; "
            "build the model without in-place layers to measure every layer's gradient."
        )
    outputs = []
    h = inputs
    for layer in model:
        h = layer(h)
        outputs.append(h)
    loss = loss_fn(h)
    if not isinstance(loss, torch.Tensor) or loss.numel() != 1:
        raise ValueError("loss_fn must return a single-number tensor, e.g. out.pow(2).mean().")
    grads = torch.autograd.grad(loss, outputs, allow_unused=True)
    names = [name for name, _ in model.named_children()]
    return {
        name: float("nan") if grad is None else grad.norm().item()
        for name, grad in zip(names, grads, strict=True)
    }
