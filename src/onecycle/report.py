"""Reports: an HTML page and a Markdown file built from run directories alone (nothing is recomputed)."""

from __future__ import annotations

import bisect
import dataclasses
import html
import logging
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from onecycle import config, left_out, records, rundir
from onecycle.engine import train_time
from onecycle.plots import plot_history, plot_range_test
from onecycle.range_test import RangeTestResult
from onecycle.records import number_or_none
from onecycle.retry import MAX_RETRIES
from onecycle.schedules import POLICIES
from onecycle.sweep import SweepResult

log = logging.getLogger("onecycle")


@dataclass
class RunSummary:
    """What a report shows of one run directory."""

    path: Path
    config: dict[str, Any] = field(default_factory=dict)
    history: list[dict[str, Any]] = field(default_factory=list)  # the epoch rows of metrics.jsonl
    steps: list[dict[str, Any]] = field(default_factory=list)  # its step rows: lr and momentum of each step
    retries: list[dict[str, Any]] = field(default_factory=list)  # its retry rows: restarts after a diverged loss
    finder: dict[str, Any] | None = None
    sweep: dict[str, Any] | None = None
    summary: dict[str, Any] | None = None
    images: dict[str, Path] = field(default_factory=dict)
    label: str | None = None  # the name shown, when not the directory's: a preset's runs are "r56-95ep-seed-0"
    left_out: list[str] = field(default_factory=list)  # what the report leaves out, and why (onecycle.left_out)
    cautions: list[str] = field(default_factory=list)  # what it shows as it is, but may mislead: non-finite metrics

    @property
    def name(self) -> str:
        return self.label or self.path.name


IMAGES = {"finder.png": "Learning-rate range test", "sweep.png": "Weight-decay sweep",
          "schedule.png": "Learning-rate and momentum schedule", "curves.png": "Loss and accuracy per epoch"}
"""The figures of a run, by the name of the file in its directory, and their titles."""

CAPTIONS = {
    "finder.png": "Loss against learning rate (log scale) as the learning rate grows; the rules' suggestions, the "
                  "recommended max_lr and, when the run trained at another, the max_lr it trained at.",
    "sweep.png": "The range test at each value swept, on one plot; the picked value's curve is drawn thick, and each "
                 "value's recommended max_lr (from the sweep's own range test, often shorter than the main one) "
                 "dotted.",
    "schedule.png": "The learning rate and momentum the run was given, against the iteration.",
    "curves.png": "Train and test loss per epoch with the learning rate on the right axis; accuracy beside it.",
}
"""What each figure shows, in a sentence under it."""
COMPARISON_CAPTION = "Train and test loss (left) and accuracy (right) per epoch, one colour per run."


def read_run(path: str | Path) -> RunSummary:
    """Read a run directory; a directory holding none of the expected files is an error. A file the report can do
    without that is cut short, damaged or missing is noted in ``left_out`` (:func:`onecycle.left_out.notes`)."""
    path = Path(path)
    if not path.is_dir():
        raise FileNotFoundError(f"run directory {path} does not exist")
    run = RunSummary(path)
    run.config = read_config(path / rundir.CONFIG)
    rows, torn_line = rundir.read_metrics_rows(path)
    run.left_out = left_out.notes(path, torn_line)
    run.history = [r for r in rows if r["kind"] == "epoch"]
    run.steps = [r for r in rows if r["kind"] == "step"]
    run.retries = [r for r in rows if r["kind"] == "retry"]
    epochs = non_finite_epochs(rows)
    if epochs:
        run.cautions.append(f"{path / rundir.METRICS_JSONL} holds losses or accuracies that are not finite numbers "
                            f"(NaN or infinity) in epoch(s) {', '.join(map(str, epochs))}: they are shown as they are")
    if (path / rundir.FINDER_JSON).exists():  # checked through and through: the report shows what it holds
        run.finder = RangeTestResult.load_json(path / rundir.FINDER_JSON).to_dict()
    if (path / rundir.SWEEP_JSON).exists():
        run.sweep = SweepResult.load_json(path / rundir.SWEEP_JSON).to_dict()
    for name, result in ((rundir.FINDER_JSON, run.finder), (rundir.SWEEP_JSON, run.sweep)):
        _check_conditions(path / name, (result or {}).get("settings"))
    run.summary = _read_object(path / rundir.SUMMARY_JSON)
    run.images = {name: path / name for name in IMAGES if (path / name).exists()}
    if not (run.config or run.finder or run.sweep or run.history):
        raise ValueError(f"{path} holds no onecycle results (config.json, metrics.jsonl, finder.json, sweep.json)")
    return run


