"""The peers, measured on the same network, images and budget as ``onecycle``: pytorch-lr-finder's
``LRFinder.range_test`` (with its ``reset``), fastai's ``lr_find`` and ``fit_one_cycle``. They are no dependency
of the package: these functions run only in the peers' own environment (:mod:`benchmarks.speed.peer_env`), fed
by the per-sample ``DataLoader`` of :mod:`benchmarks.speed.loops` (fastai's batch augmentation lives in
``fastai.vision``, which needs torchvision, and torchvision does not import beside the CPU build of torch here)."""

from __future__ import annotations

import functools
import tempfile
from typing import Any

from torch import nn

from benchmarks.speed.loops import network, per_sample_loaders, sgd


def lrfinder_range(spec: dict[str, Any], data: dict[str, Any]) -> dict[str, Any]:
    """pytorch-lr-finder's range test over ``spec["range_steps"]`` steps from ``start_lr`` to ``end_lr`` (its own
    stop rule: loss above 5x the best), then ``reset()``, which restores the network and optimizer."""
    from torch_lr_finder import LRFinder

    model = network(spec, data)
    optimizer = sgd(model, spec, spec["start_lr"])
    train, _ = per_sample_loaders(spec, data)
    finder = LRFinder(model, optimizer, nn.CrossEntropyLoss(), device=spec["device"])
    finder.range_test(train, start_lr=spec["start_lr"], end_lr=spec["end_lr"], num_iter=spec["range_steps"])
    finder.reset()
    steps = len(finder.history["lr"])
    return {"images": steps * spec["batch_size"], "steps": steps}


def _learner(spec: dict[str, Any], data: dict[str, Any], path: str) -> Any:
    """A fastai ``Learner`` of the network over the per-sample loaders, fastai's SGD with the settings' momentum
    and (decoupled, fastai's default) weight decay, reporting accuracy; files under ``path``."""
    from fastai.basics import SGD, DataLoaders, Learner, accuracy
    from fastai.callback import progress, schedule  # noqa: F401  (they add Learner.no_bar, fit_one_cycle, lr_find)

    train, test = per_sample_loaders(spec, data)
    return Learner(DataLoaders(train, test), network(spec, data), loss_func=nn.CrossEntropyLoss(),
                   opt_func=functools.partial(SGD, mom=spec["momentum"]), wd=spec["weight_decay"], metrics=accuracy,
                   path=path)


def fastai_range(spec: dict[str, Any], data: dict[str, Any]) -> dict[str, Any]:
    """fastai's ``lr_find`` over ``spec["range_steps"]`` steps from ``start_lr`` to ``end_lr`` (its own stop rule:
    loss above 4x the best; it saves the network to a file first and loads it back after)."""
    with tempfile.TemporaryDirectory() as path:
        learn = _learner(spec, data, path)
        with learn.no_bar():
            learn.lr_find(start_lr=spec["start_lr"], end_lr=spec["end_lr"], num_it=spec["range_steps"],
                          show_plot=False)
        steps = len(learn.recorder.lrs)
    return {"images": steps * spec["batch_size"], "steps": steps}


def fastai_train(spec: dict[str, Any], data: dict[str, Any]) -> dict[str, Any]:
    """fastai's ``fit_one_cycle`` for ``spec["epochs"]`` epochs at ``max_lr`` (its defaults otherwise), the test
    images evaluated after each epoch; the final test accuracy."""
    with tempfile.TemporaryDirectory() as path:
        learn = _learner(spec, data, path)
        with learn.no_bar(), learn.no_logging():
            learn.fit_one_cycle(spec["epochs"], spec["max_lr"])
        steps = spec["epochs"] * len(learn.dls.train)
        accuracy = float(learn.recorder.values[-1][-1])
    return {"images": steps * spec["batch_size"], "steps": steps, "accuracy": accuracy}


def versions() -> dict[str, str]:
    """The versions of the peers this environment holds."""
    from importlib.metadata import version

    return {name: version(name) for name in ("torch-lr-finder", "fastai", "fastcore")}
