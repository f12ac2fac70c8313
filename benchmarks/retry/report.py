"""The retry report: a Markdown section of docs/RESULTS.md between two marker lines (:data:`SECTION`), the rest of the
file left as it is. The table and the sentences are built here, fixed text comes from ``report_template.md``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from benchmarks.common.cli import SMOKE_WARNING
from benchmarks.common.section import Section
from benchmarks.common.template import Blocks
from benchmarks.sharpness.report import DASH, table

COMMAND = "python -m benchmarks.retry"
SECTION = Section("retry", COMMAND)
block = Blocks(Path(__file__).with_name("report_template.md"))


def pct(value: float | None) -> str:
    """An accuracy in percent, "—" for none."""
    return DASH if value is None else f"{100 * value:.1f}%"


def times(multiple: float) -> str:
    return f"{multiple:g}×"


def recipe_text(s: dict[str, Any]) -> str:
    r = s["recipe"]
    subsets = ", ".join(f"{k} {r[k]:,}" for k in ("train_subset", "test_subset") if r.get(k))
    data = subsets or "all its training and test images"
    return (f"`{r['model']}` on {r['dataset']} ({data}), augmentation `{r['augment']}`, {r['optimizer'].upper()} with "
            f"batches of {r['batch_size']}, weight decay {r['weight_decay']:g}, label smoothing "
            f"{r['label_smoothing']:g}, {r['epochs']} epochs of 1cycle with onecycle's defaults.")


def range_test_text(results: dict[str, Any]) -> str:
    finder = results["range_test"]
    if finder is None:
        return "The range test is not measured yet."
    if finder["max_lr"] is None:
        return "The range test gave no recommendation: nothing is trained."
    notes = f" Its notes: {' '.join(finder['notes']).rstrip('.')}." if finder["notes"] else ""
    return (f"The range test (`onecycle find-lr` under the recipe) recommends max_lr {finder['max_lr']:.3g} "
            f"({finder['confidence']} confidence).{notes}")


def verdict(results: dict[str, Any], s: dict[str, Any]) -> str:
    """Two or three sentences of what the runs show (``s``: the settings): the recommendation's accuracy, the
    failures above it and how far each mode holds, and what the retries cost."""
    table_rows = results["rows"]
    first = table_rows[0]
    stop, retry = (first["modes"][m]["accuracy"]["mean"] for m in ("stop", "retry"))
    if stop is None or retry is None:
        return "The runs at the recommendation are not measured yet."
    lr = first["max_lr"]
    parts = [f"At the recommendation (max_lr {lr:g}) 1cycle ends at {pct(stop)} with stop and {pct(retry)} with "
             "retry."]
    above, held = results["above"], results["holds_up_to"]
    if len(table_rows) > 1:
        def up_to(mode: str) -> str:
            m = held[mode]
            return "not even at the recommendation" if m is None else f"up to {times(m)} the recommendation"

        parts.append(f"Above it, stop failed in {above['stop']['failed']} of {above['stop']['runs']} runs and retry in "
                     f"{above['retry']['failed']} of {above['retry']['runs']}; every seed ended within "
                     f"{100 * s['within']:g} points of the sane accuracy with stop {up_to('stop')}, with retry "
                     f"{up_to('retry')}.")
    done = results["retried"]
    if done["runs"]:
        planned = results["planned_steps"]
        share = f" ({100 * done['extra_steps']['mean'] / planned:.0f}% of the {planned} planned)" if planned else ""
        still = (f"; {done['stopped']} of them still stopped after its last retry" if done["stopped"]
                 else "; none of them stopped")
        parts.append(f"The {done['runs']} retry run(s) that retried made {done['retries']['mean']:.2g} retries on "
                     f"average and trained {done['extra_steps']['mean']:.3g} steps again{share}{still}.")
    else:
        parts.append("No retry run retried.")
    return " ".join(parts)


def _accuracy(summary: dict[str, Any]) -> str:
    acc = summary["accuracy"]
    if not acc["n"]:
        return DASH
    return f"{pct(acc['mean'])} ({', '.join(f'{100 * v:.1f}' for v in acc['values'])})"


def _mean(stats: dict[str, Any]) -> str:
    return DASH if stats["mean"] is None else f"{stats['mean']:.3g}"


def results_table(data: dict[str, Any]) -> str:
    rows = []
    for row in data["results"]["rows"]:
        stop, retry = row["modes"]["stop"], row["modes"]["retry"]
        lr = DASH if row["max_lr"] is None else f"{row['max_lr']:g}"
        rows.append([f"{times(row['multiple'])} ({lr})", _accuracy(stop), _accuracy(retry), _mean(retry["retries"]),
                     _mean(retry["extra_steps"]), f"{stop['stopped']} / {retry['stopped']}",
                     f"{stop['failed']} / {retry['failed']}"])
    return "\n\n".join([block("table", n=len(data["settings"]["seeds"])),
                        table(["max_lr: × recommendation", "stop: test accuracy", "retry: test accuracy",
                               "retries", "steps trained again", "runs stopped: stop / retry",
                               "runs failed: stop / retry"], rows)])


def render(data: dict[str, Any]) -> str:
    """The retry section (without its marker lines)."""
    s, meta, results = data["settings"], data["meta"], data["results"]
    parts = [SMOKE_WARNING] if meta.get("quick") else []
    parts.append(block("head", multiples=", ".join(times(m) for m in s["multiples"]), command=meta["command"],
                       results_file=meta["results_file"], runs_file=meta["runs_file"], recipe=recipe_text(s),
                       seeds=", ".join(map(str, s["seeds"])), range_test=range_test_text(results),
                       failed_below=f"{s['failed_below']:g}", sane=pct(results["sane_accuracy"]),
                       machine=meta["machine"], torch=meta["torch"], jobs=meta["jobs"], date=meta["date"]))
    parts += [block("result", verdict=verdict(results, s)), results_table(data)]
    if meta.get("missing"):
        parts.append(block("missing", missing=meta["missing"]))
    return "\n\n".join(parts) + "\n"