def non_finite_epochs(rows: list[dict[str, Any]]) -> list[int]:
    """The epochs of the metrics rows ``rows`` (:func:`onecycle.rundir.read_metrics_rows`) whose loss or accuracy
    is not finite (NaN, infinity): an epoch row's own, a step row's the epoch it lies in (the first whose row ends
    at or after it; after the last, the one in progress)."""
    ends = sorted((r["step"], r["epoch"]) for r in rows if r["kind"] == "epoch")
    epochs = set()
    for row in rows:
        if any(isinstance(value, float) and not math.isfinite(value) for key, value in row.items()
               if "loss" in key or "accuracy" in key):
            if row["kind"] == "epoch":
                epochs.add(row["epoch"])
            else:
                i = bisect.bisect_left([step for step, _ in ends], row["step"])
                epochs.add(ends[i][1] if i < len(ends) else (ends[-1][1] + 1 if ends else 1))
    return sorted(epochs)


def _read_object(path: Path) -> dict[str, Any] | None:
    """The JSON object in ``path``, ``None`` when there is no such file; anything but an object is a
    ``ValueError`` naming it."""
    if not path.exists():
        return None
    data = rundir.read_json(path)
    if not isinstance(data, dict):
        raise ValueError(f"{path} is damaged: it holds a JSON {rundir.json_kind(data)}, not an object")
    return data


def read_config(path: Path) -> dict[str, Any]:
    """A run's ``config.json`` (``{}`` when there is none): its settings checked as every setting is
    (:func:`onecycle.config.from_dict`; settings a file of an older version lacks take their defaults) and what it
    resolved (a max_lr and a weight decay the settings accept, step counts, where it ran), so that the report never
    shows a hand-edited ``max_lr "big"`` or ``schedule "bogus"``: a bad value is a ``ValueError`` naming the file
    and the key. The device names where the run trained, so it is checked as a name, not against this machine."""
    saved = _read_object(path)
    if saved is None:
        return {}
    settings = dict(saved)
    resolved = settings.pop("resolved", {})
    device = settings.get("device", "auto")
    try:
        if isinstance(device, str):  # checked as a device name; this machine need not have it
            config.check_device_name(device)
            settings["device"] = "auto"
        cfg = config.from_dict(settings, source="its settings")
        return {**cfg.to_dict(), "device": device, "resolved": _checked_resolved(resolved)}
    except ValueError as err:
        raise ValueError(f"{path} is damaged: {err}") from None


def _checked_resolved(resolved: Any) -> dict[str, Any]:
    """The ``resolved`` block of a config.json, each value it may hold checked (by the settings' own rules for
    max_lr and weight decay)."""
    resolved = records.table(resolved, "resolved")
    lrs = {k: resolved[k] for k in ("max_lr", "weight_decay") if k in resolved}
    try:
        config.check_each(lrs)
    except ValueError as err:
        raise ValueError(f"resolved.{err}") from None
    for key in ("steps_per_epoch", "total_steps"):
        if resolved.get(key) is not None:
            records.integer(resolved[key], f"resolved.{key}", at_least=1)
    for key in ("device", "data"):
        if key in resolved:
            records.text(resolved[key], f"resolved.{key}")
    return resolved


CONDITIONS = ("dataset", "model")
"""What a run was measured on that its range test or sweep records too, for a run directory without config.json."""


def _check_conditions(path: Path, settings: Any) -> None:
    """Raise a ``ValueError`` naming ``path`` unless the :data:`CONDITIONS` that a finder.json or sweep.json
    records in its ``settings`` (when it does) are settings that exist."""
    if not isinstance(settings, dict):
        return
    try:
        config.check_each({k: settings[k] for k in CONDITIONS if k in settings})
    except ValueError as err:
        raise ValueError(f"{path} is damaged: settings.{err}") from None


def measured_on(run: RunSummary, key: str) -> Any:
    """The run's setting ``key`` (one of :data:`CONDITIONS`): its config.json's, else the one its range test or
    sweep was measured under, else ``None``."""
    if key in run.config:
        return run.config[key]
    for result in (run.finder, run.sweep):
        settings = (result or {}).get("settings") or {}
        if key in settings:
            return settings[key]
    return None


def _fmt(value: Any, spec: str = ".4g") -> str:
    if value is None:
        return "-"
    return format(value, spec) if isinstance(value, (int, float)) and not isinstance(value, bool) else str(value)


