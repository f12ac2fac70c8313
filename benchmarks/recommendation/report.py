"""The Markdown report of the benchmark's results: tables built here, fixed text from ``report_template.md``."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.common.cli import SMOKE_WARNING
from benchmarks.common.section import Section
from benchmarks.common.template import Blocks
from benchmarks.recommendation.candidates import TRAINED_MARGINS
from benchmarks.recommendation.paths import ROOT, RUNS_FILE
from benchmarks.recommendation.rules import RULES
from benchmarks.recommendation.scoring import (
    PROBE_CANDIDATE,
    PROBE_TOLERANCES,
    probe_tolerance_regrets,
    rule_cost,
    seed_noise,
    summarize,
)
from onecycle.probe import TOLERANCE
from onecycle.suggestions import Recommendation, recommend

COMMAND = "python -m benchmarks.recommendation"
SECTION = Section("recommendation", COMMAND)
"""The report's place in its Markdown file (docs/BENCHMARKS.md): between two marker lines."""
TEMPLATE = Path(__file__).with_name("report_template.md")
block = Blocks(TEMPLATE)
"""``block(name, **values)``: the template block ``name`` with its placeholders filled in."""


def fmt_lr(v: float | None) -> str:
    """A learning rate to 2 significant digits; "—" for none."""
    return "—" if v is None else f"{v:.2g}"


def fmt_pts(v: float | None) -> str:
    """A regret in accuracy points, signed, to one decimal; "—" for none."""
    return "—" if v is None else f"{v:+.1f}"


def fmt_acc(v: float | None) -> str:
    """An accuracy (0..1) in percent, to one decimal; "—" for none."""
    return "—" if v is None else f"{100 * v:.1f}"


