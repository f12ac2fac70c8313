"""The twins' measurements: what each one is (:class:`Task`), the cache key that names everything it was measured
under (:func:`key`), and measuring it (:func:`measure`, run in worker processes)."""

from __future__ import annotations

import dataclasses
import json
import time
from dataclasses import dataclass
from typing import Any

from benchmarks.common import run_cache
from benchmarks.common.training import measured_settings
from benchmarks.experiments.settings import SUBSET_SEED

JOBS = ("train", "range_test", "sweep")


@dataclass(frozen=True)
class Task:
    """One measurement: ``job`` (one of :data:`JOBS`) under ``config`` (RunConfig keys: schedule, momentum,
    epochs, seed, threads...) at ``max_lr`` (training) and ``weight_decay`` (training and range tests; a sweep
    varies it)."""

    job: str
    config: dict[str, Any]
    max_lr: float | None = None
    weight_decay: float | None = None

    @property
    def epochs(self) -> int:
        return int(self.config.get("epochs", 0)) if self.job == "train" else 0


def measured_under(task: Task) -> dict[str, Any]:
    """Every setting ``task`` is measured under: its job, every RunConfig key that can change its result (for
    training, all but how range tests measure), defaults filled in, max_lr, weight decay, the seed of the data
    subsets and the torch version. (Not validated: :func:`measure` validates.)"""
    import torch

    if task.job not in JOBS:
        raise ValueError(f"job must be one of {', '.join(JOBS)}, got {task.job!r}")
    config = measured_settings(task.config, training=task.job == "train")
    return {"job": task.job, **config, "max_lr": _number(task.max_lr), "weight_decay": _number(task.weight_decay),
            "subset_seed": SUBSET_SEED, "torch": torch.__version__}


def _number(v: float | None) -> float | None:
    return None if v is None else float(v)


def key(task: Task) -> str:
    """The cache key of ``task``: :func:`label`, then a hash of everything it is measured under
    (:func:`measured_under`; :func:`~benchmarks.common.run_cache.task_key`)."""
    return run_cache.task_key(task, label, measured_under)


def label(task: Task) -> str:
    """A short description a person reads: job, schedule, lr, epochs, seed."""
    c = task.config
    if task.job != "train":
        return f"{task.job}|seed={c.get('seed', 0)}"
    parts = [task.job, c.get("schedule", "onecycle"), f"lr={task.max_lr:g}", f"wd={task.weight_decay:g}",
             f"epochs={c['epochs']}", f"seed={c.get('seed', 0)}"]
    if c.get("cycle_momentum") is False:
        parts.append("constant-momentum")
    if c.get("cycle_epochs") is not None:
        parts.append(f"cycle-epochs={c['cycle_epochs']}")
    return "|".join(parts)


_SETUPS: dict[str, Any] = {}
"""Loaded data by data settings, kept for the life of a worker process."""


def _setup(cfg: Any) -> Any:
    """The :class:`onecycle.experiment.Setup` of ``cfg``: its data loaded once per process (fixed subsets, drawn
    with :data:`SUBSET_SEED`), with ``cfg`` as its settings."""
    from benchmarks.common.training import make_setup

    data = {k: getattr(cfg, k) for k in ("dataset", "train_subset", "test_subset", "device", "data_dir",
                                          "download")}
    name = json.dumps(data, sort_keys=True)
    if name not in _SETUPS:
        _SETUPS[name] = make_setup({**data, "seed": SUBSET_SEED, "progress": False})
    return dataclasses.replace(_SETUPS[name], cfg=cfg)


HISTORY_KEYS = ("epoch", "step", "lr", "train_loss", "train_accuracy", "val_loss", "val_accuracy", "time_s")


def measure(task: Task) -> dict[str, Any]:
    """Run ``task`` and return what the twins keep of it (JSON), with its wall time in ``seconds``:

    - train: the test ``accuracy`` at the end, ``diverged`` (and why it ``stopped``), and each epoch's
      :data:`HISTORY_KEYS` (train loss: the mean over the epoch's steps; test loss and accuracy after it);
    - range_test: the curve (lrs, raw and zero-phase-smoothed losses) and the recommendation;
    - sweep: each value's curve and recommended max_lr, the reached losses and the pick.
    """
    import torch

    from onecycle.config import from_dict

    cfg = from_dict(task.config)
    torch.set_num_threads(cfg.threads or 1)
    setup = _setup(cfg)
    start = time.perf_counter()
    if task.job == "train":
        out = _train(setup, task)
    elif task.job == "range_test":
        out = _range_test(setup, task)
    else:
        out = _sweep(setup)
    return {**out, "seconds": round(time.perf_counter() - start, 2)}


def _train(setup: Any, task: Task) -> dict[str, Any]:
    from benchmarks.common.training import train_policy
    from onecycle.engine import evaluate

    state = train_policy(setup, task.max_lr, task.weight_decay, evaluate_each_epoch=True)
    history = [{k: h.get(k) for k in HISTORY_KEYS} for h in state.history]
    if state.stopped is None:
        accuracy = history[-1]["val_accuracy"]
    else:  # diverged: the weights before the non-finite step
        accuracy = evaluate(state.model, setup.batches(train=False), setup.loss_fn())["accuracy"]
    return {"accuracy": accuracy, "diverged": state.stopped is not None, "stopped": state.stopped,
            "history": history}


def _curve(result: Any) -> dict[str, Any]:
    curve = result.curves[0]
    return {"lrs": curve.lrs, "losses": curve.losses, "filtered": curve.filtered,
            "recommendation": result.recommendation.to_dict(), "stop_reason": curve.stop_reason,
            "diverged": curve.diverged}


def _range_test(setup: Any, task: Task) -> dict[str, Any]:
    from onecycle.range_test import range_test

    cfg = setup.cfg
    model = setup.model()
    result = range_test(model, setup.optimizer(model, cfg.start_lr, task.weight_decay), setup.batches(),
                        setup.loss_fn(), start_lr=cfg.start_lr, end_lr=cfg.end_lr, num_steps=cfg.num_steps,
                        seed=cfg.seed, div_factor=cfg.div_factor)
    return _curve(result)


def _sweep(setup: Any) -> dict[str, Any]:
    from onecycle.sweep import sweep

    cfg = setup.cfg
    model = setup.model()
    result = sweep(cfg.sweep_param, list(cfg.sweep_values), model, setup.optimizer(model, cfg.start_lr, 0.0),
                   setup.batches(), setup.loss_fn(), seed=cfg.seed, start_lr=cfg.start_lr, end_lr=cfg.end_lr,
                   num_steps=cfg.sweep_steps or cfg.num_steps, div_factor=cfg.div_factor)
    return {"param": result.param, "values": list(result.values), "pick": result.pick,
            "max_lrs": list(result.max_lrs), "reached_losses": list(result.reached_losses),
            "eligible": list(result.eligible), "curves": [_curve(r) for r in result.results]}
