"""The learning-rate range test: train while the learning rate grows from tiny to huge, record the loss.

:func:`range_test` runs it under the exact conditions of the real training (the user's optimizer with its
momentum and weight decay, batch size, gradient accumulation, mixed precision) and afterwards leaves the model,
the optimizer, the data iterator's state and the random number generators exactly as they were.
"""

from __future__ import annotations

import contextlib
import copy
import math
import numbers
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import torch
from torch import nn

from onecycle import distributed, records, rng, rundir
from onecycle.engine import evaluate
from onecycle.scheduler import set_group_value
from onecycle.schedules import ONE_CYCLE
from onecycle.suggestions import (
    DIVERGE_FACTOR,
    EMA,
    MIN_POINTS,
    Recommendation,
    check_div_factor,
    combine,
    has_diverged,
    recommend,
    unanswered,
    zero_phase_smooth,
)

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from onecycle.probe import ProbeResult

StepFn = Callable[[Any], "torch.Tensor | float"]


@dataclass(frozen=True)
class RangeTestDefaults:
    """The defaults of :func:`range_test`, also those of the run settings: the recommendation rule was chosen
    on curves from 1e-5 to 10 in 100 steps (``benchmarks/recommendation/``)."""

    start_lr: float = 1e-5
    end_lr: float = 10.0
    num_steps: int = 100
    repeats: int = 1


RANGE_TEST = RangeTestDefaults()

SMALLEST_LR = float(torch.finfo(torch.float32).tiny)
"""The smallest learning rate a range test (or a run) takes: float32's smallest normal number, about 1.2e-38.
Optimizers apply the lr to float32 tensors, in which a smaller one is subnormal (imprecise) or 0 (no step)."""
SMALLEST_LR_TEXT = (f">= {SMALLEST_LR:.4g} (the smallest normal float32; the optimizer's float32 tensors take a "
                    "smaller lr as 0 or imprecisely)")
"""What :data:`SMALLEST_LR` asks of a learning rate, for error messages."""


@dataclass
class Curve:
    """One range test: learning rates, raw losses, their online EMA (``smoothed``, used to stop) and their
    zero-phase smoothing over the finite part (``filtered``, unshifted, used for suggestions), why it stopped,
    test losses on held-out batches (``val_data``)."""

    lrs: list[float]
    losses: list[float]
    smoothed: list[float]
    stop_reason: str
    diverged: bool
    extended: bool = False
    filtered: list[float] = field(default_factory=list)
    val_steps: list[int] = field(default_factory=list)
    val_losses: list[float] = field(default_factory=list)

    @property
    def stop_lr(self) -> float:
        """The learning rate of the last step taken."""
        return self.lrs[-1]

    @classmethod
    def from_dict(cls, data: Any, where: str = "curve") -> Curve:
        """The inverse of ``asdict``, every value checked (one ``ValueError`` naming the key inside ``where``):
        lrs finite and > 0, losses numbers (non-finite ones too, as a test records them) one per lr."""
        names = [f.name for f in fields(cls)]
        d = records.table(data, where, ("lrs", "losses", "smoothed", "stop_reason", "diverged"), names)

        def key(name: str) -> str:
            return records.key(where, name)

        lrs = records.numbers_list(d["lrs"], key("lrs"), positive=True)
        if not lrs:
            raise ValueError(f"{key('lrs')} must not be empty")
        losses = records.numbers_list(d["losses"], key("losses"), finite=False)
        if len(losses) != len(lrs):
            raise ValueError(f"{key('losses')} must hold one loss per lr: {len(losses)} losses, {len(lrs)} lrs")
        return cls(lrs=lrs, losses=losses, smoothed=records.numbers_list(d["smoothed"], key("smoothed"), finite=False),
                   stop_reason=records.text(d["stop_reason"], key("stop_reason")),
                   diverged=records.flag(d["diverged"], key("diverged")),
                   extended=records.flag(d.get("extended", False), key("extended")),
                   filtered=records.numbers_list(d.get("filtered", []), key("filtered"), finite=False),
                   val_steps=[records.integer(v, f"{key('val_steps')}[{i}]")
                              for i, v in enumerate(records.items(d.get("val_steps", []), key("val_steps")))],
                   val_losses=records.numbers_list(d.get("val_losses", []), key("val_losses"), finite=False))


