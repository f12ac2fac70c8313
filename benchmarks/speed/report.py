"""The speed benchmark's report: the section "speed" of docs/BENCHMARKS.md between two marker lines
(:data:`SECTION`), the rest of the file left as it is. Tables are built here, fixed text comes from
``report_template.md``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from benchmarks.common.cli import SMOKE_WARNING
from benchmarks.common.section import Section
from benchmarks.common.template import Blocks
from benchmarks.speed.plan import KINDS, PEER_TARGET, RANGE_TARGET, TRAIN_TARGET, kind_of, label

COMMAND = "python -m benchmarks.speed"
SECTION = Section("speed", COMMAND)
block = Blocks(Path(__file__).with_name("report_template.md"))
UNITS = {"images_per_s": "images/s", "seconds": "s", "seconds_per_step": "s/step"}


def figure(value: float | None, name: str) -> str:
    """A measured figure with its unit, "—" for none."""
    if value is None:
        return "—"
    if name == "images_per_s":
        return f"{value:,.0f} images/s"
    if name == "seconds_per_step":
        return f"{1000 * value:.1f} ms/step"
    return f"{value:.1f} s"


def percent(value: float | None) -> str:
    return "—" if value is None else f"{100 * value:.1f}%"


def table(header: list[str], rows: list[list[str]]) -> str:
    return "\n".join(["| " + " | ".join(header) + " |", "|" + "---|" * len(header),
                      *("| " + " | ".join(r) + " |" for r in rows)])


def minutes(seconds: float) -> str:
    return f"{seconds / 60:.1f} min" if seconds >= 60 else f"{seconds:.0f} s"


def head(data: dict[str, Any]) -> str:
    s, meta = data["settings"], data["meta"]
    machine = meta["machine"]
    subsets = ", ".join(f"{size:,} {split} images" for size, split in ((s["train_subset"], "training"),
                                                                      (s["test_subset"], "test")) if size)
    described = (f"{machine['cpu']}, {machine['cores']} core(s)" + (f", {machine['gpu']}" if machine.get("gpu")
                                                                    else "")
                 + f"; torch {machine['torch']}, Python {machine['python']}")
    return block("head", command=meta["command"], results_file=meta["results_file"], repeats=meta["repeats"],
                 threads=meta["torch_threads"], data=f"{s['dataset']}" + (f" ({subsets})" if subsets else ""),
                 model=s["model"], batch_size=s["batch_size"], momentum=f"{s['momentum']:g}",
                 weight_decay=f"{s['weight_decay']:g}", augment=s["augment"], epochs=s["epochs"],
                 max_lr=f"{s['max_lr']:g}", range_steps=s["range_steps"], start_lr=f"{s['start_lr']:g}",
                 end_lr=f"{s['end_lr']:g}", machine=described,
                 load_before=", ".join(f"{v:.2f}" for v in meta["load_before"]),
                 load_after=", ".join(f"{v:.2f}" for v in meta["load_after"]), date=meta["date"],
                 wall=minutes(meta["wall_time_s"]))


def ratios(data: dict[str, Any]) -> str:
    measurements = data["measurements"]
    rows = []
    for c in data["comparisons"]:
        ours, theirs = measurements.get(c["ours"], {}), measurements.get(c["theirs"], {})
        if c["ratio"] is None:
            ratio, met = "not measured", "—"
        else:
            ratio = f"{c['ratio']:.2f}x ({', '.join(f'{r:.2f}' for r in c['ratios'])})"
            met = "yes" if c["met"] else "**no**"
        target = f"{'≥' if c['at_least'] else '≤'} {c['target']:g}x"
        rows.append([c["name"], figure(c["ours_median"], c["figure"]), figure(c["theirs_median"], c["figure"]),
                     ratio, target, met, f"{percent(ours.get('accuracy'))} / {percent(theirs.get('accuracy'))}",
                     f"{_mib(ours.get('peak_memory_mib'))} / {_mib(theirs.get('peak_memory_mib'))}"])
    return "\n\n".join([block("ratios", train_target=f"{TRAIN_TARGET:g}", range_target=f"{RANGE_TARGET:g}",
                              peer_target=f"{PEER_TARGET:g}"),
                        table(["comparison", "ours", "theirs", "ratio ours / theirs", "target", "met",
                               "accuracy ours / theirs", "peak memory ours / theirs"], rows)])


def _mib(value: float | None) -> str:
    return "—" if value is None else f"{value:,.0f} MiB"


def measurements(data: dict[str, Any]) -> str:
    rows = []
    for name, m in data["measurements"].items():
        env = "peers' environment" if KINDS[kind_of(name)].peers else "this one"
        if m["error"] and not m["repeats"]:
            rows.append([label(name), env, f"failed: {m['error']}", "", "", "", "", "", "0"])
            continue
        steps = "—" if m["steps"] is None else f"{m['steps']:g}"
        rows.append([label(name), env, figure(m["seconds"], "seconds"), figure(m["images_per_s"], "images_per_s"),
                     figure(m["seconds_per_step"], "seconds_per_step"), steps, percent(m["accuracy"]),
                     _mib(m["peak_memory_mib"]), str(m["repeats"])])
    return "\n\n".join([block("measurements"),
                        table(["measurement", "environment", "time", "throughput", "per step", "steps", "accuracy",
                               "peak memory", "repeats"], rows)])


def skipped(data: dict[str, Any]) -> str:
    lines = [f"- {label(s['name']) if kind_of(s['name']) in KINDS else s['name']}: {s['reason']}."
             for s in data["skipped"]]
    return "\n\n".join([block("skipped"), "\n".join(lines) if lines else "Nothing: every measurement was made."])


def peers(data: dict[str, Any]) -> str:
    p = data["peers"]
    if p["ready"]:
        versions = ", ".join(f"{k} {v}" for k, v in p.get("versions", {}).items())
        text = (f"`{p['env']}`, its own virtual environment (git-ignored, built by the benchmark when missing): "
                f"{versions}. `onecycle` and the hand-written loops run in the package's environment, on the same "
                "torch release; the peers' measurements import the library's networks from the source tree. What "
                "installing it took: `benchmarks/speed-notes.md`.")
    else:
        text = f"Not used: {p['reason']}."
    return "\n\n".join([block("peers"), text])


def render(data: dict[str, Any]) -> str:
    """The speed section (without its marker lines)."""
    smoke = [SMOKE_WARNING] if data["meta"]["quick"] else []
    return "\n\n".join([*smoke, head(data), ratios(data), measurements(data), skipped(data),
                        peers(data)]) + "\n"
