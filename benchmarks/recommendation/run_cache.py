"""The cache of finished 1cycle runs, shared by every invocation of the benchmark (a
:class:`benchmarks.common.run_cache.RunCache` keyed by case, weight decay, lr, seed and CPU threads)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from benchmarks.common import run_cache
from benchmarks.common.schema import FLAG, SECONDS, fraction
from benchmarks.recommendation.cases import Case
from benchmarks.recommendation.scoring import Run, lr_key
from benchmarks.recommendation.training import one_cycle_run
from onecycle import records

FIELDS = (("accuracy", fraction), ("diverged", FLAG), ("seconds", SECONDS))
"""What a cached run holds, in order: its test accuracy, whether it diverged, its wall time (left out by the runs
cached before the time was kept)."""


class RunCache(run_cache.RunCache):
    """Finished 1cycle runs by case, weight decay, lr, seed and CPU threads, so that a rerun (another rule,
    another seed) trains only what it has not seen; each entry is ``[accuracy, diverged, seconds]``. Runs on CPU
    with a fixed thread count are deterministic, so a cached run is the run. With a ``journal``, every new run is
    appended to it as soon as it finishes (see :mod:`benchmarks.common.run_cache`)."""

    def __init__(self, runs: dict[str, list[Any]] | None = None, threads: int = 1,
                 journal: Path | None = None) -> None:
        super().__init__(runs, journal)
        self.threads = threads

    @staticmethod
    def check_run(key: str, run: Any) -> None:
        """A run is ``[accuracy, diverged]`` or ``[accuracy, diverged, seconds]`` (:data:`FIELDS`)."""
        entry = records.items(run, "the run")
        if len(entry) not in (len(FIELDS) - 1, len(FIELDS)):
            raise ValueError(f"the run must be [{', '.join(name for name, _ in FIELDS)}] (seconds may be left out), "
                             f"got {records.shown(run)}")
        for (name, check), value in zip(FIELDS, entry):
            check(value, name)

    @classmethod
    def load(cls, path: Path, threads: int) -> RunCache:  # type: ignore[override]
        return super().load(path, threads=threads)

    def key(self, case: Case, weight_decay: float, lr: float, seed: int) -> str:
        return f"{case.name}|wd={weight_decay:g}|lr={lr_key(lr):g}|seed={seed}|threads={self.threads}"

    def of_case(self, case: Case) -> dict[str, list[Any]]:
        return {k: v for k, v in self.runs.items() if k.startswith(f"{case.name}|")}

    def run(self, case: Case, setup: Any, lr: float, seed: int, weight_decay: float) -> Run:
        """The cached run, or a new one (recorded, and appended to the journal)."""
        key = self.key(case, weight_decay, lr, seed)
        if key not in self.runs:
            start = time.perf_counter()
            run = one_cycle_run(setup, lr, seed, weight_decay)
            self.record(key, [run.accuracy, run.diverged, round(time.perf_counter() - start, 2)])
        accuracy, diverged = self.runs[key][:2]
        return Run(accuracy, diverged)
