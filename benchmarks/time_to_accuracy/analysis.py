"""From measured runs to the numbers of the report: per seed and mean ± std, the epochs and wall time to the target,
each budget's accuracy, the longest budget's accuracy after each epoch, throughput and memory. Pure functions of the
measurements (``lookup``), so they run on constructed numbers as well."""

from __future__ import annotations

import statistics
from typing import Any

from benchmarks.common.stats import mean_std
from benchmarks.time_to_accuracy.plan import Lookup, finder_task, first_reaching, train_task, trained_lr
from benchmarks.time_to_accuracy.settings import Settings

RUN_KEYS = ("accuracy", "diverged", "train_time_s", "cpu_time_s", "peak_rss_mb", "threads", "date", "seconds")
"""What the report keeps of each measured run, besides its seed and its epochs."""


def run_summary(seed: int, run: dict[str, Any]) -> dict[str, Any]:
    """One measured run as the report shows it: :data:`RUN_KEYS`, the test accuracy after each epoch, the best of
    them, the mean images/s of its epochs' steps, the load average over its epochs (mean, max) and the wall time
    its steps were held up (``stalled_s``, :class:`~benchmarks.time_to_accuracy.usage.Meter`)."""
    history = run["history"]
    per_epoch = [h["val_accuracy"] for h in history]
    loads = [h["load"] for h in history if h.get("load") is not None]
    return {"seed": seed, **{k: run[k] for k in RUN_KEYS}, "per_epoch": per_epoch,
            "best_accuracy": max(per_epoch, default=run["accuracy"]),
            "images_per_s": statistics.fmean(h["images_per_s"] for h in history) if history else None,
            "load": {"mean": statistics.fmean(loads), "max": max(loads)} if loads else None,
            "stalled_s": sum(h.get("stalled_s", 0.0) for h in history)}


def budget_rows(s: Settings, max_lr: float, lookup: Lookup) -> list[dict[str, Any]]:
    """Each budget with a measured run: its runs (:func:`run_summary`, by seed), the mean ± std of their final
    accuracy and train time, and how many seeds reached the target."""
    rows = []
    for epochs in sorted(set(s.budgets)):
        runs = [run_summary(seed, run) for seed in s.seeds
                if (run := lookup(train_task(s, max_lr, epochs, seed))) is not None]
        if runs:
            rows.append({"epochs": epochs, "runs": runs, "accuracy": mean_std(r["accuracy"] for r in runs),
                         "train_time_s": mean_std(r["train_time_s"] for r in runs),
                         "reached": sum(r["accuracy"] >= s.target for r in runs)})
    return rows


def to_target(s: Settings, rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The epochs and wall time to the target. Per seed, the shortest budget whose run reached it
    (:func:`~benchmarks.time_to_accuracy.plan.first_reaching`; status ``reached``), ``not reached`` when the longest
    budget fell short and none reached, ``not known`` while the search has not decided (``at_most``: the shortest
    measured budget that reached it, when one did, the budget before it not measured); with ``exceptions``, the
    longer budgets whose runs fell short all the same (the search takes a longer budget to do no worse). Then the
    mean ± std over the seeds that reached it, and the first budget whose mean over every seed reached it
    (``mean_budget``), with its accuracy, train time and CPU time."""
    budgets = sorted(set(s.budgets))
    by_budget = {row["epochs"]: {r["seed"]: r for r in row["runs"]} for row in rows}
    per_seed = []
    for seed in s.seeds:
        runs = [by_budget.get(b, {}).get(seed) for b in budgets]
        accuracies = [None if r is None else r["accuracy"] for r in runs]
        i = first_reaching(accuracies, s.target)
        if i is not None:
            per_seed.append({"seed": seed, "status": "reached", "epochs": budgets[i], "at_most": budgets[i],
                             "train_time_s": runs[i]["train_time_s"], "cpu_time_s": runs[i]["cpu_time_s"],
                             "exceptions": [b for b, a in zip(budgets[i:], accuracies[i:])
                                            if a is not None and a < s.target]})
            continue
        short = accuracies[-1] is not None and not any(a is not None and a >= s.target for a in accuracies)
        reaching = [b for b, a in zip(budgets, accuracies) if a is not None and a >= s.target]
        per_seed.append({"seed": seed, "status": "not reached" if short else "not known", "epochs": None,
                         "at_most": reaching[0] if reaching else None,
                         "train_time_s": None, "cpu_time_s": None, "exceptions": []})
    reached = [p for p in per_seed if p["status"] == "reached"]
    mean_budget = next((row for row in rows if len(row["runs"]) == len(s.seeds)
                        and row["accuracy"]["mean"] >= s.target), None)
    return {"per_seed": per_seed, "every_seed": len(reached) == len(s.seeds),
            "epochs": mean_std(p["epochs"] for p in reached),
            "train_time_s": mean_std(p["train_time_s"] for p in reached),
            "cpu_time_s": mean_std(p["cpu_time_s"] for p in reached),
            "mean_budget": None if mean_budget is None else {
                "epochs": mean_budget["epochs"], "accuracy": mean_budget["accuracy"],
                "train_time_s": mean_budget["train_time_s"],
                "cpu_time_s": mean_std(r["cpu_time_s"] for r in mean_budget["runs"])}}


def longest(s: Settings, rows: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The longest budget's runs: final and best-epoch accuracy, mean ± std, the mean after each epoch and whether
    the final mean meets the goal; ``None`` before one is measured."""
    row = next((r for r in rows if r["epochs"] == max(s.budgets)), None)
    if row is None:
        return None
    runs = row["runs"]
    epochs = max(len(r["per_epoch"]) for r in runs)
    return {"epochs": row["epochs"], "final": row["accuracy"], "best": mean_std(r["best_accuracy"] for r in runs),
            "per_epoch": [mean_std(r["per_epoch"][e] for r in runs if e < len(r["per_epoch"])) for e in range(epochs)],
            "goal_met": row["accuracy"]["mean"] >= s.goal}


def analyze(s: Settings, lookup: Lookup) -> dict[str, Any]:
    """Everything the report shows, from the measurements (``lookup``)."""
    finder = lookup(finder_task(s))
    max_lr = trained_lr(s, finder)
    range_test = None if finder is None else {
        "max_lr": finder["recommendation"].get("max_lr"), "lr_at_minimum": finder["recommendation"].get(
            "lr_at_minimum"), "confidence": finder["recommendation"].get("confidence"),
        "notes": list(finder["recommendation"].get("notes", [])), "seconds": finder["range_test_s"],
        "steps": finder["steps"]}
    rows = [] if max_lr is None else budget_rows(s, max_lr, lookup)
    every = [r for row in rows for r in row["runs"]]
    return {"range_test": range_test, "max_lr": max_lr,
            "max_lr_source": "settings" if s.max_lr is not None else "range test",
            "budgets": rows, "to_target": to_target(s, rows), "longest": longest(s, rows),
            "images_per_s": mean_std(r["images_per_s"] for r in every if r["images_per_s"] is not None),
            "peak_rss_mb": max((r["peak_rss_mb"] for r in every), default=None)}
