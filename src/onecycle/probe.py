"""The stability probe: short runs of the training schedule (1cycle by default) at a few candidate ``max_lr``
values, from the same weights, to check that the range test's recommendation survives a whole cycle.

A range test spends a few steps at each learning rate, so an instability that builds up over many steps at a
high rate (networks without normalisation are prone to it) does not show on its curve: its minimum can sit past
the rate at which a real cycle collapses. The probe trains the real schedule, compressed to ``steps`` steps, at
each candidate (the recommendation and lower values) and keeps the highest candidate whose final loss is within
:data:`TOLERANCE` of the best candidate's. Its cost is ``len(candidates) * steps`` training steps; afterwards the
model, optimizer, RNGs and data position are exactly what they were (as after a range test).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from typing import Any

import torch
from torch import nn

from onecycle import records
from onecycle.range_test import BatchCycle, restore, snapshot, standard_step
from onecycle.scheduler import PolicyScheduler

TOLERANCE = 0.1
"""A candidate qualifies when its final loss is at most this fraction above the lowest final loss."""

STEP_DOWN = 1.5
"""Candidates below the recommendation are ``max_lr / STEP_DOWN ** k``."""

CANDIDATES = 3
"""How many candidates :func:`candidates_below` gives (the recommendation included)."""

BUDGET_FRACTION = 0.15
"""The probe's default share of the planned training steps, all candidates together."""

MIN_STEPS = 10
"""Fewest steps per candidate; a budget too small for this is reported in the result's notes."""

TAIL = 0.25
"""The final loss is the mean training loss over this last fraction of a candidate's steps (the start loss, over
this first fraction)."""

LEARNED = 0.95
"""A probe is conclusive when some candidate's final loss is below this fraction of its start loss; otherwise
the runs were too short to learn anything and the probe keeps the first (highest) candidate, with a note."""


def candidates_below(max_lr: float, n: int = CANDIDATES, step_down: float = STEP_DOWN) -> list[float]:
    """``[max_lr, max_lr / step_down, max_lr / step_down**2, ...]``: ``n`` candidates, highest first."""
    if not (isinstance(max_lr, (int, float)) and math.isfinite(max_lr) and max_lr > 0):
        raise ValueError(f"max_lr must be a finite number > 0, got {max_lr!r}")
    if not (isinstance(n, int) and n >= 1):
        raise ValueError(f"n must be an integer >= 1, got {n!r}")
    if not (isinstance(step_down, (int, float)) and math.isfinite(step_down) and step_down > 1):
        raise ValueError(f"step_down must be a finite number > 1, got {step_down!r}")
    return [float(max_lr) / step_down**k for k in range(n)]