@dataclass
class RangeTestResult:
    """What a range test found: one curve per repeat, the recommendation, and the settings that produced it."""

    curves: list[Curve]
    recommendation: Recommendation
    settings: dict[str, Any] = field(default_factory=dict)
    probe: ProbeResult | None = None  # the stability probe run after the test, if any (see onecycle.probe)

    @property
    def lrs(self) -> list[float]:
        return self.curves[0].lrs

    @property
    def losses(self) -> list[float]:
        return self.curves[0].losses

    @property
    def smoothed(self) -> list[float]:
        return self.curves[0].smoothed

    @property
    def stop_reason(self) -> str:
        return self.curves[0].stop_reason

    @property
    def diverged(self) -> bool:
        return all(c.diverged for c in self.curves)

    @property
    def max_lr(self) -> float | None:
        """The recommended ``max_lr`` for 1cycle: the stability probe's pick when a probe ran, else the curve's
        recommendation (``None`` when they give no answer)."""
        return self.probe.pick if self.probe is not None else self.recommendation.max_lr

    def __str__(self) -> str:
        """:meth:`describe` for the schedule in the settings (1cycle when they name none)."""
        return self.describe()

    def describe(self, schedule: str | None = None) -> str:
        """How the test ended (:meth:`endings`), then the recommendation for ``schedule`` (default: the one in the
        settings, else 1cycle; see ``Recommendation.describe``)."""
        schedule = schedule or self.settings.get("schedule") or "onecycle"
        probe = [] if self.probe is None else [str(self.probe)]
        return "\n".join([*self.endings(), self.recommendation.describe(schedule), *probe])

    def endings(self) -> list[str]:
        """How the test ended, one line per repeat: its steps, where it stopped, and how far past ``end_lr`` it was
        extended. Every command that runs a range test shows these lines."""
        end_lr = self.settings.get("end_lr")
        by = f"end_lr {end_lr:g}" if isinstance(end_lr, (int, float)) else "end_lr"
        return [f"{f'repeat {i + 1}: ' if len(self.curves) > 1 else ''}range test of {len(c.lrs)} steps, "
                f"stopped: {c.stop_reason}"
                + (f"; extended to lr {c.stop_lr:.3g}: the loss had not diverged by {by}" if c.extended else "")
                for i, c in enumerate(self.curves)]

    def to_dict(self) -> dict[str, Any]:
        return {
            "curves": [asdict(c) for c in self.curves],
            "recommendation": self.recommendation.to_dict(),
            "settings": self.settings,
            "probe": None if self.probe is None else self.probe.to_dict(),
        }

    @classmethod
    def from_dict(cls, data: Any, where: str = "") -> RangeTestResult:
        """The inverse of :meth:`to_dict`, every value checked: a damaged or hand-edited result raises one
        ``ValueError`` naming the key (inside ``where``, e.g. ``recommendation.max_lr``), also for learning rates
        that lie outside the range the curves tested."""
        from onecycle.probe import ProbeResult

        def key(name: str) -> str:
            return records.key(where, name)

        d = records.table(data, where or "the result", ("curves", "recommendation"), ("settings", "probe"))
        curves = [Curve.from_dict(c, f"{key('curves')}[{i}]")
                  for i, c in enumerate(records.items(d["curves"], key("curves"), non_empty=True))]
        rec = Recommendation.from_dict(d["recommendation"], key("recommendation"))
        probe = None if d.get("probe") is None else ProbeResult.from_dict(d["probe"], key("probe"))
        low, high = min(c.lrs[0] for c in curves), max(max(c.lrs) for c in curves)
        tested = "the tested lrs"
        for name in ("max_lr", "lr_at_minimum"):
            records.within(getattr(rec, name), key(f"recommendation.{name}"), low, high, tested)
        for name, lr in rec.suggestions.items():
            records.within(lr, key(f"recommendation.suggestions.{name}"), low, high, tested)
        if probe is not None:
            for i, lr in enumerate(probe.candidates):
                records.within(lr, key(f"probe.candidates[{i}]"), 0.0, high, "zero to the highest tested lr")
        return cls(curves, rec, records.table(d.get("settings", {}), key("settings")), probe)

    def save_json(self, path: str | Path) -> None:
        rundir.write_json(Path(path), self.to_dict())

    @classmethod
    def load_json(cls, path: str | Path) -> RangeTestResult:
        """The result in ``path``; a file that is not JSON, or not a valid result, is one ``ValueError`` naming the
        file (and the key)."""
        data = rundir.read_json(Path(path))
        try:
            return cls.from_dict(data)
        except ValueError as err:
            raise ValueError(f"{path} is not a valid range-test result: {err}") from None

    def to_csv(self, path: str | Path) -> None:
        """One row per step: repeat, step, lr, loss, smoothed loss."""
        rows = ([r, i, repr(lr), repr(loss), repr(sm)] for r, c in enumerate(self.curves)
                for i, (lr, loss, sm) in enumerate(zip(c.lrs, c.losses, c.smoothed)))
        rundir.write_text(Path(path), rundir.csv_text(["repeat", "step", "lr", "loss", "smoothed_loss"], rows))

    def plot(self, out: str | Path | None = None) -> Figure:
        """Loss against learning rate with the suggestions marked; see :func:`onecycle.plots.plot_range_test`."""
        from onecycle.plots import plot_range_test

        return plot_range_test(self, out)


