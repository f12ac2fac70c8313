"""The largest batch that fits in memory, found by doubling, then bisecting, on real training steps.

:func:`largest_batch` is the search, a pure function of a callable that tries a batch size and says whether it fits
(with its peak memory and images/s): any memory model tests it. :func:`training_probe` is that callable for a run's
setup: a fresh model and optimizer train a warm-up step and :data:`TIMED_STEPS` timed ones (forward, backward,
optimizer step) at the batch size, their peak memory measured (:mod:`onecycle.memory`: the CUDA allocator's peak, or
the growth of the resident set on the CPU). The peak counts what those steps make the process hold: the model's
weights, its gradients, the optimizer's state, the batch and the activations (on the CPU also the allocator's slack
and the thread pools' buffers); not the data set, loaded before. A batch fits when no allocation failed and, given a
budget, its peak is within it.

The search doubles from ``start`` (8) until a size does not fit or the limit (the training set) is reached, then
bisects between the last fit and the first failure over multiples of :data:`MULTIPLE` (8), so the answer is the
largest multiple of 8 that fits, or the limit itself; when ``start`` does not fit it halves instead (4, 2, 1) and
bisects over every size, so below 8 the answer is the largest size that fits. It takes about two probes per doubling
of the answer. A size whose peak, extrapolated linearly from the two largest fits, is more than :data:`FAR_ABOVE`
times the budget is not run (it is recorded as not fitting), so no probe asks for far more memory than the budget.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import torch

from onecycle import memory, records
from onecycle.engine import TrainState, train
from onecycle.experiment import Setup, range_test_conditions

START = 8
"""The first batch size tried."""
SMALLEST = 2
"""The smallest batch the search tries: BatchNorm cannot train on a batch of one image (no variance to normalise
by)."""
MULTIPLE = 8
"""The bisection's step: the answer is a multiple of it, or smaller than it, or the limit."""
FAR_ABOVE = 1.5
"""A size predicted to need more than this times the budget is not run."""
TIMED_STEPS = 2
"""Training steps timed at each size, after one that warms up."""


@dataclass(frozen=True)
class Measurement:
    """What trying a batch size found: whether it fits, its peak memory in bytes and its training images/s (``None``
    when not measured), and why it does not fit (``note``)."""

    fits: bool
    peak_bytes: int | None = None
    images_per_s: float | None = None
    note: str = ""


@dataclass(frozen=True)
class Probe:
    """A batch size the search tried and what it found (:class:`Measurement`); ``ran``: false when it was not run
    because its predicted peak was far above the budget."""

    batch_size: int
    fits: bool
    peak_bytes: int | None = None
    images_per_s: float | None = None
    note: str = ""
    ran: bool = True


@dataclass
class BatchSizeResult:
    """The sizes tried, in order, at most ``limit`` images, against ``budget`` bytes (``None``: device memory)."""

    probes: list[Probe]
    limit: int
    budget: int | None = None
    settings: dict[str, Any] = field(default_factory=dict)

    @property
    def largest(self) -> int | None:
        """The largest batch size that fits; ``None`` when none did."""
        return max((p.batch_size for p in self.probes if p.fits), default=None)

    @property
    def fastest(self) -> Probe | None:
        """The size that fits and trained the most images per second (the smallest of a tie)."""
        timed = [p for p in self.probes if p.fits and p.images_per_s is not None]
        return max(timed, key=lambda p: (p.images_per_s, -p.batch_size), default=None)

    def slower_note(self) -> str | None:
        """That the largest batch is not the fastest, with both speeds; ``None`` when it is."""
        fastest, largest = self.fastest, self.largest
        if fastest is None or fastest.batch_size == largest:
            return None
        at_largest = next(p for p in self.probes if p.fits and p.batch_size == largest)
        return (f"the largest batch, {largest}, is not the fastest: {fastest.batch_size} trained "
                f"{fastest.images_per_s:.0f} images/s, {largest} {_speed(at_largest)}")

    def table(self) -> str:
        """One line per size tried, in order: batch size, fits, peak memory, images/s and why it does not fit."""
        lines = [f"{'batch':>7}  {'fits':<4}  {'peak memory':>11}  {'images/s':>8}"]
        for p in self.probes:
            peak = "-" if p.peak_bytes is None else memory.show_size(p.peak_bytes)
            speed = "-" if p.images_per_s is None else f"{p.images_per_s:.0f}"
            lines.append(f"{p.batch_size:>7}  {'yes' if p.fits else 'no':<4}  {peak:>11}  {speed:>8}"
                         + (f"  {p.note}" if p.note else ""))
        return "\n".join(lines)

    def __str__(self) -> str:
        within = "device memory" if self.budget is None else f"a budget of {memory.show_size(self.budget)}"
        if self.largest is None:
            answer = f"no batch size fits in {within}"
        else:
            answer = f"largest batch that fits in {within}: {self.largest}"
            if self.largest == self.limit:
                answer += " (the limit)"
        note = self.slower_note()
        return "\n".join([self.table(), answer, *([f"note: {note}"] if note else [])])

    def to_dict(self) -> dict[str, Any]:
        """What batch_size.json holds."""
        fastest = self.fastest
        return {"largest": self.largest, "fastest": None if fastest is None else fastest.batch_size,
                "limit": self.limit, "budget_bytes": self.budget, "settings": self.settings,
                "probes": [asdict(p) for p in self.probes]}


