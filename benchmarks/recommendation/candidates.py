"""Candidate replacements for the library's rule, read off the same range test as the rules."""

from __future__ import annotations

from typing import Any

import numpy as np

from benchmarks.recommendation.rules import LIBRARY_RULES, Finder

TRAINED_MARGINS: dict[str, float] = {"min/1.5": 1.5, "min/2": 2.0, "min/3": 3.0}
"""Candidates for the library's rule, trained like the rules: ``recommend(..., margin=m).max_lr`` (the smoothed
minimum / m, with the library's plateau cap). The other candidates are estimated from the grid."""


def margin_answers(finder: Finder) -> dict[str, float | None]:
    """The :data:`TRAINED_MARGINS` candidates for one range-test curve."""
    from onecycle.suggestions import recommend

    return {name: recommend(finder["lrs"], finder["losses"], diverged=finder.get("diverged", True),
                            margin=m).max_lr for name, m in TRAINED_MARGINS.items()}


def variant_answers(recommendation: dict[str, Any]) -> dict[str, float | None]:
    """Candidate replacements for the library's rule, read off the same curve: other divisors of the smoothed
    minimum, and the median of the library's rules clamped between minimum/10 and minimum/3."""
    lr_min = recommendation.get("lr_at_minimum")
    if lr_min is None:
        return {}
    out: dict[str, float | None] = {f"min/{d:g}": lr_min / d for d in (1.5, 2, 3, 4, 5, 10)}
    rules = [v for k, v in recommendation["suggestions"].items() if v is not None and k in LIBRARY_RULES]
    if rules:
        median = float(10 ** np.median(np.log10(rules)))
        out["median clamped [min/10, min/3]"] = min(max(median, lr_min / 10), lr_min / 3)
    return out
