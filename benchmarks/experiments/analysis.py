"""From measured runs to the numbers of the report: mean ± std over seeds, the best lr of a grid, the epochs to a
target accuracy, loss curves per epoch, and each claim of the article with its verdict. Pure functions of the
measurements (``lookup``), so they run on constructed numbers as well."""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Sequence
from typing import Any

from benchmarks.common.stats import mean_std
from benchmarks.experiments.plan import (
    Lookup,
    derived_lrs,
    finder_task,
    long_tasks,
    momentum_lrs,
    sweep_task,
    swept_lrs,
    train_task,
)
from benchmarks.experiments.runs import Task
from benchmarks.experiments.settings import BASELINES, Settings

NOISE_Z = 2.0
"""A difference is beyond noise when it exceeds this many standard errors (of a difference of two means)."""


def difference(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    """``a - b`` of two :func:`mean_std` means, its standard error ``sqrt(sa²/na + sb²/nb)`` (``None`` without
    two values on each side) and ``verdict``: ``"higher"``, ``"lower"`` or ``"within noise"`` (more than
    :data:`NOISE_Z` standard errors apart or not; with no standard error, the sign alone)."""
    if a.get("mean") is None or b.get("mean") is None:
        return {"diff": None, "se": None, "verdict": None}
    d = a["mean"] - b["mean"]
    se = (math.sqrt(a["std"] ** 2 / a["n"] + b["std"] ** 2 / b["n"])
          if a.get("std") is not None and b.get("std") is not None else None)
    if se is not None and abs(d) <= NOISE_Z * se:
        verdict = "within noise"
    else:
        verdict = "higher" if d > 0 else "lower" if d < 0 else "within noise"
    return {"diff": d, "se": se, "verdict": verdict}


def epochs_to_target(budgets: Sequence[float], accuracies: Sequence[float | None], target: float) -> dict[str, Any]:
    """The epochs a schedule needs to reach ``target``, from its accuracy at each budget (ascending; ``None``:
    not measured): ``first``, the smallest budget whose accuracy reaches it, and ``interpolated``, read off the
    straight line in log2(epochs) from the budget before it (the first budget itself when that reaches it).
    Both ``None`` when no budget reaches it."""
    before: tuple[float, float] | None = None  # the last measured budget below the target
    for b, acc in zip(budgets, accuracies):
        if acc is None:
            continue
        if acc < target:
            before = (b, acc)
            continue
        if before is None:
            return {"first": b, "interpolated": float(b)}
        b0, a0 = before
        x0, x1 = math.log2(b0), math.log2(b)
        return {"first": b, "interpolated": 2 ** (x0 + (target - a0) / (acc - a0) * (x1 - x0))}
    return {"first": None, "interpolated": None}


def run_values(lookup: Lookup, tasks: Iterable[Task]) -> list[dict[str, Any]]:
    """The measurements of the tasks that are measured."""
    return [v for v in (lookup(t) for t in tasks) if v is not None]


def accuracy(lookup: Lookup, tasks: Iterable[Task]) -> dict[str, Any]:
    """Final test accuracy over the tasks (seeds): :func:`mean_std`, and how many ``diverged``."""
    runs = run_values(lookup, tasks)
    return {**mean_std(r["accuracy"] for r in runs), "diverged": sum(bool(r["diverged"]) for r in runs)}


def best_of(points: Sequence[dict[str, Any]]) -> dict[str, Any] | None:
    """The point of highest mean accuracy (``None`` when none is measured)."""
    measured = [p for p in points if p["mean"] is not None]
    return max(measured, key=lambda p: p["mean"]) if measured else None


def lr_curve(task: Task, points: int = 200) -> dict[str, list[float]]:
    """The schedule's learning rate against epochs (fractional), at most about ``points`` points."""
    from onecycle.config import from_dict
    from onecycle.experiment import planned_steps
    from onecycle.schedules import policy

    cfg = from_dict(task.config)
    steps_per_epoch = planned_steps(cfg) // cfg.epochs
    p = policy(max_lr=task.max_lr, epochs=cfg.epochs, steps_per_epoch=steps_per_epoch, **cfg.policy_kwargs())
    stride = max(1, p.total_steps // points)
    steps = sorted({*range(0, p.total_steps, stride), p.total_steps - 1})
    return {"epoch": [t / steps_per_epoch for t in steps], "lr": [p.lr(t) for t in steps]}


def loss_curves(lookup: Lookup, tasks: Sequence[Task]) -> dict[str, Any] | None:
    """Per epoch, over the seeds: train loss (the mean over the epoch's steps), test loss, their gap (test minus
    train) and test accuracy, each as mean and std lists (a seed that diverged counts for the epochs it
    completed); the final accuracy; the mean and the final gap; the lr curve. ``None`` before any seed is
    measured."""
    runs = run_values(lookup, tasks)
    if not runs:
        return None
    epochs = max(len(r["history"]) for r in runs)
    out: dict[str, Any] = {"max_lr": tasks[0].max_lr, "epoch": list(range(1, epochs + 1)),
                           "accuracy": accuracy(lookup, tasks)}
    series = {"train_loss": lambda h: h["train_loss"], "val_loss": lambda h: h["val_loss"],
              "gap": lambda h: h["val_loss"] - h["train_loss"], "val_accuracy": lambda h: h["val_accuracy"]}
    for name, get in series.items():
        per_epoch = [mean_std(get(r["history"][e]) for r in runs if len(r["history"]) > e) for e in range(epochs)]
        out[name] = [p["mean"] for p in per_epoch]
        out[f"{name}_std"] = [p["std"] for p in per_epoch]
    trained = [r["history"] for r in runs if r["history"]]
    out["final_gap"] = mean_std(h[-1]["val_loss"] - h[-1]["train_loss"] for h in trained)
    out["mean_gap"] = mean_std(statistics.fmean(e["val_loss"] - e["train_loss"] for e in h) for h in trained)
    out["lr_curve"] = lr_curve(tasks[0])
    return out


def budget_section(s: Settings, lookup: Lookup, lrs: dict[str, float]) -> dict[str, Any]:
    """Experiment 1: per schedule and budget, each grid lr's accuracy and the best; 1cycle at the recommendation;
    the epochs to each target; 1cycle against the best baseline at each budget."""
    schedules: dict[str, Any] = {}
    for schedule in s.schedules:
        per_budget = []
        for epochs in s.budgets:
            grid = [{"lr": lr, **accuracy(lookup, [train_task(s, lr, epochs, seed, schedule) for seed in s.seeds])}
                    for lr in s.grid]
            best = best_of(grid)
            per_budget.append({"epochs": epochs, "grid": grid, "best": best,
                               "best_on_edge": best is not None and len(grid) > 1
                               and best["lr"] in (grid[0]["lr"], grid[-1]["lr"])})
        schedules[schedule] = {"per_budget": per_budget}
    lr = lrs.get("recommended")
    recommended = [{"epochs": epochs, "lr": lr,
                    **(accuracy(lookup, [train_task(s, lr, epochs, seed) for seed in s.seeds]) if lr else
                       mean_std([]))} for epochs in s.budgets]
    rows = {schedule: [{"epochs": p["epochs"], **(p["best"] or {"lr": None, **mean_std([])})}
                       for p in v["per_budget"]] for schedule, v in schedules.items()}
    rows["onecycle@range-test"] = recommended
    to_target = {name: {f"{t:g}": epochs_to_target(s.budgets, [p["mean"] for p in points], t) for t in s.targets}
                 for name, points in rows.items()}
    comparisons = []
    for i, epochs in enumerate(s.budgets):
        baselines = [(b, rows[b][i]) for b in BASELINES if b in rows and rows[b][i]["mean"] is not None]
        if not baselines:
            continue
        name, best = max(baselines, key=lambda nb: nb[1]["mean"])
        entry: dict[str, Any] = {"epochs": epochs, "best_baseline": name, "baseline": best,
                                 "range_test": difference(recommended[i], best)}
        if "onecycle" in rows:
            entry["tuned"] = difference(rows["onecycle"][i], best)
        comparisons.append(entry)
    return {"schedules": schedules, "recommended": recommended, "rows": rows, "to_target": to_target,
            "comparisons": comparisons}


def momentum_section(s: Settings, lookup: Lookup, lrs: dict[str, float]) -> dict[str, Any]:
    """Experiment 2: 1cycle at each lr with cyclical and with constant momentum, and the best of each."""
    rows = []
    for lr in momentum_lrs(s, lrs):
        seeds = [train_task(s, lr, s.momentum_epochs, seed) for seed in s.seeds]
        constant = [train_task(s, lr, s.momentum_epochs, seed, cycle_momentum=False, momentum=s.constant_momentum)
                    for seed in s.seeds]
        cyc, con = accuracy(lookup, seeds), accuracy(lookup, constant)
        rows.append({"lr": lr, "recommended": lr == lrs.get("recommended"), "cyclical": cyc, "constant": con,
                     "difference": difference(cyc, con)})
    best_cyc = best_of([{"lr": r["lr"], **r["cyclical"]} for r in rows])
    best_con = best_of([{"lr": r["lr"], **r["constant"]} for r in rows])
    return {"epochs": s.momentum_epochs, "constant_momentum": s.constant_momentum, "rows": rows,
            "best_cyclical": best_cyc, "best_constant": best_con,
            "difference": difference(best_cyc or {}, best_con or {})}


def superconvergence_section(s: Settings, lookup: Lookup, lrs: dict[str, float]) -> dict[str, Any]:
    """Experiment 3: 1cycle over ``long_epochs`` at the range test's minimum, the moderate lr and the
    recommendation: per-epoch losses and gap, final accuracy."""
    curves = {name: loss_curves(lookup, list(long_tasks(s, lrs[name])))
              for name in ("minimum", "moderate", "recommended") if name in lrs}
    out: dict[str, Any] = {"epochs": s.long_epochs, "curves": curves}
    if curves.get("minimum") and curves.get("moderate"):
        high, moderate = curves["minimum"], curves["moderate"]
        out["accuracy_difference"] = difference(high["accuracy"], moderate["accuracy"])
        out["gap_difference"] = difference(high["mean_gap"], moderate["mean_gap"])
    return out


def short_cycle_section(s: Settings, lookup: Lookup, lrs: dict[str, float]) -> dict[str, Any]:
    """Experiment 4: at the recommendation over ``long_epochs``, the cycle ending with ``cycle_epochs`` then a
    long annihilation, against the standard split."""
    out: dict[str, Any] = {"epochs": s.long_epochs, "cycle_epochs": s.cycle_epochs, "curves": {}}
    if "recommended" not in lrs:
        return out
    curves = {"standard": loss_curves(lookup, list(long_tasks(s, lrs["recommended"]))),
              "short": loss_curves(lookup, list(long_tasks(s, lrs["recommended"], short_cycle=True)))}
    out["curves"] = curves
    if curves["standard"] and curves["short"]:
        out["gap_difference"] = difference(curves["short"]["final_gap"], curves["standard"]["final_gap"])
        out["accuracy_difference"] = difference(curves["short"]["accuracy"], curves["standard"]["accuracy"])
    return out


def weight_decay_section(s: Settings, lookup: Lookup) -> dict[str, Any]:
    """Experiment 5: the sweep, each swept value trained at its own recommended max_lr, and the pick against the
    best."""
    sweep = lookup(sweep_task(s))
    if sweep is None:
        return {}
    lrs = swept_lrs(sweep)
    trained = [{"weight_decay": wd, "lr": lrs.get(wd),
                **(accuracy(lookup, [train_task(s, lrs[wd], s.sweep_epochs, seed, weight_decay=wd)
                                     for seed in s.seeds]) if wd in lrs else mean_std([]))}
               for wd in sweep["values"]]
    best = best_of(trained)
    picked = next((t for t in trained if sweep["pick"] is not None and t["weight_decay"] == sweep["pick"]), None)
    return {"epochs": s.sweep_epochs, "sweep": {k: sweep[k] for k in ("values", "pick", "max_lrs", "reached_losses",
                                                                       "eligible")},
            "curves": [{"lrs": c["lrs"], "filtered": c["filtered"]} for c in sweep["curves"]], "trained": trained,
            "best": best, "picked": picked,
            "difference": difference(picked, best) if picked and best else {"diff": None, "se": None,
                                                                              "verdict": None}}


def pct(v: float | None) -> str:
    """An accuracy (0..1) as percent to 1 decimal; "—" for none."""
    return "—" if v is None else f"{100 * v:.1f}%"


def pts(d: dict[str, Any]) -> str:
    """A difference of accuracies in points, with ± 2 standard errors when known."""
    if d.get("diff") is None:
        return "—"
    noise = f" ± {100 * NOISE_Z * d['se']:.1f}" if d.get("se") is not None else " (one seed: no noise estimate)"
    return f"{100 * d['diff']:+.1f}{noise} points"


def claims(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Each claim of the article (and the README) the twins test, with ``held``: ``True``, ``False`` (the
    opposite beyond noise) or ``None`` (within noise, or not measured), and the numbers behind it."""
    out = []

    def add(experiment: int, claim: str, d: dict[str, Any], wanted: str, evidence: str,
            noise_holds: bool = False) -> None:
        verdict = d.get("verdict")
        held = (None if verdict is None else True if verdict == wanted
                else (True if noise_holds else None) if verdict == "within noise" else False)
        out.append({"experiment": experiment, "claim": claim, "held": held, "verdict": verdict,
                    "noise_known": d.get("se") is not None, "evidence": evidence})

    budget = results["budget"]
    for c in budget["comparisons"]:
        if "tuned" in c:
            add(1, f"At {c['epochs']} epoch(s), tuned 1cycle is more accurate than the best tuned baseline "
                   f"({c['best_baseline']})", c["tuned"], "higher", f"1cycle − {c['best_baseline']}: {pts(c['tuned'])}")
        add(1, f"At {c['epochs']} epoch(s), 1cycle at the range test's lr (no grid search) is as accurate as the best "
               f"tuned baseline ({c['best_baseline']})", c["range_test"], "higher",
            f"1cycle@range test − {c['best_baseline']}: {pts(c['range_test'])}", noise_holds=True)
    m = results["momentum"]
    add(2, "Cyclical momentum gives slightly better results than a constant one (best lr of each)", m["difference"],
        "higher", f"cyclical − constant {m['constant_momentum']:g}: {pts(m['difference'])}")
    sc = results["superconvergence"]
    if "accuracy_difference" in sc:
        add(3, "Super-convergence: max_lr at the range test's minimum trains at least as well as a moderate one",
            sc["accuracy_difference"], "higher", f"minimum − moderate: {pts(sc['accuracy_difference'])}",
            noise_holds=True)
        add(3, "Super-convergence: at max_lr near the minimum the train/test gap stays smaller (mean over epochs)",
            sc["gap_difference"], "lower", f"mean gap, minimum − moderate: {loss_diff(sc['gap_difference'])}")
    short = results["short_cycle"]
    if "gap_difference" in short:
        add(4, "A short cycle with a long annihilation overfits: a larger final train/test gap than the standard "
               "split", short["gap_difference"], "higher", f"final gap, short − standard: "
               f"{loss_diff(short['gap_difference'])}; accuracy {pts(short['accuracy_difference'])}")
    wd = results["weight_decay"]
    if wd.get("picked"):
        add(5, "The sweep's weight decay is the best trained value or within noise of it", wd["difference"],
            "higher", f"pick {wd['picked']['weight_decay']:g} − best {wd['best']['weight_decay']:g}: "
            f"{pts(wd['difference'])}", noise_holds=True)
    return out


def loss_diff(d: dict[str, Any]) -> str:
    """A difference of losses, with ± 2 standard errors when known."""
    if d.get("diff") is None:
        return "—"
    noise = f" ± {NOISE_Z * d['se']:.3f}" if d.get("se") is not None else " (one seed: no noise estimate)"
    return f"{d['diff']:+.3f}{noise}"


def analyze(s: Settings, lookup: Lookup) -> dict[str, Any]:
    """Every experiment's numbers and the claims' verdicts, from the measurements."""
    finder = lookup(finder_task(s))
    lrs = derived_lrs(s, finder)
    results: dict[str, Any] = {
        "finder": None if finder is None else {k: finder[k] for k in ("lrs", "filtered", "stop_reason")}
        | {"recommendation": finder["recommendation"]},
        "lrs": lrs, "budget": budget_section(s, lookup, lrs), "momentum": momentum_section(s, lookup, lrs),
        "superconvergence": superconvergence_section(s, lookup, lrs),
        "short_cycle": short_cycle_section(s, lookup, lrs), "weight_decay": weight_decay_section(s, lookup)}
    results["claims"] = claims(results)
    return results