def _speed(probe: Probe) -> str:
    return "untimed" if probe.images_per_s is None else f"{probe.images_per_s:.0f}"


def predicted_peak(probes: list[Probe], batch_size: int) -> float | None:
    """The peak memory of ``batch_size`` extrapolated linearly from the two largest sizes that fit with a measured
    peak; ``None`` without two, or when their peaks do not grow with the batch (measurement noise)."""
    fits = sorted((p.batch_size, p.peak_bytes) for p in probes if p.fits and p.peak_bytes is not None)
    if len(fits) < 2:
        return None
    (b1, m1), (b2, m2) = fits[-2:]
    if m2 <= m1:
        return None
    return m2 + (batch_size - b2) * (m2 - m1) / (b2 - b1)


def largest_batch(measure: Callable[[int], Measurement], limit: int, budget: int | None = None,
                  start: int = START, multiple: int = MULTIPLE) -> BatchSizeResult:
    """Search for the largest batch size of at most ``limit`` that ``measure`` says fits (see the module's text):
    doubling from ``start``, then bisecting over multiples of ``multiple`` (halving instead when ``start`` does not
    fit, then bisecting over every size below ``multiple``); with ``budget`` (bytes), sizes predicted to peak above
    :data:`FAR_ABOVE` x it are not run. Bad arguments are a ``ValueError`` naming them."""
    for name, value in (("limit", limit), ("start", start), ("multiple", multiple)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a whole number >= 1, got {value!r}")
    if budget is not None and (isinstance(budget, bool) or not isinstance(budget, int) or budget < 1):
        raise ValueError(f"budget must be a whole number of bytes >= 1 or None, got {budget!r}")
    probes: list[Probe] = []

    def fits(batch_size: int) -> bool:
        predicted = predicted_peak(probes, batch_size)
        if budget is not None and predicted is not None and predicted > FAR_ABOVE * budget:
            probes.append(Probe(batch_size, False, note=f"not run: predicted peak {memory.show_size(predicted)}, "
                                f"more than {FAR_ABOVE:g}x the budget", ran=False))
            return False
        found = measure(batch_size)
        if not isinstance(found, Measurement):
            raise ValueError(f"measure({batch_size}) must return a Measurement, got {records.shown(found)}")
        probes.append(Probe(batch_size, **asdict(found)))
        return found.fits

    low, high = None, min(start, limit)  # the largest size known to fit; the smallest known not to (or to try)
    if fits(high):
        low, high = high, None
        while low < limit:
            size = min(2 * low, limit)
            if not fits(size):
                high = size
                break
            low = size
    else:
        while low is None and high > SMALLEST:
            if fits(high // 2):
                low = high // 2
            else:
                high //= 2
    if low is not None and high is not None:
        step = multiple if low >= multiple else 1
        while True:
            first, last = (low // step + 1) * step, (high - 1) // step * step  # the multiples between them
            if first > last:
                break
            size = first + (last - first) // step // 2 * step
            if fits(size):
                low = size
            else:
                high = size
    return BatchSizeResult(probes, limit, budget)


class _Steps:
    """The next ``steps`` batches of ``data``, going on into its next epoch when one ends; ``images`` counts the
    images they held."""

    def __init__(self, data: Any, steps: int) -> None:
        self.data, self.steps, self.images = data, steps, 0

    def __len__(self) -> int:
        return self.steps

    def __iter__(self) -> Iterator[Any]:
        taken = 0
        while taken < self.steps:
            for x, y in self.data:
                self.images += len(y)
                yield x, y
                taken += 1
                if taken == self.steps:
                    return


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _train_steps(setup: Setup, steps: int) -> float:
    """Images per second of ``steps`` training steps of a fresh model and optimizer under ``setup`` (its batch
    size, augmentation, amp...), after one step that warms up, at the range test's first lr (without weight decay,
    which changes no memory)."""
    cfg = setup.cfg
    model = setup.model()
    optimizer = setup.optimizer(model, cfg.start_lr, 0.0)
    data = setup.batches()
    options = {"loss_fn": setup.loss_fn(), "amp_dtype": setup.amp_dtype, "clip_grad_norm": cfg.clip_grad_norm,
               "progress": False, "log_every": cfg.log_every}
    train(TrainState(model, optimizer, None, _Steps(data, 1), 1), **options)  # warms up
    timed = _Steps(data, steps)
    _synchronize(setup.device)
    start = time.perf_counter()
    state = train(TrainState(model, optimizer, None, timed, 1), **options)
    _synchronize(setup.device)
    seconds = time.perf_counter() - start
    if state.stopped:
        raise ValueError(f"training at batch_size {cfg.batch_size} stopped: {state.stopped}")
    return timed.images / seconds


def training_probe(setup: Setup, budget: int | None = None, steps: int = TIMED_STEPS) -> Callable[[int], Measurement]:
    """The :func:`largest_batch` callable for ``setup``: a fresh model and optimizer train at the batch size tried,
    on its data, with its settings; on CUDA the device's memory (an allocation that fails does not fit), on the CPU
    the growth of the resident set, capped (:func:`memory.cpu_cap`), with ``budget`` (bytes) needed there. A batch
    fits when nothing failed and its peak is within ``budget`` (when given). A probe at batch :data:`START` runs
    first and is dropped, so that the first one kept does not pay for what the first training steps of a process
    load."""
    device = setup.device
    if device.type not in ("cpu", "cuda"):
        raise ValueError(f"the peak memory of training on {device.type} cannot be measured: only on cuda or the cpu")
    if device.type == "cpu" and budget is None:
        raise ValueError("on the cpu a memory budget is needed: nothing else says when a batch no longer fits")
    cap = memory.cpu_cap(budget) if device.type == "cpu" and budget is not None else None

    def run(batch_size: int) -> tuple[float, int]:
        at = replace(setup, cfg=setup.cfg.replace(batch_size=batch_size))
        work = lambda: _train_steps(at, steps)  # noqa: E731
        return memory.cuda_peak(work, device) if device.type == "cuda" else memory.cpu_peak(work, cap)

    def measure(batch_size: int) -> Measurement:
        try:
            images_per_s, peak = run(batch_size)
        except (RuntimeError, MemoryError) as err:
            if not memory.out_of_memory(err):
                raise
            failed = "out of memory" if cap is None else f"an allocation failed: past {memory.show_size(cap)} more"
        else:
            failed = None
        memory.release(device, failed is not None)
        if failed is not None:
            return Measurement(False, note=failed)
        if budget is not None and peak > budget:
            return Measurement(False, peak, images_per_s, "peak above the budget")
        return Measurement(True, peak, images_per_s)

    measure(min(START, len(setup.train_data)))  # the warm-up: its answer is the search's to find
    return measure


def search(setup: Setup, limit: int, budget: int | None = None) -> BatchSizeResult:
    """:func:`largest_batch` over :func:`training_probe` of ``setup`` (a progress bar over the sizes tried, unless
    ``cfg.progress`` is off); the result records the settings it was measured under: those of a range test but the
    batch size and the weight decay, and the device, the CPU threads, the optimizer's implementation, what memory was
    measured and how many steps were timed."""
    from tqdm.auto import tqdm

    probe = training_probe(setup, budget)
    with tqdm(desc="batch size search", unit=" sizes", disable=not setup.cfg.progress, leave=False) as bar:

        def measure(batch_size: int) -> Measurement:
            bar.set_postfix(batch_size=batch_size, refresh=True)
            found = probe(batch_size)
            bar.update()
            return found

        result = largest_batch(measure, limit, budget)
    conditions = range_test_conditions(setup.cfg, 0.0, swept="batch_size")
    del conditions["weight_decay"]
    result.settings = {**conditions, "device": str(setup.device), "threads": torch.get_num_threads(),
                       "optimizer_impl": setup.cfg.optimizer_impl, "memory": memory.MEASURED[setup.device.type],
                       "timed_steps": TIMED_STEPS}
    return result