def steps_per_candidate(total_steps: int, n_candidates: int = CANDIDATES, fraction: float = BUDGET_FRACTION) -> int:
    """Steps per candidate for a probe costing ``fraction`` of ``total_steps`` (at least :data:`MIN_STEPS`)."""
    if not (isinstance(total_steps, int) and total_steps >= 1):
        raise ValueError(f"total_steps must be an integer >= 1, got {total_steps!r}")
    if not (isinstance(fraction, (int, float)) and 0 < fraction <= 1):
        raise ValueError(f"fraction must be in (0, 1], got {fraction!r}")
    return max(MIN_STEPS, int(fraction * total_steps) // max(1, n_candidates))


@dataclass(frozen=True)
class ProbeResult:
    """What the probe measured: per candidate (highest first) its training losses and final loss (``None``
    when a loss was not finite), and the pick (``None`` when no candidate trained)."""

    candidates: list[float]
    losses: list[list[float]]
    final: list[float | None]
    pick: float | None
    steps: int
    notes: list[str] = field(default_factory=list)
    tolerance: float = TOLERANCE

    @property
    def cost_steps(self) -> int:
        """Training steps the probe took, all candidates together."""
        return sum(len(losses) for losses in self.losses)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Any, where: str = "probe") -> ProbeResult:
        """The inverse of :meth:`to_dict`, every value checked: missing or unknown keys, values of the wrong kind
        and a pick that is not one of the candidates raise one ``ValueError`` naming the key (inside ``where``)."""
        d = records.table(data, where, ("candidates", "losses", "final", "pick", "steps"),
                          [f.name for f in fields(cls)])

        def key(name: str) -> str:
            return records.key(where, name)

        candidates = records.numbers_list(d["candidates"], key("candidates"), positive=True)
        losses = [records.numbers_list(run, f"{key('losses')}[{i}]", finite=False)
                  for i, run in enumerate(records.items(d["losses"], key("losses")))]
        final = [records.number(v, f"{key('final')}[{i}]", optional=True)
                 for i, v in enumerate(records.items(d["final"], key("final")))]
        if not len(candidates) == len(losses) == len(final):
            raise ValueError(f"{key('candidates')}, {key('losses')} and {key('final')} must be of one length, got "
                             f"{len(candidates)}, {len(losses)} and {len(final)}")
        pick = records.number(d["pick"], key("pick"), optional=True, positive=True)
        if pick is not None and pick not in candidates:
            raise ValueError(f"{key('pick')} {pick:.6g} is not one of the candidates")
        return cls(candidates, losses, final, pick, records.integer(d["steps"], key("steps"), at_least=1),
                   records.texts(d.get("notes", []), key("notes")),
                   records.number(d.get("tolerance", TOLERANCE), key("tolerance"), at_least=0.0))

    def __str__(self) -> str:
        rows = [f"stability probe: {len(self.candidates)} candidates x {self.steps} steps ({self.cost_steps} steps)"]
        for lr, final in zip(self.candidates, self.final):
            mark = "  <- pick" if lr == self.pick else ""
            rows.append(f"  max_lr {lr:.3g}: final loss {'diverged' if final is None else f'{final:.4f}'}{mark}")
        rows += [f"  note: {note}" for note in self.notes]
        return "\n".join(rows)


def final_loss(losses: Sequence[float], tail: float = TAIL) -> float | None:
    """Mean of the last ``tail`` fraction of ``losses`` (at least one); ``None`` if any loss is not finite."""
    if not losses or not all(math.isfinite(v) for v in losses):
        return None
    k = max(1, math.ceil(tail * len(losses)))
    return float(sum(losses[-k:]) / k)


def pick(candidates: Sequence[float], finals: Sequence[float | None], tolerance: float = TOLERANCE) -> float | None:
    """The highest candidate whose final loss is at most ``(1 + tolerance)`` times the lowest final loss;
    ``None`` when every candidate diverged. Pure: the probe's rule, applied to what it measured."""
    if len(candidates) != len(finals):
        raise ValueError(f"{len(candidates)} candidates but {len(finals)} final losses")
    scored = [(lr, f) for lr, f in zip(candidates, finals) if f is not None]
    if not scored:
        return None
    best = min(f for _, f in scored)
    limit = best + tolerance * abs(best)
    return max(lr for lr, f in scored if f <= limit)