# ---------------------------------------------------------------------------------------------- state


@dataclass
class Snapshot:
    """Everything a range test changes, copied in memory so it can be put back bitwise."""

    model: dict[str, torch.Tensor]
    buffers: dict[str, torch.Tensor]  # the non-persistent ones, which ``state_dict`` leaves out
    optimizer: dict[str, Any]
    training: dict[str, bool]
    rng: dict[str, Any]
    others: list[tuple[Any, Any]]


def snapshot(model: nn.Module, optimizer: torch.optim.Optimizer, others: Sequence[Any]) -> Snapshot:
    """Copy in memory everything training changes, for :func:`restore` (``others``: objects with ``state_dict``,
    such as a GradScaler or :class:`~onecycle.loader.Batches`)."""
    state = model.state_dict()
    return Snapshot(
        model={k: v.detach().clone() for k, v in state.items()},
        buffers={k: v.detach().clone() for k, v in model.named_buffers() if k not in state},
        optimizer=copy.deepcopy(optimizer.state_dict()),
        training={name: m.training for name, m in model.named_modules()},
        rng=rng.get_state(),
        others=[(o, copy.deepcopy(o.state_dict())) for o in others if hasattr(o, "state_dict")],
    )


def _restore_buffers(model: nn.Module, buffers: dict[str, torch.Tensor]) -> None:
    for name, saved in buffers.items():
        owner, _, attr = name.rpartition(".")
        module = model.get_submodule(owner)
        current = module._buffers.get(attr)
        if current is not None and (current.shape, current.dtype, current.device) == (
            saved.shape, saved.dtype, saved.device):
            current.copy_(saved)
        else:  # replaced by a tensor of another shape (or removed): put the original back
            module._buffers[attr] = saved.clone()


