"""The tasks of the five experiments. Some learning rates come from measurements (the range test's, the sweep's),
so :func:`plan` is a function of what is measured so far: it lists every task whose inputs are known, and grows
as the range test and the sweep finish."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from typing import Any

from benchmarks.common.training import rounded
from benchmarks.experiments.runs import Task, key
from benchmarks.experiments.settings import Settings

Lookup = Callable[[Task], Any]
"""The measurement of a task, ``None`` while it is not measured."""


def finder_task(s: Settings) -> Task:
    """The range test every derived lr of experiments 1, 3 and 4 comes from (at their weight decay)."""
    return Task("range_test", s.config(seed=s.finder_seed, start_lr=s.start_lr, end_lr=s.end_lr,
                                       num_steps=s.num_steps), weight_decay=s.weight_decay)


def sweep_task(s: Settings) -> Task:
    """The weight-decay sweep of experiment 5: one range test per value, the library's pick."""
    return Task("sweep", s.config(seed=s.finder_seed, start_lr=s.start_lr, end_lr=s.end_lr, num_steps=s.num_steps,
                                  sweep_param="weight_decay", sweep_values=list(s.sweep_values)))


def train_task(s: Settings, max_lr: float, epochs: int, seed: int, schedule: str = "onecycle",
               weight_decay: float | None = None, **changes: Any) -> Task:
    """One training run; ``changes`` are further RunConfig keys (``cycle_momentum``, ``cycle_epochs``)."""
    wd = s.weight_decay if weight_decay is None else weight_decay
    return Task("train", s.config(schedule=schedule, epochs=epochs, seed=seed, **changes), max_lr=max_lr,
                weight_decay=wd)


def derived_lrs(s: Settings, finder: dict[str, Any] | None) -> dict[str, float]:
    """The learning rates read off the range test (none before it is measured): the library's recommendation,
    the smoothed minimum and the moderate lr (minimum / ``moderate_divisor``), each :func:`rounded`."""
    if finder is None:
        return {}
    rec = finder["recommendation"]
    out = {}
    if rec.get("max_lr") is not None:
        out["recommended"] = rounded(rec["max_lr"])
    if rec.get("lr_at_minimum") is not None:
        out["minimum"] = rounded(rec["lr_at_minimum"])
        out["moderate"] = rounded(rec["lr_at_minimum"] / s.moderate_divisor)
    return out


def budget_tasks(s: Settings, lrs: dict[str, float]) -> Iterator[Task]:
    """Experiment 1: every schedule at every budget over the grid; 1cycle also at the recommendation."""
    for epochs in s.budgets:
        for seed in s.seeds:
            for schedule in s.schedules:
                for lr in s.grid:
                    yield train_task(s, lr, epochs, seed, schedule)
            if "recommended" in lrs:
                yield train_task(s, lrs["recommended"], epochs, seed)


def momentum_lrs(s: Settings, lrs: dict[str, float]) -> list[float]:
    """Experiment 2's learning rates: the grid, and the recommendation when there is one."""
    return sorted({*s.grid, *([lrs["recommended"]] if "recommended" in lrs else [])})


def momentum_tasks(s: Settings, lrs: dict[str, float], constant: bool) -> Iterator[Task]:
    """Experiment 2: 1cycle with cyclical (``constant=False``, experiment 1's runs) or constant momentum."""
    changes = {"cycle_momentum": False, "momentum": s.constant_momentum} if constant else {}
    for lr in momentum_lrs(s, lrs):
        for seed in s.seeds:
            yield train_task(s, lr, s.momentum_epochs, seed, **changes)


def long_tasks(s: Settings, lr: float, short_cycle: bool = False) -> Iterator[Task]:
    """1cycle over ``long_epochs`` at ``lr`` (experiments 3 and 4), with the short cycle of experiment 4."""
    changes = {"cycle_epochs": s.cycle_epochs} if short_cycle else {}
    for seed in s.seeds:
        yield train_task(s, lr, s.long_epochs, seed, **changes)


def swept_lrs(sweep: dict[str, Any] | None) -> dict[float, float]:
    """Experiment 5: each swept weight decay and the max_lr its range test recommends (:func:`rounded`); values
    without a recommendation are left out."""
    if sweep is None:
        return {}
    return {wd: rounded(lr) for wd, lr in zip(sweep["values"], sweep["max_lrs"])
            if lr is not None and math.isfinite(lr)}


def weight_decay_tasks(s: Settings, sweep: dict[str, Any] | None) -> Iterator[Task]:
    for wd, lr in swept_lrs(sweep).items():
        for seed in s.seeds:
            yield train_task(s, lr, s.sweep_epochs, seed, weight_decay=wd)


def plan(s: Settings, lookup: Lookup) -> list[Task]:
    """Every task whose inputs are measured (``lookup``), once each: the range test and the sweep first, then the
    training runs, longest first (the workers finish closer together)."""
    finder = lookup(finder_task(s))
    lrs = derived_lrs(s, finder)
    runs = [*budget_tasks(s, lrs), *momentum_tasks(s, lrs, constant=False), *momentum_tasks(s, lrs, constant=True)]
    for name in ("minimum", "moderate", "recommended"):
        if name in lrs:
            runs += long_tasks(s, lrs[name])
    if "recommended" in lrs:
        runs += long_tasks(s, lrs["recommended"], short_cycle=True)
    runs += weight_decay_tasks(s, lookup(sweep_task(s)))
    unique: dict[str, Task] = {}
    for task in [finder_task(s), sweep_task(s), *sorted(runs, key=lambda t: -t.epochs)]:
        unique.setdefault(key(task), task)
    return list(unique.values())
