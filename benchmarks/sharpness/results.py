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
from benchmarks.sharpness.settings import ARMS, PEAKS

RESULTS_KEYS = ("settings", "meta", "results")
"""The top-level keys of a results file (what the report reads)."""

EIGENVALUES = {"mean": Nullable(number()), "std": Nullable(number(at_least=0.0)), "n": COUNT, "values": [number()]}
"""Eigenvalues over the seeds: mean and sample standard deviation (null without a value, or without two)."""
ACCURACY = {"mean": Nullable(fraction), "std": Nullable(number(at_least=0.0)), "n": COUNT, "values": [fraction]}
RUN = {"seed": integer(), "accuracy": fraction, "diverged": FLAG, "eigenvalues": Nullable([number()]),
       "converged": Nullable(FLAG), "iterations": Nullable(integer(1)), "train_time_s": SECONDS,
       "sharpness_s": Nullable(SECONDS)}
"""One measured run (:func:`benchmarks.sharpness.analysis.run_summary`)."""
COMPARISON = Nullable({"ratio": Nullable(number()), "lower": FLAG, "separated": Nullable(FLAG)})

RESULTS = {
    "settings": {
        "recipe": {"dataset": TEXT, "model": TEXT, "augment": TEXT, "optimizer": TEXT, "batch_size": integer(1),
                   "weight_decay": number(at_least=0.0), "label_smoothing": number(at_least=0.0),
                   "epochs": integer(1), OptionalKey("train_subset"): Nullable(integer(1)),
                   OptionalKey("test_subset"): Nullable(integer(1))},
        "seeds": [integer()], "finder_seed": integer(), "moderate_divisor": number(positive=True),
        "sharpness": {"images": integer(1), "k": integer(1), "tol": number(positive=True), "max_iter": integer(1),
                      "batch_size": integer(1), "seed": integer()},
    },
    "meta": {"command": TEXT, "machine": TEXT, "cpus": integer(1), "torch": TEXT, "jobs": integer(1), "date": TEXT,
             "wall_time_s": SECONDS, "new_runs": COUNT, "runs": COUNT, "run_time_s": SECONDS, "results_file": TEXT,
             "runs_file": TEXT, OptionalKey("missing"): TEXT, OptionalKey("quick"): FLAG},
    "results": {
        "range_test": Nullable({"max_lr": Nullable(LR), "confidence": one_of(("high", "medium", "low")),
                                "notes": [TEXT]}),
        "peaks": Nullable({"high": LR, "moderate": LR}),
        "arms": [{"name": TEXT, "schedule": TEXT, "peak": one_of(PEAKS), "max_lr": Nullable(LR), "runs": [RUN],
                  "top": EIGENVALUES, "eigenvalues": [EIGENVALUES], "accuracy": ACCURACY}],
        "high_vs_moderate": COMPARISON, "high_vs_step": COMPARISON,
    },
}
"""What a results file holds: every key the report reads, with what its value must be."""


def _fits_the_settings(data: dict[str, Any]) -> None:
    """Schedules that are those compared, in their order, and runs of the settings' seeds (the report's columns)."""
    seeds, arms = data["settings"]["seeds"], data["results"]["arms"]
    if not seeds or len(set(seeds)) != len(seeds):
        raise ValueError(f"settings.seeds {seeds} must be a non-empty list of distinct seeds")
    names = [a["name"] for a in arms]
    if names != [a.name for a in ARMS]:
        raise ValueError(f"results.arms are {names}, not the schedules compared: {[a.name for a in ARMS]}")
    for i, arm in enumerate(arms):
        for j, run in enumerate(arm["runs"]):
            if run["seed"] not in seeds:
                raise ValueError(f"results.arms[{i}].runs[{j}].seed {run['seed']} is not one of settings.seeds "
                                 f"{seeds}")


def read_results(path: Path) -> dict[str, Any]:
    """The results file ``path``; one that cannot be read, holds no results of this benchmark or holds a value that
    is not what it must be is a :class:`~benchmarks.common.cli.BenchmarkError` naming it and the key."""
    data = read_json(path, "a results file", RESULTS_KEYS)
    validate(data, RESULTS, path, _fits_the_settings)
    return data
