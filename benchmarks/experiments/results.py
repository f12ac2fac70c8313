"""The twins' results file read back: every value the report and the figures use checked against what it must be,
so that a damaged or hand-edited file is one error naming the file and the key, never a report of nonsense."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from benchmarks.common.cli import read_json
from benchmarks.common.schema import (
    COUNT,
    FLAG,
    LR,
    TEXT,
    Each,
    Nullable,
    OptionalKey,
    check,
    file_name,
    fraction,
    integer,
    number,
    one_of,
    validate,
)
from benchmarks.experiments.report import NAMES

RESULTS_KEYS = ("settings", "meta", "results")
"""The top-level keys of a results file (what the report reads)."""

LOSS = number(finite=False)
"""A loss, or a difference of losses: a number, not necessarily finite (a run that diverged)."""
ACCURACY = {"mean": Nullable(fraction), "std": Nullable(number(at_least=0.0)), OptionalKey("n"): COUNT,
            OptionalKey("diverged"): COUNT}
"""An accuracy over the seeds: mean and sample standard deviation (null without a value, or without two)."""
AT_LR = {**ACCURACY, "lr": Nullable(LR)}
SPREAD = {"mean": Nullable(LOSS), "std": Nullable(LOSS), OptionalKey("n"): COUNT}
DIFFERENCE = {OptionalKey("diff"): Nullable(number()), OptionalKey("se"): Nullable(number(at_least=0.0)),
              OptionalKey("verdict"): Nullable(TEXT)}
CURVE = {"max_lr": LR, "epoch": [integer(1)], "accuracy": ACCURACY, "mean_gap": SPREAD, "final_gap": SPREAD,
         "train_loss": [LOSS], "val_loss": [LOSS], "train_loss_std": [Nullable(LOSS)],
         "val_loss_std": [Nullable(LOSS)], "gap": [LOSS], "lr_curve": {"epoch": [number()], "lr": [number()]}}
"""Losses per epoch over the seeds, the final accuracy, and the schedule's lr."""
SCHEDULE = one_of(tuple(NAMES))
WEIGHT_DECAY = {
    "epochs": integer(1),
    "sweep": {"values": [number(at_least=0.0)], "pick": Nullable(number(at_least=0.0)), "max_lrs": [Nullable(LR)],
              "reached_losses": [LOSS], "eligible": [FLAG]},
    "curves": [{"lrs": [LR], "filtered": [LOSS]}], "trained": [{**AT_LR, "weight_decay": number(at_least=0.0)}],
    "best": Nullable({**AT_LR, "weight_decay": number(at_least=0.0)}),
    "picked": Nullable({**AT_LR, "weight_decay": number(at_least=0.0)}), "difference": DIFFERENCE,
}


def weight_decay(value: Any, where: str) -> None:
    """Experiment 5: nothing (``{}``, no sweep measured yet) or :data:`WEIGHT_DECAY`."""
    if value != {}:
        check(value, WEIGHT_DECAY, where)


RESULTS = {
    "settings": {
        "base": {"dataset": TEXT, OptionalKey("train_subset"): Nullable(integer(1)),
                 OptionalKey("test_subset"): Nullable(integer(1)), "model": TEXT, "momentum": number(at_least=0.0),
                 "batch_size": integer(1)},
        "seeds": [integer()], "weight_decay": number(at_least=0.0), "budgets": [integer(1)], "grid": [LR],
        "targets": [fraction], "constant_momentum": number(at_least=0.0), "moderate_divisor": number(positive=True),
        "sweep_values": [number(at_least=0.0)], "start_lr": LR, "end_lr": LR, "num_steps": integer(2),
        "finder_seed": integer(), "threads": integer(1),
    },
    "meta": {"command": TEXT, "machine": TEXT, "jobs": integer(1), "wall_time_s": number(at_least=0.0),
             "new_runs": COUNT, "runs": COUNT, "run_time_s": number(at_least=0.0), "results_file": TEXT,
             OptionalKey("epochs_trained"): COUNT, OptionalKey("fastest_epoch_s"): Nullable(number(at_least=0.0)),
             OptionalKey("load_average"): number(at_least=0.0),
             "runs_file": Nullable(TEXT), "images": file_name, OptionalKey("missing"): TEXT,
             OptionalKey("quick"): FLAG},
    "results": {
        "finder": Nullable({"lrs": [LR], "filtered": [LOSS]}),
        "lrs": Each(LR),
        "budget": {
            "schedules": Each({"per_budget": [{"epochs": integer(1), "grid": [ACCURACY], "best": Nullable(AT_LR),
                                               "best_on_edge": FLAG}]}, tuple(NAMES)),
            "recommended": [{**AT_LR, "epochs": integer(1)}],
            "rows": Each([{**AT_LR, "epochs": integer(1)}], tuple(NAMES)),
            "to_target": Each(Each({"first": Nullable(integer(1)), "interpolated": Nullable(number(positive=True))}),
                              tuple(NAMES)),
            "comparisons": [{"epochs": integer(1), "best_baseline": SCHEDULE, "baseline": ACCURACY,
                             OptionalKey("tuned"): DIFFERENCE, "range_test": DIFFERENCE}],
        },
        "momentum": {"epochs": integer(1), "constant_momentum": number(at_least=0.0),
                     "rows": [{"lr": LR, "recommended": FLAG, "cyclical": ACCURACY, "constant": ACCURACY,
                               "difference": DIFFERENCE}],
                     "best_cyclical": Nullable(AT_LR), "best_constant": Nullable(AT_LR), "difference": DIFFERENCE},
        "superconvergence": {"epochs": integer(1), "curves": Each(Nullable(CURVE)),
                             OptionalKey("accuracy_difference"): DIFFERENCE, OptionalKey("gap_difference"): DIFFERENCE},
        "short_cycle": {"epochs": integer(1), "cycle_epochs": integer(1), "curves": Each(Nullable(CURVE)),
                        OptionalKey("accuracy_difference"): DIFFERENCE, OptionalKey("gap_difference"): DIFFERENCE},
        "weight_decay": weight_decay,
        "claims": [{"experiment": integer(1), "claim": TEXT, "held": Nullable(FLAG), "verdict": Nullable(TEXT),
                    OptionalKey("noise_known"): FLAG, "evidence": TEXT}],
    },
}
"""What a results file holds: every key the report and the figures read, with what its value must be."""


def _targets_fit(data: dict[str, Any]) -> None:
    """Every schedule's epochs to each target of the settings."""
    for name, targets in data["results"]["budget"]["to_target"].items():
        for t in data["settings"]["targets"]:
            if f"{t:g}" not in targets:
                raise ValueError(f"results.budget.to_target.{name} is missing the target {t:g} of settings.targets")


def read_results(path: Path) -> dict[str, Any]:
    """The results file ``path``; one that cannot be read, holds no results of this benchmark or holds a value
    that is not what it must be is a :class:`~benchmarks.common.cli.BenchmarkError` naming it and the key."""
    data = read_json(path, "a results file", RESULTS_KEYS)
    validate(data, RESULTS, path, _targets_fit)
    return data
