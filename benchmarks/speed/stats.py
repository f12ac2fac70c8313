"""The arithmetic of the speed benchmark, pure: the interleaved order of the measurements, medians over repeats,
and each comparison as the median of its per-repeat ratios (ours over theirs, measured side by side)."""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

HIGHER_IS_BETTER = {"images_per_s": True, "seconds": False, "seconds_per_step": False}
"""The figures a comparison can be made on, and whether more of it is better."""


def interleaved(names: Sequence[str], repeats: int) -> list[tuple[int, str]]:
    """The order in which to measure ``names`` ``repeats`` times: repeat ``r`` measures every name once, rotated
    by ``r`` places, so that each comparison's two sides run next to each other in every repeat and every name
    runs at each place in turn (a slow spell of a shared machine falls on all of them alike)."""
    if repeats < 1:
        raise ValueError(f"repeats must be at least 1, got {repeats}")
    if len(set(names)) != len(names):
        raise ValueError(f"each measurement must be named once, got {list(names)}")
    n = len(names)
    return [(r, names[(r + i) % n]) for r in range(repeats) for i in range(n)]


def median(values: Iterable[float]) -> float:
    """The median of ``values`` (the mean of the middle two for an even count); none is a ``ValueError``."""
    values = list(values)
    if not values:
        raise ValueError("the median of no values")
    if any(not math.isfinite(v) for v in values):
        raise ValueError(f"the median of values that are not all finite: {values}")
    return float(statistics.median(values))


def by_repeat(runs: Iterable[Mapping[str, Any]], name: str, figure: str) -> dict[int, float]:
    """``figure`` of each repeat of measurement ``name`` among ``runs`` (those that failed have none)."""
    return {int(r["repeat"]): float(r[figure]) for r in runs
            if r["name"] == name and r.get(figure) is not None and "error" not in r}


@dataclass(frozen=True)
class Comparison:
    """Measurement ``ours`` against ``theirs`` on ``figure`` (:data:`HIGHER_IS_BETTER`): the ratio ours / theirs
    must be at least ``target`` when more of the figure is better (images/s), else at most ``target``."""

    name: str
    ours: str
    theirs: str
    figure: str
    target: float

    def __post_init__(self) -> None:
        if self.figure not in HIGHER_IS_BETTER:
            raise ValueError(f"figure must be one of {', '.join(HIGHER_IS_BETTER)}, got {self.figure!r}")

    @property
    def at_least(self) -> bool:
        """Whether the ratio must reach the target from below (more is better) rather than stay under it."""
        return HIGHER_IS_BETTER[self.figure]

    def met(self, ratio: float) -> bool:
        """Whether ``ratio`` meets the target."""
        return ratio >= self.target if self.at_least else ratio <= self.target


def compare(comparison: Comparison, runs: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """One row of the ratio table: the median of the per-repeat ratios ours / theirs over the repeats where both
    were measured (``ratio``, ``None`` without one), the ratios themselves, each side's median figure, the target
    and whether it is met."""
    ours, theirs = (by_repeat(runs, name, comparison.figure) for name in (comparison.ours, comparison.theirs))
    paired = sorted(set(ours) & set(theirs))
    ratios = [ours[r] / theirs[r] for r in paired if theirs[r] > 0]
    ratio = median(ratios) if ratios else None
    return {"name": comparison.name, "ours": comparison.ours, "theirs": comparison.theirs,
            "figure": comparison.figure, "ratio": ratio, "ratios": ratios,
            "ours_median": median(ours.values()) if ours else None,
            "theirs_median": median(theirs.values()) if theirs else None,
            "target": comparison.target, "at_least": comparison.at_least,
            "met": None if ratio is None else comparison.met(ratio)}


def summary(runs: Sequence[Mapping[str, Any]], names: Sequence[str]) -> dict[str, dict[str, Any]]:
    """Each measurement's medians over its repeats (seconds, images/s, seconds per step, peak memory, accuracy;
    ``None`` where it has none), how many repeats it has and, for one that failed, the first error."""
    out: dict[str, dict[str, Any]] = {}
    for name in names:
        mine = [r for r in runs if r["name"] == name]
        good = [r for r in mine if "error" not in r]
        row: dict[str, Any] = {"repeats": len(good)}
        for figure in ("seconds", "images_per_s", "seconds_per_step", "steps", "peak_memory_mib", "accuracy"):
            values = [float(r[figure]) for r in good if r.get(figure) is not None]
            row[figure] = median(values) if values else None
        errors = [r["error"] for r in mine if "error" in r]
        row["error"] = errors[0] if errors else None
        out[name] = row
    return out
