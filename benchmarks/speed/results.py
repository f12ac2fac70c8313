"""The speed benchmark's results file read back: every value the report uses checked against what it must be,
so that a damaged or hand-edited ``speed.json`` is one error naming the file and the key, never a report of
nonsense."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from benchmarks.common.cli import read_json
from benchmarks.common.schema import (
    COUNT,
    FLAG,
    TEXT,
    Each,
    Nullable,
    OptionalKey,
    fraction,
    integer,
    number,
    one_of,
    validate,
)
from benchmarks.speed.plan import KINDS, kind_of
from benchmarks.speed.stats import HIGHER_IS_BETTER
from onecycle import records

RESULTS_KEYS = ("meta", "settings", "peers", "skipped", "runs", "measurements", "comparisons")
"""The top-level keys of a results file."""

POSITIVE = number(positive=True)
NONNEGATIVE = number(at_least=0.0)


def measurement_name(value: Any, where: str) -> str:
    """The name of a measurement: a kind of :data:`~benchmarks.speed.plan.KINDS`, ``ours_train`` with options."""
    if not isinstance(value, str) or kind_of(value) not in KINDS:
        raise ValueError(f"{where} must name a measurement ({', '.join(KINDS)}), got {records.shown(value)}")
    return value


RUN = {"name": measurement_name, "repeat": COUNT, OptionalKey("error"): TEXT, OptionalKey("seconds"): POSITIVE,
       OptionalKey("images"): COUNT, OptionalKey("steps"): integer(1), OptionalKey("images_per_s"): POSITIVE,
       OptionalKey("seconds_per_step"): POSITIVE, OptionalKey("peak_memory_mib"): POSITIVE,
       OptionalKey("accuracy"): Nullable(fraction), OptionalKey("threads"): integer(1), OptionalKey("torch"): TEXT}
"""One measurement of one repeat: what it took, or why it failed."""
MEASUREMENT = {"repeats": COUNT, "seconds": Nullable(POSITIVE), "images_per_s": Nullable(POSITIVE),
               "seconds_per_step": Nullable(POSITIVE), "steps": Nullable(POSITIVE),
               "peak_memory_mib": Nullable(POSITIVE), "accuracy": Nullable(fraction), "error": Nullable(TEXT)}
"""A measurement's medians over its repeats."""
COMPARISON = {"name": TEXT, "ours": measurement_name, "theirs": measurement_name,
              "figure": one_of(tuple(HIGHER_IS_BETTER)), "ratio": Nullable(POSITIVE), "ratios": [POSITIVE],
              "ours_median": Nullable(POSITIVE), "theirs_median": Nullable(POSITIVE), "target": POSITIVE,
              "at_least": FLAG, "met": Nullable(FLAG)}
RESULTS = {
    "meta": {"command": TEXT, "date": TEXT, "machine": {"cpu": TEXT, "cores": integer(1), "torch": TEXT,
                                                        "python": TEXT, OptionalKey("gpu"): Nullable(TEXT)},
             "torch_threads": integer(1), "jobs": integer(1), "repeats": integer(1),
             "load_before": [NONNEGATIVE], "load_after": [NONNEGATIVE], "wall_time_s": NONNEGATIVE,
             "results_file": TEXT, "quick": FLAG},
    "settings": {"dataset": TEXT, "train_subset": Nullable(integer(1)), "test_subset": Nullable(integer(1)),
                 "augment": TEXT, "model": TEXT, "batch_size": integer(1), "epochs": integer(1),
                 "max_lr": POSITIVE, "weight_decay": NONNEGATIVE, "momentum": NONNEGATIVE,
                 "range_steps": integer(2), "start_lr": POSITIVE, "end_lr": POSITIVE, "repeats": integer(1),
                 "threads": integer(1), "device": TEXT, "seed": integer()},
    "peers": {"ready": FLAG, "reason": Nullable(TEXT), "env": TEXT, OptionalKey("versions"): Each(TEXT),
              OptionalKey("install_s"): NONNEGATIVE},
    "skipped": [{"name": TEXT, "reason": TEXT}],
    "runs": [RUN],
    "measurements": Each(MEASUREMENT),
    "comparisons": [COMPARISON],
}
"""What a results file holds: every key the report reads, with what its value must be."""


def _consistent(data: dict[str, Any]) -> None:
    """Each repeat of a measurement once, every measurement summarised, a ratio's target met as it says."""
    seen: set[tuple[str, int]] = set()
    for i, run in enumerate(data["runs"]):
        key = (run["name"], run["repeat"])
        if key in seen:
            raise ValueError(f"runs[{i}] is repeat {run['repeat']} of {run['name']} again: each must be listed once")
        seen.add(key)
        if "error" not in run and "seconds" not in run:
            raise ValueError(f"runs[{i}] ({run['name']}) holds neither its seconds nor an error")
    for name, _ in seen:
        if name not in data["measurements"]:
            raise ValueError(f"measurements is missing {name}, which runs holds")
    for i, row in enumerate(data["comparisons"]):
        if row["ratio"] is not None and row["met"] != (row["ratio"] >= row["target"] if row["at_least"]
                                                       else row["ratio"] <= row["target"]):
            raise ValueError(f"comparisons[{i}].met ({row['met']}) does not follow from its ratio {row['ratio']:g} "
                             f"and target {row['target']:g}")


def check_results(data: Any, path: Path) -> dict[str, Any]:
    """``data`` read from ``path``, checked value by value and against itself; the first problem is a
    :class:`~benchmarks.common.cli.BenchmarkError` naming the file, the key and what it must hold."""
    validate(data, RESULTS, path, _consistent)
    return data


def read_results(path: Path) -> dict[str, Any]:
    """The results file ``path``; one that cannot be read, holds no results of this benchmark or holds a value
    that is not what it must be is a :class:`~benchmarks.common.cli.BenchmarkError` naming it."""
    return check_results(read_json(path, "a results file", RESULTS_KEYS), path)
