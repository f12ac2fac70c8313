"""The time-to-accuracy report: a Markdown section of docs/BENCHMARKS.md between two marker lines (:data:`SECTION`),
the rest of the file left as it is. Tables are built here, fixed text comes from ``report_template.md``."""

from __future__ import annotations

import statistics
from pathlib import Path
from typing import Any

from benchmarks.common.cli import SMOKE_WARNING
from benchmarks.common.section import Section
from benchmarks.common.template import Blocks
from benchmarks.time_to_accuracy.usage import STALL_S

COMMAND = "python -m benchmarks.time_to_accuracy"
SECTION = Section("time-to-accuracy", COMMAND)
NOTES = "benchmarks/time-to-accuracy-notes.md"
"""The hand-written notes: how the recipe was chosen (the exploration)."""
block = Blocks(Path(__file__).with_name("report_template.md"))
DASH = "—"
STATUS = {"not reached": "not reached", "not known": "not measured yet"}


def pct(value: float | None, digits: int = 2) -> str:
    """An accuracy in percent."""
    return DASH if value is None else f"{100 * value:.{digits}f}%"


def ms(stats: dict[str, Any] | None, unit: str = "%", digits: int = 2, scale: float = 100.0) -> str:
    """``mean ± std`` of :func:`~benchmarks.common.stats.mean_std` (times ``scale``, then ``unit``), the mean alone
    for one value, "—" for none."""
    if not stats or stats.get("mean") is None:
        return DASH
    text = f"{scale * stats['mean']:.{digits}f}"
    if stats.get("std") is not None:
        text += f" ± {scale * stats['std']:.{digits}f}"
    return text + unit


def seconds(value: float | None) -> str:
    """A wall or CPU time in seconds, with minutes beside it from a minute on."""
    if value is None:
        return DASH
    return f"{value:.0f} s ({value / 60:.1f} min)" if value >= 60 else f"{value:.0f} s"


def lr(value: float | None) -> str:
    return DASH if value is None else f"{value:.3g}"


def table(header: list[str], rows: list[list[str]]) -> str:
    return "\n".join(["| " + " | ".join(header) + " |", "|" + "---|" * len(header),
                      *("| " + " | ".join(r) + " |" for r in rows)])


def recipe_text(data: dict[str, Any]) -> str:
    """The recipe in one sentence, and what the range test recommends."""
    s, results = data["settings"], data["results"]
    r, finder = s["recipe"], results["range_test"]
    if results["max_lr_source"] == "range test":
        where = "the range test's recommendation, to 3 significant digits"
    else:
        where = f"chosen by measurement; the range test recommends {lr(finder and finder['max_lr'])}"
    text = (f"`{r['model']}`, augmentation `{r['augment']}`, {r['optimizer'].upper()} with batches of "
            f"{r['batch_size']}, max_lr {lr(results['max_lr'])} ({where}), weight decay {r['weight_decay']:g}, "
            f"label smoothing {r['label_smoothing']:g}, 1cycle with onecycle's defaults for the rest (max_lr/10 up "
            "to max_lr and back, then down to max_lr/1000; momentum 0.95 → 0.85 → 0.95), `channels_last` "
            f"{'on' if r.get('channels_last') else 'off'}, {r.get('threads')} torch thread(s).")
    if finder is None:
        return text + " The range test is not measured yet."
    notes = f" Its notes: {' '.join(finder['notes'])}" if finder["notes"] else ""
    return (f"{text} The range test (`onecycle find-lr` under the recipe: {finder['steps']} steps, "
            f"{seconds(finder['seconds'])}, once per recipe, not counted in the times below) recommends max_lr "
            f"{lr(finder['max_lr'])} ({finder['confidence']} confidence; smoothed minimum at "
            f"{lr(finder['lr_at_minimum'])}).{notes}")


