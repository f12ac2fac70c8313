"""Summaries over seeds that the benchmarks' reports share."""

from __future__ import annotations

import statistics
from collections.abc import Iterable
from typing import Any


def mean_std(values: Iterable[float]) -> dict[str, Any]:
    """``mean``, sample standard deviation ``std`` (``None`` for fewer than 2 values), ``n`` and the ``values``
    (``mean`` is ``None`` for none)."""
    v = [float(x) for x in values]
    return {"values": v, "n": len(v), "mean": statistics.fmean(v) if v else None,
            "std": statistics.stdev(v) if len(v) > 1 else None}