def restore(snap: Snapshot, model: nn.Module, optimizer: torch.optim.Optimizer, everything: bool = True,
            last: bool = False) -> None:
    """Put back the model and optimizer; with ``everything``, also the modes, RNGs and other objects. ``last``: the
    snapshot is not used again, so its optimizer state is handed over rather than copied."""
    with torch.no_grad():
        model.load_state_dict(snap.model)
        _restore_buffers(model, snap.buffers)
    # load_state_dict keeps the given tensors (same dtype and device): hand it a copy, or the next training
    # steps would change the snapshot in place through the optimizer's buffers.
    optimizer.load_state_dict(snap.optimizer if last else copy.deepcopy(snap.optimizer))
    optimizer.zero_grad(set_to_none=True)
    if not everything:
        return
    for name, m in model.named_modules():
        m.training = snap.training.get(name, m.training)
    rng.set_state(snap.rng)
    for obj, state in snap.others:
        obj.load_state_dict(state)


@contextlib.contextmanager
def preserved(model: nn.Module, optimizer: torch.optim.Optimizer, *others: Any) -> Iterator[None]:
    """Run a block, then put back the model, optimizer, RNGs and any ``others`` with a ``state_dict``."""
    snap = snapshot(model, optimizer, others)
    try:
        yield
    finally:
        restore(snap, model, optimizer, last=True)


# ---------------------------------------------------------------------------------------------- the loop


class _DataRanOut(Exception):
    """A one-shot iterator ran out during a range test; the test's loop stops the curve there."""


_END = object()


class BatchCycle:
    """Batches of ``data`` for as long as the test needs them. A re-iterable (a list, a DataLoader,
    :class:`~onecycle.loader.Batches`) starts a new pass whenever one runs out; a one-shot iterator (a generator,
    ``iter(loader)``) cannot, and raises :class:`_DataRanOut` once used up. ``count``: batches taken so far."""

    def __init__(self, data: Iterable[Any]) -> None:
        self.data = data
        self.one_shot = isinstance(data, Iterator)  # a generator or an iterator, not a container or a loader
        self.count = 0
        self.ran_out = False
        self._it: Iterator[Any] = _iterate("data", data)

    def __iter__(self) -> BatchCycle:
        return self

    def __next__(self) -> Any:
        batch = next(self._it, _END)
        if batch is _END and not self.one_shot:
            self._it = iter(self.data)  # a new pass
            batch = next(self._it, _END)
        if batch is _END:
            if self.count == 0:
                raise ValueError("the data yielded no batches (an empty loader, or an iterator already used up)")
            if not self.one_shot:
                raise ValueError(f"the data yielded no batches on a new pass, after {self.count} batches")
            self.ran_out = True
            raise _DataRanOut(f"the data ran out after {self.count} batches (a one-shot iterator, which cannot "
                              "be cycled like a list or a DataLoader)")
        self.count += 1
        return batch


def _iterate(name: str, data: Any) -> Iterator[Any]:
    """An iterator over ``data``; data that cannot be iterated is a ``ValueError`` naming ``name``."""
    try:
        return iter(data)
    except TypeError:
        raise ValueError(f"{name} must be an iterable of batches (a list, a DataLoader, a generator...), got "
                         f"{records.shown(data)}") from None


def _to_device(batch: Any, device: torch.device) -> Any:
    if isinstance(batch, torch.Tensor):
        return batch.to(device, non_blocking=True)
    if isinstance(batch, (list, tuple)):
        return type(batch)(_to_device(b, device) for b in batch)
    if isinstance(batch, dict):
        return {k: _to_device(v, device) for k, v in batch.items()}
    return batch


def lr_at(step: int, start_lr: float, end_lr: float, num_steps: int, growth: str) -> float:
    """The range test's learning rate at ``step``: ``start_lr`` at 0, ``end_lr`` at ``num_steps - 1``, and
    the same growth continued past it (used when the range is extended)."""
    pct = step / (num_steps - 1)
    if growth == "exp":
        try:
            return start_lr * (end_lr / start_lr) ** pct
        except OverflowError:  # far past any cap: the test stops before it
            return math.inf
    return start_lr + (end_lr - start_lr) * pct


def _set_lr(optimizer: torch.optim.Optimizer, lr: float, ratios: Sequence[float]) -> None:
    for group, ratio in zip(optimizer.param_groups, ratios):
        set_group_value(group, "lr", lr * ratio)


