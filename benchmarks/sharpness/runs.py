"""The benchmark's measurements: what each one is (:class:`Task`), which are due (:func:`plan`), the cache key that
names everything one was measured under (:func:`key`), measuring it (:func:`measure`, run in worker processes) with
the library's own range test, training and sharpness, and the cache that checks each run it reads back
(:class:`RunCache`)."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.common import run_cache
from benchmarks.common.schema import FLAG, SECONDS, TEXT, Nullable, check, fraction, number, recommendation
from benchmarks.common.training import final_accuracy, in_run_dir, measured_settings, rounded
from benchmarks.sharpness.settings import ARMS, Arm, Settings

JOBS = ("train", "range_test")

Lookup = Callable[["Task"], Any]
"""The measurement of a task, ``None`` while it is not measured."""


@dataclass(frozen=True)
class Task:
    """One measurement: ``job`` (one of :data:`JOBS`) under ``config`` (RunConfig keys: the recipe, schedule, seed)
    at ``max_lr`` (training) and ``weight_decay``; a training run's sharpness is measured after it under
    ``sharpness`` (:class:`~onecycle.run_sharpness.SharpnessSettings` as a dict)."""

    job: str
    config: dict[str, Any]
    max_lr: float | None = None
    weight_decay: float | None = None
    sharpness: dict[str, Any] | None = None


def measured_under(task: Task) -> dict[str, Any]:
    """Every setting ``task`` is measured under: its job, every RunConfig key that can change its result
    (:func:`~benchmarks.common.training.measured_settings`), max_lr, weight decay, the sharpness settings and the
    torch version."""
    import torch

    if task.job not in JOBS:
        raise ValueError(f"job must be one of {', '.join(JOBS)}, got {task.job!r}")
    return {"job": task.job, **measured_settings(task.config, training=task.job == "train"),
            "max_lr": None if task.max_lr is None else float(task.max_lr),
            "weight_decay": None if task.weight_decay is None else float(task.weight_decay),
            "sharpness": task.sharpness, "torch": torch.__version__}


def key(task: Task) -> str:
    """The cache key of ``task``: :func:`label`, then a hash of everything it is measured under
    (:func:`measured_under`; :func:`~benchmarks.common.run_cache.task_key`)."""
    return run_cache.task_key(task, label, measured_under)


def label(task: Task) -> str:
    """A short description a person reads: job, schedule, lr, seed."""
    c = task.config
    if task.job != "train":
        return f"{task.job}|seed={c.get('seed', 0)}"
    return f"train|{c.get('schedule', 'onecycle')}|lr={task.max_lr:g}|seed={c.get('seed', 0)}"


def finder_task(s: Settings) -> Task:
    """The range test (``onecycle find-lr`` under the recipe) whose recommendation is the high max_lr."""
    return Task("range_test", s.config(seed=s.finder_seed), weight_decay=s.recipe["weight_decay"])


def peaks(s: Settings, finder: dict[str, Any] | None) -> dict[str, float] | None:
    """The max_lr of each peak: ``high``, the range test's recommendation in ``finder``, and ``moderate``, that
    divided by ``s.moderate_divisor``, each to 3 significant digits (``None`` before the range test is measured, or
    when it recommends none)."""
    recommended = None if finder is None else finder["recommendation"].get("max_lr")
    if recommended is None:
        return None
    return {"high": rounded(recommended), "moderate": rounded(recommended / s.moderate_divisor)}


def train_task(s: Settings, arm: Arm, max_lr: float, seed: int) -> Task:
    """One run of ``arm``'s schedule at ``max_lr``, its sharpness measured after it."""
    return Task("train", s.config(schedule=arm.schedule, seed=seed), max_lr=max_lr,
                weight_decay=s.recipe["weight_decay"], sharpness=dataclasses.asdict(s.sharpness))


def plan(s: Settings, lookup: Lookup) -> list[Task]:
    """Every task whose inputs are measured (``lookup``): the range test, then, once it is, every arm's runs."""
    tasks = [finder_task(s)]
    lrs = peaks(s, lookup(finder_task(s)))
    if lrs is not None:
        tasks += [train_task(s, arm, lrs[arm.peak], seed) for arm in ARMS for seed in s.seeds]
    return tasks


