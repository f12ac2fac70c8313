"""The twins' command line: measure what is missing (range test and sweep first, then the runs they make
possible), then write the results, the figures and the report."""

from __future__ import annotations

import argparse
import dataclasses
import os
import platform
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from benchmarks import experiments
from benchmarks.common.cli import add_quick_jobs, add_report_arguments, run_main
from benchmarks.common.paths import RESULTS_DIR, ROOT, shown
from benchmarks.common.runner import Benchmark, run_benchmark
from benchmarks.experiments.analysis import analyze
from benchmarks.experiments.figures import draw
from benchmarks.experiments.plan import plan
from benchmarks.experiments.report import COMMAND, SECTION, render
from benchmarks.experiments.results import read_results
from benchmarks.experiments.run_cache import RunCache
from benchmarks.experiments.runs import Task, key, label, measure
from benchmarks.experiments.settings import FULL, QUICK
from onecycle.cli.common import whole
from onecycle.config import MAX_THREADS

RESULTS_FILE = RESULTS_DIR / "experiments.json"
RUNS_FILE = RESULTS_DIR / "experiments-runs.json"
QUICK_DIR = RESULTS_DIR / "experiments-quick"
REPORT = ROOT / "docs" / "RESULTS.md"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=COMMAND, description=experiments.__doc__.split("\n\n")[0])
    add_quick_jobs(parser, "tiny digits subsets, one seed", shown(QUICK_DIR))
    parser.add_argument("--threads", type=whole(MAX_THREADS), default=1, metavar="N",
                        help=f"torch CPU threads per run, 1 to {MAX_THREADS} (default 1)")
    add_report_arguments(parser, "twins", REPORT.name, figures=True)
    return parser


def figures(data: dict[str, Any], out: Path) -> None:
    """The figures, in images/ beside ``out``, their names recorded in ``data``."""
    data["figures"] = draw(data["results"], data["settings"]["targets"], out.parent / data["meta"]["images"])


def done(task: Task, value: dict[str, Any]) -> str:
    """The line printed as a measurement finishes."""
    what = f"{100 * value['accuracy']:.1f}%" if task.job == "train" else "done"
    return f"{label(task)}: {what} in {value['seconds']:.0f} s"


def meta(tasks: Sequence[Task], lookup: Callable[[Task], Any]) -> dict[str, Any]:
    """The machine, the epochs trained and the fastest epoch (the pace of a quiet machine), the load average."""
    import torch

    trained = [(t.epochs, lookup(t)["seconds"]) for t in tasks if t.job == "train" and lookup(t) is not None]
    return {"machine": f"{platform.machine()}, {os.cpu_count()} CPU core(s), torch {torch.__version__}",
            "epochs_trained": sum(e for e, _ in trained),
            "fastest_epoch_s": min((sec / e for e, sec in trained), default=None),
            "load_average": os.getloadavg()[0], "images": "images"}


BENCHMARK = Benchmark(command=COMMAND, section=SECTION, report=REPORT, results_file=RESULTS_FILE, runs_file=RUNS_FILE,
                      quick_dir=QUICK_DIR, cache=RunCache, plan=plan, key=key, label=label, analyze=analyze,
                      read_results=read_results, done=done, later="more once the range test and the sweep are in",
                      meta=meta, render=render, figures=figures)


def main(argv: Sequence[str] | None = None) -> int:
    """Measure what the twins still miss, then write the results, figures and report."""
    args = build_parser().parse_args(argv)
    return run_main(COMMAND, lambda: run(args))


def run(args: argparse.Namespace) -> int:
    """:func:`main` once its arguments are checked."""
    settings = dataclasses.replace(QUICK if args.quick else FULL, threads=args.threads)
    return run_benchmark(BENCHMARK, args, settings, measure,
                         flags=f" --threads {args.threads}" if args.threads != 1 else "")
