"""The twins' report: a Markdown section of docs/RESULTS.md between two marker lines (:data:`SECTION`), the rest of
the file (written by hand) left as it is. Tables are built here, fixed text comes from ``report_template.md``."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks.common.cli import SMOKE_WARNING
from benchmarks.common.section import Section
from benchmarks.common.template import Blocks
from benchmarks.experiments.analysis import NOISE_Z, loss_diff, pts

COMMAND = "python -m benchmarks.experiments"
SECTION = Section("twins", COMMAND)
block = Blocks(Path(__file__).with_name("report_template.md"))
VERDICTS = {True: "held", False: "not reproduced", None: "within noise"}
NAMES = {"onecycle": "1cycle", "step": "step", "linear": "linear to zero", "cosine": "cosine",
         "onecycle@range-test": "1cycle at the range test's lr"}


def ms(stats: dict[str, Any] | None, scale: float = 100.0, digits: int = 1) -> str:
    """``mean ± std`` (times ``scale``), the mean alone for one seed, "—" for none; † when a seed diverged."""
    if not stats or stats.get("mean") is None:
        return "—"
    text = f"{scale * stats['mean']:.{digits}f}"
    if stats.get("std") is not None:
        text += f" ± {scale * stats['std']:.{digits}f}"
    return text + (" †" if stats.get("diverged") else "")


FIGURE_ALT = {"budget": "accuracy against budget", "momentum": "cyclical vs constant momentum",
              "finder": "range test", "superconvergence": "super-convergence: losses per epoch, lr overlaid",
              "short_cycle": "short cycle and long annihilation: losses per epoch, lr overlaid",
              "weight_decay": "weight-decay sweep and trained values"}


def figure(data: dict[str, Any], images: str, name: str) -> str:
    """The Markdown image of figure ``name`` (under ``images``, relative to the report), or a note when it was not
    drawn (nothing measured for it yet)."""
    file = data["figures"].get(name)
    return f"![{FIGURE_ALT[name]}]({images}/{file})" if file else f"(No {FIGURE_ALT[name]} figure: not measured yet.)"


def lr(v: float | None) -> str:
    return "—" if v is None else f"{v:.3g}"


def minutes(seconds: float) -> str:
    return f"{seconds / 60:.1f} min" if seconds >= 60 else f"{seconds:.0f} s"


def seeds(numbers: Sequence[int]) -> str:
    """The seeds in words: "seed 0", "seeds 0 and 1", "seeds 0, 1 and 2" ("no seed" for none)."""
    names = [str(n) for n in numbers]
    if len(names) < 2:
        return f"seed {names[0]}" if names else "no seed"
    return f"seeds {', '.join(names[:-1])} and {names[-1]}"


def over_seeds(numbers: Sequence[int]) -> str:
    """What each figure is: the mean ± sample standard deviation over the seeds, or that of the one seed."""
    if len(numbers) == 1:
        return f"that of one seed, {seeds(numbers)}"
    return f"the mean ± sample standard deviation over {seeds(numbers)}"


def invocation(meta: dict[str, Any]) -> str:
    """What this invocation did: its wall time and new measurements, or that it trained nothing."""
    if meta["new_runs"] == 0:
        return (f"This invocation trained nothing: all {meta['runs']} measurements, and so every figure, come from "
                "the cache.")
    return f"This invocation: {minutes(meta['wall_time_s'])} of wall time, {meta['new_runs']} new measurement(s) of " \
           f"{meta['runs']}."


def table(header: list[str], rows: list[list[str]]) -> str:
    return "\n".join(["| " + " | ".join(header) + " |", "|" + "---|" * len(header),
                      *("| " + " | ".join(r) + " |" for r in rows)])


def head(data: dict[str, Any]) -> str:
    s, meta = data["settings"], data["meta"]
    base = s["base"]
    subsets = (f"{base['dataset']}, a fixed training subset of {base['train_subset']:,} images and a fixed test "
               f"subset of {base['test_subset']:,}" if base.get("train_subset") else base["dataset"])
    return block("head", data=subsets, command=meta["command"], results_file=meta["results_file"],
                 runs_file=meta["runs_file"] or "(no cache)", model=f"`{base['model']}`",
                 momentum=f"{base['momentum']:g}", batch_size=base["batch_size"],
                 weight_decay=f"{s['weight_decay']:g}", over_seeds=over_seeds(s["seeds"]), noise_z=f"{NOISE_Z:g}",
                 start_lr=f"{s['start_lr']:g}", end_lr=f"{s['end_lr']:g}", num_steps=s["num_steps"],
                 finder_seed=s["finder_seed"], machine=meta["machine"], threads=s["threads"], jobs=meta["jobs"],
                 invocation=invocation(meta), run_time=minutes(meta["run_time_s"]),
                 estimate=minutes(meta["run_time_s"] / meta["jobs"]), pace=pace(meta))


def pace(meta: dict[str, Any]) -> str:
    """What the run times depend on: the machine's load when the report was written, and the wall time of the
    whole suite at the fastest pace measured (an unloaded machine's), for results files that record them."""
    if meta.get("fastest_epoch_s") is None or not meta.get("epochs_trained"):
        return ""
    quiet = meta["epochs_trained"] * meta["fastest_epoch_s"] / meta["jobs"]
    load = f" (1-minute load average {meta['load_average']:.1f} when this report was written)" \
        if meta.get("load_average") is not None else ""
    return (f" Run times depend on what else the machine runs{load}: the fastest run measured took "
            f"{meta['fastest_epoch_s']:.1f} s an epoch, a pace at which the {meta['epochs_trained']} epochs of the "
            f"suite take about {minutes(quiet)} of wall time with `--jobs {meta['jobs']}`.")


def verdict(claim: dict[str, Any]) -> str:
    """A claim's verdict in words; with one seed there is no noise estimate, and the verdict is the sign alone."""
    if claim["verdict"] is None:
        return "not measured"
    return VERDICTS[claim["held"]] + ("" if claim.get("noise_known", True) else " (one seed: sign only)")


def claims(results: dict[str, Any]) -> str:
    rows = [[str(c["experiment"]), c["claim"], verdict(c), c["evidence"]] for c in results["claims"]]
    return "\n\n".join([block("claims", noise_z=f"{NOISE_Z:g}"), table(["exp.", "claim", "verdict", "numbers"], rows)])


def budget(data: dict[str, Any], images: str) -> str:
    s, results = data["settings"], data["results"]
    b = results["budget"]
    rows = []
    for name, per in b["schedules"].items():
        rows.append([NAMES[name], *(f"{ms(p['best'])} ({lr(p['best']['lr'])}{' ‡' if p['best_on_edge'] else ''})"
                                    if p["best"] and p["best"]["mean"] is not None else "—"
                                    for p in per["per_budget"])])
    rows.append([NAMES["onecycle@range-test"], *(f"{ms(p)} ({lr(p['lr'])})" for p in b["recommended"])])
    budgets = s["budgets"]
    parts = [block("budget", budgets=", ".join(map(str, budgets)), grid=", ".join(f"{v:g}" for v in s["grid"]),
                   recommended=lr(results["lrs"].get("recommended")), momentum=f"{s['base']['momentum']:g}",
                   figure_budget=figure(data, images, "budget")),
             table(["schedule", *(f"{e} ep." for e in budgets)], rows)]
    grid_rows = []
    for name, per in b["schedules"].items():
        for p in per["per_budget"]:
            grid_rows.append([NAMES[name], str(p["epochs"]), *(ms(g) for g in p["grid"])])
    parts += ["All grid points (test accuracy %):",
              table(["schedule", "epochs", *(f"lr {v:g}" for v in s["grid"])], grid_rows)]
    parts.append(block("to_target", max_budget=max(budgets), min_budget=min(budgets)))

    def reach(t: dict[str, Any]) -> str:
        if t["first"] is None:
            return f"not in {max(budgets)}"
        if t["first"] == min(budgets):
            return f"≤ {t['first']}"
        return f"{t['first']} ({t['interpolated']:.1f})"

    parts.append(table(["schedule", *(f"{100 * t:g}%" for t in s["targets"])],
                       [[NAMES[name], *(reach(targets[f"{t:g}"]) for t in s["targets"])]
                        for name, targets in b["to_target"].items()]))
    comp = [[str(c["epochs"]), NAMES[c["best_baseline"]], ms(c["baseline"]), pts(c.get("tuned", {})),
             pts(c["range_test"])] for c in b["comparisons"]]
    parts += ["1cycle against the best tuned baseline at each budget (differences in accuracy points, ± "
              f"{NOISE_Z:g} standard errors):",
              table(["epochs", "best baseline", "its accuracy %", "tuned 1cycle −", "1cycle at the range test −"],
                    comp)]
    return "\n\n".join(parts)


def momentum(data: dict[str, Any], images: str) -> str:
    m = data["results"]["momentum"]
    rows = [[f"{r['lr']:.3g}{' (recommendation)' if r['recommended'] else ''}", ms(r["cyclical"]),
             ms(r["constant"]), pts(r["difference"])] for r in m["rows"]]
    rows.append(["best of each", f"{ms(m['best_cyclical'])} ({lr((m['best_cyclical'] or {}).get('lr'))})",
                 f"{ms(m['best_constant'])} ({lr((m['best_constant'] or {}).get('lr'))})", pts(m["difference"])])
    return "\n\n".join([block("momentum", epochs=m["epochs"], constant=f"{m['constant_momentum']:g}",
                              figure_momentum=figure(data, images, "momentum")),
                        table(["max_lr", "cyclical", f"constant {m['constant_momentum']:g}", "cyclical − constant"],
                              rows)])


def _curve_tables(curves: dict[str, dict[str, Any] | None], names: dict[str, str], seed_numbers: Sequence[int]
                  ) -> list[str]:
    present = [(n, c) for n, c in curves.items() if c]
    if not present:
        return []
    summary = table(["run", "max_lr", "test accuracy %", "mean gap", "final gap"],
                    [[names.get(n, n), lr(c["max_lr"]), ms(c["accuracy"]), ms(c["mean_gap"], 1, 3),
                      ms(c["final_gap"], 1, 3)] for n, c in present])
    epochs = max(len(c["epoch"]) for _, c in present)
    rows = []
    for e in range(epochs):
        row = [str(e + 1)]
        for _, c in present:
            if e < len(c["epoch"]):
                row.append(f"{c['train_loss'][e]:.3f} / {c['val_loss'][e]:.3f} / {c['gap'][e]:+.3f}")
            else:
                row.append("—")
        rows.append(row)
    per_epoch = table(["epoch", *(f"{names.get(n, n)}: train / test / gap" for n, _ in present)], rows)
    over = f"mean over {seeds(seed_numbers)}" if len(seed_numbers) > 1 else seeds(seed_numbers)
    return [summary, f"Per epoch ({over}):", per_epoch]


def superconvergence(data: dict[str, Any], images: str) -> str:
    s, results = data["settings"], data["results"]
    sc, lrs = results["superconvergence"], results["lrs"]
    parts = [block("superconvergence", epochs=sc["epochs"], minimum=lr(lrs.get("minimum")),
                   divisor=f"{s['moderate_divisor']:g}", moderate=lr(lrs.get("moderate")),
                   recommended=lr(lrs.get("recommended")),
                   figure_finder=figure(data, images, "finder"),
                   figure_superconvergence=figure(data, images, "superconvergence"))]
    parts += _curve_tables(sc["curves"], {"minimum": "minimum", "moderate": "moderate",
                                          "recommended": "recommendation"}, s["seeds"])
    if "accuracy_difference" in sc:
        parts.append(f"Minimum − moderate: accuracy {pts(sc['accuracy_difference'])}; mean gap "
                     f"{loss_diff(sc['gap_difference'])}.")
    return "\n\n".join(parts)


def short_cycle(data: dict[str, Any], images: str) -> str:
    sc, lrs = data["results"]["short_cycle"], data["results"]["lrs"]
    parts = [block("short_cycle", epochs=sc["epochs"], recommended=lr(lrs.get("recommended")),
                   cycle_epochs=sc["cycle_epochs"], figure_short_cycle=figure(data, images, "short_cycle"))]
    parts += _curve_tables(sc["curves"], {"standard": "standard split",
                                          "short": f"cycle ends at epoch {sc['cycle_epochs']}"},
                           data["settings"]["seeds"])
    if "gap_difference" in sc:
        parts.append(f"Short − standard: final gap {loss_diff(sc['gap_difference'])}; accuracy "
                     f"{pts(sc['accuracy_difference'])}.")
    return "\n\n".join(parts)


def weight_decay(data: dict[str, Any], images: str) -> str:
    s, wd = data["settings"], data["results"]["weight_decay"]
    parts = [block("weight_decay", values=", ".join(f"{v:g}" for v in s["sweep_values"]), epochs=s["sweep_epochs"],
                   figure_weight_decay=figure(data, images, "weight_decay"))]
    if not wd:
        return "\n\n".join(parts)
    sweep = wd["sweep"]
    rows = [[f"{t['weight_decay']:g}{' (pick)' if t['weight_decay'] == sweep['pick'] else ''}", lr(max_lr),
             f"{loss:.3f}", "yes" if ok else "no", ms(t)]
            for t, max_lr, loss, ok in zip(wd["trained"], sweep["max_lrs"], sweep["reached_losses"],
                                           sweep["eligible"])]
    parts.append(table(["weight decay", "recommended max_lr", "reached loss", "eligible", "test accuracy %"], rows))
    if wd.get("picked") and wd.get("best"):
        parts.append(f"Pick {wd['picked']['weight_decay']:g} − best {wd['best']['weight_decay']:g}: "
                     f"{pts(wd['difference'])}.")
    return "\n\n".join(parts)


def not_reproduced(results: dict[str, Any]) -> str:
    failed = [c for c in results["claims"] if c["held"] is not True and c["verdict"] is not None]
    lines = [f"- **{verdict(c)}** (experiment {c['experiment']}): {c['claim']} — {c['evidence']}."
             for c in failed]
    text = "\n".join(lines) if lines else "None: every claim tested here held."
    return "\n\n".join([block("not_reproduced"), text])


def render(data: dict[str, Any]) -> str:
    """The twins' section (without its marker lines)."""
    images = data["meta"]["images"]
    results = data["results"]
    smoke = [SMOKE_WARNING] if data["meta"].get("quick") else []
    parts = [*smoke, head(data), claims(results), not_reproduced(results), budget(data, images),
             momentum(data, images), superconvergence(data, images), short_cycle(data, images),
             weight_decay(data, images)]
    if data["meta"].get("missing"):
        parts.append(block("missing", missing=data["meta"]["missing"]))
    return "\n\n".join(parts) + "\n"
