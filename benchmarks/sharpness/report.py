"""The sharpness report: a Markdown section of docs/RESULTS.md between two marker lines (:data:`SECTION`), the rest of
the file left as it is. Tables and the verdict are built here, fixed text comes from ``report_template.md``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from benchmarks.common.cli import SMOKE_WARNING
from benchmarks.common.section import Section
from benchmarks.common.template import Blocks

COMMAND = "python -m benchmarks.sharpness"
SECTION = Section("sharpness", COMMAND)
block = Blocks(Path(__file__).with_name("report_template.md"))
DASH = "—"


def ms(stats: dict[str, Any] | None, fmt: str = ".3g", scale: float = 1.0, unit: str = "") -> str:
    """``mean ± std`` of :func:`~benchmarks.common.stats.mean_std` (times ``scale``, then ``unit``), the mean alone
    for one value, "—" for none."""
    if not stats or stats.get("mean") is None:
        return DASH
    text = f"{scale * stats['mean']:{fmt}}"
    if stats.get("std") is not None:
        text += f" ± {scale * stats['std']:{fmt}}"
    return text + unit


def table(header: list[str], rows: list[list[str]]) -> str:
    return "\n".join(["| " + " | ".join(header) + " |", "|" + "---|" * len(header),
                      *("| " + " | ".join(r) + " |" for r in rows)])


def recipe_text(s: dict[str, Any]) -> str:
    r = s["recipe"]
    subsets = ", ".join(f"{k} {r[k]:,}" for k in ("train_subset", "test_subset") if r.get(k))
    data = subsets or "all its training and test images"
    return (f"`{r['model']}` on {r['dataset']} ({data}), augmentation `{r['augment']}`, {r['optimizer'].upper()}"
            f" with batches of {r['batch_size']}, weight decay {r['weight_decay']:g}, label "
            f"smoothing {r['label_smoothing']:g}, {r['epochs']} epoch(s) for every schedule; 1cycle with onecycle's "
            "defaults (max_lr/10 up to max_lr and back, then far below; momentum 0.95 → 0.85 → 0.95), step with He "
            "et al.'s (max_lr, divided by 10 at 50% and again at 75% of training; momentum 0.9).")


def range_test_text(results: dict[str, Any]) -> str:
    finder, lrs = results["range_test"], results["peaks"]
    if finder is None:
        return "The range test is not measured yet."
    if lrs is None:
        return "The range test gave no recommendation: nothing is trained."
    notes = f" Its notes: {' '.join(finder['notes'])}" if finder["notes"] else ""
    return (f"The range test (`onecycle find-lr` under the recipe) recommends max_lr {finder['max_lr']:.3g} "
            f"({finder['confidence']} confidence): the high max_lr {lrs['high']:g}, the moderate one "
            f"{lrs['moderate']:g}.{notes}")


def comparison_text(what: str, other: str, c: dict[str, Any] | None) -> str:
    """One sentence on how the high max_lr's top eigenvalue compares with ``other``'s (:func:`analysis.compare`)."""
    if c is None:
        return f"{what} against {other}: not measured yet."
    if c["ratio"] is None or c["ratio"] <= 0:
        return f"{what} against {other}: their means are of opposite signs or zero, so no ratio is given."
    factor = 1 / c["ratio"] if c["lower"] else c["ratio"]
    spread = {True: "at every seed", False: "but the seeds' values overlap: the difference is within the spread "
              "over seeds", None: "measured on too few seeds to tell it from the spread"}[c["separated"]]
    return (f"{what} ends {'flatter' if c['lower'] else 'sharper'} than {other}: a top eigenvalue {factor:.2f} "
            f"times {'lower' if c['lower'] else 'higher'} on average, {spread}.")


def unconverged(arm: dict[str, Any]) -> int:
    """How many of the runs of ``arm`` counted in its figures have eigenvalues that did not converge."""
    return sum(r["converged"] is False for r in arm["runs"])


def figure(arm: dict[str, Any]) -> str:
    """An arm's top eigenvalue as the verdict gives it, marked as the table marks its runs: * when it counts runs
    whose eigenvalues did not converge, and the runs that diverged (†), which it leaves out."""
    runs, diverged = arm["runs"], sum(r["diverged"] for r in arm["runs"])
    text = f"{arm['name']}: {ms(arm['top'])}{'*' if unconverged(arm) else ''}"
    return text + (f" ({diverged} of {len(runs)} run(s) diverged †, left out)" if diverged else "")


def verdict(results: dict[str, Any]) -> str:
    arms = results["arms"]
    figures = "; ".join(figure(a) for a in arms)
    parts = [f"Top Hessian eigenvalue, mean ± std over the seeds: {figures}.",
             comparison_text("1cycle at the high max_lr", "1cycle at the moderate one", results["high_vs_moderate"]),
             comparison_text("1cycle at the high max_lr", "the step schedule at the moderate one",
                             results["high_vs_step"])]
    short = sum(unconverged(a) for a in arms)
    if short:
        parts.append(f"* {short} of the runs counted did not converge within the Lanczos iterations allowed: their "
                     "top eigenvalue is an estimate below the true one, short of the tolerance, and so are the "
                     "figures and comparisons that count it.")
    return " ".join(parts)


def _top(run: dict[str, Any] | None) -> str:
    """A run's top eigenvalue as the table shows it: * where it did not converge, † for a run that diverged."""
    if run is None:
        return DASH
    if run["eigenvalues"] is None:
        return "†"
    return f"{run['eigenvalues'][0]:.3g}{'' if run['converged'] else '*'}"


def results_table(data: dict[str, Any]) -> str:
    seeds = data["settings"]["seeds"]
    rows = []
    for arm in data["results"]["arms"]:
        by_seed = {r["seed"]: r for r in arm["runs"]}
        tops = [_top(by_seed.get(seed)) for seed in seeds]
        iterations = ", ".join(str(r["iterations"]) if r["iterations"] is not None else "†" for r in arm["runs"])
        rows.append([arm["name"], DASH if arm["max_lr"] is None else f"{arm['max_lr']:g}", *tops,
                     ms(arm["top"]), ", ".join(ms(e) for e in arm["eigenvalues"]) or DASH,
                     ms(arm["accuracy"], ".2f", 100.0, "%"), iterations or DASH])
    return "\n\n".join([block("table"), table(["schedule", "max_lr", *(f"seed {x}" for x in seeds), "top: mean ± std",
                                               "each of the k: mean ± std", "test accuracy", "iterations"], rows)])


def render(data: dict[str, Any]) -> str:
    """The sharpness section (without its marker lines)."""
    s, meta, results = data["settings"], data["meta"], data["results"]
    sharp = s["sharpness"]
    parts = [SMOKE_WARNING] if meta.get("quick") else []
    parts.append(block("head", k=sharp["k"], divisor=f"{s['moderate_divisor']:g}", command=meta["command"],
                       results_file=meta["results_file"], runs_file=meta["runs_file"], recipe=recipe_text(s),
                       seeds=", ".join(map(str, s["seeds"])), range_test=range_test_text(results),
                       images=f"{sharp['images']:,}", seed=sharp["seed"], tol=f"{sharp['tol']:g}",
                       max_iter=sharp["max_iter"], machine=meta["machine"], torch=meta["torch"], jobs=meta["jobs"],
                       date=meta["date"]))
    parts += [block("result", verdict=verdict(results)), results_table(data)]
    if meta.get("missing"):
        parts.append(block("missing", missing=meta["missing"]))
    return "\n\n".join(parts) + "\n"
