"""The twins' command line: measure what is missing (range test and sweep first, then the runs they make
possible), then write the results, the figures and the report."""

from __future__ import annotations

import argparse
import dataclasses
import os
import platform
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks import experiments
from benchmarks.common.cli import MAX_JOBS, markdown_path, reading, run_main
from benchmarks.common.paths import RESULTS_DIR, ROOT
from benchmarks.common.runner import measure_planned
from benchmarks.experiments.analysis import analyze
from benchmarks.experiments.figures import draw
from benchmarks.experiments.plan import plan
from benchmarks.experiments.report import COMMAND, SECTION, render
from benchmarks.experiments.results import read_results
from benchmarks.experiments.run_cache import RunCache
from benchmarks.experiments.runs import Task, key, label, measure
from benchmarks.experiments.settings import FULL, QUICK, Settings
from onecycle.cli.common import whole
from onecycle.config import MAX_THREADS

RUNS_FILE = RESULTS_DIR / "experiments-runs.json"
QUICK_DIR = RESULTS_DIR / "experiments-quick"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=COMMAND, description=experiments.__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help=f"a smoke run of seconds: tiny digits subsets, one seed (into {shown(QUICK_DIR)}/)")
    parser.add_argument("--jobs", type=whole(MAX_JOBS), default=1, metavar="N",
                        help=f"runs side by side in worker processes, 1 to {MAX_JOBS} (default 1)")
    parser.add_argument("--threads", type=whole(MAX_THREADS), default=1, metavar="N",
                        help=f"torch CPU threads per run, 1 to {MAX_THREADS} (default 1)")
    parser.add_argument("--out", type=markdown_path,
                        help="Markdown file (.md) whose twins section (between two marker lines) is written "
                             "(default docs/RESULTS.md; quick: RESULTS.md in the quick dir); any other existing file "
                             "must hold the marker lines, the rest of it is left as it is; figures go to images/ "
                             "beside it")
    parser.add_argument("--results", type=Path, help="raw JSON results (default under benchmarks/results/)")
    parser.add_argument("--runs", type=Path, help="cache of finished runs, reused by later invocations (default "
                                                  "under benchmarks/results/)")
    parser.add_argument("--render", action="store_true", help="only rewrite the report and figures from the results")
    return parser


def shown(path: Path) -> str:
    """``path`` relative to the repository root where it lies inside it."""
    try:
        return str(path.resolve().relative_to(ROOT))
    except ValueError:
        return str(path)


def write(data: dict[str, Any], out: Path, default: bool) -> None:
    """The figures (images/ beside ``out``) and the report section in ``out`` (:data:`SECTION`; a file without
    it is refused unless it is the ``default`` report)."""
    settings = data["settings"]
    data["figures"] = draw(data["results"], settings["targets"], out.parent / data["meta"]["images"])
    SECTION.write(out, render(data), default)


def main(argv: Sequence[str] | None = None) -> int:
    """Measure what the twins still miss, then write the results, figures and report."""
    parser = build_parser()
    args = parser.parse_args(argv)
    return run_main(COMMAND, lambda: run(args))


def run(args: argparse.Namespace) -> int:
    """:func:`main` once its arguments are checked."""
    settings: Settings = dataclasses.replace(QUICK if args.quick else FULL, threads=args.threads)
    default_out = QUICK_DIR / "RESULTS.md" if args.quick else ROOT / "docs" / "RESULTS.md"
    out = args.out or default_out
    default = out.resolve() == default_out.resolve()
    SECTION.check(out, default)  # a file of the user's without the section: refused before anything is measured
    results_file = args.results or (QUICK_DIR / "experiments.json" if args.quick else RESULTS_DIR / "experiments.json")
    runs_file = args.runs or (QUICK_DIR / "experiments-runs.json" if args.quick else RUNS_FILE)

    from onecycle.rundir import write_json

    if args.render:
        data = read_results(results_file)
        reading(results_file, "a results file", lambda: write(data, out, default))
        print(f"wrote {out}", file=sys.stderr)
        return 0

    import torch

    start = time.perf_counter()
    with RunCache.locked(runs_file, COMMAND):  # until the results are written: one run at a time
        cache = RunCache.load(runs_file)

        def lookup(task: Task) -> Any:
            return cache.get(key(task))

        def done(task: Task, value: dict[str, Any]) -> str:
            what = f"{100 * value['accuracy']:.1f}%" if task.job == "train" else "done"
            return f"{label(task)}: {what} in {value['seconds']:.0f} s"

        measure_planned(cache, lambda: plan(settings, lookup), key, measure, args.jobs, done,
                        "more once the range test and the sweep are in")
        cache.save(runs_file, final=True)

        tasks = plan(settings, lookup)
        missing = [label(t) for t in tasks if key(t) not in cache]
        run_time = sum(cache.get(key(t))["seconds"] for t in tasks if key(t) in cache)
        trained = [(t.epochs, cache.get(key(t))["seconds"]) for t in tasks if t.job == "train" and key(t) in cache]
        data = {"settings": dataclasses.asdict(settings),
                "meta": {"command": f"{COMMAND}{' --quick' if args.quick else ''} --jobs {args.jobs}"
                                    f"{f' --threads {args.threads}' if args.threads != 1 else ''}",
                         "machine": f"{platform.machine()}, {os.cpu_count()} CPU core(s), torch {torch.__version__}",
                         "jobs": args.jobs, "wall_time_s": time.perf_counter() - start, "new_runs": len(cache.new),
                         "runs": len(tasks), "run_time_s": run_time,
                         "epochs_trained": sum(e for e, _ in trained),
                         "fastest_epoch_s": min((sec / e for e, sec in trained), default=None),
                         "load_average": os.getloadavg()[0], "results_file": shown(results_file),
                         "runs_file": shown(runs_file), "images": "images", "missing": ", ".join(missing),
                         "quick": args.quick},
                "results": analyze(settings, lookup)}
        write_json(results_file, data)  # the numbers first: a figure that fails to draw does not lose them
        write(data, out, default)
        write_json(results_file, data)  # with the figures' names
        print(f"wrote {out} and {results_file} ({len(cache.new)} new measurement(s), "
              f"{time.perf_counter() - start:.0f} s)", file=sys.stderr)
        return 0