def summary_table(cases: Sequence[dict[str, Any]], key: str, names: Iterable[str],
                  ratio_to_best: bool = False) -> list[str]:
    """Markdown rows: per rule, mean and worst regret over tuning and held-out cases, raw and denoised, and the
    rule's cost in training steps relative to the planned training (median over the cases)."""
    raw, den = summarize(cases, key), summarize(cases, key, "denoised_regret")
    lines = ["| rule | tuning mean | tuning worst | held-out mean | held-out worst | denoised: tuning mean | "
             "tuning worst | held-out mean | held-out worst | no answer | diverged | lr / best lr | cost |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for name in names:
        t, h = raw.get(name, {}).get("tuning", {}), raw.get(name, {}).get("held_out", {})
        dt, dh = den.get(name, {}).get("tuning", {}), den.get(name, {}).get("held_out", {})
        ratios = [c[key][name]["lr"] / c["best"]["lr"] for c in cases
                  if name in c.get(key, {}) and c[key][name]["lr"] is not None]
        ratio = f"x{10 ** float(np.median(np.log10(ratios))):.2g}" if ratios and ratio_to_best else "—"
        costs = [v for c in cases if (v := rule_cost(c, name)) is not None]
        cost = f"{100 * float(np.median(costs)):.0f}%" if costs else "—"
        lines.append(f"| {name} | {fmt_pts(t.get('mean'))} | {fmt_pts(t.get('worst'))} | {fmt_pts(h.get('mean'))} | "
                     f"{fmt_pts(h.get('worst'))} | {fmt_pts(dt.get('mean'))} | {fmt_pts(dt.get('worst'))} | "
                     f"{fmt_pts(dh.get('mean'))} | {fmt_pts(dh.get('worst'))} | "
                     f"{t.get('no_answer', 0) + h.get('no_answer', 0)} | "
                     f"{t.get('diverged', 0) + h.get('diverged', 0)} | {ratio} | {cost} |")
    return lines


def introduction(data: dict[str, Any]) -> list[str]:
    """How the benchmark measures, and its cases."""
    settings, cases = data["settings"], data["cases"]
    head = block("head", command=f"{COMMAND}{' --quick' if data.get('quick') else ''}",
                 results_file=data["results_file"], seed_count=len(settings["seeds"]),
                 seeds=", ".join(map(str, settings["seeds"])), extend_grid=settings["extend_grid"],
                 start_lr=f"{settings['start_lr']:g}", end_lr=f"{settings['end_lr']:g}",
                 num_steps=settings["num_steps"], finder_seed=settings["finder_seed"])
    rows = ["| case | data (train / test images) | network | optimizer (weight decay) | batch | epochs | grid lrs | "
            "held out |",
            "|---|---|---|---|---|---|---|---|"]
    for c in cases:
        k = c["case"]
        rows.append(
            f"| {k['name']} | {k['dataset']} ({c['train_images']} / {c['test_images']}) | {k['model']} | "
            f"{k['optimizer']} ({c['weight_decay_used']:g}) | {k['batch_size']} | {k['epochs']} | "
            f"{fmt_lr(c['grid'][0]['lr'])} … {fmt_lr(c['grid'][-1]['lr'])} ({len(c['grid'])}) | "
            f"{'yes' if k['held_out'] else 'no'} |")
    return [head, "\n".join(rows), block("cases_note")]


def rule_summary(cases: Sequence[dict[str, Any]]) -> list[str]:
    """Every rule's regret over the tuning and the held-out cases."""
    tuning = sum(not c["case"]["held_out"] for c in cases)
    return [block("summary"), "\n".join(summary_table(cases, "rules", RULES, ratio_to_best=True)),
            block("summary_note", tuning=tuning, held_out=len(cases) - tuning)]


def rule_cell(entry: dict[str, Any] | None) -> str:
    """A trained answer's lr and regret, † when a seed diverged, ≈ when estimated (not trained); "—" without an
    answer."""
    if entry is None or entry["lr"] is None:
        return "—"
    return (f"{fmt_lr(entry['lr'])}: {'≈' if entry.get('estimated') else ''}{fmt_pts(entry['regret'])}"
            f"{' †' if entry['diverged'] else ''}")


def per_case(cases: Sequence[dict[str, Any]]) -> list[str]:
    """Each case's best lr and each rule's answer and regret; the seed noise; the grids and range tests."""
    rows = ["| case | best lr | best acc | fitted peak | " + " | ".join(RULES) + " |",
            "|---|---|---|---|" + "---|" * len(RULES)]
    for c in cases:
        edge = " (edge)" if c["best_on_edge"] else ""
        fitted = c.get("denoised_best")
        peak = f"{fmt_lr(fitted['lr'])}: {fmt_acc(fitted['accuracy'])}" if fitted else "—"
        rows.append(f"| {c['case']['name']}{' (held out)' if c['case']['held_out'] else ''} | "
                    f"{fmt_lr(c['best']['lr'])}{edge} | {fmt_acc(c['best']['accuracy'])} | {peak} | "
                    + " | ".join(rule_cell(c["rules"].get(name)) for name in RULES) + " |")
    parts = [block("per_case"), "\n".join(rows)]
    noise = [(c["case"]["name"], seed_noise(c["grid"])) for c in cases]
    if any(v is not None for _, v in noise):
        parts.append(block("seed_noise", noise=", ".join(f"{n} ±{v:.1f}" for n, v in noise if v is not None)))
    items = []
    for c in cases:
        f = c["finder"]
        rec = current_recommendation(f)
        items.append(block(
            "grid_case", case=c["case"]["name"], last_lr=fmt_lr(f["lrs"][-1]), steps=len(f["lrs"]),
            points=", ".join(f"{fmt_lr(p['lr'])}: {fmt_acc(p['accuracy'])}{'†' if p['diverged'] else ''}"
                             for p in c["grid"]),
            stop_reason=f["stop_reason"], lr_at_minimum=fmt_lr(rec.lr_at_minimum),
            fall="—" if rec.fall is None else f"{rec.fall:.0%}", shallow=" (shallow)" if rec.shallow else "",
            confidence=rec.confidence))
    return [*parts, block("grid"), "\n".join(items)]


def current_recommendation(finder: dict[str, Any]) -> Recommendation:
    """The library's recommendation read off a case's stored range-test curve by the current
    :func:`onecycle.suggestions.recommend`: its confidence, fall and shallowness as the library gives them today, not
    as the code of the day the case was measured recorded them (the rule for ``max_lr`` is the same)."""
    return recommend(finder["lrs"], finder["losses"], div_factor=finder["recommendation"]["div_factor"],
                     diverged=finder.get("diverged", True))


def candidates(cases: Sequence[dict[str, Any]]) -> list[str]:
    """The candidate rules: estimated from the grids, then those trained."""
    parts = [block("candidates")]
    errors = [abs(r["regret"] - r["interpolated_regret"]) for c in cases for r in c["rules"].values()
              if r.get("interpolated_regret") is not None and r["regret"] is not None]
    if errors:
        parts.append(block("candidates_check", mean=f"{np.mean(errors):.1f}", largest=f"{max(errors):.1f}",
                           answers=len(errors)))
    rows = ["| candidate | tuning mean | tuning worst | held-out mean | held-out worst | not scored |",
            "|---|---|---|---|---|---|"]
    for name, s in summarize(cases, "variants").items():
        t, h = s.get("tuning", {}), s.get("held_out", {})
        rows.append(f"| {name} | {fmt_pts(t.get('mean'))} | {fmt_pts(t.get('worst'))} | {fmt_pts(h.get('mean'))} | "
                    f"{fmt_pts(h.get('worst'))} | {t.get('no_answer', 0) + h.get('no_answer', 0)} |")
    parts.append("\n".join(rows))
    if not any(c.get("trained_variants") for c in cases):
        return parts
    variants = tuple(dict.fromkeys(n for c in cases for n in (*TRAINED_MARGINS, *c.get("finder_variants", {}),
                                                              "min/10")))
    rows = ["| case | " + " | ".join(variants) + " |", "|---|" + "---|" * len(variants)]
    for c in cases:
        trained = c.get("trained_variants", {})
        rows.append(f"| {c['case']['name']} | " + " | ".join(rule_cell(trained.get(n)) for n in variants) + " |")
    return [*parts, block("trained_variants"),
            "\n".join(summary_table(cases, "trained_variants", variants, ratio_to_best=True)), "\n".join(rows)]


def stability_probe(cases: Sequence[dict[str, Any]]) -> list[str]:
    """The stability probe: its pick rule at several tolerances (read off the trained candidates), then per
    case what it cost and measured."""
    probed = [c for c in cases if (c["finder"].get("probe") or {}).get("candidates")]
    if not probed:
        return []
    rows = ["| tolerance | tuning mean | tuning worst | held-out mean | held-out worst | denoised: tuning mean | "
            "tuning worst | held-out mean | held-out worst | not scored |", "|---|---|---|---|---|---|---|---|---|---|"]
    raw = [(c["case"]["held_out"], probe_tolerance_regrets(c)) for c in probed]
    den = [(c["case"]["held_out"], probe_tolerance_regrets(c, "denoised_regret")) for c in probed]

    def stats(table: list[tuple[bool, dict[float, float | None]]], tol: float, held: bool) -> tuple[str, str]:
        values = [r[tol] for h, r in table if h == held and r[tol] is not None]
        return (fmt_pts(float(np.mean(values))), fmt_pts(min(values))) if values else ("—", "—")

    for tol in PROBE_TOLERANCES:
        cells = [*stats(raw, tol, False), *stats(raw, tol, True), *stats(den, tol, False), *stats(den, tol, True)]
        missing = sum(r[tol] is None for _, r in raw)
        rows.append(f"| {tol:g}{' (library)' if tol == TOLERANCE else ''} | " + " | ".join(cells) + f" | {missing} |")
    per_case = ["| case | planned steps | range test | probe | candidates: final loss (trained regret) | pick |",
                "|---|---|---|---|---|---|"]
    for c in probed:
        f, p = c["finder"], c["finder"]["probe"]
        trained = c.get("trained_variants", {})
        cells = []
        for k, (lr, final) in enumerate(zip(p["candidates"], p["final"])):
            entry = trained.get(PROBE_CANDIDATE.format(k=k + 1)) or {}
            cells.append(f"{fmt_lr(lr)}: {'diverged' if final is None else f'{final:.3f}'} "
                         f"({fmt_pts(entry.get('regret'))})")
        cost = sum(len(losses) for losses in p["losses"])
        per_case.append(f"| {c['case']['name']} | {f['total_steps']} | {len(f['lrs'])} "
                        f"({100 * len(f['lrs']) / f['total_steps']:.0f}%) | {len(p['candidates'])} x {p['steps']} "
                        f"({100 * cost / f['total_steps']:.0f}%) | {', '.join(cells)} | {fmt_lr(p['pick'])} |")
    return [block("probe"), "\n".join(rows), "\n".join(per_case)]


def weight_decay(cases: Sequence[dict[str, Any]]) -> list[str]:
    """The sweep's weight-decay pick against the trained weight-decay grid, where a case has one."""
    wd_cases = [c for c in cases if c.get("weight_decay")]
    if not wd_cases:
        return []
    rows = ["| case | lr | accuracy % per weight decay | sweep's max_lr per value | sweep pick | regret | "
            "loss-at-lr pick | regret | best |", "|---|---|---|---|---|---|---|---|---|"]

    def shown(pick: float | None) -> str:
        return "none" if pick is None else f"{pick:g}"

    for c in wd_cases:
        w = c["weight_decay"]
        alt = w.get("loss_at_lr") or {}
        accs = ", ".join(f"{g['weight_decay']:g}: {fmt_acc(g['accuracy'])}{'†' if g['diverged'] else ''}"
                         for g in w["grid"])
        mlrs = ", ".join(fmt_lr(v) for v in w["sweep_max_lrs"])
        rows.append(f"| {c['case']['name']} | {fmt_lr(w['lr'])} | {accs} | {mlrs} | {shown(w['pick'])} | "
                    f"{fmt_pts(w['regret'])} | {shown(alt.get('pick'))} | {fmt_pts(alt.get('regret'))} | "
                    f"{w['best_weight_decay']:g} |")
    parts = [block("weight_decay"), "\n".join(rows)]
    for name, read in (("Sweep pick", lambda w: w), ("Loss-at-lr pick", lambda w: w.get("loss_at_lr") or {})):
        regrets = [r for c in wd_cases if (r := read(c["weight_decay"]).get("regret")) is not None]
        if regrets:
            parts.append(block("weight_decay_summary", reading=name, mean=fmt_pts(float(np.mean(regrets))),
                               worst=fmt_pts(min(regrets)), cases=len(regrets), best=sum(r >= 0 for r in regrets)))
    return parts


def wall_time(data: dict[str, Any]) -> list[str]:
    """Time spent per case, how much of it the run cache saved (what the last invocation trained), what training
    every run would take from an empty cache, and the cases not run."""
    cases = data["cases"]
    parts = [block("wall_time", minutes=f"{sum(c['wall_time_s'] for c in cases) / 60:.1f}", jobs=data.get("jobs", 1),
                   threads=data["threads"], machine=data["machine"],
                   per_case=", ".join(f"{c['case']['name']} {c['wall_time_s']:.0f} s ({c['runs']} runs)"
                                      for c in cases))]
    total = sum(c["runs"] for c in cases)
    if any(c.get("new_runs") != c["runs"] for c in cases):
        cached = [block("cached_runs", runs_file=RUNS_FILE.relative_to(ROOT))]
        if "measured" in data:  # recorded since results files name the cases their invocation measured
            measured = [c for c in cases if c["case"]["name"] in data["measured"]]
            cached.append(block("last_invocation", measured=len(measured), cases=len(cases),
                                new=sum(c.get("new_runs", 0) for c in measured),
                                runs=sum(c["runs"] for c in measured)))
        else:
            cached.append(block("each_invocation", new=sum(c.get("new_runs", 0) for c in cases), total=total))
        if all(c.get("seconds_per_run") for c in cases):
            estimate = sum(c["seconds_per_run"] * c["runs"] for c in cases)
            cached.append(block("empty_cache_estimate", total=total, minutes=f"{estimate / 60:.0f}",
                                hours=f"{estimate / 3600:.1f}", threads=data["threads"]))
        parts.append(" ".join(cached))
    if data.get("missing"):
        parts.append(block("missing", cases=", ".join(data["missing"])))
    return parts


def render(data: dict[str, Any], notes: str | None = None) -> str:
    """The Markdown report of a results dict (as written to the JSON file), with ``notes`` as its findings: the
    section :data:`SECTION` of its file, without the marker lines."""
    cases = data["cases"]
    parts = [*([SMOKE_WARNING] if data.get("quick") else []), *introduction(data), *rule_summary(cases),
             *per_case(cases), *candidates(cases), *stability_probe(cases), *weight_decay(cases), *wall_time(data)]
    if notes:
        parts.append(block("findings", notes=notes.strip()))
    return "\n\n".join(parts) + "\n"