def standard_step(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    loss_fn: Callable[..., torch.Tensor],
    batches: Iterator[Any],
    accumulation_steps: int,
    device: torch.device,
    amp_dtype: torch.dtype | None,
    scaler: torch.amp.GradScaler | None,
) -> float:
    """One optimizer update over ``accumulation_steps`` micro-batches; returns their mean loss, read back from the
    device once (the sum of the micro-batches' losses, each divided by ``accumulation_steps``, in order), and under
    data-parallel training averaged over the processes (:func:`onecycle.distributed.mean`): every process gets the
    loss of the global batch."""
    optimizer.zero_grad(set_to_none=True)
    losses = []
    for _ in range(accumulation_steps):
        x, y = _to_device(next(batches), device)
        with torch.autocast(device.type, dtype=amp_dtype, enabled=amp_dtype is not None):
            loss = loss_fn(model(x), y) / accumulation_steps
        losses.append(loss.detach().reshape(()))
        (scaler.scale(loss) if scaler is not None else loss).backward()
    if scaler is not None:
        scaler.step(optimizer)
        scaler.update()
    else:
        optimizer.step()
    total = 0.0
    for value in torch.stack(losses).tolist() if len(losses) > 1 else [float(losses[0])]:
        total += value  # in order, as a float64 sum (not sum(): Python 3.12's compensates for rounding)
    return distributed.mean(total, device)


def _check(name: str, ok: bool, allowed: str, value: Any) -> None:
    if not ok:
        raise ValueError(f"{name} must be {allowed}, got {records.shown(value)}")


def _real(value: Any) -> bool:
    """Whether ``value`` is a real number (a bool is not)."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _integer(value: Any, least: int) -> bool:
    """Whether ``value`` is an integer (a bool is not) ``>= least``."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool) and value >= least


AMP_DTYPES = (torch.float16, torch.bfloat16)
"""The ``amp_dtype`` values :func:`range_test` takes besides ``None``: those ``torch.autocast`` runs on CPU and CUDA."""

SEED_RANGE = (-(2**63), 2**64 - 1)
"""The seeds ``torch.manual_seed`` takes."""


def check_seed(seed: Any, repeats: int = 1) -> None:
    """Raise ``ValueError`` unless ``seed`` is ``None`` or an integer that seeds ``repeats`` tests (``seed`` to
    ``seed + repeats - 1``) within :data:`SEED_RANGE`."""
    low, high = SEED_RANGE
    _check("seed", seed is None or (_integer(seed, low) and seed + repeats - 1 <= high),
           f"None or an integer from -2**63 to 2**64 - {repeats}", seed)


