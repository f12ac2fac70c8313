"""From measured runs to the numbers of the report: per schedule and seed the top Hessian eigenvalues and the test
accuracy, their mean ± std over the seeds, and how two schedules' sharpness compare. Pure functions of the
measurements (``lookup``), so they run on constructed numbers as well."""

from __future__ import annotations

from typing import Any

from benchmarks.common.stats import mean_std
from benchmarks.sharpness.runs import Lookup, finder_task, peaks, train_task
from benchmarks.sharpness.settings import ARMS, Settings


def run_summary(seed: int, run: dict[str, Any]) -> dict[str, Any]:
    """One measured run as the report shows it: its test accuracy, whether it diverged, its top eigenvalues
    (largest first; ``None`` for a run that diverged), whether they converged and in how many Lanczos iterations,
    and the times of training and of the sharpness measurement."""
    sharp = run["sharpness"]
    return {"seed": seed, "accuracy": run["accuracy"], "diverged": run["diverged"],
            "eigenvalues": None if sharp is None else sharp["eigenvalues"],
            "converged": None if sharp is None else sharp["converged"],
            "iterations": None if sharp is None else sharp["iterations"],
            "train_time_s": run["train_time_s"], "sharpness_s": run["sharpness_s"]}


def arm_rows(s: Settings, lookup: Lookup) -> list[dict[str, Any]]:
    """Each schedule of :data:`~benchmarks.sharpness.settings.ARMS`: its max_lr (``None`` before the range test is
    measured), its measured runs by seed, and over them the mean ± std of the top eigenvalue (``top``), of each of
    the k eigenvalues (``eigenvalues``) and of the test accuracy."""
    lrs = peaks(s, lookup(finder_task(s)))
    rows = []
    for arm in ARMS:
        max_lr = None if lrs is None else lrs[arm.peak]
        runs = [] if max_lr is None else [run_summary(seed, run) for seed in s.seeds
                                          if (run := lookup(train_task(s, arm, max_lr, seed))) is not None]
        measured = [r["eigenvalues"] for r in runs if r["eigenvalues"] is not None]
        rows.append({"name": arm.name, "schedule": arm.schedule, "peak": arm.peak, "max_lr": max_lr, "runs": runs,
                     "top": mean_std(e[0] for e in measured),
                     "eigenvalues": [mean_std(e[i] for e in measured if i < len(e))
                                     for i in range(max((len(e) for e in measured), default=0))],
                     "accuracy": mean_std(r["accuracy"] for r in runs)})
    return rows


def compare(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any] | None:
    """How the top eigenvalues of the runs of schedule ``a`` compare with those of ``b`` (two rows of
    :func:`arm_rows`): the ratio of their means, whether ``a``'s are the ``lower``, and whether every seed of one lies
    below every seed of the other (``separated``; ``None`` unless each has two seeds or more); ``None`` while either
    has no measured run."""
    x, y = a["top"], b["top"]
    if not x["n"] or not y["n"]:
        return None
    separated = None
    if x["n"] > 1 and y["n"] > 1:
        separated = max(x["values"]) < min(y["values"]) or max(y["values"]) < min(x["values"])
    return {"ratio": x["mean"] / y["mean"] if y["mean"] else None, "lower": x["mean"] < y["mean"],
            "separated": separated}


def analyze(s: Settings, lookup: Lookup) -> dict[str, Any]:
    """Everything the report shows, from the measurements (``lookup``)."""
    finder = lookup(finder_task(s))
    rec = None if finder is None else finder["recommendation"]
    rows = arm_rows(s, lookup)
    row = {(r["schedule"], r["peak"]): r for r in rows}
    high, moderate, step = row["onecycle", "high"], row["onecycle", "moderate"], row["step", "moderate"]
    return {"range_test": None if rec is None else {"max_lr": rec.get("max_lr"), "confidence": rec.get("confidence"),
                                                    "notes": list(rec.get("notes", []))},
            "peaks": peaks(s, finder), "arms": rows,
            "high_vs_moderate": compare(high, moderate), "high_vs_step": compare(high, step)}
