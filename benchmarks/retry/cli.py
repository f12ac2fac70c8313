"""The benchmark's command line: measure what is missing (the range test first, then the runs it makes possible),
then write the results and the report."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

from benchmarks import retry
from benchmarks.common.cli import add_quick_jobs, add_report_arguments, run_main
from benchmarks.common.paths import RESULTS_DIR, ROOT, shown
from benchmarks.common.runner import Benchmark, run_benchmark
from benchmarks.retry.analysis import analyze
from benchmarks.retry.report import COMMAND, SECTION, render
from benchmarks.retry.results import read_results
from benchmarks.retry.runs import RunCache, Task, key, label, measure, plan
from benchmarks.retry.settings import FULL, QUICK
from benchmarks.time_to_accuracy.usage import machine_meta

RESULTS_FILE = RESULTS_DIR / "retry.json"
RUNS_FILE = RESULTS_DIR / "retry-runs.json"
QUICK_DIR = RESULTS_DIR / "retry-quick"
REPORT = ROOT / "docs" / "RESULTS.md"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=COMMAND, description=retry.__doc__.split("\n\n")[0])
    add_quick_jobs(parser, "a digits subset, two multiples, one seed", shown(QUICK_DIR),
                   "; with the recipe's one thread a run, 2 keep both cores of a two-core machine busy")
    add_report_arguments(parser, "retry", REPORT.name)
    return parser


def done(task: Task, value: dict[str, Any]) -> str:
    """The line printed as a measurement finishes."""
    if task.job != "train":
        return f"{label(task)}: max_lr {value['recommendation'].get('max_lr')} ({value['seconds']:.0f} s)"
    end = "" if value["stopped"] is None else ", stopped"
    return (f"{label(task)}: {100 * value['accuracy']:.2f}%, {len(value['retries'])} retries{end} "
            f"({value['seconds']:.0f} s)")


BENCHMARK = Benchmark(command=COMMAND, section=SECTION, report=REPORT, results_file=RESULTS_FILE, runs_file=RUNS_FILE,
                      quick_dir=QUICK_DIR, cache=RunCache, plan=plan, key=key, label=label, analyze=analyze,
                      read_results=read_results, done=done, later="the runs once the range test is measured",
                      meta=machine_meta, render=render)


def main(argv: Sequence[str] | None = None) -> int:
    """Measure what the benchmark still misses, then write the results and the report."""
    args = build_parser().parse_args(argv)
    return run_main(COMMAND, lambda: run(args))


def run(args: argparse.Namespace) -> int:
    """:func:`main` once its arguments are checked."""
    return run_benchmark(BENCHMARK, args, QUICK if args.quick else FULL, measure)
