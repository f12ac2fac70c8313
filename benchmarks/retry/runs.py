"""The benchmark's measurements: which are due (:func:`plan`), the cache key naming everything one was measured under
(:func:`key`), measuring one (:func:`measure`, run in worker processes) with the library's own range test and
training, and the cache that checks each run it reads back (:class:`RunCache`). A measurement is a
:class:`~benchmarks.sharpness.runs.Task` (without sharpness), keyed by the same settings as the sharpness
benchmark's."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks.common import run_cache
from benchmarks.common.schema import COUNT, FLAG, LR, SECONDS, TEXT, Nullable, check, fraction
from benchmarks.common.training import final_accuracy, in_run_dir, rounded
from benchmarks.retry.settings import MODES, Settings
from benchmarks.sharpness.runs import JOBS, Task, measured_under, range_test
from benchmarks.sharpness.runs import RECORDS as SHARPNESS_RECORDS

Lookup = Callable[[Task], Any]
"""The measurement of a task, ``None`` while it is not measured."""


def key(task: Task) -> str:
    """The cache key of ``task``: :func:`label`, then a hash of everything it is measured under
    (:func:`measured_under`; :func:`~benchmarks.common.run_cache.task_key`)."""
    return run_cache.task_key(task, label, measured_under)


def label(task: Task) -> str:
    """A short description a person reads: job, on_diverge, lr, seed."""
    c = task.config
    if task.job != "train":
        return f"{task.job}|seed={c.get('seed', 0)}"
    return f"train|{c.get('on_diverge', 'stop')}|lr={task.max_lr:g}|seed={c.get('seed', 0)}"


def finder_task(s: Settings) -> Task:
    """The range test (``onecycle find-lr`` under the recipe) whose recommendation the multiples multiply."""
    return Task("range_test", s.config(seed=s.finder_seed), weight_decay=s.recipe["weight_decay"])


def recommended(finder: dict[str, Any] | None) -> float | None:
    """The range test's recommended max_lr in ``finder`` (``None`` before it is measured, or when it recommends
    none)."""
    return None if finder is None else finder["recommendation"].get("max_lr")


def max_lr(recommendation: float, multiple: float) -> float:
    """The max_lr trained at ``multiple`` times the ``recommendation``, to 3 significant digits."""
    return rounded(recommendation * multiple)


def train_task(s: Settings, mode: str, lr: float, seed: int) -> Task:
    """One 1cycle run at ``lr`` with ``on_diverge`` ``mode``."""
    return Task("train", s.config(on_diverge=mode, seed=seed), max_lr=lr, weight_decay=s.recipe["weight_decay"])


def plan(s: Settings, lookup: Lookup) -> list[Task]:
    """Every task whose inputs are measured (``lookup``): the range test, then, once it is, every multiple's runs
    in each mode and seed."""
    tasks = [finder_task(s)]
    rec = recommended(lookup(finder_task(s)))
    if rec is not None:
        tasks += [train_task(s, mode, max_lr(rec, m), seed) for m in s.multiples for mode in MODES for seed in s.seeds]
    return tasks


def measure(task: Task) -> dict[str, Any]:
    """Run ``task`` in a temporary run directory and return what the benchmark keeps of it (JSON), with the whole
    measurement's wall time in ``seconds`` and the ``date`` it ended:

    - train: the test ``accuracy`` at the end (for a run that stopped, that of the weights it stopped at),
      ``diverged``, ``stopped`` (why, or ``None``), ``steps`` (the step it ended at), ``retries`` (each retry's
      ``step``, where the divergence was found, ``restored_step``, the step it went on from, and the ``max_lr`` it
      rose to), ``extra_steps`` (the steps trained again: the sum of ``step - restored_step``) and ``train_time_s``
      (``onecycle train``'s train time);
    - range_test: the recommendation (``onecycle find-lr``'s).
    """
    from onecycle.config import from_dict
    from onecycle.experiment import prepare

    start = time.perf_counter()
    setup = prepare(from_dict(task.config), say=lambda line: None)
    job = _train if task.job == "train" else range_test
    return in_run_dir("onecycle-retry-", lambda run_dir: job(setup, task, run_dir), start)


def _train(setup: Any, task: Task, run_dir: Path) -> dict[str, Any]:
    from onecycle.engine import train_time
    from onecycle.experiment import train_run

    state = train_run(setup, run_dir, task.max_lr, task.weight_decay)
    accuracy = final_accuracy(setup, state)
    retries = [{"step": r["step"], "restored_step": r["restored_step"], "max_lr": r["max_lr"]} for r in state.retries]
    return {"accuracy": accuracy, "diverged": state.diverged, "stopped": state.stopped, "steps": state.step,
            "retries": retries, "extra_steps": sum(r["step"] - r["restored_step"] for r in retries),
            "train_time_s": round(train_time(state.history), 2)}


RETRY = {"step": COUNT, "restored_step": COUNT, "max_lr": LR}
"""One retry of a run, as :func:`measure` keeps it."""
RECORDS = {
    "train": {"accuracy": fraction, "diverged": FLAG, "stopped": Nullable(TEXT), "steps": COUNT, "retries": [RETRY],
              "extra_steps": COUNT, "train_time_s": SECONDS, "seconds": SECONDS, "date": TEXT},
    "range_test": SHARPNESS_RECORDS["range_test"],
}
"""What a measurement of each job holds (see :func:`measure`)."""


def check_run(key: str, run: Any) -> None:
    """Raise a ``ValueError`` naming the value inside ``run`` unless it is what its job (the start of ``key``)
    measures (:data:`RECORDS`)."""
    job = key.split("|", 1)[0]
    if job not in RECORDS:
        raise ValueError(f"its key must start with the job, one of {', '.join(JOBS)}")
    check(run, RECORDS[job], whole="the run")
    if job == "train":
        extra = sum(r["step"] - r["restored_step"] for r in run["retries"])
        if any(r["restored_step"] > r["step"] for r in run["retries"]) or run["extra_steps"] != extra:
            raise ValueError(f"extra_steps {run['extra_steps']} must be the sum of the retries' step - restored_step "
                             f"({extra}), each restored_step at or before its step")


class RunCache(run_cache.RunCache):
    """The benchmark's measurements by key, each checked as it is read back (:func:`check_run`)."""

    check_run = staticmethod(check_run)