def range_test(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    data: Iterable[Any],
    loss_fn: Callable[..., torch.Tensor] | None = None,
    *,
    step: StepFn | None = None,
    start_lr: float = RANGE_TEST.start_lr,
    end_lr: float = RANGE_TEST.end_lr,
    num_steps: int = RANGE_TEST.num_steps,
    growth: Literal["exp", "linear"] = "exp",
    beta: float = 0.98,
    diverge_factor: float = DIVERGE_FACTOR,
    extend: bool = True,
    max_extend_factor: float = 1e3,
    accumulation_steps: int = 1,
    amp_dtype: torch.dtype | None = None,
    scaler: torch.amp.GradScaler | None = None,
    val_data: Iterable[Any] | None = None,
    val_every: int = 10,
    val_batches: int = 4,
    repeats: int = RANGE_TEST.repeats,
    seed: int | None = None,
    div_factor: float = ONE_CYCLE.div_factor,
    progress: bool = False,
) -> RangeTestResult:
    """Run the learning-rate range test and return the curves and a recommended ``max_lr``.

    Each step sets the learning rate (growing from ``start_lr`` to ``end_lr`` over ``num_steps`` steps,
    exponentially or linearly; param groups keep their lr ratios to the first group), trains on one batch and
    records the loss. The stop rule uses an EMA with bias correction (``beta``): the test ends when the smoothed
    loss exceeds ``diverge_factor`` x the best seen, or at once when a loss is not finite. If it has not
    diverged by ``end_lr`` and ``extend`` is true, it goes on at the same growth rate up to
    ``end_lr * max_extend_factor``; a curve that never diverges is flagged in the result and in the
    recommendation's notes.

    Training follows the user's setup: ``loss_fn(model(x), y)`` on batches ``(x, y)`` from ``data``,
    ``accumulation_steps`` micro-batches per update, ``torch.autocast`` with ``amp_dtype`` (a ``GradScaler`` is
    used for float16: ``scaler`` or a new one). For any other training step pass ``step(batch) -> loss``, which
    must do the forward, backward and ``optimizer.step()`` itself.

    ``data`` with fewer batches than the test needs is cycled when it can be iterated again (a list, a DataLoader,
    :class:`~onecycle.loader.Batches`): a new pass starts where one ends. A one-shot iterator (a generator,
    ``iter(loader)``) cannot be: when it runs out the curve stops there, not diverged, and its ``stop_reason`` and
    the recommendation's first note say how many batches it gave, how many steps were taken of those planned and the
    lr reached (with ``repeats``, a repeat left without batches is a ``ValueError``). Data without a single batch is
    a ``ValueError``.

    ``val_data`` (held-out test data): the first ``val_batches`` batches are held fixed and their mean loss is
    recorded every ``val_every`` steps. ``repeats``: run the test several times (seeds ``seed, seed+1, ...`` and
    the following batches of ``data``) and combine the recommendations, with their spread as the confidence
    figure.

    Under data-parallel training (a ``DistributedDataParallel`` model, each process with its own shard of the
    data, of the same length) every process must call it, and runs the test in step (one that does not leaves the
    others waiting for the process group's timeout): each step's loss is averaged over the processes before it is
    smoothed and checked, so all stop at the same step, put back the same state and recommend the same max_lr; the
    test then runs at the global batch, which answers whether max_lr changes with the number of processes.

    Afterwards the model's parameters and buffers (non-persistent ones too), the optimizer's state and
    hyper-parameters, the train/eval modes, the torch (CPU, CUDA, MPS), numpy and Python RNG states, ``scaler``
    and ``data`` (when it has ``state_dict``) are exactly what they were before. Nothing is written to disk.
    """
    if loss_fn is None and step is None:
        raise ValueError("give loss_fn (standard training step) or step (your own training step)")
    _check("loss_fn", loss_fn is None or callable(loss_fn), "a function (output, target) -> loss", loss_fn)
    _check("step", step is None or callable(step), "a function (batch) -> loss", step)
    _check("start_lr", _real(start_lr) and SMALLEST_LR <= start_lr < math.inf, f"a number {SMALLEST_LR_TEXT}",
           start_lr)
    _check("end_lr", _real(end_lr) and start_lr < end_lr < math.inf, "a finite number > start_lr", end_lr)
    _check("num_steps", _integer(num_steps, 2), "an integer >= 2", num_steps)
    _check("growth", isinstance(growth, str) and growth in ("exp", "linear"), "'exp' or 'linear'", growth)
    _check("beta", _real(beta) and 0 <= beta < 1, "a number in [0, 1)", beta)
    _check("diverge_factor", _real(diverge_factor) and 1 < diverge_factor < math.inf, "a finite number > 1",
           diverge_factor)
    _check("extend", isinstance(extend, bool), "True or False", extend)
    _check("max_extend_factor", _real(max_extend_factor) and max_extend_factor >= 1
           and math.isfinite(end_lr * max_extend_factor), "a number >= 1 (and end_lr x max_extend_factor finite)",
           max_extend_factor)
    _check("accumulation_steps", _integer(accumulation_steps, 1), "an integer >= 1", accumulation_steps)
    _check("amp_dtype", amp_dtype is None or any(amp_dtype is d for d in AMP_DTYPES),
           "None, torch.float16 or torch.bfloat16", amp_dtype)
    _check("val_every", _integer(val_every, 1), "an integer >= 1", val_every)
    _check("val_batches", _integer(val_batches, 1), "an integer >= 1", val_batches)
    _check("repeats", _integer(repeats, 1), "an integer >= 1", repeats)
    check_seed(seed, repeats)
    check_div_factor(div_factor)
    _check("progress", isinstance(progress, bool), "True or False", progress)
    if step is not None and (accumulation_steps != 1 or amp_dtype is not None):
        raise ValueError("accumulation_steps and amp_dtype apply to the standard step; a custom step does its own")

    device = next((p.device for p in model.parameters()), torch.device("cpu"))
    own_scaler = scaler is None and amp_dtype == torch.float16
    settings = dict(start_lr=start_lr, end_lr=end_lr, num_steps=num_steps, growth=growth, beta=beta,
                    diverge_factor=diverge_factor, extend=extend, max_extend_factor=max_extend_factor,
                    accumulation_steps=accumulation_steps, amp_dtype=str(amp_dtype) if amp_dtype else None,
                    repeats=repeats, seed=seed, div_factor=div_factor)
    base = float(optimizer.param_groups[0]["lr"])
    ratios = [float(g["lr"]) / base if base > 0 else 1.0 for g in optimizer.param_groups]

    curves: list[Curve] = []
    snap = snapshot(model, optimizer, [o for o in (scaler, data) if o is not None])
    try:
        val_set = None
        if val_data is not None:
            val_set = [_to_device(b, device) for _, b in zip(range(val_batches), _iterate("val_data", val_data))]
            if not val_set:
                raise ValueError("val_data yielded no batches")
        batches = BatchCycle(data)
        for r in range(repeats):
            if r:
                restore(snap, model, optimizer, everything=False)
            if seed is not None:
                torch.manual_seed(seed + r)
            run_scaler = torch.amp.GradScaler(device.type) if own_scaler else scaler

            def one_step(_batches: BatchCycle = batches, _scaler: Any = run_scaler) -> float:
                if step is not None:
                    return distributed.mean(float(step(next(_batches))), device)
                return standard_step(model, optimizer, loss_fn, _batches, accumulation_steps, device,
                                      amp_dtype, _scaler)

            curves.append(_run_curve(model, optimizer, one_step, ratios, settings, val_set, loss_fn,
                                     val_every, amp_dtype, progress, r))
    finally:
        restore(snap, model, optimizer, last=True)
    # only the last curve can have run out of data: a later repeat would have had none
    recs = [_recommendation(c, div_factor, batches.ran_out and i == len(curves) - 1) for i, c in enumerate(curves)]
    return RangeTestResult(curves, recs[0] if repeats == 1 else combine(recs), settings)