def measure(task: Task) -> dict[str, Any]:
    """Run ``task`` in a temporary run directory and return what the benchmark keeps of it (JSON), with the whole
    measurement's wall time in ``seconds`` and the ``date`` it ended:

    - train: the test ``accuracy`` and losses at the end (for a run stopped by a diverged loss, the accuracy of the
      weights it stopped at), ``diverged``, ``stopped``, ``train_time_s`` (``onecycle train``'s train time), and
      ``sharpness``, what ``onecycle sharpness`` measures at its checkpoint
      (:class:`~onecycle.sharpness.SharpnessResult`; ``None`` for a run that diverged) and ``sharpness_s``, the time
      it took;
    - range_test: the recommendation (``onecycle find-lr``'s).
    """
    from onecycle.config import from_dict
    from onecycle.experiment import prepare

    start = time.perf_counter()
    setup = prepare(from_dict(task.config), say=lambda line: None)
    job = _train if task.job == "train" else range_test
    return in_run_dir("onecycle-sharpness-", lambda run_dir: job(setup, task, run_dir), start)


def _train(setup: Any, task: Task, run_dir: Path) -> dict[str, Any]:
    from onecycle.engine import train_time
    from onecycle.experiment import train_run
    from onecycle.run_sharpness import SharpnessSettings, measure_run

    state = train_run(setup, run_dir, task.max_lr, task.weight_decay)
    last = state.history[-1] if state.history else {}
    out = {"diverged": state.diverged, "stopped": state.stopped, "train_time_s": round(train_time(state.history), 2),
           "train_loss": last.get("train_loss"), "test_loss": last.get("val_loss"), "sharpness": None,
           "sharpness_s": None, "accuracy": final_accuracy(setup, state)}
    if state.stopped is None:  # a run that diverged found no minimum to measure
        measured, _ = measure_run(run_dir, SharpnessSettings(**task.sharpness), say=lambda line: None)
        out.update(sharpness=measured.result.to_dict(), sharpness_s=measured.seconds)
    return out


def range_test(setup: Any, task: Task, run_dir: Path) -> dict[str, Any]:
    """The range test's record of ``task`` (``onecycle find-lr``'s recommendation), measured in ``run_dir``."""
    from onecycle.experiment import find_lr

    return {"recommendation": find_lr(setup, run_dir, task.weight_decay).recommendation.to_dict()}


def sharpness_result(value: Any, where: str) -> None:
    """A sharpness measurement, as :meth:`onecycle.sharpness.SharpnessResult.from_dict` reads it."""
    from onecycle.sharpness import SharpnessResult

    SharpnessResult.from_dict(value, where)


RECORDS = {
    "train": {"accuracy": fraction, "diverged": FLAG, "stopped": Nullable(TEXT), "train_time_s": SECONDS,
              "train_loss": Nullable(number()), "test_loss": Nullable(number(finite=False)),
              "sharpness": Nullable(sharpness_result), "sharpness_s": Nullable(SECONDS), "seconds": SECONDS,
              "date": TEXT},
    "range_test": {"recommendation": recommendation, "seconds": SECONDS, "date": TEXT},
}
"""What a measurement of each job holds (see :func:`measure`)."""


def check_run(key: str, run: Any) -> None:
    """Raise a ``ValueError`` naming the value inside ``run`` unless it is what its job (the start of ``key``)
    measures (:data:`RECORDS`)."""
    job = key.split("|", 1)[0]
    if job not in RECORDS:
        raise ValueError(f"its key must start with the job, one of {', '.join(JOBS)}")
    check(run, RECORDS[job], whole="the run")
    if job == "train" and (run["sharpness"] is None) != (run["stopped"] is not None):
        raise ValueError("sharpness must be measured for a run that trained to its end, and only for one")


class RunCache(run_cache.RunCache):
    """The benchmark's measurements by key, each checked as it is read back (:func:`check_run`)."""

    check_run = staticmethod(check_run)
