"""The training loop: forward, loss, backward, optimizer step, scheduler step, metrics — and a short hook list.

The loop reads its losses back from the device once every ``log_every`` steps (:mod:`onecycle.step_log`), and at
the end of each epoch: a read waits for the device, and one per step stalls a GPU. At a read the steps since the
last one are processed in order, as they would have been one by one: the smoothed loss, its lowest, the first loss,
the divergence stop, the epoch's totals and the per-step metrics rows.

Hooks are plain objects with any of these methods, called in list order:

* ``on_steps(state, rows)``: at each read, the metrics of the steps since the last one, in order; ``state`` is at
  the last of them (``state.step``), unless training stopped at this read (``state.stopped``: the rows are the
  steps before the loss that stopped it, and the state, past them, is not one to checkpoint);
* ``wants_read(state)``: asked at every step once its loss is computed (``state.step + 1`` is that step); ``True``
  reads at once (a checkpoint due, a stop requested), so nothing waits for the next interval;
* ``on_epoch_end(state, metrics)``, after the epoch's last step and its test evaluation;
* ``on_diverged(state)``, after the read that found a non-finite or diverged loss (``state.diverged``): ``True``
  says the hook has put back an earlier state to train on from (:class:`onecycle.retry.RetryOnDivergence`), and the
  loop goes on from there, its epoch resumed where that state is; the hooks after the first that returns ``True``
  are not asked;
* ``on_train_end(state)``.

``on_steps`` and ``on_epoch_end`` may return ``True`` to stop training there. Nothing else reaches into the loop.

Under data-parallel training (``torch.distributed``, a ``DistributedDataParallel`` model, data sharded as
:class:`~onecycle.loader.Batches` does it) every process runs this loop in step: each read sums the steps' values
over the processes, so all see the global batch's loss and stop at the same step, and the test evaluation sums its
totals over them. Every process calls its hooks, but whether to read and whether to stop is rank 0's answer, sent to
the others (a signal or a clock reaches each process at its own moment): :mod:`onecycle.distributed`.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from onecycle import distributed
from onecycle.scheduler import momentum_key
from onecycle.step_log import StepLog, default_log_every
from onecycle.suggestions import EMA, has_collapsed, has_diverged

DIVERGENCE_WARMUP = 10
"""Steps before training may stop for a diverged loss: the smoothed loss of the first few steps averages a
handful of losses of an untrained network. Its lowest value counts from the first step."""


class Totals:
    """Running sums over batches: loss (weighted by batch size), images, and correct predictions while every
    batch holds class scores; for training also its steps and seconds. Training keeps the epoch's in its state,
    so that an epoch resumed in the middle reports what it would have uninterrupted."""

    def __init__(self) -> None:
        self.steps = self.seen = self.scored = self.correct = 0
        self.loss_sum = self.seconds = 0.0

    def add(self, loss: float, images: int, correct: int | None) -> None:
        """One batch of ``images`` whose mean loss is ``loss``, with its ``correct`` predictions (``None`` when its
        outputs were not class scores)."""
        self.loss_sum += loss * images
        self.seen += images
        if correct is not None:
            self.scored += images
            self.correct += correct

    def accuracy(self, key: str) -> dict[str, float]:
        """``{key: accuracy}``, or nothing when some batch was not class scores (or none was seen)."""
        return {key: self.correct / self.seen} if self.seen and self.scored == self.seen else {}

    def sum_across_ranks(self, device: torch.device) -> None:
        """Replace the counts and sums by their totals over the processes of a data-parallel run (the seconds are
        this process's own)."""
        keys = ("steps", "seen", "scored", "correct", "loss_sum")
        summed = distributed.all_sum(torch.tensor([float(getattr(self, k)) for k in keys], dtype=torch.float64,
                                                  device=device)).tolist()
        for key, value in zip(keys, summed):
            setattr(self, key, type(getattr(self, key))(value))

    def state_dict(self) -> dict[str, int | float]:
        return dict(vars(self))

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for key in vars(self):
            setattr(self, key, type(getattr(self, key))(state[key]))


@dataclass
class TrainState:
    """What the loop works on; hooks read it (and checkpoint it)."""

    model: nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: Any
    data: Iterable[Any]
    epochs: int
    epoch: int = 0  # epochs completed
    step: int = 0  # optimizer steps taken
    loss_ema: EMA = field(default_factory=EMA)  # the smoothed training loss, one update per step (made at reads)
    history: list[dict[str, Any]] = field(default_factory=list)  # one dict per completed epoch
    stopped: str | None = None  # why training ended early, if it did
    diverged: bool = False  # whether it ended early because the loss diverged (or was not finite)
    diverged_step: int | None = None  # the step (counted from 1) of the loss that diverged, when one did
    diverged_lr: float | None = None  # the learning rate of that step
    collapsed: bool = False  # whether that loss had collapsed back to the untrained model's (stop_at_collapse)
    scaler: torch.amp.GradScaler | None = None
    best_loss: float = math.inf  # the lowest smoothed training loss so far
    initial_loss: float | None = None  # the loss of the first step: the untrained model's
    totals: Totals = field(default_factory=Totals)  # the running sums of the epoch in progress, as of the last read
    retries: list[dict[str, Any]] = field(default_factory=list)  # one record per restart after a diverged loss
    kept_states: list[dict[str, Any]] = field(default_factory=list)  # states a retry may put back, oldest first

    @property
    def smoothed_loss(self) -> float:
        """The bias-corrected running average of the training loss (NaN before the first step)."""
        return self.loss_ema.value


def pick_device(name: str = "auto") -> torch.device:
    """``"auto"``: cuda, else mps, else cpu; otherwise the named device."""
    if name != "auto":
        return torch.device(name)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def autocast_dtype(device: torch.device, amp: bool) -> torch.dtype | None:
    """The mixed-precision dtype to use: bf16 where the device supports it, else float16 on cuda, else none."""
    if not amp:
        return None
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    if device.type == "cpu":
        return torch.bfloat16
    return None


def momentum_of(optimizer: torch.optim.Optimizer) -> float | None:
    """Momentum (or beta1) of the first param group, ``None`` for optimizers without one."""
    group = optimizer.param_groups[0]
    key = momentum_key(group)
    if key is None:
        return None
    return float(group["betas"][0] if key == "betas" else group[key])


def are_class_scores(out: torch.Tensor, y: torch.Tensor) -> bool:
    """Whether ``out`` holds class scores for the integer labels ``y`` (``(B, C)`` and ``(B,)``), so that
    ``out.argmax(1) == y`` is a correct prediction; accuracy is measured only then."""
    return out.ndim == 2 and y.ndim == 1 and len(out) == len(y) and not y.is_floating_point()


def correct_count(out: torch.Tensor, y: torch.Tensor) -> torch.Tensor | None:
    """The correct predictions in a batch, as a tensor on its device (not read back), when ``out`` holds class
    scores for ``y`` (:func:`are_class_scores`); else ``None``."""
    return (out.argmax(1) == y).sum() if are_class_scores(out, y) else None


@torch.no_grad()
def evaluate(
    model: nn.Module,
    data: Iterable[Any],
    loss_fn: Callable[..., torch.Tensor] = F.cross_entropy,
    amp_dtype: torch.dtype | None = None,
) -> dict[str, float]:
    """Mean loss over ``data`` (batches ``(x, y)``, ``loss_fn`` averaging over a batch) in eval mode, and the
    ``accuracy`` only when every batch's outputs are class scores for integer labels (:func:`are_class_scores`).
    Under data-parallel training each process evaluates its own batches (with the model inside the
    ``DistributedDataParallel`` wrapper, whose forward would wait for the others') and the totals are summed over
    the processes: all get the same figures."""
    if distributed.active():
        model = distributed.unwrap(model)
    was_training = model.training
    model.eval()
    batches = StepLog()  # read once, at the end
    for x, y in data:
        with torch.autocast(x.device.type, dtype=amp_dtype, enabled=amp_dtype is not None):
            out = model(x)
            loss = loss_fn(out, y)
        batches.add(loss, correct_count(out, y), len(y))
    model.train(was_training)
    totals = Totals()
    for batch in batches.read():
        totals.add(batch.loss, batch.images, batch.correct)
    if distributed.active():
        totals.sum_across_ranks(_device(model))
    if totals.seen == 0:
        raise ValueError("evaluation data yielded no batches")
    return {"loss": totals.loss_sum / totals.seen, **totals.accuracy("accuracy")}


def train_time(history: Sequence[dict[str, Any]]) -> float:
    """Training wall time in seconds: the sum of the epochs' ``time_s`` (their steps and test evaluation), so
    not the range test, the sweep, loading data or writing checkpoints; a resumed run counts every epoch once."""
    return float(sum(h["time_s"] for h in history))


FINAL_LOSSES = {"train_loss": "training loss", "val_loss": "test loss"}
"""The losses of an epoch's metrics that :func:`losses_above_start` compares with the loss of the first step, and
how messages name them."""


def losses_above_start(initial_loss: float | None, metrics: dict[str, Any]) -> dict[str, float]:
    """The losses of ``metrics`` (an epoch's, :data:`FINAL_LOSSES`) that are not below ``initial_loss``, the loss of
    the run's first step (its untrained model's); none when that is unknown (``None``: a checkpoint of an older
    version). A run whose last epoch has any ended worse than it started: it failed, even when its loss never rose
    far enough above its lowest to stop it (a plateau at a high loss; a test loss ruined at a high learning rate)."""
    if initial_loss is None:
        return {}
    return {k: metrics[k] for k in FINAL_LOSSES if metrics.get(k) is not None and not metrics[k] < initial_loss}


def _backward_and_step(state: TrainState, loss: torch.Tensor, clip_grad_norm: float | None) -> None:
    """Backward pass and optimizer update (through the GradScaler when there is one, clipping if asked)."""
    optimizer, scaler = state.optimizer, state.scaler
    optimizer.zero_grad(set_to_none=True)
    (scaler.scale(loss) if scaler is not None else loss).backward()
    if clip_grad_norm is not None:
        if scaler is not None:
            scaler.unscale_(optimizer)
        nn.utils.clip_grad_norm_(state.model.parameters(), clip_grad_norm)
    if scaler is not None:
        scaler.step(optimizer)
        scaler.update()
    else:
        optimizer.step()


def _stop_reason(state: TrainState, step: int, value: float, lr: float, divergence_factor: float | None,
                 collapse: bool = False) -> str | None:
    """Why training must stop at step ``step`` (counted from 1), whose loss is ``value``: a non-finite loss, or
    (with ``divergence_factor``, after :data:`DIVERGENCE_WARMUP` steps) a smoothed loss that has diverged
    (:func:`~onecycle.suggestions.has_diverged`), or (with ``collapse``, after as many steps) collapsed
    (:func:`~onecycle.suggestions.has_collapsed`: ``state.collapsed`` is set); ``None`` to go on. Updates the smoothed
    loss and its best, and at the first step the initial loss."""
    where = f"at step {step} (epoch {state.epoch + 1}, lr={lr:.4g})"
    if not math.isfinite(value):
        return f"non-finite loss ({value}) {where}"
    if step == 1:
        state.initial_loss = value
    best, smoothed = state.best_loss, state.loss_ema.update(value)
    state.best_loss = min(best, smoothed)
    if divergence_factor is not None and step > DIVERGENCE_WARMUP and has_diverged(smoothed, best, divergence_factor):
        return (f"{where} the smoothed training loss ({smoothed:.4g}) exceeded {divergence_factor:g}x its lowest "
                f"({best:.4g}): it diverged")
    if collapse and step > DIVERGENCE_WARMUP and has_collapsed(smoothed, best, state.initial_loss):
        state.collapsed = True
        return (f"{where} the smoothed training loss ({smoothed:.4g}) was back at the untrained model's "
                f"({state.initial_loss:.4g}) after falling to {best:.4g}: it diverged")
    return None


def _read(state: TrainState, log: StepLog, divergence_factor: float | None,
          collapse: bool = False) -> list[dict[str, Any]]:
    """Read the steps of ``log`` and process them in order, each as the loop once did after its loss
    (:func:`_stop_reason`, the epoch's totals); returns their metrics rows. At a loss that stops training,
    ``state.stopped``, ``state.diverged`` (and the step and lr of that loss) are set and the steps from it on are
    dropped."""
    rows = []
    for v in log.read(across_ranks=True):
        state.stopped = _stop_reason(state, v.step, v.loss, v.lr, divergence_factor, collapse)
        if state.stopped is not None:
            state.diverged, state.diverged_step, state.diverged_lr = True, v.step, v.lr
            break
        state.totals.add(v.loss, v.images, v.correct)
        state.totals.steps += 1
        rows.append({"step": v.step, "loss": v.loss, "smoothed_loss": state.smoothed_loss, "lr": v.lr,
                     "momentum": v.momentum})
    return rows


def _report(state: TrainState, rows: list[dict[str, Any]], hooks: Sequence[Any], bar: Any, start: float) -> float:
    """After a read: the epoch's time so far, the progress bar, and the hooks' ``on_steps`` with ``rows`` (one
    returning ``True`` stops training). Returns the epoch's new start, which leaves out the hooks' time."""
    totals = state.totals
    totals.seconds = time.perf_counter() - start
    if state.stopped is None and rows:
        bar.set_postfix(loss=f"{state.smoothed_loss:.4f}", lr=f"{rows[-1]['lr']:.3g}",
                        img_s=f"{totals.seen / totals.seconds:.0f}", refresh=False)
    stop = bool(rows) and any([hook.on_steps(state, rows) for hook in hooks if hasattr(hook, "on_steps")])
    if distributed.rank0_decides(stop):
        state.stopped = state.stopped or f"stopped by a hook after step {state.step} (epoch {state.epoch + 1})"
    return time.perf_counter() - totals.seconds


def _recovered(state: TrainState, hooks: Sequence[Any]) -> bool:
    """After a diverged read: whether a hook's ``on_diverged`` put back an earlier state (rank 0's answer, and every
    process's hooks are asked); if so, training goes on from it."""
    restored = any(hook.on_diverged(state) for hook in hooks if hasattr(hook, "on_diverged"))
    if not distributed.rank0_decides(restored):
        return False
    state.stopped, state.diverged, state.diverged_step, state.diverged_lr = None, False, None, None
    state.collapsed = False
    return True


def train(
    state: TrainState,
    *,
    loss_fn: Callable[..., torch.Tensor] = F.cross_entropy,
    val_data: Iterable[Any] | None = None,
    hooks: Sequence[Any] = (),
    amp_dtype: torch.dtype | None = None,
    clip_grad_norm: float | None = None,
    divergence_factor: float | None = None,
    stop_at_collapse: bool = False,
    progress: bool = True,
    log_every: int | None = None,
    compile: bool = False,
) -> TrainState:
    """Train from ``state.epoch`` (and ``state.step``: a run resumes in the middle of an epoch too) to
    ``state.epochs``; returns the state with its history.

    Each epoch's metrics (train loss/accuracy, test loss/accuracy on ``val_data`` as ``val_loss``/``val_accuracy``,
    lr, ``time_s``: the epoch's wall time, its steps and test evaluation but not the hooks', images/s of the steps)
    are appended to ``state.history`` and passed to the hooks. The losses are read from the device every ``log_every``
    steps (default: by the model's device, :func:`~onecycle.step_log.default_log_every`), at the end of an epoch and
    when a hook wants it; each read is made after the loss of the step it is made at and before that step's update. A
    loss that is not finite, or (given ``divergence_factor``) a smoothed loss above ``divergence_factor`` x its lowest,
    or (given ``stop_at_collapse``) one back at the loss of the first step after it had learned
    (:func:`~onecycle.suggestions.has_collapsed`), stops training at the read that finds it: ``state.stopped`` names the
    step of that loss and its learning rate, and ``state.diverged`` is set (and ``state.diverged_step``,
    ``state.diverged_lr``, ``state.collapsed``), unless a
    hook's ``on_diverged`` puts back an earlier state to go on from. At ``log_every`` 1 that step's update is never
    taken; at ``log_every`` N the updates of the steps after it up to the read are (N - 1 at worst, for a loss at the
    step after a read), and the weights may no longer be finite; checkpoints are written at reads only, after their
    check passed, so the last one is good after a non-finite or diverged loss (a collapse climbs back over many steps
    before it is found: the last checkpoint may hold a model already on its way up). ``compile``: the forward passes
    go through ``torch.compile(state.model)`` (the model itself, and so its checkpoints, keep their parameter names).
    """
    from tqdm.auto import tqdm

    model, optimizer = state.model, state.optimizer
    forward = torch.compile(model) if compile else model
    every = log_every if log_every is not None else default_log_every(_device(model))
    if amp_dtype == torch.float16 and state.scaler is None:
        state.scaler = torch.amp.GradScaler()
    asks = [hook.wants_read for hook in hooks if hasattr(hook, "wants_read")]
    while state.epoch < state.epochs and state.stopped is None:
        model.train()
        totals, start = state.totals, time.perf_counter() - state.totals.seconds  # resumed: the time it took
        log, steps = StepLog(), len(state.data) if hasattr(state.data, "__len__") else None
        bar = tqdm(state.data, desc=f"epoch {state.epoch + 1}/{state.epochs}", initial=totals.steps,
                   disable=not progress, leave=False)
        for x, y in bar:
            lr, momentum = float(optimizer.param_groups[0]["lr"]), momentum_of(optimizer)  # used by this step
            with torch.autocast(x.device.type, dtype=amp_dtype, enabled=amp_dtype is not None):
                out = forward(x)
                loss = loss_fn(out, y)
            log.add(loss, correct_count(out, y), len(y), state.step + 1, lr, momentum)
            wanted = distributed.rank0_decides(any([ask(state) for ask in asks]))  # every hook is asked, every step
            read = wanted or (state.step + 1) % every == 0 or totals.steps + len(log) == steps
            rows = _read(state, log, divergence_factor, stop_at_collapse) if read else []
            if state.stopped is None:
                _backward_and_step(state, loss, clip_grad_norm)
                if state.scheduler is not None:
                    state.scheduler.step()
                state.step += 1
            if read:
                start = _report(state, rows, hooks, bar, start)
            if state.stopped is not None:
                break
        if len(log):  # data without a length: the epoch's last steps, read once taken
            start = _report(state, _read(state, log, divergence_factor, stop_at_collapse), hooks, bar, start)
        bar.close()
        if state.diverged and _recovered(state, hooks):
            continue
        if state.stopped is not None:
            break
        metrics: dict[str, Any] = {
            "epoch": state.epoch + 1, "step": state.step, "lr": float(optimizer.param_groups[0]["lr"]),
            "train_loss": totals.loss_sum / max(totals.seen, 1), **totals.accuracy("train_accuracy"),
            "time_s": totals.seconds, "images_per_s": totals.seen / totals.seconds if totals.seconds > 0 else math.nan,
        }
        distributed.sync_buffers(model)  # one model on every process for the evaluation and the checkpoint
        if val_data is not None:
            val = evaluate(forward, val_data, loss_fn, amp_dtype)
            metrics.update({f"val_{key}": value for key, value in val.items()})
            metrics["time_s"] = time.perf_counter() - start  # the steps and the test evaluation
        state.epoch, state.totals = state.epoch + 1, Totals()
        state.history.append(metrics)
        stop = [hook.on_epoch_end(state, metrics) for hook in hooks if hasattr(hook, "on_epoch_end")]
        if distributed.rank0_decides(any(stop)) and state.epoch < state.epochs:
            state.stopped = "stopped by a hook"
    for hook in hooks:
        if hasattr(hook, "on_train_end"):
            hook.on_train_end(state)
    return state


def _device(model: nn.Module) -> torch.device:
    """Where ``model``'s parameters are (the CPU for a model without any)."""
    return next((p.device for p in model.parameters()), torch.device("cpu"))
