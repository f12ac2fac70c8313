"""The time-to-accuracy benchmark's cache of finished measurements (a :class:`benchmarks.common.run_cache.RunCache`
keyed by :func:`benchmarks.time_to_accuracy.runs.key`), with what each kind of measurement holds, checked on every run
read back from the cache file and its journal (:func:`check_run`)."""

from __future__ import annotations

from typing import Any

from benchmarks.common import run_cache
from benchmarks.common.schema import (
    FLAG,
    SECONDS,
    TEXT,
    Nullable,
    OptionalKey,
    check,
    fraction,
    integer,
    number,
    recommendation,
)
from benchmarks.time_to_accuracy.runs import JOBS

EPOCH = {"epoch": integer(1), "val_accuracy": fraction, "val_loss": number(finite=False), "train_loss": number(),
         "lr": number(at_least=0.0), "time_s": SECONDS, "images_per_s": number(positive=True), "cpu_s": SECONDS,
         "load": Nullable(number(at_least=0.0)), OptionalKey("stalled_s"): SECONDS}
"""An epoch of a training run (:data:`~benchmarks.time_to_accuracy.runs.EPOCH_KEYS` and what
:class:`~benchmarks.time_to_accuracy.usage.Meter` adds): its train loss is finite (a non-finite one stops training
before the epoch ends), its test loss need not be."""
RECORDS = {
    "train": {"accuracy": fraction, "diverged": FLAG, "stopped": Nullable(TEXT), "train_time_s": SECONDS,
              "cpu_time_s": SECONDS, "peak_rss_mb": number(positive=True), "threads": integer(1), "history": [EPOCH],
              "seconds": SECONDS, "date": TEXT},
    "range_test": {"recommendation": recommendation, "range_test_s": SECONDS, "steps": integer(1),
                   "seconds": SECONDS, "date": TEXT},
}
"""What a measurement of each job (:data:`~benchmarks.time_to_accuracy.runs.JOBS`) holds (see
:func:`~benchmarks.time_to_accuracy.runs.measure`)."""


def check_run(key: str, run: Any) -> None:
    """Raise a ``ValueError`` naming the value inside ``run`` unless it is what its job (the start of ``key``)
    measures (:data:`RECORDS`)."""
    job = key.split("|", 1)[0]
    if job not in RECORDS:
        raise ValueError(f"its key must start with the job, one of {', '.join(JOBS)}")
    check(run, RECORDS[job], whole="the run")


class RunCache(run_cache.RunCache):
    """The benchmark's measurements by key, each checked as it is read back (:func:`check_run`)."""

    check_run = staticmethod(check_run)
