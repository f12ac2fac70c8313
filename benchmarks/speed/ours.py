"""``onecycle`` itself, measured as a user runs it: ``onecycle train`` through
:func:`onecycle.experiment.train_run` (hooks, metrics files, checkpoints, schedule plot, into a temporary run
directory) and the range test (:func:`onecycle.range_test.range_test`, its snapshot and restore included)."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any


def setup(spec: dict[str, Any], data: dict[str, Any]) -> Any:
    """The library's :class:`~onecycle.experiment.Setup` for ``spec["config"]`` (RunConfig keys, checked by the
    settings' own rules) over the images of ``data``, already on the device."""
    from onecycle.config import from_dict
    from onecycle.datasets import ImageData
    from onecycle.engine import pick_device
    from onecycle.experiment import Setup

    cfg = from_dict(spec["config"], "the speed benchmark's settings")
    classes = tuple(str(c) for c in range(int(data["num_classes"])))
    train, test = (ImageData(data[f"{split}_images"], data[f"{split}_labels"], classes, cfg.dataset, "memory")
                   for split in ("train", "test"))
    return Setup(cfg, pick_device(cfg.device), train, test, data["mean"], data["std"])


def ours_train(spec: dict[str, Any], data: dict[str, Any]) -> dict[str, Any]:
    """``onecycle train`` at the settings' max_lr and weight decay into a temporary run directory: the images and
    steps trained, the final test accuracy."""
    from onecycle.experiment import drops_last, train_run

    run = setup(spec, data)
    with tempfile.TemporaryDirectory() as tmp:
        state = train_run(run, Path(tmp) / "run", run.cfg.max_lr, run.cfg.weight_decay)
    if state.stopped is not None:
        raise RuntimeError(state.stopped)
    n, size = len(run.train_data), run.cfg.batch_size
    per_epoch = n // size * size if drops_last(n, size) else n
    return {"images": state.epoch * per_epoch, "steps": state.step, "accuracy": state.history[-1].get("val_accuracy")}


def ours_range(spec: dict[str, Any], data: dict[str, Any]) -> dict[str, Any]:
    """The library's range test as ``onecycle find-lr`` runs it (without writing its files): the steps it took
    (it stops where the loss diverges, and goes on past end_lr when it has not)."""
    from onecycle.range_test import range_test

    run = setup(spec, data)
    cfg = run.cfg
    model = run.model()
    optimizer = run.optimizer(model, cfg.start_lr, cfg.weight_decay)
    result = range_test(model, optimizer, run.batches(), run.loss_fn(), start_lr=cfg.start_lr, end_lr=cfg.end_lr,
                        num_steps=cfg.num_steps, repeats=cfg.repeats, seed=cfg.seed, amp_dtype=run.amp_dtype,
                        div_factor=cfg.div_factor)
    steps = sum(len(curve.lrs) for curve in result.curves)
    return {"images": steps * cfg.batch_size, "steps": steps}