def train_time_text(history: list[dict[str, Any]]) -> str:
    """The training wall time (:func:`~onecycle.engine.train_time`) as every output shows it: ``"787 s"``."""
    return f"{train_time(history):.0f} s"


def schedule_text(config: dict[str, Any]) -> str:
    """The schedule a run's ``config.json`` trained with, in a few words (runs of older versions: 1cycle)."""
    if not config:
        return "-"
    name = str(config.get("schedule", "onecycle"))
    details = []
    if name == "onecycle" and config.get("cycle_epochs") is not None:
        details.append(f"cycle ends at epoch {config['cycle_epochs']}")
    if (name != "onecycle" or config.get("cycle_momentum") is False) and "momentum" in config:
        details.append(f"momentum {_fmt(config['momentum'], 'g')}")
    return POLICIES.get(name, name) + (f" ({', '.join(details)})" if details else "")


def results_table(runs: list[RunSummary]) -> tuple[list[str], list[list[str]]]:
    """Header and rows: one row per run."""
    header = ["run", "dataset", "model", "schedule", "epochs", "max_lr", "weight decay", "train loss", "train acc",
              "test loss", "test acc", "train time"]
    rows = []
    for run in runs:
        resolved = run.config.get("resolved", {})
        last = run.history[-1] if run.history else {}
        rec = (run.finder or {}).get("recommendation", {})
        acc = last.get("val_accuracy")
        rows.append([
            run.name, _fmt(measured_on(run, "dataset")), _fmt(measured_on(run, "model")), schedule_text(run.config),
            f"{len(run.history)}/{run.config.get('epochs', '-')}",
            max_lr_text(run, resolved.get("max_lr", rec.get("max_lr"))), _fmt(resolved.get("weight_decay")),
            _fmt(last.get("train_loss")), _fmt(last.get("train_accuracy") and 100 * last["train_accuracy"], ".2f"),
            _fmt(last.get("val_loss")), _fmt(acc and 100 * acc, ".2f"),
            train_time_text(run.history) if run.history else "-",
        ])
    return header, rows


def max_lr_text(run: RunSummary, max_lr: Any) -> str:
    """The run's ``max_lr`` as the results table shows it: with the peak its last retry after a diverged loss
    tried, when retries lowered it, and how many it made (``"1 → 0.444 (3 retries)"``, ``"0.1 (1 retry)"``)."""
    if not run.retries:
        return _fmt(max_lr)
    last, count = _fmt(run.retries[-1].get("max_lr")), len(run.retries)
    lowered = f" → {last}" if last != _fmt(max_lr) else ""
    return f"{_fmt(max_lr)}{lowered} ({count} {'retry' if count == 1 else 'retries'})"


def range_test_of(run: RunSummary) -> RangeTestResult:
    """The range test in the run's finder.json, for the schedule the run trained with when it trained (its text
    and its plot describe the recommendation for that schedule)."""
    result = RangeTestResult.from_dict(run.finder or {})
    schedule = run.config.get("schedule")
    if isinstance(schedule, str) and schedule in POLICIES:
        result.settings["schedule"] = schedule
    return result


Note = tuple[str, list[str]]
"""A line of a run's notes and the lines that belong under it (a probe's candidates under the probe)."""


def notes(run: RunSummary) -> list[Note]:
    """What the report says of a run besides its tables: what it leaves out of the run's files, its range test,
    then its stability probe as one block (the candidates and the probe's own notes under it), the sweep, an early
    stop and the warnings."""
    out: list[Note] = [(f"left out: {note}.", []) for note in run.left_out]
    out += [(f"note: {caution}.", []) for caution in run.cautions]
    if run.finder:
        test = range_test_of(run)
        out += [(line, []) for line in dataclasses.replace(test, probe=None).describe().splitlines()]
        if test.probe is not None:
            head, *under = str(test.probe).splitlines()
            out.append((head, [line.strip() for line in under]))
    if run.sweep:
        steps = sweep_steps(run.sweep)
        each = f"a {steps}-step range test each" if steps else "a range test each"
        out.append((f"sweep over {run.sweep['param']}: {len(run.sweep['values'])} values, {each}, pick "
                    f"{run.sweep['pick']}.", []))
    if run.summary and run.summary.get("stopped"):
        out.append((f"training stopped early: {run.summary['stopped']}.", []))
    warnings = (run.summary or {}).get("warnings")
    if isinstance(warnings, list):
        out += [(f"warning: {warning}", []) for warning in warnings if isinstance(warning, str)]
    return out


