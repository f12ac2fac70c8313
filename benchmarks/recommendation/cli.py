"""The benchmark's command line: run the cases, write the results, the run cache and the report after each."""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import platform
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks import recommendation
from benchmarks.common.cli import MAX_JOBS, markdown_path, reading, run_main
from benchmarks.recommendation.cases import CASES, QUICK_CASE, QUICK_SETTINGS, Case, Settings
from benchmarks.recommendation.paths import NOTES, RESULTS_DIR, ROOT, RUNS_FILE
from benchmarks.recommendation.report import COMMAND, SECTION, fmt_lr, fmt_pts, render
from benchmarks.recommendation.results import read_results
from benchmarks.recommendation.rules import OURS
from benchmarks.recommendation.run_cache import RunCache
from benchmarks.recommendation.runner import run_cases
from onecycle.cli.common import whole
from onecycle.config import MAX_THREADS


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=COMMAND, description=recommendation.__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run of a few seconds on a tiny digits case")
    parser.add_argument("--cases", help="comma-separated case names (default: all)")
    parser.add_argument("--out", type=markdown_path,
                        help="Markdown file (.md) whose recommendation section (between two marker lines) is "
                             "written (default docs/BENCHMARKS.md; quick: results dir); any other existing file must "
                             "hold the marker lines, the rest of it is left as it is")
    parser.add_argument("--results", type=Path, help="raw JSON results (default under benchmarks/results/)")
    parser.add_argument("--runs", type=Path,
                        help="cache of finished runs, reused by later invocations (default under benchmarks/results/; "
                             "quick: none)")
    parser.add_argument("--threads", type=whole(MAX_THREADS), default=1, metavar="N",
                        help=f"torch CPU threads per case, 1 to {MAX_THREADS} (default 1)")
    parser.add_argument("--jobs", type=whole(MAX_JOBS), default=1, metavar="N",
                        help=f"cases run side by side in worker processes, 1 to {MAX_JOBS} (default 1)")
    parser.add_argument("--resume", action="store_true", help="keep the cases already in the results file")
    parser.add_argument("--render", action="store_true", help="only rewrite the report from the results file")
    return parser


def chosen_cases(args: argparse.Namespace, parser: argparse.ArgumentParser) -> list[Case]:
    """The cases named by ``--cases`` (any of :data:`CASES` and the quick case), else all (or the quick one); names
    that are not cases, none at all or one twice are an error listing the valid names."""
    if args.cases is None:
        return [QUICK_CASE] if args.quick else list(CASES)
    wanted = [name.strip() for name in args.cases.split(",")]
    known = {c.name: c for c in (*CASES, QUICK_CASE)}
    valid = f"valid names: {', '.join(known)}"
    if not any(wanted) or not all(wanted):
        parser.error(f"--cases expects comma-separated case names, got {args.cases!r}; {valid}")
    unknown = [n for n in wanted if n not in known]
    if unknown:
        parser.error(f"unknown case(s) in --cases: {', '.join(unknown)}; {valid}")
    if len(set(wanted)) < len(wanted):
        parser.error(f"--cases names a case twice: {args.cases}")
    return [known[n] for n in wanted]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark; write the JSON results, the run cache and the Markdown report after every case."""
    parser = build_parser()
    args = parser.parse_args(argv)
    cases = chosen_cases(args, parser)
    return run_main(COMMAND, lambda: run(args, cases))


def run(args: argparse.Namespace, cases: list[Case]) -> int:
    """:func:`main` once its arguments are checked."""
    import torch

    from onecycle.rundir import write_json

    settings = QUICK_SETTINGS if args.quick else Settings()
    stem = "recommendation-quick" if args.quick else "recommendation"
    results_file = args.results or RESULTS_DIR / f"{stem}.json"
    runs_file = args.runs or (None if args.quick else RUNS_FILE)
    default_out = RESULTS_DIR / f"{stem}.md" if args.quick else ROOT / "docs" / "BENCHMARKS.md"
    out = args.out or default_out
    default = out.resolve() == default_out.resolve()
    SECTION.check(out, default)  # a file of the user's without the section: refused before anything is measured
    notes = None if args.quick or not NOTES.exists() else NOTES.read_text()

    if args.render:
        data = read_results(results_file)
        SECTION.write(out, reading(results_file, "a results file", lambda: render(data, notes)), default)
        print(f"wrote {out}", file=sys.stderr)
        return 0
    lock = RunCache.locked(runs_file, COMMAND) if runs_file else contextlib.nullcontext()
    with lock:  # until the results are written: one run at a time uses the cache
        done: dict[str, dict[str, Any]] = {}
        if args.resume and results_file.exists():
            done = {c["case"]["name"]: c for c in read_results(results_file)["cases"]}
        cache = RunCache.load(runs_file, args.threads) if runs_file else RunCache(threads=args.threads)
        try:
            shown = str(results_file.resolve().relative_to(ROOT))
        except ValueError:
            shown = str(results_file)
        data: dict[str, Any] = {"settings": dataclasses.asdict(settings), "quick": args.quick, "threads": args.threads,
                                "jobs": args.jobs, "machine": f"{platform.machine()}, torch {torch.__version__}",
                                "results_file": shown, "cases": []}
        results = {name: c for name, c in done.items() if name in {case.name for case in cases}}
        todo = [case for case in cases if case.name not in results]

        def publish(final: bool = False) -> None:
            data["cases"] = [results[c.name] for c in cases if c.name in results]
            data["missing"] = [c.name for c in cases if c.name not in results]
            data["measured"] = [c.name for c in todo if c.name in results]
            if runs_file:
                cache.save(runs_file, final)
            write_json(results_file, data)
            SECTION.write(out, render(data, notes), default)

        def finished(case: Case, result: dict[str, Any], new_runs: dict[str, list[Any]]) -> None:
            results[case.name] = result
            cache.runs.update(new_runs)
            ours = result["rules"][OURS]
            print(f"[{len(results)}/{len(cases)}] {case.name}: best lr {result['best']['lr']:.3g} "
                  f"({100 * result['best']['accuracy']:.1f}%), ours {fmt_lr(ours['lr'])}: "
                  f"{fmt_pts(ours['regret'])}, {len(new_runs)} new runs, {result['wall_time_s']:.0f} s",
                  file=sys.stderr, flush=True)
            publish()

        print(f"{len(todo)} case(s) to run, {len(cache.runs)} cached runs", file=sys.stderr, flush=True)
        run_cases(todo, settings, cache, args.threads, args.jobs, finished)
        publish(final=True)
        print(f"wrote {out} and {results_file}", file=sys.stderr)
        return 0
