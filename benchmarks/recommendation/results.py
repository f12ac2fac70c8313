"""The benchmark's results file read back: every value the report and ``--resume`` use checked against what it
must be (a hand-edited accuracy of ``NaN``, a negative learning rate, a case listed twice are one error naming the
file and the key), so that a report is never built from nonsense."""

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
    Each,
    Nullable,
    OptionalKey,
    fraction,
    integer,
    number,
    recommendation,
    validate,
)
from onecycle.probe import ProbeResult
from onecycle.suggestions import recommend

RESULTS_KEYS = ("settings", "threads", "machine", "results_file", "cases")
"""The top-level keys of a results file (what :func:`~benchmarks.recommendation.report.render` and ``--resume``
read)."""

REGRET = number(optional=True)
"""A regret in accuracy points, or null (no answer)."""
ENTRY = {"lr": Nullable(LR), "regret": REGRET, "diverged": FLAG, OptionalKey("estimated"): FLAG,
         OptionalKey("accuracy"): Nullable(fraction), OptionalKey("interpolated_regret"): REGRET,
         OptionalKey("denoised_regret"): REGRET}
"""A rule's (or a trained candidate's) answer and its score."""
POINT = {"lr": LR, "accuracy": fraction, "accuracies": [fraction], "diverged": FLAG}
"""An lr trained over the seeds: their accuracies and mean."""
FINDER = {
    "lrs": [LR], "losses": [number(finite=False)], OptionalKey("diverged"): FLAG, "stop_reason": TEXT,
    "recommendation": recommendation,
    OptionalKey("total_steps"): Nullable(integer(1)),
    OptionalKey("probe"): Nullable(lambda value, where: ProbeResult.from_dict(value, where)),
}
WEIGHT_DECAY = {"lr": LR, "grid": [{"weight_decay": number(at_least=0.0), "accuracy": fraction, "diverged": FLAG}],
                "sweep_max_lrs": [Nullable(LR)], "pick": Nullable(number(at_least=0.0)), "regret": REGRET,
                "best_weight_decay": number(at_least=0.0),
                OptionalKey("loss_at_lr"): Nullable({"pick": Nullable(number(at_least=0.0)), "regret": REGRET})}
CASE = {
    "case": {"name": TEXT, "dataset": TEXT, "model": TEXT, "optimizer": TEXT, "batch_size": integer(1),
             "epochs": integer(1), "held_out": FLAG},
    "weight_decay_used": number(at_least=0.0), "train_images": integer(1), "test_images": integer(1),
    "finder": FINDER, "grid": [POINT], "best": {"lr": LR, "accuracy": fraction}, "best_on_edge": FLAG,
    "denoised_best": Nullable({"lr": LR, "accuracy": fraction}), "rules": Each(ENTRY),
    OptionalKey("variants"): Each({"lr": Nullable(LR), "regret": REGRET}), OptionalKey("trained_variants"): Each(ENTRY),
    OptionalKey("finder_variants"): Each({"points": integer(1), "repeats": integer(1),
                                       "recommendation": recommendation}),
    OptionalKey("weight_decay"): Nullable(WEIGHT_DECAY), "runs": COUNT, "wall_time_s": SECONDS,
    OptionalKey("new_runs"): COUNT, OptionalKey("seconds_per_run"): Nullable(number(positive=True)),
}
RESULTS = {
    "settings": {"seeds": [integer()], "start_lr": LR, "end_lr": LR, "num_steps": integer(2),
                 "extend_grid": COUNT, "finder_seed": integer()},
    "threads": integer(1), OptionalKey("jobs"): integer(1), "machine": TEXT, "results_file": TEXT,
    OptionalKey("quick"): FLAG, OptionalKey("missing"): [TEXT], OptionalKey("measured"): [TEXT],
    "cases": [CASE],
}
"""What a results file holds: every key the report reads, with what its value must be."""


def _cases_fit(data: dict[str, Any]) -> None:
    """Each case once, its grid not empty, its range test a curve that the library's rule can read."""
    seen: dict[str, int] = {}
    for i, case in enumerate(data["cases"]):
        name = case["case"]["name"]
        if name in seen:
            raise ValueError(f"cases[{i}] is case {name!r} again (cases[{seen[name]}]): each case must be listed once")
        seen[name] = i
        if not case["grid"]:
            raise ValueError(f"cases[{i}].grid ({name}) must hold at least one trained lr, got none")
        finder = case["finder"]
        try:
            recommend(finder["lrs"], finder["losses"], div_factor=finder["recommendation"]["div_factor"],
                      diverged=finder.get("diverged", True))
        except ValueError as err:
            raise ValueError(f"cases[{i}].finder ({name}) is not a range-test curve: {err}") from None


def check_results(data: Any, path: Path) -> dict[str, Any]:
    """``data`` read from ``path``, checked value by value (:data:`RESULTS`) and case against case; the first
    problem is a :class:`~benchmarks.common.cli.BenchmarkError` naming the file, the key and what it must hold."""
    validate(data, RESULTS, path, _cases_fit)
    return data


def read_results(path: Path) -> dict[str, Any]:
    """The results file ``path``; one that cannot be read, holds no results of this benchmark or holds a value
    that is not what it must be is a :class:`~benchmarks.common.cli.BenchmarkError` naming it."""
    return check_results(read_json(path, "a results file", RESULTS_KEYS), path)
