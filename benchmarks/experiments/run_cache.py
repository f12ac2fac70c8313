"""The twins' cache of finished measurements (a :class:`benchmarks.common.run_cache.RunCache` keyed by
:func:`benchmarks.experiments.runs.key`), with what each kind of measurement holds, checked on every run read back
from the cache file and its journal (:func:`check_run`)."""

from __future__ import annotations

import math
from typing import Any

from benchmarks.common import run_cache
from benchmarks.common.schema import (
    FLAG,
    LR,
    SECONDS,
    TEXT,
    Nullable,
    check,
    fraction,
    integer,
    number,
    recommendation,
)
from benchmarks.experiments.results import LOSS
from benchmarks.experiments.runs import JOBS

HISTORY = {"epoch": integer(1), "step": integer(1), "lr": number(at_least=0.0), "train_loss": number(),
           "train_accuracy": Nullable(fraction), "val_loss": LOSS, "val_accuracy": fraction, "time_s": SECONDS}
"""An epoch of a training run (:data:`~benchmarks.experiments.runs.HISTORY_KEYS`): its train loss is finite (a
non-finite one stops training before the epoch ends)."""
CURVE = {"lrs": [LR], "losses": [LOSS], "filtered": [LOSS], "recommendation": recommendation, "stop_reason": TEXT,
         "diverged": FLAG}
"""A range test's curve: one loss per lr, zero-phase smoothed (``filtered``) up to its last finite loss."""
RECORDS = {
    "train": {"accuracy": fraction, "diverged": FLAG, "stopped": Nullable(TEXT), "history": [HISTORY],
              "seconds": SECONDS},
    "range_test": {**CURVE, "seconds": SECONDS},
    "sweep": {"param": TEXT, "values": [number(at_least=0.0)], "pick": Nullable(number(at_least=0.0)),
              "max_lrs": [Nullable(LR)], "reached_losses": [LOSS], "eligible": [FLAG], "curves": [CURVE],
              "seconds": SECONDS},
}
"""What a measurement of each job (:data:`~benchmarks.experiments.runs.JOBS`) holds (see
:func:`~benchmarks.experiments.runs.measure`)."""
PER_VALUE = ("max_lrs", "reached_losses", "eligible", "curves")
"""The lists of a sweep that hold one item per swept value."""


def _curve_fits(curve: dict[str, Any], where: str) -> None:
    """One loss per lr, and ``filtered`` one per lr but the last when its loss is not finite; at least one lr."""
    lrs, losses, filtered = curve["lrs"], curve["losses"], curve["filtered"]
    if not lrs:
        raise ValueError(f"{where}lrs must hold at least one lr, got none")
    if len(losses) != len(lrs):
        raise ValueError(f"{where}losses must hold one loss per lr: {len(losses)} losses, {len(lrs)} lrs")
    smoothed = len(lrs) - (not math.isfinite(losses[-1]))
    if len(filtered) != smoothed:
        raise ValueError(f"{where}filtered must hold one loss per lr up to the last finite loss ({smoothed}), got "
                         f"{len(filtered)}")


def check_run(key: str, run: Any) -> None:
    """Raise a ``ValueError`` naming the value inside ``run`` unless it is what its job (the start of ``key``)
    measures (:data:`RECORDS`), its paired lists of one length."""
    job = key.split("|", 1)[0]
    if job not in RECORDS:
        raise ValueError(f"its key must start with the job, one of {', '.join(JOBS)}")
    check(run, RECORDS[job], whole="the run")
    if job == "range_test":
        _curve_fits(run, "")
    elif job == "sweep":
        for name in PER_VALUE:
            if len(run[name]) != len(run["values"]):
                raise ValueError(f"{name} must hold one item per swept value: {len(run[name])} for "
                                 f"{len(run['values'])} values")
        for i, curve in enumerate(run["curves"]):
            _curve_fits(curve, f"curves[{i}].")
        if run["pick"] is not None and run["pick"] not in run["values"]:
            raise ValueError(f"pick must be one of the values or null, got {run['pick']:g}")


class RunCache(run_cache.RunCache):
    """The twins' measurements by key, each checked as it is read back (:func:`check_run`)."""

    check_run = staticmethod(check_run)