def sweep_steps(sweep: dict[str, Any]) -> int | None:
    """The steps the sweep's range tests were planned to take, ``None`` when its settings do not say."""
    steps = (sweep.get("settings") or {}).get("num_steps")
    return steps if isinstance(steps, int) and not isinstance(steps, bool) else None


def sweep_table(run: RunSummary) -> tuple[list[str], list[list[str]]]:
    """Header and rows of the run's sweep: each value's recommended max_lr, read off the sweep's own range test
    (shorter than the run's main one, as a sweep's usually are: the header says so), its reached loss and whether
    the rule found it eligible; the pick marked."""
    result = SweepResult.from_dict(run.sweep)
    steps = sweep_steps(run.sweep)
    header = [result.param, f"max_lr (sweep's {f'{steps}-step ' if steps else ''}test)", "reached loss", "eligible"]
    rows = [[_fmt(value, "g") + (" (pick)" if value == result.pick else ""), _fmt(lr, ".3g"), _fmt(loss, ".4g"),
             "yes" if ok else "no"]
            for value, lr, loss, ok in zip(result.values, result.max_lrs, result.reached_losses, result.eligible)]
    return header, rows


def retries_table(run: RunSummary) -> tuple[list[str], list[list[str]]]:
    """Header and rows of the run's retries after a diverged loss (``on_diverge`` retry): where the loss diverged,
    the step training went on from, the new warm-up and peak, and why."""
    header = [f"retry (of {MAX_RETRIES})", "diverged at step", "went on from step", "warm-up steps", "max_lr", "why"]
    rows = [[str(i), str(r["step"]), str(r["restored_step"]), str(r["warmup_steps"]), _fmt(r["max_lr"], ".4g"),
             r["reason"]] for i, r in enumerate(run.retries, 1)]
    return header, rows


