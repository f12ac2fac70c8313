"""The speed benchmark's command line: plan the measurements, build or find the peers' environment, measure
everything in interleaved repeats, then write the results and the report."""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import os
import platform
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks import speed
from benchmarks.common.cli import MAX_JOBS, markdown_path, reading, run_main
from benchmarks.common.paths import RESULTS_DIR, ROOT
from benchmarks.speed import data as images
from benchmarks.speed import peer_env
from benchmarks.speed.plan import KINDS, comparisons, kind_of, train_options, variants
from benchmarks.speed.report import COMMAND, SECTION, render
from benchmarks.speed.results import check_results, read_results
from benchmarks.speed.runs import measure_all
from benchmarks.speed.settings import FULL, QUICK, Settings
from benchmarks.speed.stats import compare, summary
from onecycle.cli.common import whole

TRAIN = ("ours_train", "bare_train", "typical_train", "fastai_train")
RANGE = ("ours_range", "bare_steps", "lrfinder_range", "fastai_range")
"""The measurements in the order a repeat starts from (the options of ``onecycle train`` after the training
ones): each comparison's two sides close together."""

MAX_REPEATS = 1000
"""The most interleaved repeats (``--repeats``)."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=COMMAND, description=speed.__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="a smoke run of seconds: tiny digits subsets, one repeat, the peers only where their "
                             "environment already exists (into benchmarks/results/speed-quick.*)")
    parser.add_argument("--jobs", type=whole(MAX_JOBS), default=1, metavar="N",
                        help=f"measurements run side by side, 1 to {MAX_JOBS} (default 1: one at a time; more share "
                             "the cores, and the figures say so)")
    parser.add_argument("--repeats", type=whole(MAX_REPEATS), metavar="N",
                        help=f"interleaved repeats, 1 to {MAX_REPEATS} (default {FULL.repeats}; quick: "
                             f"{QUICK.repeats})")
    parser.add_argument("--out", type=markdown_path,
                        help="Markdown file (.md) whose speed section (between two marker lines) is written "
                             "(default docs/BENCHMARKS.md; quick: results dir); any other existing file must hold "
                             "the marker lines, the rest of it is left as it is")
    parser.add_argument("--results", type=Path, help="raw JSON results (default benchmarks/results/speed.json)")
    parser.add_argument("--peer-env", type=Path, default=peer_env.ENV_DIR,
                        help="the peers' virtual environment, built there when missing (not with --quick; "
                             "default benchmarks/.peer-env)")
    parser.add_argument("--render", action="store_true", help="only rewrite the report from the results file")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Measure, then write the JSON results and the Markdown report."""
    parser = build_parser()
    args = parser.parse_args(argv)
    return run_main(COMMAND, lambda: run(args))


def shown(path: Path) -> str:
    """``path`` relative to the repository root where it lies inside it (as named, or once its links are
    followed: the peers' environment may be a link to one elsewhere)."""
    for candidate in (path.absolute(), path.resolve()):
        try:
            return str(candidate.relative_to(ROOT))
        except ValueError:
            pass
    return str(path)


def cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo``), else what ``platform`` says."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine(device: str) -> dict[str, Any]:
    """The machine a run measures: CPU model and cores, the GPU where one is used, torch and Python."""
    import torch

    gpu = torch.cuda.get_device_name(torch.device(device)) if device.startswith("cuda") else None
    return {"cpu": cpu_model(), "cores": os.cpu_count() or 1, "gpu": gpu, "torch": torch.__version__,
            "python": platform.python_version()}


def command(args: argparse.Namespace, settings: Settings) -> str:
    """The command line that measures what ``args`` measure."""
    default = (QUICK if args.quick else FULL).repeats
    return (f"{COMMAND}{' --quick' if args.quick else ''}{f' --jobs {args.jobs}' if args.jobs != 1 else ''}"
            f"{f' --repeats {settings.repeats}' if settings.repeats != default else ''}")


def peers(args: argparse.Namespace, say: Any) -> dict[str, Any]:
    """The peers' environment: ready as it is, built now (not by ``--quick``), or why it is not used."""
    state = peer_env.status(args.peer_env)
    if not state["ready"] and not args.quick:
        state = peer_env.create(args.peer_env, say)
    elif not state["ready"]:
        state["reason"] += " (--quick does not build one: run without --quick once)"
    return {**state, "env": shown(args.peer_env)}


def run(args: argparse.Namespace) -> int:
    """:func:`main` once its arguments are checked."""
    from onecycle.rundir import write_json

    settings = dataclasses.replace(QUICK if args.quick else FULL,
                                   **({"repeats": args.repeats} if args.repeats else {}))
    stem = "speed-quick" if args.quick else "speed"
    results_file = args.results or RESULTS_DIR / f"{stem}.json"
    default_out = RESULTS_DIR / f"{stem}.md" if args.quick else ROOT / "docs" / "BENCHMARKS.md"
    out = args.out or default_out
    default = out.resolve() == default_out.resolve()
    SECTION.check(out, default)  # a file of the user's without the section: refused before anything is measured
    if args.render:
        data = read_results(results_file)
        SECTION.write(out, reading(results_file, "a results file", lambda: render(data)), default)
        print(f"wrote {out}", file=sys.stderr)
        return 0

    def say(text: str) -> None:
        print(text, file=sys.stderr, flush=True)

    start, load_before = time.perf_counter(), os.getloadavg()
    options, skipped = train_options(settings)
    peer_state = peers(args, say)
    measured = variants(options)
    names = [n for n in TRAIN if peer_state["ready"] or not KINDS[n].peers]
    names += list(measured)
    names += [n for n in RANGE if peer_state["ready"] or not KINDS[n].peers]
    skipped += [{"name": n, "reason": f"the peers' environment is not used: {peer_state['reason']}"}
                for n in (*TRAIN, *RANGE) if n not in names]
    for note in skipped:
        say(f"skipped {note['name']}: {note['reason']}")
    fields = {k: v for k, v in dataclasses.asdict(settings).items() if k != "options"}
    specs = {n: {**fields, "options": measured.get(n, {}), "config": settings.config(**measured.get(n, {}))}
             for n in names}
    peer_python = str(peer_env.python(args.peer_env))
    with tempfile.TemporaryDirectory() as tmp:
        data_file = Path(tmp) / "images.pt"
        images.save(images.dataset_images(settings.config()), data_file)
        runs = measure_all(names, specs, dict.fromkeys(names, str(data_file)), settings.repeats, args.jobs,
                           {n: peer_python if KINDS[kind_of(n)].peers else None for n in names}, say)
    data = {"meta": {"command": command(args, settings),
                     "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
                     "machine": machine(settings.device), "torch_threads": settings.threads, "jobs": args.jobs,
                     "repeats": settings.repeats, "load_before": list(load_before), "load_after": list(os.getloadavg()),
                     "wall_time_s": time.perf_counter() - start, "results_file": shown(results_file),
                     "quick": args.quick},
            "settings": fields, "peers": peer_state, "skipped": skipped, "runs": runs,
            "measurements": summary(runs, names),
            "comparisons": [compare(c, runs) for c in comparisons(names)]}
    check_results(data, results_file)  # what is written is what --render reads back
    write_json(results_file, data)
    SECTION.write(out, render(data), default)
    say(f"wrote {out} and {results_file} ({time.perf_counter() - start:.0f} s)")
    return 0
