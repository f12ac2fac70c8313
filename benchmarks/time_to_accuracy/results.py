"""The benchmark's results file read back: every value the report uses checked against what it must be, so that a
damaged or hand-edited file is one error naming the file and the key, never a report of nonsense."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from benchmarks.common.cli import read_json
from benchmarks.common.schema import (
    COUNT,
    FLAG,
    LR,
    SECONDS,
    TEXT,
    Nullable,
    OptionalKey,
    fraction,
    integer,
    number,
    one_of,
    validate,
)

RESULTS_KEYS = ("settings", "meta", "results")
"""The top-level keys of a results file (what the report reads)."""

STATUSES = ("reached", "not reached", "not known")
"""How far a seed is from the target: reached at some budget, at none of them, or not known while a shorter budget
is not measured (:func:`benchmarks.time_to_accuracy.analysis.to_target`)."""

ACCURACY = {"mean": Nullable(fraction), "std": Nullable(number(at_least=0.0)), "n": COUNT, "values": [fraction]}
"""Accuracies over the seeds: mean and sample standard deviation (null without a value, or without two)."""
SPREAD = {"mean": Nullable(SECONDS), "std": Nullable(SECONDS), "n": COUNT, "values": [SECONDS]}
"""Times, epochs or rates over the seeds, the same way."""
RUN = {"seed": integer(), "accuracy": fraction, "diverged": FLAG, "train_time_s": SECONDS, "cpu_time_s": SECONDS,
       "peak_rss_mb": number(positive=True), "threads": integer(1), "date": TEXT, "seconds": SECONDS,
       "per_epoch": [fraction], "best_accuracy": fraction, "images_per_s": Nullable(number(positive=True)),
       "load": Nullable({"mean": SECONDS, "max": SECONDS}), "stalled_s": SECONDS}
"""One measured run (:func:`benchmarks.time_to_accuracy.analysis.run_summary`)."""

RESULTS = {
    "settings": {
        "recipe": {"dataset": TEXT, "model": TEXT, "augment": TEXT, "optimizer": TEXT, "batch_size": integer(1),
                   "weight_decay": number(at_least=0.0), "label_smoothing": number(at_least=0.0),
                   "threads": integer(1), OptionalKey("channels_last"): FLAG,
                   OptionalKey("train_subset"): Nullable(integer(1)), OptionalKey("test_subset"): Nullable(integer(1))},
        "max_lr": Nullable(LR), "target": fraction, "goal": fraction, "budgets": [integer(1)], "seeds": [integer()],
        "finder_seed": integer(), "preset": Nullable(TEXT), OptionalKey("start"): Nullable(integer(1)),
    },
    "meta": {"command": TEXT, "machine": TEXT, "cpus": integer(1), "torch": TEXT, "jobs": integer(1), "date": TEXT,
             "wall_time_s": SECONDS, "new_runs": COUNT, "runs": COUNT, "run_time_s": SECONDS, "results_file": TEXT,
             "runs_file": TEXT, OptionalKey("missing"): TEXT, OptionalKey("quick"): FLAG},
    "results": {
        "range_test": Nullable({"max_lr": Nullable(LR), "lr_at_minimum": Nullable(LR),
                                "confidence": one_of(("high", "medium", "low")), "notes": [TEXT], "seconds": SECONDS,
                                "steps": integer(1)}),
        "max_lr": Nullable(LR), "max_lr_source": one_of(("range test", "settings")),
        "budgets": [{"epochs": integer(1), "runs": [RUN], "accuracy": ACCURACY, "train_time_s": SPREAD,
                     "reached": COUNT}],
        "to_target": {"per_seed": [{"seed": integer(), "status": one_of(STATUSES), "epochs": Nullable(integer(1)),
                                    OptionalKey("at_most"): Nullable(integer(1)),
                                    "train_time_s": Nullable(SECONDS), "cpu_time_s": Nullable(SECONDS),
                                    "exceptions": [integer(1)]}],
                      "every_seed": FLAG, "epochs": SPREAD, "train_time_s": SPREAD, "cpu_time_s": SPREAD,
                      "mean_budget": Nullable({"epochs": integer(1), "accuracy": ACCURACY, "train_time_s": SPREAD,
                                               "cpu_time_s": SPREAD})},
        "longest": Nullable({"epochs": integer(1), "final": ACCURACY, "best": ACCURACY, "per_epoch": [ACCURACY],
                             "goal_met": FLAG}),
        "images_per_s": SPREAD, "peak_rss_mb": Nullable(number(positive=True)),
    },
}
"""What a results file holds: every key the report reads, with what its value must be."""


def _fits_the_settings(data: dict[str, Any]) -> None:
    """Budgets, seeds and per-seed answers that are those of the settings (the report's columns are its seeds)."""
    s, results = data["settings"], data["results"]
    seeds, budgets = s["seeds"], s["budgets"]
    if not seeds or not budgets or len(set(seeds)) != len(seeds) or len(set(budgets)) != len(budgets):
        raise ValueError(f"settings.seeds {seeds} and settings.budgets {budgets} must be non-empty lists of distinct "
                         "values")
    for i, row in enumerate(results["budgets"]):
        if row["epochs"] not in budgets:
            raise ValueError(f"results.budgets[{i}].epochs {row['epochs']} is not one of settings.budgets {budgets}")
        for j, run in enumerate(row["runs"]):
            if run["seed"] not in seeds:
                raise ValueError(f"results.budgets[{i}].runs[{j}].seed {run['seed']} is not one of settings.seeds "
                                 f"{seeds}")
    per_seed = [p["seed"] for p in results["to_target"]["per_seed"]]
    if per_seed != seeds:
        raise ValueError(f"results.to_target.per_seed holds seeds {per_seed}, not those of settings.seeds {seeds}")
    for i, p in enumerate(results["to_target"]["per_seed"]):
        if (p["status"] == "reached") != (p["epochs"] is not None):
            raise ValueError(f"results.to_target.per_seed[{i}] has status {p['status']!r} and epochs {p['epochs']}: "
                             "a seed that reached the target has the epochs it took, and only such a seed")


def read_results(path: Path) -> dict[str, Any]:
    """The results file ``path``; one that cannot be read, holds no results of this benchmark or holds a value that
    is not what it must be is a :class:`~benchmarks.common.cli.BenchmarkError` naming it and the key."""
    data = read_json(path, "a results file", RESULTS_KEYS)
    validate(data, RESULTS, path, _fits_the_settings)
    return data
