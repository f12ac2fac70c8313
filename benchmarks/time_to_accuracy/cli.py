"""The benchmark's command line: measure what is missing (the range test first, then the runs it makes
possible, budget by budget), then write the results and the report."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

from benchmarks import time_to_accuracy
from benchmarks.common.cli import add_quick_jobs, add_report_arguments, run_main
from benchmarks.common.paths import RESULTS_DIR, ROOT, shown
from benchmarks.common.runner import Benchmark, run_benchmark
from benchmarks.time_to_accuracy.analysis import analyze
from benchmarks.time_to_accuracy.plan import plan
from benchmarks.time_to_accuracy.report import COMMAND, SECTION, render
from benchmarks.time_to_accuracy.results import read_results
from benchmarks.time_to_accuracy.run_cache import RunCache
from benchmarks.time_to_accuracy.runs import Task, key, label, measure
from benchmarks.time_to_accuracy.settings import FULL, QUICK
from benchmarks.time_to_accuracy.usage import machine_meta

RESULTS_FILE = RESULTS_DIR / "time-to-accuracy.json"
RUNS_FILE = RESULTS_DIR / "time-to-accuracy-runs.json"
QUICK_DIR = RESULTS_DIR / "time-to-accuracy-quick"
REPORT = ROOT / "docs" / "BENCHMARKS.md"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=COMMAND, description=time_to_accuracy.__doc__.split("\n\n")[0])
    add_quick_jobs(parser, "tiny digits subsets, one seed", shown(QUICK_DIR),
                   "; with the recipe's one thread a run, 2 keep both cores of a two-core machine busy")
    add_report_arguments(parser, "time-to-accuracy", REPORT.name)
    parser.add_argument("--no-new", action="store_true",
                        help="train nothing: write the results and the report from the runs cached so far (those "
                             "still to measure are listed; the same command without --no-new measures them)")
    return parser


def done(task: Task, value: dict[str, Any]) -> str:
    """The line printed as a measurement finishes."""
    what = (f"{100 * value['accuracy']:.2f}% in {value['train_time_s']:.0f} s of training"
            if task.job == "train" else f"max_lr {value['recommendation'].get('max_lr')}")
    return f"{label(task)}: {what} ({value['seconds']:.0f} s)"


BENCHMARK = Benchmark(command=COMMAND, section=SECTION, report=REPORT, results_file=RESULTS_FILE, runs_file=RUNS_FILE,
                      quick_dir=QUICK_DIR, cache=RunCache, plan=plan, key=key, label=label, analyze=analyze,
                      read_results=read_results, done=done, later="more as the budgets are searched",
                      meta=machine_meta, render=render)


def main(argv: Sequence[str] | None = None) -> int:
    """Measure what the benchmark still misses, then write the results and the report."""
    args = build_parser().parse_args(argv)
    return run_main(COMMAND, lambda: run(args))


def run(args: argparse.Namespace) -> int:
    """:func:`main` once its arguments are checked."""
    return run_benchmark(BENCHMARK, args, QUICK if args.quick else FULL, measure, new=not args.no_new)
