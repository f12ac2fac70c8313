"""Training for the benchmark: 1cycle runs, range tests and the weight-decay check of one case."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import numpy as np

from benchmarks.common import training as common_training
from benchmarks.recommendation.cases import Case, Settings
from benchmarks.recommendation.scoring import Run, loss_at_lr_pick, score_weight_decay


def make_setup(case: Case) -> Any:
    """The library's :class:`onecycle.experiment.Setup` for a case (data loaded once)."""
    return common_training.make_setup(case.settings())


def default_weight_decay(case: Case) -> float:
    from onecycle.experiment import DEFAULT_WEIGHT_DECAY

    return DEFAULT_WEIGHT_DECAY[case.optimizer]


def one_cycle_run(setup: Any, max_lr: float, seed: int, weight_decay: float) -> Run:
    """A 1cycle run with the scheduler's defaults (the article's policy); test accuracy at the end."""
    from onecycle.engine import evaluate

    s = dataclasses.replace(setup, cfg=setup.cfg.replace(seed=seed))  # same data, other init and batch order
    state = common_training.train_policy(s, max_lr, weight_decay)
    acc = evaluate(state.model, s.batches(train=False), s.loss_fn())["accuracy"]
    return Run(acc, state.stopped is not None)


def finder_curve(setup: Any, settings: Settings, weight_decay: float, num_steps: int | None = None,
                 repeats: int = 1) -> dict[str, Any]:
    """A range test under the training conditions (batch size, optimizer, weight decay); with ``repeats``,
    the first curve and the combined recommendation."""
    from onecycle.range_test import range_test

    num_steps = num_steps or settings.num_steps
    s = dataclasses.replace(setup, cfg=setup.cfg.replace(seed=settings.finder_seed))
    model = s.model()
    result = range_test(model, s.optimizer(model, settings.start_lr, weight_decay), s.batches(), s.loss_fn(),
                        start_lr=settings.start_lr, end_lr=settings.end_lr, num_steps=num_steps,
                        seed=settings.finder_seed, repeats=repeats)
    return {"lrs": result.lrs, "losses": result.losses, "recommendation": result.recommendation.to_dict(),
            "num_steps": num_steps, "repeats": repeats, "diverged": result.diverged,
            "stop_reason": result.stop_reason, "total_steps": s.cfg.epochs * len(s.batches())}


def stability_probe(setup: Any, settings: Settings, weight_decay: float, finder: dict[str, Any]) -> dict[str, Any]:
    """The library's stability probe after the range test ``finder``, from the same initial weights and seed, at
    its default candidates and budget share of the case's planned training steps; ``{}`` without a
    recommendation."""
    from onecycle.probe import CANDIDATES, candidates_below, probe, steps_per_candidate

    max_lr = finder["recommendation"]["max_lr"]
    if max_lr is None:
        return {}
    s = dataclasses.replace(setup, cfg=setup.cfg.replace(seed=settings.finder_seed))
    model = s.model()
    result = probe(model, s.optimizer(model, max_lr, weight_decay), s.batches(), s.loss_fn(),
                   candidates_below(max_lr), steps_per_candidate(finder["total_steps"], CANDIDATES),
                   seed=settings.finder_seed)
    return result.to_dict()


FINDER_VARIANTS: dict[str, dict[str, int]] = {"ours, 300-step test": {"num_steps": 300},
                                              "ours, 3 tests combined": {"repeats": 3}}
"""The library's rule on other range tests of the same case: more steps, or repeats (seeds) combined."""


def finder_variants(setup: Any, settings: Settings, weight_decay: float) -> dict[str, dict[str, Any]]:
    """The recommendation of each :data:`FINDER_VARIANTS` range test (without its curve)."""
    out = {}
    for name, options in FINDER_VARIANTS.items():
        f = finder_curve(setup, settings, weight_decay, **options)
        out[name] = {"num_steps": f["num_steps"], "repeats": f["repeats"], "points": len(f["lrs"]),
                     "recommendation": f["recommendation"]}
    return out


def weight_decay_check(case: Case, settings: Settings, lr: float, setup: Any,
                       train: Callable[[float, int, float], Run]) -> dict[str, Any]:
    """The sweep's pick against the best of a trained weight-decay grid at ``lr`` (``train(lr, seed, wd)``)."""
    from onecycle.sweep import sweep

    s = dataclasses.replace(setup, cfg=setup.cfg.replace(seed=settings.finder_seed))
    model = s.model()
    result = sweep("weight_decay", list(case.weight_decays), model, s.optimizer(model, settings.start_lr, 0.0),
                   s.batches(), s.loss_fn(), seed=settings.finder_seed, start_lr=settings.start_lr,
                   end_lr=settings.end_lr, num_steps=settings.num_steps)
    grid = []
    for wd in case.weight_decays:
        runs = [train(lr, seed, wd) for seed in settings.seeds]
        grid.append({"weight_decay": wd, "accuracy": float(np.mean([r.accuracy for r in runs])),
                     "diverged": any(r.diverged for r in runs)})
    scored = score_weight_decay(grid, result.pick, lr, result.max_lrs)
    alternative = loss_at_lr_pick(result.values, [(r.lrs, r.curves[0].filtered) for r in result.results],
                                  result.max_lrs)
    scored["loss_at_lr"] = score_weight_decay(grid, alternative, lr)
    return scored
