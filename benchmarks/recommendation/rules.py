"""The rules the benchmark scores, and each one's answer for one range test."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from benchmarks.recommendation.published_rules import PUBLISHED_RULES

LIBRARY_RULES = ("valley", "steepest", "minimum_div10", "drop_fraction")
OURS = "ours"
RULES: tuple[str, ...] = (OURS, *LIBRARY_RULES, *PUBLISHED_RULES)


def rule_answers(lrs: Sequence[float], losses: Sequence[float], recommendation: dict[str, Any],
                 num_steps: int) -> dict[str, float | None]:
    """Every rule's lr for one range-test curve; the library's come from its recommendation."""
    answers: dict[str, float | None] = {OURS: recommendation["max_lr"]}
    answers.update({name: recommendation["suggestions"].get(name) for name in LIBRARY_RULES})
    answers.update({name: rule(lrs, losses, num_steps) for name, rule in PUBLISHED_RULES.items()})
    return answers