def reproduction_table(record: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    """Header and rows of a preset's runs (a ``reproduce.json``) beside what the article published: the final
    test accuracy (mean ± sample standard deviation over the seeds), or a sweep's pick."""
    runs = len(record["runs"])
    seeds = f"{runs} seed{'s' if runs != 1 else ''}"
    if record["job"] == "sweep":
        picks = ", ".join(_fmt(pick, "g") for pick in record["picks"])
        return ["", "published", f"ours ({seeds})"], [["pick", _fmt(record["published_pick"], "g"), picks]]
    ours = f"{record['mean']:.2f}%" + ("" if record["std"] is None else f" ± {record['std']:.2f}")
    each = ", ".join(f"{a:.2f}" for a in record["test_accuracy"])
    published = record["published_accuracy"]
    difference = "-" if published is None else f"{record['mean'] - published:+.2f}"
    return (["", "published", f"ours ({seeds}: {each})", "difference"],
            [["test accuracy", "-" if published is None else f"{published:.2f}%", ours, difference]])


def _read_record(path: Path) -> dict[str, Any]:
    """A preset's ``reproduce.json``: every value the report reads of it checked, so that a damaged file is one
    error naming it, the key and what it must hold."""
    record = rundir.read_json(path)
    if not isinstance(record, dict):
        raise ValueError(f"{path} is damaged: it holds a JSON {rundir.json_kind(record)}, not an object")
    try:
        _check_record(record)
    except ValueError as err:
        raise ValueError(f"{path} is damaged: {err}") from None
    return record


def _check_record(record: dict[str, Any]) -> None:
    """Raise a ``ValueError`` naming the key unless ``record`` holds what :func:`reproduction_table` reads."""
    records.table(record, "it", ("preset", "description", "source", "job", "runs"))
    for key in ("preset", "description", "source", "job"):
        records.text(record[key], key)
    for i, name in enumerate(records.texts(record["runs"], "runs")):
        if name in ("", ".", "..") or Path(name).name != name:
            raise ValueError(f"runs[{i}] must be the name of a directory beside it, got {records.shown(name)}")
    if record["job"] == "sweep":
        records.number(record.get("published_pick"), "published_pick", optional=True)
        for i, pick in enumerate(records.items(record.get("picks"), "picks")):
            records.number(pick, f"picks[{i}]", optional=True)
    else:
        records.number(record.get("mean"), "mean")
        records.number(record.get("std"), "std", optional=True, at_least=0.0)
        records.numbers_list(record.get("test_accuracy"), "test_accuracy")
        records.number(record.get("published_accuracy"), "published_accuracy", optional=True)


def _read_runs(run_dirs: list[str | Path]) -> tuple[list[RunSummary], list[dict[str, Any]], list[str]]:
    """The runs to report, a preset's directory (``reproduce.json``) standing for its runs (named after the preset),
    the presets' records, and a note on each run (or preset) left out because a file of it is damaged (the error
    naming the file and what is wrong). With none left to report, that is one ``ValueError`` naming each."""
    runs, records, problems = [], [], []

    def read(path: Path, label: str | None = None) -> None:
        try:
            runs.append(read_run(path))
        except (ValueError, FileNotFoundError) as err:
            problems.append((path, str(err)))
            return
        runs[-1].label = label

    for path in map(Path, run_dirs):
        if not (path / rundir.REPRODUCE_JSON).exists():
            read(path)
            continue
        try:
            record = _read_record(path / rundir.REPRODUCE_JSON)
        except ValueError as err:
            problems.append((path, str(err)))
            continue
        records.append(record)
        for name in record["runs"]:
            read(path / name, f"{record['preset']}-{name}")
    if not runs:
        if len(problems) == 1:
            raise ValueError(problems[0][1])
        raise ValueError(f"no run left to report: {'; '.join(problem for _, problem in problems)}")
    return runs, records, [f"{problem}: the report leaves {path} out" for path, problem in problems]


def trained_off_recommendation(run: RunSummary) -> float | None:
    """The max_lr the run trained at when it has a range test that recommended another (given by hand, or the
    stability probe's pick), else ``None``: the range test's figure marks only its recommendation."""
    trained = number_or_none(run.config.get("resolved", {}).get("max_lr"))
    if run.finder is None or trained is None:
        return None
    recommended = number_or_none(run.finder.get("recommendation", {}).get("max_lr"))
    return None if recommended is not None and math.isclose(trained, recommended, rel_tol=1e-9) else trained


def lr_per_epoch(run: RunSummary) -> tuple[list[float], list[float]] | None:
    """The learning rate of each recorded step against the epoch (step ``s`` of ``n`` per epoch at ``(s-1)/n``:
    the rate it trained with from there), read from metrics.jsonl; ``None`` without steps or epochs."""
    first = run.history[0] if run.history else {}
    if not run.steps or first.get("epoch", 0) < 1 or first["step"] < 1:
        return None
    per_epoch = first["step"] / first["epoch"]
    points = [((r["step"] - 1) / per_epoch, lr) for r in run.steps if (lr := number_or_none(r.get("lr"))) is not None]
    return ([x for x, _ in points], [lr for _, lr in points]) if points else None


def _place(image: Path, out_dir: Path, name: str) -> Path:
    """``image`` inside ``out_dir``: itself when it lies there already, else a copy named ``name``."""
    target = out_dir / name
    if image.resolve() != target.resolve():
        rundir.atomic_write(target, lambda f: f.write(image.read_bytes()))
    return target


def write_report(run_dirs: list[str | Path], out_dir: str | Path) -> tuple[Path, Path]:
    """Write ``report.html`` and ``report.md`` to ``out_dir``, with every figure beside them (the run's own when
    ``out_dir`` is its run directory, else a copy named after the run), so the report can be moved whole. A
    preset's directory (``onecycle reproduce``) shows its runs, and their result beside the published one. What
    the report leaves out of a run's files, and why (:attr:`RunSummary.left_out`), and what it shows that may
    mislead (:attr:`RunSummary.cautions`) is said under the run; a run with a damaged file is left out whole, said
    above the results table; each once more as a warning of the ``onecycle`` logger (on stderr)."""
    runs, reproductions, damaged = _read_runs(run_dirs)
    for note in [*damaged, *(note for run in runs for note in (*run.left_out, *run.cautions))]:
        log.warning("warning: %s", note)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    comparison = len(runs) > 1 and any(r.history for r in runs)
    if comparison:
        plot_history({r.name: r.history for r in runs if r.history}, out_dir / "comparison.png")
    for i, run in enumerate(runs):
        prefix = "" if run.path.resolve() == out_dir.resolve() else f"{i + 1}-{run.name}-"
        trained = trained_off_recommendation(run)
        run.images = {name: _place(image, out_dir, prefix + name) for name, image in run.images.items()
                      if not (name == "finder.png" and trained is not None)}
        if trained is not None:  # the range test again, from finder.json, with the max_lr trained at marked
            run.images["finder.png"] = out_dir / f"{prefix}{rundir.FINDER_TRAINED_PNG}"
            plot_range_test(range_test_of(run), run.images["finder.png"], trained_max_lr=trained)
        if run.history:
            run.images[rundir.CURVES_PNG] = out_dir / f"{prefix}{rundir.CURVES_PNG}"
            plot_history({run.name: run.history}, run.images[rundir.CURVES_PNG], lr=lr_per_epoch(run))
        run.images = {name: run.images[name] for name in IMAGES if name in run.images}
    header, rows = results_table(runs)

    md = ["# onecycle report"]
    page = [f"<!doctype html><html lang='en'><head><meta charset='utf-8'>{VIEWPORT}<title>onecycle report</title>",
            f"<style>{STYLE}</style></head><body>", "<h1>onecycle report</h1>"]
    for record in reproductions:
        title = f"Reproduction: {record['preset']} ({record['description']})"
        md += ["", f"## {title}", "", *_md_table(*reproduction_table(record)), "", f"Published: {record['source']}"]
        page += [f"<h2>{html.escape(title)}</h2>", *_html_table(*reproduction_table(record)),
                 f"<p>Published: {html.escape(record['source'])}</p>"]
    if damaged:
        md += ["", *_md_notes([(f"left out: {note}.", []) for note in damaged])]
        page += _html_notes([(f"left out: {note}.", []) for note in damaged])
    md += ["", *_md_table(header, rows)]
    page += _html_table(header, rows)
    if comparison:
        alt = f"Loss and accuracy per epoch of {', '.join(r.name for r in runs if r.history)}"
        md += ["", f"![{alt}](comparison.png)"]
        page += ["<h2>Comparison</h2>", _html_figure("comparison.png", alt, COMPARISON_CAPTION)]
    for run in runs:
        md += ["", f"## {run.name}", "", *_md_notes(notes(run))]
        page += [f"<h2>{html.escape(run.name)}</h2>", *_html_notes(notes(run))]
        if run.sweep:
            md += ["", *_md_table(*sweep_table(run))]
            page += _html_table(*sweep_table(run))
        if run.retries:
            title = "Retries after a diverged loss"
            md += ["", f"### {title}", "", *_md_table(*retries_table(run))]
            page += [f"<h3>{title}</h3>", *_html_table(*retries_table(run))]
        for name, image in run.images.items():
            md += ["", f"### {IMAGES[name]}", "", f"![{IMAGES[name]} of {run.name}]({image.name})"]
            page += [f"<h3>{IMAGES[name]}</h3>", _html_figure(image.name, f"{IMAGES[name]} of {run.name}",
                                                               CAPTIONS[name])]
    page.append("</body></html>")
    html_path, md_path = out_dir / rundir.REPORT_HTML, out_dir / rundir.REPORT_MD
    rundir.write_text(html_path, "\n".join(page))
    rundir.write_text(md_path, "\n".join(md) + "\n")
    return html_path, md_path


def _md_notes(lines: list[Note]) -> list[str]:
    return [f"{indent}- {text}" for line, under in lines for indent, text in [("", line), *(("  ", u) for u in under)]]


def _html_notes(lines: list[Note]) -> list[str]:
    return [f"<p>{html.escape(line)}</p>" + ("<ul>" + "".join(f"<li>{html.escape(u)}</li>" for u in under) + "</ul>"
                                             if under else "") for line, under in lines]


def _md_table(header: list[str], rows: list[list[str]]) -> list[str]:
    return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header), *("| " + " | ".join(r) + " |" for r in rows)]


VIEWPORT = "<meta name='viewport' content='width=device-width, initial-scale=1'>"
STYLE = ("body{font-family:sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;overflow-wrap:anywhere}"
         ".scroll{overflow-x:auto;max-width:100%}table{border-collapse:collapse}"
         "td,th{border:1px solid #ccc;padding:4px 8px;text-align:right;overflow-wrap:normal}"
         "figure{margin:0 0 1.5em}img{max-width:100%;height:auto}figcaption{color:#555;font-size:90%}")
"""The page's only styles (inline: nothing is fetched): text wraps, tables scroll within the page's width and
figures shrink to it, so nothing is wider than the window."""


def _html_figure(src: str, alt: str, caption: str) -> str:
    return (f"<figure><img src='{html.escape(src)}' alt='{html.escape(alt)}'>"
            f"<figcaption>{html.escape(caption)}</figcaption></figure>")


def _html_table(header: list[str], rows: list[list[str]]) -> list[str]:
    return ["<div class='scroll'><table><tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in header) + "</tr>",
            *("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in rows),
            "</table></div>"]
