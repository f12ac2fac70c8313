"""Suggestions: learning rates read off a range-test curve, as pure functions of ``(lrs, losses)``.

A range test records one loss per step while the learning rate grows; ``lrs`` must be positive and strictly
increasing (geometric or linear growth alike). Every function here takes the two sequences and returns plain
values; none of them needs torch.

Conventions shared by every rule:

* The curve is cut at the first non-finite loss: that point and everything after it are ignored.
* Unless ``smooth=False``, the losses are first smoothed with :func:`zero_phase_smooth`, which does not shift
  the curve to the right the way an online EMA does.
* A rule returns a learning rate within the tested range and at or below the smoothed minimum (one of the
  given lrs, except :func:`minimum_div10`), or ``None`` when the curve gives no answer: fewer than
  :data:`MIN_POINTS` finite points (a curve cut short by a non-finite loss), a loss that never falls, or an
  answer outside the tested range.
* Anything but a sequence or an array of real numbers (a string, a dict, a generator, complex numbers),
  mismatched lengths, curves of fewer than :data:`MIN_POINTS` points, non-finite or non-positive learning
  rates, or learning rates that do not strictly increase raise :class:`ValueError` naming ``lrs`` or ``losses``
  (so do bad settings: ``frac``, ``margin``, ``div_factor``, ``diverged``).

:func:`recommend` runs every rule and combines them into a :class:`Recommendation` for the 1cycle policy;
:func:`combine` merges the recommendations of repeated range tests (several seeds).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any, Literal

import numpy as np

from onecycle import records
from onecycle.schedules import ONE_CYCLE, POLICIES, WARM_STARTS

__all__ = [
    "EMA",
    "RULE_NAMES",
    "Recommendation",
    "check_div_factor",
    "combine",
    "drop_fraction",
    "ema",
    "minimum_div10",
    "recommend",
    "relative_fall",
    "steepest",
    "unanswered",
    "valley",
    "zero_phase_smooth",
]

ArrayLike = Sequence[float] | np.ndarray

MIN_POINTS = 5
"""Fewest points a curve must have (fewer is a ``ValueError``), and fewest finite points a rule needs to give an
answer."""

FEW_POINTS = 20
"""Below this many finite points a recommendation is at best of medium confidence."""

VALLEY_SLOPE = 0.1
"""A point belongs to a falling stretch (see :func:`valley`) when its slope is at least this fraction of the
steepest slope."""

MIN_DROP = 1e-3
"""A curve "falls" when its smoothed loss drops by more than this fraction of its size ..."""

NOISE_Z = 5.0
"""... and by more than this many standard errors of the smoothed values."""


# --------------------------------------------------------------------------------------------- smoothing

DIVERGE_FACTOR = 4.0
"""A loss has diverged once its smoothed value exceeds this many times its lowest so far (:func:`has_diverged`): the
range test stops there, and so does training by default."""


def has_diverged(smoothed: float, best: float, factor: float = DIVERGE_FACTOR) -> bool:
    """Whether the smoothed loss ``smoothed`` has diverged: it exceeds ``factor`` x ``best``, the lowest smoothed
    value so far. The one definition of the stop rule of the range test and of training. For a loss that can go
    below zero the rise is measured against the size of the best: ``smoothed - best > (factor - 1) * |best|``
    (the same rule for a positive best)."""
    if best > 0:
        return smoothed > factor * best
    return smoothed - best > (factor - 1) * abs(best)


COLLAPSE_DROP = 0.9
"""A network has learned something once its smoothed loss fell below this share of the untrained model's loss
(:func:`has_collapsed`)."""


def has_collapsed(smoothed: float, best: float, initial: float | None, drop: float = COLLAPSE_DROP) -> bool:
    """Whether a training loss has collapsed: its lowest smoothed value ``best`` fell below ``drop`` x ``initial``
    (the untrained model's loss, positive) and the smoothed loss ``smoothed`` is back at or above ``initial``. A too
    high lr does not always explode the loss: it can throw a classifier to a uniform guess, whose loss (ln of the
    classes) stays under :func:`has_diverged`'s factor of the lowest, and everything learned is lost all the same."""
    return initial is not None and initial > 0 and best < drop * initial and smoothed >= initial


def first_collapse(smoothed: Sequence[float], initial: float | None, after: int = 0) -> int | None:
    """The index of the first of the smoothed losses ``smoothed`` (one per step, in order) that has collapsed
    (:func:`has_collapsed`, against the lowest before it), from index ``after`` on; ``None`` when none has."""
    best = math.inf
    for i, value in enumerate(smoothed):
        if i >= after and has_collapsed(value, best, initial):
            return i
        best = min(best, value)
    return None



class EMA:
    """Exponential moving average with bias correction, updated one value at a time: after values
    ``x_1..x_n``, ``avg = beta * avg + (1 - beta) * x_n`` (from ``avg = 0``) and :attr:`value` is
    ``avg / (1 - beta**n)``.

    The one definition of the smoothing that :func:`ema`, the range test's stop rule and the training loop's
    smoothed loss use. :meth:`state_dict` holds the raw ``avg``, so a restored average continues bitwise.
    """

    def __init__(self, beta: float = 0.98) -> None:
        if not (isinstance(beta, (int, float)) and 0.0 <= beta < 1.0):
            raise ValueError(f"beta must be in [0, 1), got {beta!r}")
        self.beta = float(beta)
        self.avg = 0.0
        self.count = 0

    def update(self, value: float) -> float:
        """Add one value; returns the new bias-corrected average (non-finite from a non-finite value on)."""
        self.avg = self.beta * self.avg + (1.0 - self.beta) * value
        self.count += 1
        return self.value

    @property
    def value(self) -> float:
        """The bias-corrected average, NaN before the first value."""
        return self.avg / (1.0 - self.beta**self.count) if self.count else math.nan

    def state_dict(self) -> dict[str, float | int]:
        return {"beta": self.beta, "avg": self.avg, "count": self.count}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict`; a state of ``value`` and ``count`` only (the corrected average) is
        restored to within rounding."""
        self.beta = float(state.get("beta", self.beta))
        self.count = int(state["count"])
        if "avg" in state:
            self.avg = float(state["avg"])
        else:
            value = float(state["value"])
            self.avg = value * (1.0 - self.beta**self.count) if self.count and math.isfinite(value) else 0.0


def ema(losses: ArrayLike, beta: float = 0.98) -> np.ndarray:
    """:class:`EMA` over a whole curve: value ``i`` is the bias-corrected average of ``losses[0..i]``.

    This is the online smoothing a range test can use for its stop rule; value ``i`` depends on losses
    ``0..i`` only, so it trails the raw curve (by about ``1 / (1 - beta)`` steps once warmed up). A non-finite
    loss makes every value from that point on non-finite (NaN or inf), so callers can cut the curve there.
    ``beta = 0`` returns the losses unchanged.
    """
    average = EMA(beta)
    y = _as_1d("losses", losses)
    return np.array([average.update(value) for value in y], dtype=float)


def zero_phase_smooth(
    lrs: ArrayLike, losses: ArrayLike, frac: float = 0.15, despike: bool = True
) -> np.ndarray:
    """Smooth ``losses`` against ``log10(lrs)`` with a centred filter, so minima stay where they are.

    Each value is a local linear fit (LOWESS, tricube weights) through the ``max(5, ceil(frac * n))`` points
    nearest in log-lr, evaluated at that point: the window is centred wherever there are points on both
    sides and narrower in decades where the points are dense, so geometric and linear lr growth are both
    handled. With ``despike``, a running median of three first removes single-point spikes. Curves of fewer
    than three points are returned unchanged.

    Returns an array of the same length as ``losses``; from the first non-finite loss on it is NaN (only the
    finite part before it is smoothed).
    """
    _check_frac(frac)
    lr, y = _validate(lrs, losses)
    out = np.full(len(y), math.nan)
    n = _finite_prefix(y)
    out[:n] = _lowess(np.log10(lr[:n]), y[:n], frac, despike)[0]
    return out


def _check_at_least_1(name: str, value: Any) -> None:
    if not (_is_real(value) and math.isfinite(value) and value >= 1.0):
        raise ValueError(f"{name} must be a finite number >= 1, got {records.shown(value)}")


def check_div_factor(div_factor: Any) -> None:
    """Raise ``ValueError`` unless ``div_factor`` (``min_lr = max_lr / div_factor``) is a finite number >= 1."""
    _check_at_least_1("div_factor", div_factor)


def _check_frac(frac: Any) -> None:
    if isinstance(frac, bool) or not (isinstance(frac, (int, float)) and 0.0 < frac <= 1.0):
        raise ValueError(f"frac must be a number in (0, 1], got {frac!r}")


_WINDOW_MIN = 5  # the fewest points a smoothed value is fitted on


def _window(n: int, frac: float) -> int:
    return min(n, max(_WINDOW_MIN, math.ceil(frac * n)))


def _window_starts(x: np.ndarray, k: int) -> np.ndarray:
    """For each point of the sorted axis ``x``, the index of the first of its ``k`` nearest neighbours (with it,
    a contiguous window: the one each smoothed value is fitted on)."""
    starts = np.empty(len(x), dtype=int)
    lo = 0
    for i in range(len(x)):
        while lo + k < len(x) and x[lo + k] - x[i] < x[i] - x[lo]:
            lo += 1
        starts[i] = lo
    return starts


def _lowess(x: np.ndarray, y: np.ndarray, frac: float, despike: bool) -> tuple[np.ndarray, np.ndarray]:
    """The smoothed values and, for each, the sum of its squared weights (its variance per unit noise)."""
    n = len(y)
    if n < 3:
        return y.copy(), np.ones(n)
    scale = float(np.max(np.abs(y)))
    if scale == 0.0:
        return y.copy(), np.ones(n)
    y = y / scale  # keeps the weighted sums below from overflowing on huge losses
    if despike:
        y = y.copy()
        y[1:-1] = np.median(np.stack([y[:-2], y[1:-1], y[2:]]), axis=0)
    k = _window(n, frac)
    idx = _window_starts(x, k)[:, None] + np.arange(k)
    dx = x[idx] - x[:, None]
    reach = np.max(np.abs(dx), axis=1, keepdims=True)
    w = np.clip(1.0 - (np.abs(dx) / reach) ** 3, 0.0, None) ** 3
    s0, s1, s2 = w.sum(1, keepdims=True), (w * dx).sum(1, keepdims=True), (w * dx * dx).sum(1, keepdims=True)
    det = s0 * s2 - s1 * s1
    ok = det > 1e-12 * s0 * s2
    # The local linear fit at x_i is a weighted sum of the window's losses with these weights.
    weights = np.where(ok, w * (s2 - s1 * dx) / np.where(ok, det, 1.0), w / s0)
    return (weights * y[idx]).sum(1) * scale, (weights * weights).sum(1)


# ------------------------------------------------------------------------------------------------ curves


def _is_real(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _leaves(values: Sequence[Any]) -> Iterator[Any]:
    """The items of ``values`` and, for items that are lists or tuples, their items (to any depth)."""
    for v in values:
        if isinstance(v, (list, tuple)):
            yield from _leaves(v)
        else:
            yield v


def _as_1d(name: str, values: ArrayLike) -> np.ndarray:
    """``values`` as a one-dimensional float array; anything but a sequence or an array of real numbers (a string, a
    dict, a generator, complex numbers, ``None``...) is one ``ValueError`` naming ``name``."""
    def expected() -> ValueError:  # built only when raised: showing a long list takes milliseconds
        return ValueError(f"{name} must be a sequence of real numbers (a list or an array), got "
                          f"{records.shown(values)}")

    if hasattr(values, "__array__"):  # an array, a tensor: its dtype says what it holds
        try:
            a = np.asarray(values)
        except (TypeError, ValueError, RuntimeError):  # a tensor that requires grad...
            raise expected() from None
        if a.dtype == object and all(_is_real(v) for v in a.flat):
            a = a.astype(float)
    elif isinstance(values, Sequence) and not isinstance(values, (str, bytes)):
        if not all(_is_real(v) for v in _leaves(values)):  # strings, None, True, complex...
            raise expected()
        try:
            a = np.asarray(values, dtype=float)
        except ValueError:  # a ragged list
            raise expected() from None
    else:  # a string, a dict, a set, a generator, None...
        raise expected()
    if a.dtype.kind not in "iuf":
        raise expected()
    if a.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {a.shape}")
    return a.astype(float)


def _validate(lrs: ArrayLike, losses: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    lr = _as_1d("lrs", lrs)
    y = _as_1d("losses", losses)
    if len(lr) != len(y):
        raise ValueError(f"lrs and losses must have the same length, got {len(lr)} lrs and {len(y)} losses")
    if not np.all(np.isfinite(lr)):
        raise ValueError("lrs must be finite")
    if np.any(lr <= 0):
        raise ValueError(f"lrs must be positive, got min {lr.min()!r}")
    if np.any(np.diff(np.log10(lr)) <= 0):
        raise ValueError("lrs must be strictly increasing (and distinct in log10)")
    return lr, y


def _finite_prefix(y: np.ndarray) -> int:
    bad = np.flatnonzero(~np.isfinite(y))
    return int(bad[0]) if len(bad) else len(y)


@dataclass(frozen=True)
class _Curve:
    """The finite part of a curve, ready for the rules."""

    lr: np.ndarray
    x: np.ndarray  # log10(lr)
    s: np.ndarray  # smoothed losses (or the losses as given)
    i_min: int  # index of the smoothed minimum
    falls: bool
    window: int  # points in each smoothing window
    span: float  # decades of lr the smoothing window around the minimum spans (0 unsmoothed)


def _curve(lrs: ArrayLike, losses: ArrayLike, smooth: bool, frac: float = 0.15) -> _Curve | None:
    """The finite part of a curve of at least :data:`MIN_POINTS` points (``ValueError`` for fewer), ``None``
    when fewer of them are finite."""
    lr, y = _validate(lrs, losses)
    if len(lr) < MIN_POINTS:
        raise ValueError(f"a curve needs at least {MIN_POINTS} points (lrs and losses), got {len(lr)}")
    n = _finite_prefix(y)
    if n < MIN_POINTS:
        return None
    lr, y = lr[:n], y[:n]
    scale = float(np.max(np.abs(y)))
    if scale > 0:
        y = y / scale  # every rule is unchanged by a positive scale; this keeps sums and slopes finite
    x = np.log10(lr)
    s, var = _lowess(x, y, frac, despike=True) if smooth else (y, np.ones(n))
    i_min = int(np.argmin(s))
    k = _window(n, frac)
    first = int(_window_starts(x, k)[i_min])
    span = float(x[first + k - 1] - x[first]) if smooth else 0.0
    return _Curve(lr, x, s, i_min, _falls(y, s, var, i_min), k, span)


def _falls(y: np.ndarray, s: np.ndarray, var: np.ndarray, i_min: int) -> bool:
    """Whether the smoothed loss drops before its minimum by more than :data:`MIN_DROP` of its size and by
    :data:`NOISE_Z` standard errors (noise estimated robustly from second differences of the losses)."""
    i_top = int(np.argmax(s[: i_min + 1]))
    drop = float(s[i_top] - s[i_min])
    noise = 1.4826 * float(np.median(np.abs(np.diff(y, 2)))) / math.sqrt(6.0) if len(y) > 2 else 0.0
    stderr = noise * math.sqrt(var[i_top] + var[i_min])
    return drop > NOISE_Z * stderr and drop > MIN_DROP * max(abs(s[i_top]), abs(s[i_min]))


# ------------------------------------------------------------------------------------------------- rules


def _slopes(c: _Curve) -> np.ndarray:
    """The slopes of the smoothed loss against ``log10(lr)`` up to its minimum (at least two points)."""
    return np.gradient(c.s[: c.i_min + 1], c.x[: c.i_min + 1])


def _valley(c: _Curve, tau: float = VALLEY_SLOPE) -> float | None:
    if not c.falls or c.i_min < 2:
        return None
    # Points before the minimum where the smoothed loss falls at least tau times as fast as at its steepest.
    g = _slopes(c)
    if g.min() >= 0:
        return None
    falling = g < tau * g.min()
    best, best_span = None, 0.0
    start = None
    for i, f in enumerate([*falling, False]):
        if f and start is None:
            start = i
        elif not f and start is not None:
            span = c.x[i - 1] - c.x[start]
            if i - start >= 2 and span > best_span:
                best, best_span = (start, i - 1), span
            start = None
    if best is None:
        return None
    a, b = best
    target = c.x[a] + 2.0 / 3.0 * (c.x[b] - c.x[a])
    j = a + int(np.argmin(np.abs(c.x[a : b + 1] - target)))
    return float(c.lr[j])


def _steepest(c: _Curve) -> float | None:
    if not c.falls or c.i_min < 1:
        return None
    g = _slopes(c)
    j = int(np.argmin(g))
    return float(c.lr[j]) if g[j] < 0 else None


def _minimum_div10(c: _Curve) -> float | None:
    if not c.falls:
        return None
    lr = float(c.lr[c.i_min]) / 10.0
    return lr if lr >= c.lr[0] else None


def _drop_fraction(c: _Curve, fraction: float = 0.9) -> float | None:
    if not c.falls:
        return None
    i_top = int(np.argmax(c.s[: c.i_min + 1]))
    top, bottom = c.s[i_top], c.s[c.i_min]
    target = bottom + (1.0 - fraction) * (top - bottom)
    j = i_top + int(np.argmax(c.s[i_top : c.i_min + 1] <= target))
    return float(c.lr[j])


def valley(lrs: ArrayLike, losses: ArrayLike, smooth: bool = True) -> float | None:
    """The lr two thirds of the way (in log-lr) into the longest steadily falling stretch of the smoothed
    curve before its minimum; ``None`` if the loss never falls or no stretch spans three points.

    A point is falling when its slope against ``log10(lr)`` is at least :data:`VALLEY_SLOPE` times the
    steepest slope; "longest" is measured in decades."""
    c = _curve(lrs, losses, smooth)
    return None if c is None else _valley(c)


def steepest(lrs: ArrayLike, losses: ArrayLike, smooth: bool = True) -> float | None:
    """The lr of steepest descent of the smoothed loss against ``log10(lr)``, up to its minimum; ``None`` if
    the loss never falls."""
    c = _curve(lrs, losses, smooth)
    return None if c is None else _steepest(c)


def minimum_div10(lrs: ArrayLike, losses: ArrayLike, smooth: bool = True) -> float | None:
    """The lr of the smoothed minimum divided by 10; ``None`` if the loss never falls or the result would lie
    below the first tested lr. A minimum at the last point (the curve still falling) still counts: the
    answer is then a lower bound."""
    c = _curve(lrs, losses, smooth)
    return None if c is None else _minimum_div10(c)


def drop_fraction(
    lrs: ArrayLike, losses: ArrayLike, fraction: float = 0.9, smooth: bool = True
) -> float | None:
    """The first lr at which the smoothed loss has covered ``fraction`` of its fall from its highest point to
    its minimum: a bit before the minimum, where the loss still improves. ``None`` if the loss never falls."""
    if not 0.0 < fraction <= 1.0:
        raise ValueError(f"fraction must be in (0, 1], got {fraction!r}")
    c = _curve(lrs, losses, smooth)
    return None if c is None else _drop_fraction(c, fraction)


_RULES: dict[str, Callable[[_Curve], float | None]] = {
    "valley": _valley,
    "steepest": _steepest,
    "minimum_div10": _minimum_div10,
    "drop_fraction": _drop_fraction,
}
RULE_NAMES: tuple[str, ...] = tuple(_RULES)
"""The rules :func:`recommend` runs; each name is also a public function of ``(lrs, losses)``."""


# ------------------------------------------------------------------------------------------ recommendation

Confidence = Literal["high", "medium", "low"]
_RANK: dict[str, int] = {"low": 0, "medium": 1, "high": 2}

MARGIN = 1.5
"""``max_lr`` is at most the lr of the smoothed minimum divided by this ..."""

PLATEAU_FRACTION = 0.8
PLATEAU_FACTOR = 3.0
"""... and at most this factor times the first lr where the smoothed loss has covered :data:`PLATEAU_FRACTION`
of its fall to the minimum. The cap binds on curves that reach a long flat floor well before their minimum
(full-batch least squares: the divergent lr 2/L lies inside the floor, and the smoothed minimum 2.5-3x past
it); on curves with a V-shaped bottom (typical of networks) it rarely binds, and then moves ``max_lr`` little
(3 of the 11 curves of ``benchmarks/recommendation/``, by less than 0.2 decades)."""

PLATEAU_LIMIT = 10.0
"""The plateau cap never lowers ``max_lr`` below the smoothed minimum divided by this (the classic rule)."""

SPREAD_HIGH = 1.0
"""``max_lr`` and the rules' answers within this many decades of each other give high confidence ..."""

SPREAD_MEDIUM = 2.0
"""... within this many, medium; beyond it, low."""

REPEAT_SPREAD_HIGH = 0.3
"""Repeats whose ``max_lr`` agree within this many decades (a factor 2) give high confidence ..."""

REPEAT_SPREAD_MEDIUM = 0.7
"""... within this many (a factor 5), medium; beyond it, low."""

START_SLOPE = 0.5
"""A curve whose smoothed loss falls at its first point at least this fraction as steeply as at its steepest started
inside the fall: the test started too high, where the network had not first trained at lower lrs (confidence low,
with a note). The benchmark's curves, started where the loss is still flat, fall at their first point at most 0.32
as steeply. Started higher, the fall moves to higher lrs (digits, the default small CNN: max_lr 0.042 from 1e-5,
1.7 from 0.5)."""

COARSE_SPAN = 2.0
"""A curve is *coarse* when the smoothing window around its minimum spans more than this many decades of lr: a
network's loss falls within a decade or two, which a wider window blurs (confidence low, with a note). The window
holds ``max(5, ceil(frac * n))`` points, so with 34 points or more its span is about ``frac`` times the decades
tested (the defaults: 0.9 decades); a range of more than 13 decades is coarse however many steps it takes. On a
noisy sigmoid fall, ``max_lr`` moved by 0.1 decades or less (median) up to a span of 2 decades, and by 0.4 to
0.8 decades at spans of 3 to 5."""

MAX_FALL = 2.0
"""The most a curve can fall by :func:`relative_fall`'s measure (from ``x`` to ``-x``); the least is 0."""

SHALLOW_FALL = 0.1
"""A curve whose smoothed loss falls by less than this fraction of its starting value before its minimum (see
:func:`relative_fall`) is *shallow*: the network barely trained during the test, so where the minimum lies says
little about the lr that trains best (confidence low, with a note; ``max_lr`` keeps the same rule: on the
benchmark's tuning cases with such curves, the minimum / 3 lost 4 to 6 points more than the minimum / 1.5). The
range tests of ``benchmarks/recommendation/`` fall by 39% to 93%, except those of the SGD networks without
BatchNorm, which fall by 4% to 5%."""


def schedule_use(schedule: str, min_lr: float | None) -> str:
    """How the policy ``schedule`` uses a recommended max_lr, in a few words: ``"1cycle from min_lr 0.08"``,
    ``"warm-up from 0.08, then cosine to zero"``, ``"step decay"``."""
    if schedule not in POLICIES:
        raise ValueError(f"schedule must be one of {', '.join(POLICIES)}, got {schedule!r}")
    if schedule not in WARM_STARTS or min_lr is None:
        return POLICIES[schedule]
    if schedule == "onecycle":
        return f"1cycle from min_lr {min_lr:.3g}"
    return f"warm-up from {min_lr:.3g}, then {schedule} to zero"


@dataclass(frozen=True)
class Recommendation:
    """Learning rates for the 1cycle policy read off one range test (or combined over several).

    ``max_lr`` and ``min_lr = max_lr / div_factor`` are ``None`` when the curve gives no answer; ``suggestions``
    holds every rule's answer by name; ``spread`` is how far apart the answers are, in decades of lr (for one test,
    ``max_lr`` and the rules' answers, or the rules' alone without a ``max_lr``; across repeats, their ``max_lr``;
    ``None`` with fewer than two answers); ``confidence`` is ``"high"``, ``"medium"`` or ``"low"``; ``notes`` state
    plainly what limits the answer; ``lr_at_minimum`` is the lr of the smoothed minimum; ``repeats`` counts the
    range tests; ``fall`` is how far the smoothed loss falls before its minimum (see :func:`relative_fall`; the
    median over repeats; ``None`` where no rule answered), see :attr:`shallow`.
    """

    max_lr: float | None
    min_lr: float | None
    suggestions: dict[str, float | None]
    confidence: Confidence
    spread: float | None
    notes: list[str] = field(default_factory=list)
    div_factor: float = ONE_CYCLE.div_factor
    lr_at_minimum: float | None = None
    repeats: int = 1
    fall: float | None = None  # how far the smoothed loss falls before its minimum, see relative_fall()

    @property
    def shallow(self) -> bool:
        """Whether the loss fell by less than :data:`SHALLOW_FALL` before its minimum (the network barely
        trained during the test)."""
        return self.fall is not None and self.fall < SHALLOW_FALL

    def __post_init__(self) -> None:
        if self.confidence not in _RANK:
            raise ValueError(f"confidence must be one of {sorted(_RANK)}, got {self.confidence!r}")

    def __str__(self) -> str:
        """:meth:`describe` for the 1cycle policy."""
        return self.describe()

    def describe(self, schedule: str = "onecycle") -> str:
        """A few lines a person reads: max_lr and how ``schedule`` (one of
        :data:`~onecycle.schedules.POLICIES`) uses it, confidence, each rule's answer, the spread, notes."""
        source = f" from {self.repeats} range tests" if self.repeats > 1 else ""
        if self.max_lr is None:
            lines = [f"no recommendation{source}: the curve gives no answer"]
        else:
            lines = [f"recommended max_lr {self.max_lr:.3g} ({schedule_use(schedule, self.min_lr)}), "
                     f"{self.confidence} confidence{source}"]
        lines.append("rules: " + ", ".join(f"{name} {_lr_text(lr)}" for name, lr in self.suggestions.items()))
        if self.spread is not None:
            across = (f"max_lr across {self.repeats} range tests" if self.repeats > 1 else
                      "the rules' answers" if self.max_lr is None else "max_lr and the rules' answers")
            lines.append(f"spread: {self.spread:.2f} decades of lr between {across}")
        if self.lr_at_minimum is not None:
            lines.append(f"smoothed minimum at lr {self.lr_at_minimum:.3g}")
        lines += [f"note: {note}" for note in self.notes]
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """A plain dict of floats, strings, lists and ``None`` (JSON-ready)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Any, where: str = "recommendation") -> Recommendation:
        """The inverse of :meth:`to_dict`, every value checked: missing or unknown keys (a rule not in
        :data:`RULE_NAMES` among them), values of the wrong kind (a learning rate that is not a number > 0, a
        confidence not in high/medium/low, a fall outside 0 to :data:`MAX_FALL`...) and values that contradict each
        other (a ``min_lr`` that is not ``max_lr / div_factor``, one of them null without the other, a confidence
        above low without a ``max_lr``) raise one ``ValueError`` naming the key (inside ``where``)."""
        names = [f.name for f in fields(cls)]
        required = ("max_lr", "min_lr", "suggestions", "confidence", "spread")
        d = records.table(data, where or "recommendation", required, names)

        def key(name: str) -> str:
            return records.key(where, name)

        def lr(name: str, value: Any) -> float | None:
            return records.number(value, key(name), optional=True, positive=True)

        suggestions = records.table(d["suggestions"], key("suggestions"), allowed=RULE_NAMES)
        confidence = d["confidence"]
        if not isinstance(confidence, str) or confidence not in _RANK:
            raise ValueError(f"{key('confidence')} must be one of {', '.join(_RANK)}, got "
                             f"{records.shown(confidence)}")
        max_lr, min_lr = lr("max_lr", d["max_lr"]), lr("min_lr", d["min_lr"])
        div_factor = records.number(d.get("div_factor", ONE_CYCLE.div_factor), key("div_factor"), at_least=1.0)
        if max_lr is None or min_lr is None:
            if (max_lr, min_lr) != (None, None):
                raise ValueError(f"{key('max_lr')} and {key('min_lr')} must both be numbers or both null (no "
                                 f"recommendation), got {records.shown(max_lr)} and {records.shown(min_lr)}")
            if confidence != "low":
                raise ValueError(f"{key('confidence')} is {confidence}, but {key('max_lr')} is null: no "
                                 "recommendation is low confidence")
        elif not math.isclose(min_lr, max_lr / div_factor, rel_tol=1e-9):
            raise ValueError(f"{key('min_lr')} is {min_lr:.6g}, but max_lr / div_factor is {max_lr:.6g} / "
                             f"{div_factor:g} = {max_lr / div_factor:.6g}: min_lr must be max_lr / div_factor")
        return cls(
            max_lr=max_lr,
            min_lr=min_lr,
            suggestions={name: lr(f"suggestions.{name}", v) for name, v in suggestions.items()},
            confidence=confidence,
            spread=records.number(d["spread"], key("spread"), optional=True, at_least=0.0),
            notes=records.texts(d.get("notes", []), key("notes")),
            div_factor=div_factor,
            lr_at_minimum=lr("lr_at_minimum", d.get("lr_at_minimum")),
            repeats=records.integer(d.get("repeats", 1), key("repeats"), at_least=1),
            fall=records.number(d.get("fall"), key("fall"), optional=True, at_least=0.0, at_most=MAX_FALL),
        )


def _lr_text(lr: float | None) -> str:
    return "-" if lr is None else f"{lr:.3g}"


def _geometric_median(values: Sequence[float]) -> float:
    return float(10 ** np.median(np.log10(values)))


def _span(values: Sequence[float]) -> float:
    """How many decades the (positive) ``values`` span."""
    logs = np.log10(values)
    return float(logs.max() - logs.min())


def _decades(values: Sequence[float]) -> float | None:
    """:func:`_span`, ``None`` for fewer than two values."""
    return _span(values) if len(values) >= 2 else None


def _at_most(confidence: Confidence, cap: Confidence) -> Confidence:
    return confidence if _RANK[confidence] <= _RANK[cap] else cap


def recommend(
    lrs: ArrayLike,
    losses: ArrayLike,
    div_factor: float = ONE_CYCLE.div_factor,
    diverged: bool = True,
    *,
    frac: float = 0.15,
    margin: float = MARGIN,
) -> Recommendation:
    """Recommend ``max_lr`` (and ``min_lr = max_lr / div_factor``) for the 1cycle policy from one range test.

    The rule for ``max_lr``: smooth the curve with :func:`zero_phase_smooth` (``frac``), which does not move
    the minimum the way the online EMA does, and take the lr of the smoothed minimum divided by ``margin``
    (:data:`MARGIN`, 1.5): "a bit before the minimum". On curves that reach a long flat floor well before their
    minimum, ``max_lr`` is capped at :data:`PLATEAU_FACTOR` times the lr where :data:`PLATEAU_FRACTION` of the
    fall is done (never below the minimum / :data:`PLATEAU_LIMIT`), with a note: there the minimum lies past
    the lr that diverges (full-batch least squares: 2.5-3x past 2/L). 1cycle tolerates learning rates close to
    the minimum (its warm-up and its regularising high-lr phase); the choice was measured by
    ``benchmarks/recommendation/`` (docs/BENCHMARKS.md), where the classic "minimum / 10" and the rules
    that read the falling part of the curve (:func:`valley`, :func:`steepest`) land far lower and cost
    accuracy. Every rule in :data:`RULE_NAMES` is still run and reported in ``suggestions``; how far apart their
    answers and ``max_lr`` lie gives the confidence.

    Confidence comes from the spread of ``max_lr`` and the rules' answers (high within :data:`SPREAD_HIGH` decades,
    medium within :data:`SPREAD_MEDIUM`, else low, with a note saying where ``max_lr`` lies when it lies outside the
    rules' answers); it is at most medium, with a note, when fewer than :data:`FEW_POINTS` points are finite, when
    the loss never diverged (``diverged=False``: the minimum may lie past the tested range) or when the smoothed
    minimum is the last point, and low, with a note, when only one rule answers, when the curve is shallow (the loss
    falls by less than :data:`SHALLOW_FALL` before its minimum, see :func:`relative_fall`), too coarse to resolve
    the fall (:data:`COARSE_SPAN`) or started inside it (:data:`START_SLOPE`). A rule without an answer is left out
    (a note names it); when no rule answers (too few finite points, a loss that never falls: the notes say whether
    the range looks too coarse, too low or too high), or when ``max_lr`` would lie below the tested range (a
    smoothed minimum within ``margin`` of the first lr: the test started too high), ``max_lr`` and ``min_lr`` are
    ``None``, confidence is ``"low"`` and the notes say why. So ``max_lr`` is ``None`` or within ``[lrs[0],
    lrs[-1]]``.

    Raises ``ValueError`` only for invalid input, one naming each problem: lrs and losses of other lengths or of
    fewer than :data:`MIN_POINTS` points, bad lrs (see the module docstring), ``div_factor`` or ``margin`` below
    1 or not finite, ``frac`` outside ``(0, 1]``, ``diverged`` not a bool.
    """
    _check_at_least_1("div_factor", div_factor)
    _check_at_least_1("margin", margin)
    _check_frac(frac)
    if not isinstance(diverged, (bool, np.bool_)):
        raise ValueError(f"diverged must be True or False (whether the range test's loss diverged), got "
                         f"{diverged!r}")
    lr, y = _validate(lrs, losses)
    n = _finite_prefix(y)
    notes: list[str] = []
    if n < len(y):
        notes.append(f"cut at the first non-finite loss (point {n} of {len(y)})")
    if not diverged:
        notes.append("the loss never diverged: no right edge, the best lr may lie past the tested range")
    c = _curve(lr, y, smooth=True, frac=frac)
    suggestions: dict[str, float | None] = {name: None for name in _RULES}
    if c is not None:
        suggestions = {name: rule(c) for name, rule in _RULES.items()}
    answers = [v for v in suggestions.values() if v is not None]
    if c is None or not answers:
        if c is None:
            notes.append(f"too few points: {n} finite, need at least {MIN_POINTS}")
        elif not c.falls:
            notes.append(_no_fall(c, diverged))
        return unanswered([*notes, "no rule gave an answer: no recommendation"], div_factor)

    missing = [name for name, v in suggestions.items() if v is None]
    if missing:
        notes.append(f"no answer from: {', '.join(missing)}")
    lr_min = float(c.lr[c.i_min])
    max_lr = lr_min / margin
    floor = _drop_fraction(c, PLATEAU_FRACTION)
    cap = None if floor is None else max(PLATEAU_FACTOR * floor, lr_min / PLATEAU_LIMIT)
    if cap is not None and cap < max_lr:
        max_lr = cap
        notes.append(
            f"the loss flattens long before its minimum: max_lr capped at {PLATEAU_FACTOR:g}x the lr where "
            f"{PLATEAU_FRACTION:.0%} of the fall is done (but not below the minimum / {PLATEAU_LIMIT:g})"
        )
    if max_lr < c.lr[0]:
        notes.append(f"the smoothed minimum (lr {lr_min:.3g}) lies within a factor {margin:g} of the first lr "
                     f"{c.lr[0]:.3g}, so max_lr would lie below the tested range: no recommendation; start the "
                     "range test lower")
        return replace(unanswered(notes, div_factor), suggestions=suggestions, spread=_decades(answers),
                       lr_at_minimum=lr_min, fall=relative_fall(c.s, c.i_min))
    spread = _span([*answers, max_lr])
    confidence: Confidence
    if len(answers) == 1:
        confidence = "low"
        notes.append("low confidence: only one rule gave an answer")
    elif spread <= SPREAD_HIGH:
        confidence = "high"
    else:
        confidence = "medium" if spread <= SPREAD_MEDIUM else "low"
        notes.append(f"{confidence} confidence: {_disagreement(max_lr, suggestions, spread)}")
    if len(c.lr) < FEW_POINTS:
        confidence = _at_most(confidence, "medium")
        notes.append(f"only {len(c.lr)} finite points: the suggestions are coarse")
    if c.span > COARSE_SPAN:
        confidence = "low"
        notes.append(f"low confidence: {_coarse(c)}")
    slopes = _slopes(c)
    if slopes[0] < 0 and slopes[0] <= START_SLOPE * slopes.min():
        confidence = "low"
        notes.append(f"low confidence: the loss falls from the first lr ({c.lr[0]:.3g}) on, "
                     f"{slopes[0] / slopes.min():.0%} as steeply as at its steepest: the range test started inside the "
                     "fall, too high; start it lower")
    if not diverged:
        confidence = _at_most(confidence, "medium")
    if c.i_min == len(c.lr) - 1:
        confidence = _at_most(confidence, "medium")
        notes.append("the smoothed loss is lowest at the last point: the suggestions are lower bounds")
    fallen = relative_fall(c.s, c.i_min)
    if fallen < SHALLOW_FALL:
        confidence = "low"
        notes.append(f"low confidence: the smoothed loss fell only {fallen:.0%} before its minimum; the network "
                     "barely trained during the test, so the minimum says little about the lr that trains best")
    return Recommendation(
        max_lr=max_lr,
        min_lr=max_lr / div_factor,
        suggestions=suggestions,
        confidence=confidence,
        spread=spread,
        notes=notes,
        div_factor=float(div_factor),
        lr_at_minimum=lr_min,
        fall=fallen,
    )


def _disagreement(max_lr: float, suggestions: dict[str, float | None], spread: float) -> str:
    """How far apart ``max_lr`` and the rules' answers are, and where ``max_lr`` lies when it lies outside them."""
    answers = {name: lr for name, lr in suggestions.items() if lr is not None}
    text = f"max_lr and the rules' answers span {spread:.1f} decades of lr"
    highest, lowest = max(answers, key=answers.__getitem__), min(answers, key=answers.__getitem__)
    if max_lr > answers[highest]:
        return (f"{text}; max_lr lies {math.log10(max_lr / answers[highest]):.2f} decades above the highest "
                f"({highest} {answers[highest]:.3g})")
    if max_lr < answers[lowest]:
        return (f"{text}; max_lr lies {math.log10(answers[lowest] / max_lr):.2f} decades below the lowest "
                f"({lowest} {answers[lowest]:.3g})")
    return text


def _coarse(c: _Curve) -> str:
    """What makes a coarse curve (see :data:`COARSE_SPAN`) coarse, and what to do about it."""
    per_decade = (len(c.lr) - 1) / (c.x[-1] - c.x[0])
    more = " or take more steps" if c.window == _WINDOW_MIN else ""  # else the window grows with the steps
    return (f"{per_decade:.2g} points per decade of lr: the smoothing averages over {c.span:.1f} decades around the "
            f"minimum (more than {COARSE_SPAN:g} blurs the fall); test a narrower range{more}")


def _no_fall(c: _Curve, diverged: bool) -> str:
    """Why a curve that never falls does not, as far as it tells: too coarse to show the fall, a range that
    lies too low (the loss never diverged either) or starts too high (it diverged)."""
    if c.span > COARSE_SPAN:
        return f"the loss never falls at this resolution: {_coarse(c)}"
    if not diverged:
        return (f"the loss neither falls nor diverges up to the last lr tested, {c.lr[-1]:.3g}: the range lies too "
                "low, or the model does not learn")
    return "the loss never falls: the range starts too high (start it lower), or the model does not learn"


def unanswered(notes: Sequence[str], div_factor: float = ONE_CYCLE.div_factor) -> Recommendation:
    """The recommendation of a curve that gives no answer: ``max_lr`` and ``min_lr`` ``None``, no rule's answer,
    confidence low, and ``notes`` that say why."""
    return Recommendation(None, None, {name: None for name in _RULES}, "low", None, list(notes), float(div_factor))


def relative_fall(smoothed: ArrayLike, i_min: int) -> float:
    """How far a smoothed curve falls from its start to its minimum (at ``i_min``):
    ``(start - minimum) / max(|start|, |minimum|)``, 0 when both are 0.

    For losses >= 0 (cross-entropy, squared error) this is the fraction of the starting value lost, from 0 to
    1; for any finite losses it is a number >= 0 that does not change when the losses are scaled, and at most
    :data:`MAX_FALL` (2).
    It is the fall that :data:`SHALLOW_FALL` judges, measured on the same scale as a curve's "falls" test."""
    s = _as_1d("smoothed", smoothed)
    start, bottom = float(s[0]), float(s[i_min])
    size = max(abs(start), abs(bottom))
    return (start - bottom) / size if size > 0 else 0.0


def combine(recommendations: Sequence[Recommendation]) -> Recommendation:
    """Combine the recommendations of repeated range tests (e.g. several seeds) into one.

    ``max_lr`` is the geometric median of the repeats' ``max_lr`` (repeats without one are skipped), each
    suggestion likewise; ``spread`` is the range of the repeats' ``max_lr`` in decades. Confidence is high
    within :data:`REPEAT_SPREAD_HIGH` decades, medium within :data:`REPEAT_SPREAD_MEDIUM`, else low; never
    above the median confidence of the repeats, and low when fewer than half of them gave an answer. Notes
    of the repeats are kept once each, with how many repeats raised them.
    """
    if isinstance(recommendations, (str, bytes, Mapping)) or not isinstance(recommendations, Iterable):
        raise ValueError(f"recommendations must be a sequence of Recommendation, got "
                         f"{records.shown(recommendations)}")
    recs = list(recommendations)
    if not recs:
        raise ValueError("combine needs at least one recommendation")
    for i, r in enumerate(recs):
        if not isinstance(r, Recommendation):
            raise ValueError(f"recommendations[{i}] must be a Recommendation, got {records.shown(r)}")
    div_factor = recs[0].div_factor
    if any(r.div_factor != div_factor for r in recs):
        raise ValueError("every recommendation must share the same div_factor")
    total = sum(r.repeats for r in recs)
    values = [v for r in recs if (v := r.max_lr) is not None]
    names = list(dict.fromkeys(name for r in recs for name in r.suggestions))
    suggestions: dict[str, float | None] = {}
    for name in names:
        answers = [v for r in recs if (v := r.suggestions.get(name)) is not None]
        suggestions[name] = _geometric_median(answers) if answers else None
    minima = [v for r in recs if (v := r.lr_at_minimum) is not None]
    lr_min = _geometric_median(minima) if minima else None
    falls = [v for r in recs if (v := r.fall) is not None]
    fall = float(np.median(falls)) if falls else None

    notes: list[str] = []
    counts: dict[str, int] = {}
    for r in recs:
        for note in dict.fromkeys(r.notes):
            counts[note] = counts.get(note, 0) + 1
    notes += [note if k == len(recs) else f"({k} of {len(recs)}) {note}" for note, k in counts.items()]

    if not values:
        notes.append(f"no max_lr from any of {len(recs)} recommendations")
        return Recommendation(None, None, suggestions, "low", None, notes, div_factor, lr_min, total, fall)
    max_lr = _geometric_median(values)
    spread = _decades(values)
    confidence: Confidence
    if spread is None or spread <= REPEAT_SPREAD_HIGH:
        confidence = "high"
    elif spread <= REPEAT_SPREAD_MEDIUM:
        confidence = "medium"
    else:
        confidence = "low"
        notes.append(f"low confidence: max_lr varies by {spread:.1f} decades across repeats")
    ranked = sorted((r.confidence for r in recs), key=_RANK.__getitem__)
    confidence = _at_most(confidence, ranked[(len(ranked) - 1) // 2])  # the lower median
    if 2 * len(values) < len(recs):
        confidence = "low"
        notes.append(f"only {len(values)} of {len(recs)} recommendations gave a max_lr")
    return Recommendation(
        max_lr=max_lr,
        min_lr=max_lr / div_factor,
        suggestions=suggestions,
        confidence=confidence,
        spread=spread,
        notes=notes,
        div_factor=div_factor,
        lr_at_minimum=lr_min,
        repeats=total,
        fall=fall,
    )
