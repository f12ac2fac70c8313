"""The benchmark's command line: measure what is missing (the range test first, then the runs it makes possible),
then write the results and the report."""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks import retry
from benchmarks.common.cli import MAX_JOBS, markdown_path, reading, run_main
from benchmarks.common.paths import RESULTS_DIR, ROOT
from benchmarks.common.runner import measure_planned
from benchmarks.retry.analysis import analyze
from benchmarks.retry.report import COMMAND, SECTION, render
from benchmarks.retry.results import read_results
from benchmarks.retry.runs import RunCache, Task, key, label, measure, plan
from benchmarks.retry.settings import FULL, QUICK, Settings
from benchmarks.sharpness.cli import shown
from benchmarks.time_to_accuracy.usage import machine
from onecycle.cli.common import whole

RESULTS_FILE = RESULTS_DIR / "retry.json"
RUNS_FILE = RESULTS_DIR / "retry-runs.json"
QUICK_DIR = RESULTS_DIR / "retry-quick"
REPORT = ROOT / "docs" / "RESULTS.md"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=COMMAND, description=retry.__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help=f"a smoke run of seconds: a digits subset, two multiples, one seed (into "
                             f"{shown(QUICK_DIR)}/)")
    parser.add_argument("--jobs", type=whole(MAX_JOBS), default=1, metavar="N",
                        help=f"runs side by side in worker processes, 1 to {MAX_JOBS} (default 1); with the recipe's "
                             "one thread a run, 2 keep both cores of a two-core machine busy")
    parser.add_argument("--out", type=markdown_path,
                        help="Markdown file (.md) whose retry section (between two marker lines) is written "
                             "(default docs/RESULTS.md; quick: RESULTS.md in the quick dir); any other existing file "
                             "must hold the marker lines, the rest of it is left as it is")
    parser.add_argument("--results", type=Path, help="raw JSON results (default under benchmarks/results/)")
    parser.add_argument("--runs", type=Path, help="cache of finished runs, reused by later invocations (default "
                                                  "under benchmarks/results/)")
    parser.add_argument("--render", action="store_true", help="only rewrite the report from the results")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Measure what the benchmark still misses, then write the results and the report."""
    args = build_parser().parse_args(argv)
    return run_main(COMMAND, lambda: run(args))


def run(args: argparse.Namespace) -> int:
    """:func:`main` once its arguments are checked."""
    settings: Settings = QUICK if args.quick else FULL
    default_out = QUICK_DIR / "RESULTS.md" if args.quick else REPORT
    out = args.out or default_out
    default = out.resolve() == default_out.resolve()
    SECTION.check(out, default)  # a file of the user's without the section: refused before anything is measured
    results_file = args.results or (QUICK_DIR / RESULTS_FILE.name if args.quick else RESULTS_FILE)
    runs_file = args.runs or (QUICK_DIR / RUNS_FILE.name if args.quick else RUNS_FILE)

    from onecycle.rundir import write_json

    if args.render:
        data = read_results(results_file)
        reading(results_file, "a results file", lambda: SECTION.write(out, render(data), default))
        print(f"wrote {out}", file=sys.stderr)
        return 0

    import torch

    start = time.perf_counter()
    with RunCache.locked(runs_file, COMMAND):  # until the results are written: one run at a time
        cache = RunCache.load(runs_file)

        def lookup(task: Task) -> Any:
            return cache.get(key(task))

        def done(task: Task, value: dict[str, Any]) -> str:
            if task.job != "train":
                return f"{label(task)}: max_lr {value['recommendation'].get('max_lr')} ({value['seconds']:.0f} s)"
            end = "" if value["stopped"] is None else ", stopped"
            return (f"{label(task)}: {100 * value['accuracy']:.2f}%, {len(value['retries'])} retries{end} "
                    f"({value['seconds']:.0f} s)")

        measure_planned(cache, lambda: plan(settings, lookup), key, measure, args.jobs, done,
                        "the runs once the range test is measured")
        cache.save(runs_file, final=True)

        tasks = plan(settings, lookup)
        missing = [label(t) for t in tasks if key(t) not in cache]
        data = {"settings": dataclasses.asdict(settings),
                "meta": {"command": f"{COMMAND}{' --quick' if args.quick else ''} --jobs {args.jobs}",
                         "machine": machine(), "cpus": os.cpu_count() or 1, "torch": torch.__version__,
                         "jobs": args.jobs, "date": datetime.date.today().isoformat(),
                         "wall_time_s": time.perf_counter() - start, "new_runs": len(cache.new), "runs": len(tasks),
                         "run_time_s": sum(cache.get(key(t))["seconds"] for t in tasks if key(t) in cache),
                         "results_file": shown(results_file), "runs_file": shown(runs_file),
                         "missing": ", ".join(missing), "quick": args.quick},
                "results": analyze(settings, lookup)}
        write_json(results_file, data)
        SECTION.write(out, render(data), default)
        print(f"wrote {out} and {results_file} ({len(cache.new)} new measurement(s), "
              f"{time.perf_counter() - start:.0f} s)", file=sys.stderr)
        return 0