def probe(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    data: Iterable[Any],
    loss_fn: Callable[..., torch.Tensor],
    candidates: Sequence[float],
    steps: int,
    *,
    schedule: Mapping[str, Any] | None = None,
    tolerance: float = TOLERANCE,
    amp_dtype: torch.dtype | None = None,
    seed: int | None = None,
    planned_steps: int | None = None,
    progress: bool = False,
) -> ProbeResult:
    """Train a ``steps``-step 1cycle (``PolicyScheduler`` with ``schedule``'s arguments, e.g. ``div_factor``, or
    ``{"schedule": "cosine"}`` for another policy) at each candidate ``max_lr`` from the current weights and batch
    position, and pick the highest candidate whose final loss (mean over the last :data:`TAIL` of its steps) is within
    ``tolerance`` of the lowest.

    Every candidate starts from the same state (weights, optimizer state, RNGs seeded with ``seed`` when given,
    and ``data``'s position when it has ``state_dict``), which is put back exactly afterwards. A non-finite loss
    ends that candidate at once (final loss ``None``). With ``planned_steps`` (the training the probe prepares
    for), a note gives its cost as a share of it, and says so when that is over :data:`BUDGET_FRACTION`.
    """
    cands = [float(c) for c in candidates]
    if not cands or not all(math.isfinite(c) and c > 0 for c in cands):
        raise ValueError(f"candidates must be finite numbers > 0, got {list(candidates)!r}")
    if not (isinstance(steps, int) and steps >= 2):
        raise ValueError(f"steps must be an integer >= 2, got {steps!r}")
    if not (isinstance(tolerance, (int, float)) and 0 <= tolerance < math.inf):
        raise ValueError(f"tolerance must be a number >= 0, got {tolerance!r}")
    if isinstance(data, Iterator):
        raise ValueError("the probe needs data it can iterate again (a list, a DataLoader, Batches), not a one-shot "
                         "iterator: every candidate starts from the same batches")
    from tqdm.auto import tqdm

    device = next((p.device for p in model.parameters()), torch.device("cpu"))
    scaler = torch.amp.GradScaler(device.type) if amp_dtype == torch.float16 else None
    snap = snapshot(model, optimizer, [data])
    all_losses: list[list[float]] = []
    bar = tqdm(total=len(cands) * steps, desc="stability probe", disable=not progress, leave=False)
    try:
        for i, lr in enumerate(cands):
            if i:
                restore(snap, model, optimizer)
            if seed is not None:
                torch.manual_seed(seed)
            model.train()
            scheduler = PolicyScheduler(optimizer, max_lr=lr, total_steps=steps, **dict(schedule or {}))
            batches = BatchCycle(data)
            losses: list[float] = []
            for _ in range(steps):
                loss = standard_step(model, optimizer, loss_fn, batches, 1, device, amp_dtype, scaler)
                losses.append(loss)
                scheduler.step()
                bar.update(1)
                if not math.isfinite(loss):
                    break
            all_losses.append(losses)
    finally:
        bar.close()
        restore(snap, model, optimizer, last=True)
    finals = [final_loss(losses) for losses in all_losses]
    chosen, notes = decide(cands, all_losses, tolerance)
    if planned_steps:
        cost = sum(len(run) for run in all_losses) / planned_steps
        over = f", over the {BUDGET_FRACTION:.0%} budget: the planned training is short"
        over = over if cost > BUDGET_FRACTION else ""
        notes.append(f"the probe cost {cost:.0%} of the {planned_steps} planned training steps{over}")
    return ProbeResult(cands, all_losses, finals, chosen, steps, notes, float(tolerance))


def decide(candidates: Sequence[float], losses: Sequence[Sequence[float]],
           tolerance: float = TOLERANCE) -> tuple[float | None, list[str]]:
    """The probe's answer from its candidates' training losses, and notes: :func:`pick` on their final losses,
    or the first candidate when none of them learned anything (:func:`learned`). Pure."""
    finals = [final_loss(run) for run in losses]
    chosen = pick(candidates, finals, tolerance)
    if chosen is None:
        return None, ["every candidate diverged: no pick"]
    if not learned(losses, finals):
        steps = max(len(run) for run in losses)
        return candidates[0], [f"no candidate lowered its loss by {1 - LEARNED:.0%} in {steps} steps: too short to "
                               "tell them apart, so the first candidate is kept"]
    return chosen, []


def learned(losses: Sequence[Sequence[float]], finals: Sequence[float | None]) -> bool:
    """Whether any candidate's final loss fell below :data:`LEARNED` times its start loss (the mean of its first
    :data:`TAIL` of steps)."""
    for run, final in zip(losses, finals):
        k = max(1, math.ceil(TAIL * len(run)))
        start = sum(run[:k]) / k
        if final is not None and math.isfinite(start) and final < LEARNED * start:
            return True
    return False