def runs_of(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Every measured run (with its ``epochs``), shortest budget first, then by seed."""
    return [{**run, "epochs": row["epochs"]} for row in results["budgets"] for run in row["runs"]]


def head(data: dict[str, Any]) -> str:
    s, meta, results = data["settings"], data["meta"], data["results"]
    r = s["recipe"]
    runs = runs_of(results)
    loads = [run["load"] for run in runs if run["load"] is not None]
    dates = sorted({run["date"][:10] for run in runs})
    load_max = max((ld["max"] for ld in loads), default=None)
    subsets = ", ".join(f"{k} {r[k]:,}" for k in ("train_subset", "test_subset") if r.get(k))
    data_words = f"{r['dataset']} ({subsets})" if subsets else f"{r['dataset']} (all its training and test images)"
    if loads:
        load = block("busy" if load_max > meta["cpus"] else "idle", cores=meta["cpus"], max=f"{load_max:.1f}",
                     mean=f"{statistics.fmean(ld['mean'] for ld in loads):.1f}")
    else:
        load = "Each run records the load average at its epochs' ends (none is measured yet)."
    stalled = [run["stalled_s"] for run in runs if run["stalled_s"] > 0]
    if stalled:
        load += " " + block("stalled", runs=len(stalled), all=len(runs), seconds=seconds(sum(stalled)),
                            stall=f"{STALL_S:g}")
    return block("head", target=pct(s["target"], 0), data=data_words, longest=max(s["budgets"]),
                 goal=pct(s["goal"], 0), command=meta["command"], results_file=meta["results_file"],
                 runs_file=meta["runs_file"],
                 preset=f"`onecycle reproduce {s['preset']}` runs it" if s["preset"] else "no preset runs it",
                 recipe=recipe_text(data), budgets=", ".join(map(str, s["budgets"])),
                 start=s["start"] or min(s["budgets"]), exceptions=exceptions(results),
                 seeds=", ".join(map(str, s["seeds"])), machine=meta["machine"], torch=meta["torch"],
                 threads=r.get("threads"), jobs=meta["jobs"],
                 dates=" to ".join(sorted({dates[0], dates[-1]})) if dates else DASH, load=load)


def exceptions(results: dict[str, Any]) -> str:
    """Whether the runs bore that out: the seeds that fell short at a budget longer than one that reached."""
    found = [f"seed {p['seed']} at {', '.join(map(str, p['exceptions']))} epochs" for p in
             results["to_target"]["per_seed"] if p["exceptions"]]
    if found:
        return f"not so for {'; '.join(found)}, which fell short after a shorter run had reached it"
    return "no measured run contradicts it"


def verdict_target(s: dict[str, Any], results: dict[str, Any]) -> str:
    t, target = results["to_target"], pct(s["target"], 0)
    seeds = len(s["seeds"])
    lines = []
    if t["mean_budget"] is not None:
        m = t["mean_budget"]
        lines.append(f"**{target} in {m['epochs']} epochs, {ms(m['train_time_s'], ' s', 0, 1)} of wall time "
                     f"({ms(m['cpu_time_s'], ' s', 0, 1)} of CPU time)**: of the "
                     f"budgets measured for every seed, the shortest whose mean over the {seeds} seed(s) ends at "
                     f"{target} or more "
                     f"({ms(m['accuracy'])}).")
    else:
        lines.append(f"No budget of {', '.join(map(str, s['budgets']))} epochs has a mean over the {seeds} seed(s) "
                     f"at {target} or more.")
    if t["every_seed"]:
        lines.append(f"Per seed, the first budget that reaches it: {ms(t['epochs'], ' epochs', 1, 1)}, "
                     f"{ms(t['train_time_s'], ' s', 0, 1)} of wall time ({ms(t['cpu_time_s'], ' s', 0, 1)} of CPU "
                     "time).")
    else:
        bounded = [p for p in t["per_seed"] if p["status"] == "not known" and p.get("at_most")]
        missed = [f"seed {p['seed']} ({STATUS[p['status']]})" for p in t["per_seed"]
                  if p["status"] != "reached" and p not in bounded]
        if bounded:
            lines.append("Per seed, the first budget that reaches it is known only to be at most: "
                         + ", ".join(f"{p['at_most']} epochs for seed {p['seed']}" for p in bounded)
                         + " (a shorter budget not measured yet).")
        if missed:
            lines.append(f"Not every seed reaches it: {', '.join(missed)}.")
    return " ".join(lines)


def verdict_goal(s: dict[str, Any], results: dict[str, Any]) -> str:
    longest, goal, epochs = results["longest"], pct(s["goal"], 0), max(s["budgets"])
    if longest is None:
        return f"The {epochs}-epoch runs are not measured yet."
    figures = (f"the {epochs}-epoch runs end at {ms(longest['final'])} (their best epoch: {ms(longest['best'])}, read "
               "off the test set, so optimistic)")
    if longest["goal_met"]:
        return f"**{goal} within {epochs} epochs: reached**: {figures}."
    return (f"**{goal} within {epochs} epochs: not reached.** The best figure: {figures}. What was tried to get "
            f"there: `{NOTES}`.")


def headline(data: dict[str, Any]) -> str:
    s, results = data["settings"], data["results"]
    t, longest = results["to_target"], results["longest"]
    seeds = s["seeds"]
    per_seed = {p["seed"]: p for p in t["per_seed"]}
    last = {r["seed"]: r for r in (results["budgets"][-1]["runs"] if longest else [])}
    own = {seed: [r for r in runs_of(results) if r["seed"] == seed] for seed in seeds}

    def reach(p: dict[str, Any], field: str, show: Any) -> str:
        if p["status"] == "reached":
            return show(p[field])
        if field == "epochs" and p["status"] == "not known" and p.get("at_most"):
            return f"≤ {p['at_most']} (shorter not measured)"
        return STATUS[p["status"]]

    target, epochs = pct(s["target"], 0), max(s["budgets"])
    rows = [
        [f"epochs to {target}", *(reach(per_seed[x], "epochs", str) for x in seeds), ms(t["epochs"], "", 1, 1)],
        [f"wall time to {target}", *(reach(per_seed[x], "train_time_s", seconds) for x in seeds),
         ms(t["train_time_s"], " s", 0, 1)],
        [f"CPU time to {target}", *(reach(per_seed[x], "cpu_time_s", seconds) for x in seeds),
         ms(t["cpu_time_s"], " s", 0, 1)],
        [f"accuracy after {epochs} epochs", *(pct(last[x]["accuracy"]) if x in last else DASH for x in seeds),
         ms(longest and longest["final"])],
        [f"best epoch within {epochs}", *(pct(last[x]["best_accuracy"]) if x in last else DASH for x in seeds),
         ms(longest and longest["best"])],
        ["images/s (training steps)", *(f"{statistics.fmean(r['images_per_s'] for r in own[x]):.0f}" if own[x]
                                        else DASH for x in seeds), ms(results["images_per_s"], "", 0, 1)],
        ["peak RSS", *(f"{max(r['peak_rss_mb'] for r in own[x]):.0f} MiB" if own[x] else DASH for x in seeds),
         DASH if results["peak_rss_mb"] is None else f"{results['peak_rss_mb']:.0f} MiB (max)"],
    ]
    return "\n\n".join([block("headline", verdict_target=verdict_target(s, results),
                              verdict_goal=verdict_goal(s, results)),
                        table(["", *(f"seed {x}" for x in seeds), "mean ± std"], rows)])


def budgets(data: dict[str, Any]) -> str:
    s, results = data["settings"], data["results"]
    by_epochs = {row["epochs"]: row for row in results["budgets"]}
    rows = []
    for epochs in sorted(set(s["budgets"])):
        row = by_epochs.get(epochs)
        if row is None:
            rows.append([str(epochs), *(DASH for _ in s["seeds"]), DASH, DASH, DASH])
            continue
        accuracy = {r["seed"]: r["accuracy"] for r in row["runs"]}
        rows.append([str(epochs), *(pct(accuracy.get(x)) for x in s["seeds"]), ms(row["accuracy"]),
                     ms(row["train_time_s"], " s", 0, 1), f"{row['reached']} of {len(row['runs'])}"])
    return "\n\n".join([block("budgets", target=pct(s["target"], 0)),
                        table(["epochs", *(f"seed {x}" for x in s["seeds"]), "mean ± std", "wall time",
                               f"at {pct(s['target'], 0)}"], rows)])


def per_epoch(data: dict[str, Any]) -> str:
    runs = runs_of(data["results"])
    if not runs:
        return ""
    width = max(len(r["per_epoch"]) for r in runs)
    rows = [[f"{r['epochs']} epochs, seed {r['seed']}",
             *(f"{100 * a:.2f}" for a in r["per_epoch"]), *(DASH for _ in range(width - len(r["per_epoch"])))]
            for r in runs]
    longest = data["results"]["longest"]
    if longest is not None:
        rows.append([f"{longest['epochs']} epochs, mean", *(ms(m, "") for m in longest["per_epoch"]),
                     *(DASH for _ in range(width - len(longest["per_epoch"])))])
    return "\n\n".join([block("per_epoch"), table(["run", *(str(e + 1) for e in range(width))], rows)])


def costs(data: dict[str, Any]) -> str:
    runs = runs_of(data["results"])
    if not runs:
        return ""
    rows = [[str(r["epochs"]), str(r["seed"]), pct(r["accuracy"]) + (" †" if r["diverged"] else ""),
             seconds(r["train_time_s"]), seconds(r["cpu_time_s"]), f"{r['images_per_s']:.0f}",
             f"{r['peak_rss_mb']:.0f} MiB", str(r["threads"]),
             DASH if r["load"] is None else f"{r['load']['mean']:.1f} / {r['load']['max']:.1f}",
             seconds(r["stalled_s"]), r["date"][:16]] for r in runs]
    return "\n\n".join([block("runs"), table(["epochs", "seed", "accuracy", "wall time", "CPU time", "images/s",
                                              "peak RSS", "threads", "load (mean / max)", "held up",
                                              "finished (UTC)"], rows)])


def render(data: dict[str, Any]) -> str:
    """The time-to-accuracy section (without its marker lines)."""
    smoke = [SMOKE_WARNING] if data["meta"].get("quick") else []
    parts = [*smoke, head(data), headline(data), budgets(data), per_epoch(data), costs(data)]
    if data["meta"].get("missing"):
        parts.append(block("missing", missing=data["meta"]["missing"]))
    return "\n\n".join(p for p in parts if p) + "\n"
