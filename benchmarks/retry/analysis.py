"""From measured runs to the numbers of the report: per multiple of the recommendation and ``on_diverge`` mode the
runs' test accuracy, which of them stopped or failed, the retries made and the steps they trained again; and what
the report's sentences say over the multiples. Pure functions of the measurements (``lookup``), so they run on
constructed numbers as well."""

from __future__ import annotations

from typing import Any

from benchmarks.common.stats import mean_std
from benchmarks.retry.runs import Lookup, finder_task, max_lr, recommended, train_task
from benchmarks.retry.settings import MODES, Settings


def run_summary(seed: int, run: dict[str, Any], sane: float | None, s: Settings) -> dict[str, Any]:
    """One measured run as the report shows it; ``failed``: it stopped, or ended below ``s.failed_below`` times
    the ``sane`` accuracy (not judged, ``False``, while that is unknown)."""
    stopped = run["stopped"] is not None
    low = sane is not None and run["accuracy"] < s.failed_below * sane
    return {"seed": seed, "accuracy": run["accuracy"], "stopped": stopped, "failed": stopped or low,
            "retries": len(run["retries"]), "extra_steps": run["extra_steps"], "steps": run["steps"],
            "train_time_s": run["train_time_s"]}


def mode_summary(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The runs of one multiple and mode (:func:`run_summary`), and over them the accuracy, retries and extra steps
    (mean ± std) and how many stopped and failed."""
    return {"runs": runs, "accuracy": mean_std(r["accuracy"] for r in runs),
            "retries": mean_std(r["retries"] for r in runs), "extra_steps": mean_std(r["extra_steps"] for r in runs),
            "stopped": sum(r["stopped"] for r in runs), "failed": sum(r["failed"] for r in runs)}


def sane_accuracy(s: Settings, lookup: Lookup, rec: float | None) -> float | None:
    """The mean test accuracy of the stop runs at the first multiple (the recommendation), ``None`` before any is
    measured."""
    if rec is None:
        return None
    runs = [run for seed in s.seeds if (run := lookup(train_task(s, MODES[0], max_lr(rec, s.multiples[0]), seed)))]
    return mean_std(r["accuracy"] for r in runs)["mean"]


def rows(s: Settings, lookup: Lookup) -> list[dict[str, Any]]:
    """Each multiple of ``s.multiples``: its max_lr (``None`` before the range test is measured) and each mode's
    :func:`mode_summary`."""
    rec = recommended(lookup(finder_task(s)))
    sane = sane_accuracy(s, lookup, rec)
    out = []
    for multiple in s.multiples:
        lr = None if rec is None else max_lr(rec, multiple)
        modes = {}
        for mode in MODES:
            runs = [] if lr is None else [run_summary(seed, run, sane, s) for seed in s.seeds
                                          if (run := lookup(train_task(s, mode, lr, seed))) is not None]
            modes[mode] = mode_summary(runs)
        out.append({"multiple": multiple, "max_lr": lr, "modes": modes})
    return out


def holds_up_to(s: Settings, table: list[dict[str, Any]], mode: str, sane: float | None) -> float | None:
    """The largest multiple up to which (it included) every measured run of ``mode`` ends within ``s.within`` of
    the ``sane`` accuracy; ``None`` when it does not hold at the first, or nothing is measured."""
    best = None
    for row in table:
        runs = row["modes"][mode]["runs"]
        if sane is None or not runs or any(r["accuracy"] < sane - s.within for r in runs):
            break
        best = row["multiple"]
    return best


def analyze(s: Settings, lookup: Lookup) -> dict[str, Any]:
    """Everything the report shows, from the measurements (``lookup``): the range test, the ``sane`` accuracy, the
    rows, the planned steps of a run (``None`` until one trained to its end), up to which multiple each mode holds
    (``holds_up_to``), the failures above the first multiple, and over the retry runs that retried the retries and
    extra steps (mean ± std) and how many of them still stopped."""
    finder = lookup(finder_task(s))
    rec = None if finder is None else finder["recommendation"]
    sane = sane_accuracy(s, lookup, recommended(finder))
    table = rows(s, lookup)
    every = [r for row in table for m in MODES for r in row["modes"][m]["runs"]]
    finished = [r["steps"] for r in every if not r["stopped"]]
    above = table[1:]
    retried = [r for row in table for r in row["modes"]["retry"]["runs"] if r["retries"]]
    return {"range_test": None if rec is None else {"max_lr": rec.get("max_lr"), "confidence": rec.get("confidence"),
                                                    "notes": list(rec.get("notes", []))},
            "sane_accuracy": sane, "rows": table, "planned_steps": max(finished, default=None),
            "holds_up_to": {m: holds_up_to(s, table, m, sane) for m in MODES},
            "above": {m: {"failed": sum(row["modes"][m]["failed"] for row in above),
                          "runs": sum(len(row["modes"][m]["runs"]) for row in above)} for m in MODES},
            "retried": {"runs": len(retried), "retries": mean_std(r["retries"] for r in retried),
                        "extra_steps": mean_std(r["extra_steps"] for r in retried),
                        "stopped": sum(r["stopped"] for r in retried)}}
