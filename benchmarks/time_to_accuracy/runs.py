"""The benchmark's measurements: what each one is (:class:`Task`), the cache key that names everything it was
measured under (:func:`key`), and measuring it (:func:`measure`, run in worker processes) with the library's own
range test (:func:`onecycle.experiment.find_lr`) and training (:func:`onecycle.experiment.train_run`, its hooks and
run-directory files included): the figures are those of ``onecycle find-lr`` and ``onecycle train``."""

from __future__ import annotations

import dataclasses
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.common import run_cache
from benchmarks.common.training import final_accuracy, in_run_dir, measured_settings
from benchmarks.time_to_accuracy import usage
from benchmarks.time_to_accuracy.settings import SUBSET_SEED

JOBS = ("train", "range_test")


@dataclass(frozen=True)
class Task:
    """One measurement: ``job`` (one of :data:`JOBS`) under ``config`` (RunConfig keys: the recipe, epochs, seed)
    at ``max_lr`` (training) and ``weight_decay``."""

    job: str
    config: dict[str, Any]
    max_lr: float | None = None
    weight_decay: float | None = None


def measured_under(task: Task) -> dict[str, Any]:
    """Every setting ``task`` is measured under: its job, every RunConfig key that can change its result
    (:func:`~benchmarks.common.training.measured_settings`), max_lr, weight decay, the seed of the data subsets and
    the torch version."""
    import torch

    if task.job not in JOBS:
        raise ValueError(f"job must be one of {', '.join(JOBS)}, got {task.job!r}")
    return {"job": task.job, **measured_settings(task.config, training=task.job == "train"),
            "max_lr": None if task.max_lr is None else float(task.max_lr),
            "weight_decay": None if task.weight_decay is None else float(task.weight_decay),
            "subset_seed": SUBSET_SEED, "torch": torch.__version__}


def key(task: Task) -> str:
    """The cache key of ``task``: :func:`label`, then a hash of everything it is measured under
    (:func:`measured_under`; :func:`~benchmarks.common.run_cache.task_key`)."""
    return run_cache.task_key(task, label, measured_under)


def label(task: Task) -> str:
    """A short description a person reads: job, lr, epochs, seed."""
    c = task.config
    if task.job != "train":
        return f"{task.job}|seed={c.get('seed', 0)}"
    return f"train|lr={task.max_lr:g}|epochs={c['epochs']}|seed={c.get('seed', 0)}"


_SETUPS: dict[str, Any] = {}
"""Loaded data by data settings, kept for the life of a worker process."""


def _setup(cfg: Any) -> Any:
    """The :class:`onecycle.experiment.Setup` of ``cfg``: its data loaded once per process (subsets drawn with
    :data:`SUBSET_SEED`), with ``cfg`` as its settings and no warnings shown yet."""
    from onecycle.config import from_dict
    from onecycle.experiment import prepare

    data = {k: getattr(cfg, k) for k in ("dataset", "train_subset", "test_subset", "device", "data_dir",
                                          "download")}
    name = json.dumps(data, sort_keys=True)
    if name not in _SETUPS:
        _SETUPS[name] = prepare(from_dict({**data, "seed": SUBSET_SEED}), say=lambda line: None)
    return dataclasses.replace(_SETUPS[name], cfg=cfg, warned=set())


EPOCH_KEYS = ("epoch", "val_accuracy", "val_loss", "train_loss", "lr", "time_s", "images_per_s")
"""What is kept of each epoch's metrics (``onecycle train``'s), with the CPU time and load of :mod:`.usage`."""


def measure(task: Task) -> dict[str, Any]:
    """Run ``task`` in a temporary run directory and return what the benchmark keeps of it (JSON), with the
    whole measurement's wall time in ``seconds`` and the ``date`` it ended:

    - train: the test ``accuracy`` at the end (for a run stopped by a diverged loss, of the weights it stopped
      at), ``diverged``, ``stopped``, ``train_time_s`` (``onecycle train``'s train time: the epochs' steps and
      test evaluations), ``cpu_time_s``, ``peak_rss_mb`` and ``history``, each epoch's :data:`EPOCH_KEYS` and
      ``cpu_s`` and ``load`` (:mod:`.usage`);
    - range_test: the recommendation (``onecycle find-lr``'s) and the range test's wall time.
    """
    import torch

    from onecycle.config import from_dict

    cfg = from_dict(task.config)
    setup = _setup(cfg)
    if cfg.threads is not None:  # as onecycle.experiment.prepare sets them
        torch.set_num_threads(cfg.threads)
    job = _train if task.job == "train" else _range_test
    return in_run_dir("onecycle-tta-", lambda run_dir: job(setup, task, run_dir), time.perf_counter())


def _train(setup: Any, task: Task, run_dir: Path) -> dict[str, Any]:
    from onecycle.engine import train_time
    from onecycle.experiment import train_run

    meter = usage.Meter()
    state = train_run(setup, run_dir, task.max_lr, task.weight_decay, extra_hooks=[meter])
    history = [{**{k: h.get(k) for k in EPOCH_KEYS}, **meter.epochs[i]} for i, h in enumerate(state.history)]
    return {"accuracy": final_accuracy(setup, state), "diverged": state.diverged, "stopped": state.stopped,
            "train_time_s": round(train_time(state.history), 2), "cpu_time_s": round(meter.cpu_time(), 2),
            "peak_rss_mb": round(usage.peak_rss_mb(), 1), "threads": meter.threads, "history": history}


def _range_test(setup: Any, task: Task, run_dir: Path) -> dict[str, Any]:
    from onecycle.experiment import find_lr

    start = time.perf_counter()
    result = find_lr(setup, run_dir, task.weight_decay)
    return {"recommendation": result.recommendation.to_dict(), "range_test_s": round(time.perf_counter() - start, 2),
            "steps": len(result.curves[0].lrs)}
