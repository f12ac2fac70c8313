"""The rules the benchmark scores, in one registry: name -> the lr the rule reads off one range test."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from benchmarks.recommendation.published_rules import PUBLISHED_RULES

Finder = dict[str, Any]
"""One range test as the benchmark records it: ``lrs``, ``losses``, ``num_steps`` and the library's
``recommendation`` (``Recommendation.to_dict()``)."""

Rule = Callable[[Finder], float | None]
"""A rule: the lr it recommends for one range test, or ``None`` when it gives no answer."""

OURS = "ours"
OURS_PROBED = "ours + probe"
LIBRARY_RULES = ("valley", "steepest", "minimum_div10", "drop_fraction")


def recommended(finder: Finder) -> float | None:
    """The library's recommendation, ``recommend(...).max_lr``."""
    return finder["recommendation"]["max_lr"]


def probed(finder: Finder) -> float | None:
    """The library's recommendation checked by its stability probe (``onecycle.probe``): the probe's pick."""
    return (finder.get("probe") or {}).get("pick")


def library_rule(name: str) -> Rule:
    """One of the library's suggestion rules, as its recommendation recorded it."""
    return lambda finder: finder["recommendation"]["suggestions"].get(name)


def curve_rule(rule: Callable[[Sequence[float], Sequence[float], int], float | None]) -> Rule:
    """A rule of the curve ``(lrs, losses, num_steps)``, such as the published ones."""
    return lambda finder: rule(finder["lrs"], finder["losses"], finder["num_steps"])


RULES: dict[str, Rule] = {
    OURS: recommended,
    OURS_PROBED: probed,
    **{name: library_rule(name) for name in LIBRARY_RULES},
    **{name: curve_rule(rule) for name, rule in PUBLISHED_RULES.items()},
}
"""Every rule the benchmark trains and scores, in the report's order: a new rule is one more entry."""


def rule_answers(finder: Finder) -> dict[str, float | None]:
    """Every rule's lr for one range test."""
    return {name: rule(finder) for name, rule in RULES.items()}