def _recommendation(curve: Curve, div_factor: float, ran_out: bool) -> Recommendation:
    """:func:`~onecycle.suggestions.recommend` on one curve; a curve that stopped before it had the points a
    recommendation needs gives none, with a note saying why. A curve whose data ran out (``ran_out``) says so
    first, since it is why the curve ends where it does."""
    cut = [f"the range test stopped early: {curve.stop_reason}"] if ran_out else []
    if len(curve.lrs) < MIN_POINTS:
        why = "" if ran_out else f" ({curve.stop_reason})"
        return unanswered([*cut, f"the range test stopped after {len(curve.lrs)} step(s){why}: too few points, need "
                           f"at least {MIN_POINTS}: no recommendation"], div_factor)
    rec = recommend(curve.lrs, curve.losses, div_factor=div_factor, diverged=curve.diverged)
    return replace(rec, notes=[*cut, *rec.notes])


EXTEND_STEPS = 2
"""The most steps an extension past ``end_lr`` takes, as a multiple of ``num_steps`` (the default range's cap, three
decades past end_lr, takes half of ``num_steps``; a range of a hair's width would take millions of steps)."""


def _run_curve(model: nn.Module, optimizer: torch.optim.Optimizer, one_step: Callable[[], float],
               ratios: Sequence[float], s: dict[str, Any], val_set: list[Any] | None,
               loss_fn: Callable | None, val_every: int, amp_dtype: torch.dtype | None,
               progress: bool, repeat: int) -> Curve:
    """The test's loop for one repeat."""
    from tqdm.auto import tqdm

    model.train()
    cap = s["end_lr"] * (s["max_extend_factor"] if s["extend"] else 1.0)
    lrs: list[float] = []
    losses: list[float] = []
    smoothed: list[float] = []
    val_steps: list[int] = []
    val_losses: list[float] = []
    average, best = EMA(s["beta"]), math.inf
    reason, diverged = "", False
    bar = tqdm(total=s["num_steps"], desc=f"range test{f' {repeat + 1}' if repeat else ''}",
               disable=not progress, leave=False)
    i = 0
    while True:
        lr = lr_at(i, s["start_lr"], s["end_lr"], s["num_steps"], s["growth"])
        if lr > cap * (1 + 1e-9):
            reason = _end_reason(lrs[-1], cap, s)
            break
        if i >= s["num_steps"] * (1 + EXTEND_STEPS):  # a narrow range would take millions of steps to its cap
            reason = (f"not diverged after {i - s['num_steps']} steps past end_lr, the most an extension takes "
                      f"({EXTEND_STEPS:g} x num_steps), at lr {lrs[-1]:.3g}")
            break
        if i == s["num_steps"]:  # extending: the bar counts to the step cap
            bar.total = s["num_steps"] * (1 + EXTEND_STEPS)
            bar.refresh()
        _set_lr(optimizer, lr, ratios)
        try:
            loss = one_step()
        except _DataRanOut as err:
            if not lrs:
                raise ValueError(f"{err}: none left for repeat {repeat + 1}") from None
            reason = f"{err}: {i} steps taken of {s['num_steps']} planned, up to lr {lrs[-1]:.3g}"
            break
        lrs.append(lr)
        losses.append(loss)
        if not math.isfinite(loss):
            smoothed.append(math.nan)
            reason, diverged = f"non-finite loss at lr={lr:.3g}", True
            break
        sm = average.update(loss)
        smoothed.append(sm)
        best = min(best, sm)
        if val_set is not None and i % val_every == 0:
            val_steps.append(i)
            val_losses.append(evaluate(model, val_set, loss_fn or _no_loss, amp_dtype)["loss"])
        if progress:  # drawn by update, at most 10 times a second
            bar.set_postfix(lr=f"{lr:.2g}", loss=f"{sm:.3g}", refresh=False)
        bar.update(1)
        if has_diverged(sm, best, s["diverge_factor"]):
            reason, diverged = f"smoothed loss exceeded {s['diverge_factor']:g}x its best at lr={lr:.3g}", True
            break
        i += 1
    bar.close()
    n = len(smoothed) - (not math.isfinite(losses[-1]))
    filtered = zero_phase_smooth(lrs[:n], losses[:n]).tolist() if n >= 2 else losses[:n]
    return Curve(lrs, losses, smoothed, reason, diverged, extended=len(lrs) > s["num_steps"],
                 filtered=filtered, val_steps=val_steps, val_losses=val_losses)


def _end_reason(last: float, cap: float, s: dict[str, Any]) -> str:
    """Why a test that never diverged stopped after the step at lr ``last``, its next step being past ``cap``:
    unextended at ``end_lr``; extended as far as the cap lets it; or at ``end_lr`` because the first step past it
    is already past the cap."""
    if not s["extend"]:
        return "reached end_lr without diverging"
    limit = f"the cap {s['max_extend_factor']:g} x end_lr"
    if last <= s["end_lr"] * (1 + 1e-9):
        return f"reached end_lr without diverging; not extended: the next step passes {limit}"
    return f"not diverged by the last step under {limit} = {cap:.3g}"


def _no_loss(*_: Any) -> torch.Tensor:
    raise ValueError("test losses (val_data) need loss_fn; with a custom step, pass loss_fn too or leave val_data out")
