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
from benchmarks.retry.settings import MODES

RESULTS_KEYS = ("settings", "meta", "results")
"""The top-level keys of a results file (what the report reads)."""


def stats(value: Any) -> dict[str, Any]:
    """:func:`~benchmarks.common.stats.mean_std` of values checked by ``value``."""
    return {"mean": Nullable(value), "std": Nullable(number(at_least=0.0)), "n": COUNT, "values": [value]}


RUN = {"seed": integer(), "accuracy": fraction, "stopped": FLAG, "failed": FLAG, "retries": COUNT,
       "extra_steps": COUNT, "steps": COUNT, "train_time_s": SECONDS}
"""One measured run (:func:`benchmarks.retry.analysis.run_summary`)."""
MODE = {"runs": [RUN], "accuracy": stats(fraction), "retries": stats(number(at_least=0.0)),
        "extra_steps": stats(number(at_least=0.0)), "stopped": COUNT, "failed": COUNT}
FAILURES = {"failed": COUNT, "runs": COUNT}

RESULTS = {
    "settings": {
        "recipe": {"dataset": TEXT, "model": TEXT, "augment": TEXT, "optimizer": TEXT, "batch_size": integer(1),
                   "weight_decay": number(at_least=0.0), "label_smoothing": number(at_least=0.0),
                   "epochs": integer(1), OptionalKey("train_subset"): Nullable(integer(1)),
                   OptionalKey("test_subset"): Nullable(integer(1))},
        "multiples": [number(positive=True)], "seeds": [integer()], "finder_seed": integer(),
        "failed_below": fraction, "within": fraction,
    },
    "meta": {"command": TEXT, "machine": TEXT, "cpus": integer(1), "torch": TEXT, "jobs": integer(1), "date": TEXT,
             "wall_time_s": SECONDS, "new_runs": COUNT, "runs": COUNT, "run_time_s": SECONDS, "results_file": TEXT,
             "runs_file": TEXT, OptionalKey("missing"): TEXT, OptionalKey("quick"): FLAG},
    "results": {
        "range_test": Nullable({"max_lr": Nullable(LR), "confidence": one_of(("high", "medium", "low")),
                                "notes": [TEXT]}),
        "sane_accuracy": Nullable(fraction), "planned_steps": Nullable(integer(1)),
        "rows": [{"multiple": number(positive=True), "max_lr": Nullable(LR),
                  "modes": {mode: MODE for mode in MODES}}],
        "holds_up_to": {mode: Nullable(number(positive=True)) for mode in MODES},
        "above": {mode: FAILURES for mode in MODES},
        "retried": {"runs": COUNT, "retries": stats(number(at_least=0.0)), "extra_steps": stats(number(at_least=0.0)),
                    "stopped": COUNT},
    },
}
"""What a results file holds: every key the report reads, with what its value must be."""


def _fits_the_settings(data: dict[str, Any]) -> None:
    """One row per multiple of the settings, in their order, and runs of the settings' seeds."""
    s, rows = data["settings"], data["results"]["rows"]
    seeds = s["seeds"]
    if not seeds or len(set(seeds)) != len(seeds):
        raise ValueError(f"settings.seeds {seeds} must be a non-empty list of distinct seeds")
    if not s["multiples"] or [r["multiple"] for r in rows] != s["multiples"]:
        raise ValueError(f"results.rows are of the multiples {[r['multiple'] for r in rows]}, not those of "
                         f"settings.multiples {s['multiples']} (one or more)")
    for i, row in enumerate(rows):
        for mode in MODES:
            for j, run in enumerate(row["modes"][mode]["runs"]):
                if run["seed"] not in seeds:
                    raise ValueError(f"results.rows[{i}].modes.{mode}.runs[{j}].seed {run['seed']} is not one of "
                                     f"settings.seeds {seeds}")


def read_results(path: Path) -> dict[str, Any]:
    """The results file ``path``; one that cannot be read, holds no results of this benchmark or holds a value that
    is not what it must be is a :class:`~benchmarks.common.cli.BenchmarkError` naming it and the key."""
    data = read_json(path, "a results file", RESULTS_KEYS)
    validate(data, RESULTS, path, _fits_the_settings)
    return data
