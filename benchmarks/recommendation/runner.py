"""Running cases: one case end to end, and many side by side in worker processes."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.common.runner import run_tasks
from benchmarks.recommendation.cases import Case, Settings
from benchmarks.recommendation.run_cache import RunCache
from benchmarks.recommendation.scoring import evaluate_case, probe_candidates
from benchmarks.recommendation.training import (
    default_weight_decay,
    finder_curve,
    finder_variants,
    make_setup,
    stability_probe,
    weight_decay_check,
)


def run_case(case: Case, settings: Settings, cache: RunCache | None = None) -> dict[str, Any]:
    """Everything measured for one case, with its wall time; runs come from (and go to) ``cache``."""
    start = time.perf_counter()
    cache = cache if cache is not None else RunCache()
    setup = make_setup(case)
    wd = default_weight_decay(case)
    finder = finder_curve(setup, settings, wd)
    finder["probe"] = stability_probe(setup, settings, wd, finder)
    others = finder_variants(setup, settings, wd) if settings.finder_variants and case.finder_variants else {}
    extra = {name: f["recommendation"]["max_lr"] for name, f in others.items()}
    if case.trained_rules is None:  # the dearest cases train the probe's pick only
        extra.update(probe_candidates(finder["probe"]))
    result = evaluate_case(lambda lr, seed: cache.run(case, setup, lr, seed, wd), settings.seeds, case.grid,
                           finder, settings.extend_grid, extra, case.trained_rules)
    result["finder_variants"] = others
    if case.weight_decays:
        result["weight_decay"] = weight_decay_check(
            case, settings, result["best"]["lr"], setup,
            lambda lr, seed, w: cache.run(case, setup, lr, seed, w))
        result["runs"] += len(case.weight_decays) * len(settings.seeds)
    return {"case": dataclasses.asdict(case), "weight_decay_used": wd, "train_images": len(setup.train_data),
            "test_images": len(setup.test_data), "finder": finder, **result,
            "wall_time_s": time.perf_counter() - start}


def case_worker(case: Case, settings: Settings, runs: dict[str, list[Any]], threads: int,
                journal: Path | None = None) -> tuple[dict[str, Any], dict[str, list[Any]]]:
    """One case in a worker process: its result and the runs it trained (each also appended to ``journal``)."""
    import torch

    torch.set_num_threads(threads)
    cache = RunCache(runs, threads, journal)
    result = run_case(case, settings, cache)
    timed = [entry[2] for entry in cache.of_case(case).values() if len(entry) > 2]
    result["new_runs"] = len(cache.new)
    result["seconds_per_run"] = float(np.mean(timed)) if timed else None
    return result, cache.new


Finished = Callable[[Case, dict[str, Any], dict[str, list[Any]]], None]
"""``finished(case, result, new_runs)``, called as each case ends."""


def _case_task(task: tuple[Case, Settings, dict[str, list[Any]], int, Path | None]) -> Any:
    return case_worker(*task)


def run_cases(cases: Sequence[Case], settings: Settings, cache: RunCache, threads: int, jobs: int,
              finished: Finished) -> None:
    """Run ``cases`` in this process (``jobs == 1``, cheapest first) or ``jobs`` at a time in spawned worker
    processes (dearest first: the workers finish closer together), each starting from the cached runs of its
    case."""
    order = cases if jobs == 1 else list(reversed(cases))
    run_tasks([(case, settings, cache.of_case(case), threads, cache.journal) for case in order], _case_task, jobs,
              lambda task, out: finished(task[0], *out))
