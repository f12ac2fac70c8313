"""Schedules: pure functions of the training step.

A schedule is a small immutable object you call with an integer step (one optimizer update) and that returns
a float: ``value = schedule(step)``. It is defined for every step >= 0; past its end it holds its final value
and never raises.

Primitives anneal from ``start`` to ``end`` over ``steps`` steps (:func:`linear`, :func:`cosine`,
:func:`exponential`, :func:`constant`); :func:`join` chains segments, each seeing its own step count.

A :class:`Policy` is a training run's learning-rate and momentum schedules with their phases. :func:`one_cycle`
builds the 1cycle policy with the argument names of ``torch.optim.lr_scheduler.OneCycleLR``; :func:`step_decay`,
:func:`linear_decay`, :func:`cosine_decay` and :func:`constant_lr` are the baselines it is compared with, and
:func:`policy` builds any of them by name (:data:`POLICIES`).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal, Protocol

Shape = Literal["linear", "cos", "exp"]
AnnealStrategy = Literal["linear", "cos"]
ANNEAL_STRATEGIES: tuple[AnnealStrategy, ...] = ("linear", "cos")
PCT_START = {True: 0.45, False: 0.3}
"""The default ``pct_start`` of :func:`one_cycle` by ``three_phase``: 10% annihilation with three phases, torch's
0.3 with two."""


@dataclass(frozen=True)
class OneCycleDefaults:
    """The defaults of the 1cycle policy (the reference article's, where torch's OneCycleLR differs), used by
    :func:`one_cycle`, :class:`~onecycle.scheduler.OneCycleScheduler` and the run settings alike."""

    pct_start: float | None = None  # None: PCT_START[three_phase], or from annihilation_pct
    annihilation_pct: float | None = None
    anneal_strategy: AnnealStrategy = "linear"
    div_factor: float = 10.0
    final_div_factor: float = 100.0
    base_momentum: float = 0.85
    max_momentum: float = 0.95
    cycle_momentum: bool = True
    three_phase: bool = True


ONE_CYCLE = OneCycleDefaults()

POLICIES = {"onecycle": "1cycle", "step": "step decay", "linear": "warm-up, linear to zero",
            "cosine": "warm-up, cosine to zero", "constant": "constant"}
"""The policies :func:`policy` builds, by name, with a few words each: 1cycle and the baselines it is compared
with."""
ONE_CYCLE_ONLY = ("pct_start", "annihilation_pct")
"""The :func:`one_cycle` arguments that are unset unless given (``None``) and that place 1cycle's phases: no other
policy takes them, so :func:`policy` refuses them with another schedule (the baselines' own phases are fixed). The
other 1cycle arguments always have a value and the baselines leave them unused (but ``div_factor``)."""
WARM_STARTS = ("onecycle", "linear", "cosine")
"""The policies that start from ``max_lr / div_factor`` (a range test's ``min_lr``); the others start at max_lr."""
WARMUP_PCT = 0.05
"""The share of training :func:`linear_decay` and :func:`cosine_decay` spend warming up."""
STEP_MILESTONES = (0.5, 0.75)
"""Where :func:`step_decay` divides the learning rate, as fractions of training (He et al. 2016)."""
STEP_GAMMA = 0.1
"""What :func:`step_decay` multiplies the learning rate by at each milestone."""


class Schedule(Protocol):
    """Anything that maps a step (int >= 0) to a float value."""

    def __call__(self, step: int) -> float: ...


def _linear(start: float, end: float, pct: float) -> float:
    return (end - start) * pct + start


def _cos(start: float, end: float, pct: float) -> float:
    return end + (start - end) / 2.0 * (math.cos(math.pi * pct) + 1)


def _exp(start: float, end: float, pct: float) -> float:
    return start * (end / start) ** pct


_INTERPOLATORS: dict[str, Callable[[float, float, float], float]] = {
    "linear": _linear,
    "cos": _cos,
    "exp": _exp,
}


@dataclass(frozen=True)
class Anneal:
    """Goes from ``start`` to ``end`` over ``steps`` steps along ``shape``; holds ``end`` afterwards."""

    start: float
    end: float
    steps: float
    shape: Shape = "linear"

    def __post_init__(self) -> None:
        if self.shape not in _INTERPOLATORS:
            raise ValueError(f"shape must be one of {sorted(_INTERPOLATORS)}, got {self.shape!r}")
        if not self.steps > 0:
            raise ValueError(f"steps must be > 0, got {self.steps}")
        if self.shape == "exp" and not (self.start > 0 and self.end > 0):
            raise ValueError(f"exponential annealing needs start > 0 and end > 0, got {self.start}, {self.end}")

    def __call__(self, step: int) -> float:
        return self.at(step)

    def at(self, step: float) -> float:
        """Value at a (possibly fractional) step; clamped to the segment."""
        pct = min(max(step / self.steps, 0.0), 1.0)
        return _INTERPOLATORS[self.shape](self.start, self.end, pct)


@dataclass(frozen=True)
class Constant:
    """The same value at every step."""

    value: float

    def __call__(self, step: int) -> float:
        return self.value

    def at(self, step: float) -> float:
        return self.value


def linear(start: float, end: float, steps: float) -> Anneal:
    """Linear annealing from ``start`` to ``end`` over ``steps`` steps."""
    return Anneal(start, end, steps, "linear")


def cosine(start: float, end: float, steps: float) -> Anneal:
    """Half-cosine annealing from ``start`` to ``end`` over ``steps`` steps."""
    return Anneal(start, end, steps, "cos")


def exponential(start: float, end: float, steps: float) -> Anneal:
    """Geometric annealing (straight on a log axis) from ``start`` to ``end`` over ``steps`` steps."""
    return Anneal(start, end, steps, "exp")


def constant(value: float) -> Constant:
    """A schedule that always returns ``value``."""
    return Constant(value)


@dataclass(frozen=True)
class Join:
    """Segments run one after the other; segment ``i`` ends at step ``boundaries[i]``.

    A step on a boundary belongs to the segment that ends there; each segment sees the step count since the
    previous boundary (fractional boundaries are allowed, as in torch's OneCycleLR; the first segment may end at
    step 0, holding that step alone). Past the last boundary the last segment holds its final value.
    """

    segments: tuple[Anneal | Constant, ...]
    boundaries: tuple[float, ...]

    def __post_init__(self) -> None:
        if not self.segments or len(self.segments) != len(self.boundaries):
            raise ValueError("join needs one boundary per segment and at least one segment")
        if self.boundaries[0] < 0 or any(b <= a for a, b in zip(self.boundaries, self.boundaries[1:])):
            raise ValueError(f"boundaries must be >= 0 and strictly increasing, got {self.boundaries}")

    def __call__(self, step: int) -> float:
        start = 0.0
        for segment, end in zip(self.segments, self.boundaries):
            if step <= end or segment is self.segments[-1]:
                return segment.at(step - start)
            start = end
        raise AssertionError("unreachable")  # pragma: no cover

    @property
    def total_steps(self) -> float:
        return self.boundaries[-1]


def join(segments: Sequence[Anneal | Constant]) -> Join:
    """Run ``segments`` one after the other; each lasts its own ``steps`` (a :class:`Constant` needs a length:
    wrap it as ``linear(v, v, n)``)."""
    boundaries: list[float] = []
    end = 0.0
    for seg in segments:
        if not isinstance(seg, Anneal):
            raise TypeError("join() takes Anneal segments (linear, cosine, exponential); use Join for more")
        end += seg.steps
        boundaries.append(end)
    return Join(tuple(segments), tuple(boundaries))


@dataclass(frozen=True)
class Policy:
    """The learning-rate and momentum schedules of one training run (``momentum`` ``None``: left as the optimizer
    has it), its length, its phases (``phases[i]`` ends at step ``phase_ends[i]``) and the ``max_lr`` it was built
    to peak at."""

    name: str
    lr: Join
    momentum: Join | Constant | None
    total_steps: int
    phase_ends: tuple[float, ...]
    phases: tuple[str, ...]
    max_lr: float

    def peak(self) -> tuple[int, float]:
        """The first of the steps ``0..total_steps-1`` at which the learning rate is highest, and that learning
        rate: ``max_lr``, or less where the top of the schedule falls between two steps (a few steps per phase).
        Each phase is monotone, so the highest value is at a step either side of a phase end."""
        last = self.total_steps - 1
        steps = sorted({0, last, *(min(max(math.floor(e) + d, 0), last) for e in self.phase_ends for d in (0, 1))})
        return max(((s, self.lr(s)) for s in steps), key=lambda step_lr: (step_lr[1], -step_lr[0]))

    def table(self) -> list[tuple[str, int, int, float, float]]:
        """Rows ``(phase, first_step, last_step, lr_start, lr_end)`` for the integer steps of each phase."""
        rows = []
        first = 0
        for i, (name, end) in enumerate(zip(self.phases, self.phase_ends)):
            last = self.total_steps - 1 if i == len(self.phases) - 1 else math.floor(end)
            rows.append((name, first, last, self.lr(first), self.lr(last)))
            first = last + 1
        return rows


def _check_range(name: str, value: float, low: float, high: float, low_open: bool, high_open: bool) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{name} must be a number, got {value!r}")
    ok_low = value > low if low_open else value >= low
    ok_high = value < high if high_open else value <= high
    if not (math.isfinite(value) and ok_low and ok_high):
        lo = "(" if low_open else "["
        hi = ")" if high_open else "]"
        raise ValueError(f"{name} must be in {lo}{low}, {high}{hi}, got {value!r}")


def resolve_total_steps(
    total_steps: int | None, epochs: int | None, steps_per_epoch: int | None
) -> int:
    """``total_steps``, or ``epochs * steps_per_epoch`` (torch's rule: one or the other must be given)."""
    if total_steps is not None:
        if isinstance(total_steps, bool) or not isinstance(total_steps, int) or total_steps < 2:
            raise ValueError(f"total_steps must be an integer >= 2, got {total_steps!r}")
        return total_steps
    if epochs is None or steps_per_epoch is None:
        raise ValueError("give total_steps, or both epochs and steps_per_epoch")
    for name, v in (("epochs", epochs), ("steps_per_epoch", steps_per_epoch)):
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ValueError(f"{name} must be an integer >= 1, got {v!r}")
    return resolve_total_steps(epochs * steps_per_epoch, None, None)


_RANGES = {  # the range of each numeric one_cycle argument: low, high, low open, high open
    "pct_start": (0.0, 1.0, True, True),
    "annihilation_pct": (0.0, 1.0, True, True),
    "div_factor": (1.0, math.inf, True, True),
    "final_div_factor": (1.0, math.inf, False, True),
    "base_momentum": (0.0, 1.0, False, True),
    "max_momentum": (0.0, 1.0, False, True),
}


def check_one_cycle_argument(name: str, value: Any) -> None:
    """Raise a ``ValueError`` naming :func:`one_cycle` argument ``name`` unless ``value`` is of its type and in
    its range, whatever the other arguments are (``None`` is fine for those unset by default)."""
    if name == "anneal_strategy":
        if value not in ANNEAL_STRATEGIES:
            raise ValueError(f"anneal_strategy must be 'linear' or 'cos', got {value!r}")
    elif name in ("cycle_momentum", "three_phase"):
        if not isinstance(value, bool):
            raise ValueError(f"{name} must be True or False, got {value!r}")
    elif not (value is None and name in ONE_CYCLE_ONLY):
        _check_range(name, value, *_RANGES[name])


def check_one_cycle(
    pct_start: float | None = ONE_CYCLE.pct_start,
    anneal_strategy: AnnealStrategy = ONE_CYCLE.anneal_strategy,
    cycle_momentum: bool = ONE_CYCLE.cycle_momentum,
    base_momentum: float = ONE_CYCLE.base_momentum,
    max_momentum: float = ONE_CYCLE.max_momentum,
    div_factor: float = ONE_CYCLE.div_factor,
    final_div_factor: float = ONE_CYCLE.final_div_factor,
    three_phase: bool = ONE_CYCLE.three_phase,
    annihilation_pct: float | None = ONE_CYCLE.annihilation_pct,
) -> float:
    """Check the :func:`one_cycle` arguments that do not depend on the length of training, each alone
    (:func:`check_one_cycle_argument`; the momenta only where momentum is cycled), then against each other,
    raising one ``ValueError`` naming the first bad one; return the resolved ``pct_start``."""
    arguments = {"div_factor": div_factor, "final_div_factor": final_div_factor, "anneal_strategy": anneal_strategy,
                 "cycle_momentum": cycle_momentum, "three_phase": three_phase, "pct_start": pct_start,
                 "annihilation_pct": annihilation_pct}
    if cycle_momentum is True:
        arguments.update(base_momentum=base_momentum, max_momentum=max_momentum)
    for name, value in arguments.items():
        check_one_cycle_argument(name, value)
    if pct_start is not None and annihilation_pct is not None:
        raise ValueError("give pct_start or annihilation_pct, not both")
    if annihilation_pct is not None and not three_phase:
        raise ValueError("annihilation_pct needs three_phase=True (two phases have no annihilation)")
    if cycle_momentum and base_momentum > max_momentum:
        raise ValueError("base_momentum must be <= max_momentum (momentum is lowest where the lr peaks)")
    if annihilation_pct is not None:
        return (1.0 - annihilation_pct) / 2.0
    return PCT_START[three_phase] if pct_start is None else pct_start


def _no_steps(total: int, pct_start: float, three_phase: bool, annihilation_pct: float | None) -> str:
    """Why :func:`one_cycle` over ``total`` steps has a phase of no steps, naming the argument given:
    ``annihilation_pct`` (which leaves the rise and the fall ``(1 - annihilation_pct) / 2`` each) or ``pct_start``,
    with the range that fits."""
    if annihilation_pct is not None:  # only the rise and the fall can be too short: each needs more than a step
        fits = f"it must be below 1 - 2/{total} ({1 - 2 / total:.4g})" if total > 2 else "it needs 3 steps or more"
        return (f"annihilation_pct={annihilation_pct:.6g} leaves the rise and the fall less than a step each "
                f"((1 - annihilation_pct) / 2 of total_steps={total} each); {fits}")
    need = f"(1/{total}, {(total + 1) / (2 * total):.4g})" if three_phase else f"(1/{total}, 1 - 1/{total})"
    return f"pct_start={pct_start:.6g} leaves a phase with no steps for total_steps={total}; it must be in {need}"


def one_cycle(
    max_lr: float,
    total_steps: int | None = None,
    epochs: int | None = None,
    steps_per_epoch: int | None = None,
    pct_start: float | None = ONE_CYCLE.pct_start,
    anneal_strategy: AnnealStrategy = ONE_CYCLE.anneal_strategy,
    cycle_momentum: bool = ONE_CYCLE.cycle_momentum,
    base_momentum: float = ONE_CYCLE.base_momentum,
    max_momentum: float = ONE_CYCLE.max_momentum,
    div_factor: float = ONE_CYCLE.div_factor,
    final_div_factor: float = ONE_CYCLE.final_div_factor,
    three_phase: bool = ONE_CYCLE.three_phase,
    annihilation_pct: float | None = ONE_CYCLE.annihilation_pct,
) -> Policy:
    """The 1cycle policy's learning-rate and momentum schedules.

    With the defaults this is the policy of the reference article: lr rises linearly from ``max_lr/div_factor``
    to ``max_lr`` (phase 1), falls back over the same length (phase 2), then anneals to
    ``max_lr/div_factor/final_div_factor`` in the last ~10% of training (annihilation). Momentum goes
    ``max_momentum -> base_momentum -> max_momentum`` and stays there. Every value equals
    ``torch.optim.lr_scheduler.OneCycleLR`` with the same arguments at every step ``0..total_steps-1``
    (torch's defaults differ: ``pct_start=0.3, anneal_strategy="cos", div_factor=25, final_div_factor=1e4,
    three_phase=False``).

    ``annihilation_pct`` is a friendlier alternative to ``pct_start`` for three phases: the fraction of training
    spent in annihilation (``pct_start = (1 - annihilation_pct) / 2``). Give at most one of the two; by default
    ``pct_start`` is 0.45 (10% annihilation) with three phases and 0.3 with two.
    """
    total = resolve_total_steps(total_steps, epochs, steps_per_epoch)
    _check_range("max_lr", max_lr, 0.0, math.inf, True, True)
    pct_start = check_one_cycle(pct_start, anneal_strategy, cycle_momentum, base_momentum, max_momentum, div_factor,
                                final_div_factor, three_phase, annihilation_pct)

    # Phase ends exactly as torch computes them (float boundaries, steps counted from 0).
    if three_phase:
        ends = (float(pct_start * total) - 1, float(2 * pct_start * total) - 2, float(total - 1))
    else:
        ends = (float(pct_start * total) - 1, float(total - 1))
    if any(b <= a for a, b in zip((0.0, *ends), ends)):
        raise ValueError(_no_steps(total, pct_start, three_phase, annihilation_pct))

    initial_lr = max_lr / div_factor
    min_lr = initial_lr / final_div_factor
    lr_points = (initial_lr, max_lr, initial_lr, min_lr) if three_phase else (initial_lr, max_lr, min_lr)
    mom_points = (
        (max_momentum, base_momentum, max_momentum, max_momentum)
        if three_phase
        else (max_momentum, base_momentum, max_momentum)
    )

    def build(points: tuple[float, ...]) -> Join:
        lengths = [b - a for a, b in zip((0.0, *ends), ends)]
        segs = tuple(Anneal(points[i], points[i + 1], lengths[i], anneal_strategy) for i in range(len(ends)))
        return Join(segs, ends)

    return Policy(
        name="onecycle",
        lr=build(lr_points),
        momentum=build(mom_points) if cycle_momentum else None,
        total_steps=total,
        phase_ends=ends,
        phases=("warm-up", "cool-down", "annihilation") if three_phase else ("warm-up", "anneal"),
        max_lr=max_lr,
    )


def _constant_momentum(momentum: float | None) -> Constant | None:
    if momentum is None:
        return None
    _check_range("momentum", momentum, 0.0, 1.0, False, True)
    return Constant(float(momentum))


def step_decay(
    max_lr: float,
    total_steps: int | None = None,
    epochs: int | None = None,
    steps_per_epoch: int | None = None,
    momentum: float | None = None,
    milestones: Sequence[float] = STEP_MILESTONES,
    gamma: float = STEP_GAMMA,
) -> Policy:
    """He et al.'s step schedule: ``max_lr``, multiplied by ``gamma`` at each of ``milestones`` (fractions of
    training), momentum constant (``momentum``; ``None`` leaves the optimizer's).

    Step ``s`` runs at ``max_lr * gamma**k`` where ``k`` counts the milestones with ``s >= milestone *
    total_steps``, as ``torch.optim.lr_scheduler.MultiStepLR`` with ``milestones=[ceil(m * total_steps)]``."""
    total = resolve_total_steps(total_steps, epochs, steps_per_epoch)
    _check_range("max_lr", max_lr, 0.0, math.inf, True, True)
    _check_range("gamma", gamma, 0.0, 1.0, True, False)
    for m in milestones:
        _check_range("milestones", m, 0.0, 1.0, True, True)
    # Step s belongs to the phase ending at ceil(m * total) - 1, the last step before the milestone.
    ends = (*(float(math.ceil(m * total) - 1) for m in milestones), float(total - 1))
    if any(b <= a for a, b in zip((0.0, *ends), ends)):
        raise ValueError(f"milestones {tuple(milestones)} leave a phase with no steps for total_steps={total}")
    values = [max_lr * gamma**k for k in range(len(ends))]
    return Policy(
        name="step",
        lr=Join(tuple(Constant(v) for v in values), ends),
        momentum=_constant_momentum(momentum),
        total_steps=total,
        phase_ends=ends,
        phases=("initial", *(f"drop {k}" for k in range(1, len(ends)))),
        max_lr=max_lr,
    )


def _warmup_decay(
    name: str, shape: Shape, max_lr: float, total_steps: int | None, epochs: int | None,
    steps_per_epoch: int | None, momentum: float | None, div_factor: float, warmup_pct: float,
) -> Policy:
    total = resolve_total_steps(total_steps, epochs, steps_per_epoch)
    _check_range("max_lr", max_lr, 0.0, math.inf, True, True)
    _check_range("div_factor", div_factor, 1.0, math.inf, False, True)
    _check_range("warmup_pct", warmup_pct, 0.0, 1.0, True, True)
    warmup = warmup_pct * total
    # Zero is reached at step total, after the last update, so that every step trains.
    lr = Join((linear(max_lr / div_factor, max_lr, warmup), Anneal(max_lr, 0.0, total - warmup, shape)),
              (warmup, float(total)))
    return Policy(name, lr, _constant_momentum(momentum), total, lr.boundaries, ("warm-up", "decay"), max_lr)


def linear_decay(
    max_lr: float,
    total_steps: int | None = None,
    epochs: int | None = None,
    steps_per_epoch: int | None = None,
    momentum: float | None = None,
    div_factor: float = ONE_CYCLE.div_factor,
    warmup_pct: float = WARMUP_PCT,
) -> Policy:
    """Linear warm-up from ``max_lr / div_factor`` to ``max_lr`` over ``warmup_pct`` of training (reached at step
    ``warmup = warmup_pct * total_steps``), then linear decay to zero at step ``total_steps``; momentum constant
    (``momentum``; ``None`` leaves the optimizer's). After the warm-up, step ``s`` runs at
    ``max_lr * (total_steps - s) / (total_steps - warmup)``: the last step trains too."""
    return _warmup_decay("linear", "linear", max_lr, total_steps, epochs, steps_per_epoch, momentum, div_factor,
                         warmup_pct)


def cosine_decay(
    max_lr: float,
    total_steps: int | None = None,
    epochs: int | None = None,
    steps_per_epoch: int | None = None,
    momentum: float | None = None,
    div_factor: float = ONE_CYCLE.div_factor,
    warmup_pct: float = WARMUP_PCT,
) -> Policy:
    """The warm-up of :func:`linear_decay`, then half-cosine decay to zero at step ``total_steps``: step ``s``
    runs at ``max_lr * (1 + cos(pi * (s - warmup) / (total_steps - warmup))) / 2``."""
    return _warmup_decay("cosine", "cos", max_lr, total_steps, epochs, steps_per_epoch, momentum, div_factor,
                         warmup_pct)


def constant_lr(
    max_lr: float,
    total_steps: int | None = None,
    epochs: int | None = None,
    steps_per_epoch: int | None = None,
    momentum: float | None = None,
) -> Policy:
    """``max_lr`` at every step; momentum constant (``momentum``; ``None`` leaves the optimizer's)."""
    total = resolve_total_steps(total_steps, epochs, steps_per_epoch)
    _check_range("max_lr", max_lr, 0.0, math.inf, True, True)
    ends = (float(total - 1),)
    return Policy("constant", Join((Constant(float(max_lr)),), ends), _constant_momentum(momentum), total, ends,
                  ("constant",), max_lr)


def policy(
    schedule: str,
    max_lr: float,
    total_steps: int | None = None,
    epochs: int | None = None,
    steps_per_epoch: int | None = None,
    momentum: float | None = None,
    **one_cycle_kwargs: Any,
) -> Policy:
    """The policy named ``schedule`` (one of :data:`POLICIES`) peaking at ``max_lr``.

    ``momentum`` is the constant momentum of a policy that does not cycle it (the baselines, and 1cycle with
    ``cycle_momentum=False``); ``None`` leaves the optimizer's. ``one_cycle_kwargs`` are :func:`one_cycle`'s
    arguments; of them the baselines use only ``div_factor`` (:func:`linear_decay` and :func:`cosine_decay` warm up
    from ``max_lr / div_factor``) and leave the others unused, but refuse a ``pct_start`` or ``annihilation_pct``
    (:data:`ONE_CYCLE_ONLY`): their phases are fixed."""
    unknown = set(one_cycle_kwargs) - set(OneCycleDefaults.__dataclass_fields__)
    if unknown:
        raise TypeError(f"policy() got unexpected arguments {sorted(unknown)}")
    given = [k for k in ONE_CYCLE_ONLY if one_cycle_kwargs.get(k) is not None]
    if given and schedule in tuple(POLICIES) and schedule != "onecycle":
        raise ValueError(f"{given[0]}={one_cycle_kwargs[given[0]]!r} applies to schedule 'onecycle' only, not to "
                         f"{schedule!r} ({POLICIES[schedule]}), whose phases are fixed")
    length = {"total_steps": total_steps, "epochs": epochs, "steps_per_epoch": steps_per_epoch}
    if schedule == "onecycle":
        cycle = one_cycle(max_lr, **length, **one_cycle_kwargs)
        return cycle if cycle.momentum is not None else replace(cycle, momentum=_constant_momentum(momentum))
    if schedule == "step":
        return step_decay(max_lr, **length, momentum=momentum)
    if schedule in ("linear", "cosine"):
        decay = linear_decay if schedule == "linear" else cosine_decay
        return decay(max_lr, **length, momentum=momentum,
                     div_factor=one_cycle_kwargs.get("div_factor", ONE_CYCLE.div_factor))
    if schedule == "constant":
        return constant_lr(max_lr, **length, momentum=momentum)
    raise ValueError(f"schedule must be one of {', '.join(POLICIES)}; got {schedule!r}")


RESTART_RISE_MIN = 0.1
"""The least a restart's rise is stretched from, as a share of the steps left: the rise of a restart at or after the
peak (nothing left to rise), or just before it, is at least ``warmup_stretch`` x this share of what is left."""
RESTART_RISE_MAX = 0.75
"""The most a restart's rise may take of the steps left, so that the phases after the peak keep a quarter of them."""


@dataclass(frozen=True)
class Restart:
    """A restart of a policy's cycle after ``step`` (a state restored after ``step`` updates trains on from there),
    after a diverged loss: from ``step`` on the lr rises again, to ``lr_scale`` x the peak it was rising to (past that
    peak: x the lr the schedule had at ``step``), over ``warmup_stretch`` x the steps the schedule still had to rise
    (a longer warm-up), then the phases after the policy's peak follow, scaled alike and compressed into the steps
    left (:func:`restarted`)."""

    step: int
    warmup_stretch: float
    lr_scale: float

    def __post_init__(self) -> None:
        if isinstance(self.step, bool) or not isinstance(self.step, int) or self.step < 0:
            raise ValueError(f"a restart's step must be an integer >= 0, got {self.step!r}")
        _check_range("warmup_stretch", self.warmup_stretch, 1.0, math.inf, False, True)
        _check_range("lr_scale", self.lr_scale, 0.0, 1.0, True, False)


def rise_end(policy: Policy) -> float:
    """The step where ``policy`` (built by :func:`policy`, restarted or not: :func:`restarted`) is at its peak: the
    end of its last warm-up, or 0 for a policy that starts at max_lr."""
    return max((end for name, end in zip(policy.phases, policy.phase_ends) if name.startswith("warm-up")), default=0.0)


def _until(schedule: Join, step: int) -> tuple[list[Anneal | Constant], list[float]]:
    """The segments of ``schedule`` and their boundaries up to ``step``, the last one cut there (its values up to
    ``step`` unchanged)."""
    segments: list[Anneal | Constant] = []
    boundaries: list[float] = []
    for segment, end in zip(schedule.segments, schedule.boundaries):
        segments.append(segment)
        boundaries.append(min(end, float(step)))
        if end >= step:
            break
    return segments, boundaries


def _stretched(segment: Anneal | Constant, steps: float, scale: float) -> Anneal | Constant:
    """``segment`` over ``steps`` steps, its values times ``scale``."""
    if isinstance(segment, Constant):
        return Constant(segment.value * scale)
    return Anneal(segment.start * scale, segment.end * scale, steps, segment.shape)


def _restart(base: Policy, current: Policy, peak: tuple[float, float], restart: Restart,
             number: int) -> tuple[Policy, tuple[float, float]]:
    """``current`` (``base`` with the restarts before this one, whose ``peak`` is ``(step, lr)``) restarted as
    ``restart`` says; returns the new policy and its peak."""
    s, last = restart.step, base.lr.boundaries[-1]
    left = last - s
    if left < 2:
        raise ValueError(f"a restart at step {s} leaves {left:g} step(s) of the {base.total_steps}: too few for a "
                         "rise and the phases after it")
    wanted = restart.warmup_stretch * max(peak[0] - s, RESTART_RISE_MIN * left)
    rise = float(min(max(1, round(wanted)), max(1, math.floor(RESTART_RISE_MAX * left))))
    base_peak = rise_end(base)
    after = [(segment, start, end) for segment, start, end in zip(base.lr.segments, (0.0, *base.lr.boundaries),
                                                                  base.lr.boundaries) if end > base_peak]
    squeeze = (left - rise) / (last - base_peak)
    ends = [s + rise, *(s + rise + (end - base_peak) * squeeze for _, _, end in after)]
    ends[-1] = last  # exactly: the last step reaches the final lr
    lengths = [b - a for a, b in itertools.pairwise(ends)]
    first = base.lr.segments[0]
    shape: Shape = first.shape if isinstance(first, Anneal) else "linear"
    kept, kept_ends = _until(current.lr, s - 1) if s else ([], [])  # step s is the restart's: its first update
    top = restart.lr_scale * (peak[1] if s < peak[0] else current.lr(s))
    scale = top / base.max_lr  # of base's lrs, from here on
    again = base.lr(0) * scale < current.lr(s)  # the rise starts again from the cycle's first lr
    begin = base.lr(0) * scale if again else current.lr(s)
    lr = Join((*kept, Constant(begin), Anneal(begin, top, rise, shape),
               *(_stretched(segment, n, scale) for (segment, _, _), n in zip(after, lengths))),
              (*kept_ends, float(s), *ends))
    momentum = current.momentum
    if isinstance(current.momentum, Join) and isinstance(base.momentum, Join):
        moms, mom_ends = _until(current.momentum, s - 1) if s else ([], [])
        follow = [segment for segment, end in zip(base.momentum.segments, base.momentum.boundaries) if end > base_peak]
        m_begin = base.momentum(0) if again else current.momentum(s)
        momentum = Join((*moms, Constant(m_begin), Anneal(m_begin, base.momentum(base_peak), rise, shape),
                         *(_stretched(segment, n, 1.0) for segment, n in zip(follow, lengths))),
                        (*mom_ends, float(s), *ends))
    tag = f" (restart {number})"
    names = (*current.phases[:len(kept)], f"restart {number}", f"warm-up{tag}",
             *(name + tag for name in base.phases[-len(after):]))
    return replace(current, lr=lr, momentum=momentum, phase_ends=lr.boundaries, phases=names), (s + rise, top)


def restarted(base: Policy, restarts: Sequence[Restart]) -> Policy:
    """The schedule followed when ``base`` (a :func:`policy`) is restarted at each of ``restarts`` in turn (their
    steps in order). Before a restart's step ``s`` the schedule is as it was; from ``s`` on (the lr of step ``s`` is
    the one the first update after a state restored at ``s`` takes) the cycle starts again, in a one-step phase
    ``restart n`` at its first lr, then a rise to a new peak: ``lr_scale`` x the
    peak the schedule was rising to (``max_lr`` at first), or, at or after that peak, ``lr_scale`` x the lr of step
    ``s`` (a network that diverged on the way down is not sent back up). The lr rises from ``base``'s first lr, scaled
    as the peak is (or from the lr at ``s``, if that is lower), to the new peak over ``warmup_stretch`` x the steps
    the schedule still had to rise, or ``warmup_stretch`` x :data:`RESTART_RISE_MIN` of the steps left when that is
    more (after the peak nothing is left to rise: the restart re-rises over that short stretch); the rise takes at
    most :data:`RESTART_RISE_MAX` of the steps left, rounded to whole steps. Then the phases of ``base`` after its
    peak (1cycle's fall and annihilation; a baseline's decay) follow, scaled as the peak is and compressed into the
    steps left, so the last step reaches ``base``'s final lr scaled alike. A cycled momentum mirrors the lr: over the
    rise, from ``base``'s first momentum (from the one at ``s`` when the lr rises from its value there) to its
    momentum at the peak, then ``base``'s phases after its peak, compressed alike; a constant one stays. Each restart's
    scale is of the peak before it: restarts of scales 1 and 1/1.5 peak at max_lr and max_lr / 1.5. A restart with
    fewer than 2 steps left is a ``ValueError``.

    The rise starts low again, not where the lr was: a state restored a few steps before its loss diverged is
    already close to the edge at the lr it had, and rising on from there diverges again within as many steps."""
    steps = [r.step for r in restarts]
    if steps != sorted(steps):
        raise ValueError(f"restarts must be in the order of their steps, got steps {steps}")
    current, peak = base, (rise_end(base), base.max_lr)
    for number, restart in enumerate(restarts, 1):
        current, peak = _restart(base, current, peak, restart, number)
    return current
