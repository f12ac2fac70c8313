"""Running a benchmark's tasks: in this process, or side by side in spawned worker processes; and the command line
of a benchmark that measures a plan into a run cache and writes a report section (:func:`run_benchmark`)."""

from __future__ import annotations

import argparse
import dataclasses
import multiprocessing
import sys
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.common.paths import shown
from benchmarks.common.run_cache import RunCache
from benchmarks.common.section import Section

Finished = Callable[[Any, Any], Iterable[Any] | None]
"""``finished(task, result)``, called in this process as each task ends; it may return further tasks to run (those
that needed this result)."""


def run_tasks(tasks: Sequence[Any], work: Callable[[Any], Any], jobs: int, finished: Finished) -> None:
    """``work(task)`` for every task, in order: in this process when ``jobs == 1``, else ``jobs`` at a time in
    spawned worker processes (``work`` and the tasks must then be picklable: a module-level function and plain
    data). ``finished`` sees every result as it comes; the tasks it returns are run after those already queued."""
    if jobs == 1:
        queue = deque(tasks)
        while queue:
            task = queue.popleft()
            queue.extend(finished(task, work(task)) or ())
        return
    with ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
        pending: dict[Future[Any], Any] = {pool.submit(work, task): task for task in tasks}
        while pending:
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                task = pending.pop(future)
                for more in finished(task, future.result()) or ():
                    pending[pool.submit(work, more)] = more


def measure_planned(cache: Any, planned: Callable[[], Sequence[Any]], key: Callable[[Any], str],
                    work: Callable[[Any], Any], jobs: int, done: Callable[[Any, Any], str], later: str) -> None:
    """Measure every task of ``planned()`` that ``cache`` (a :class:`~benchmarks.common.run_cache.RunCache`) lacks,
    ``jobs`` at a time, recording each as it finishes (with a line ``done(task, value)``) and measuring what the plan
    gains from it (``planned`` is asked again after each); ``later`` says, in the line printed first, when more come."""
    from benchmarks.common.cli import measurements_to_make

    todo = [t for t in planned() if key(t) not in cache]
    queued = {key(t) for t in todo}
    print(measurements_to_make(len(todo), len(cache.runs), later), file=sys.stderr, flush=True)

    def finished(task: Any, value: Any) -> list[Any]:
        cache.record(key(task), value)
        print(f"[{len(cache.new)}] {done(task, value)}", file=sys.stderr, flush=True)
        more = [t for t in planned() if key(t) not in cache and key(t) not in queued]
        queued.update(key(t) for t in more)
        return more

    run_tasks(todo, work, jobs, finished)


@dataclass(frozen=True)
class Benchmark:
    """What differs between the command lines of the benchmarks that measure a plan into a run cache and write a
    report section: where their files go (``report``, ``results_file``, ``runs_file``; a ``--quick`` run writes the
    files of the same names in ``quick_dir``), their cache class, their plan of tasks (``plan(settings, lookup)``),
    its keys and labels, the line printed as each measurement finishes (``done``) and when more come (``later``),
    the analysis of the results, the meta data of their own (``meta(tasks, lookup)``: the machine...), and the report
    section (``render(data)``), after the ``figures`` that go with it, if any (``figures(data, out)`` draws them
    beside the report and records their names in ``data``)."""

    command: str
    section: Section
    report: Path
    results_file: Path
    runs_file: Path
    quick_dir: Path
    cache: type[RunCache]
    plan: Callable[[Any, Callable[[Any], Any]], Sequence[Any]]
    key: Callable[[Any], str]
    label: Callable[[Any], str]
    analyze: Callable[[Any, Callable[[Any], Any]], Any]
    read_results: Callable[[Path], dict[str, Any]]
    done: Callable[[Any, Any], str]
    later: str
    meta: Callable[[Sequence[Any], Callable[[Any], Any]], dict[str, Any]]
    render: Callable[[dict[str, Any]], str]
    figures: Callable[[dict[str, Any], Path], None] | None = None

    def default(self, path: Path, quick: bool) -> Path:
        """The default of one of its files, ``path`` (the full run's): the file of that name in :attr:`quick_dir`
        for a ``quick`` run."""
        return self.quick_dir / path.name if quick else path

    def write(self, data: dict[str, Any], out: Path, default: bool) -> None:
        """The figures, if any, and the report section in ``out`` (a file without it is refused unless it is the
        ``default`` report)."""
        if self.figures is not None:
            self.figures(data, out)
        self.section.write(out, self.render(data), default)


def run_benchmark(b: Benchmark, args: argparse.Namespace, settings: Any, measure: Callable[[Any], Any],
                  flags: str = "", new: bool = True) -> int:
    """A benchmark's command line once its arguments are checked: with ``--render``, the report rewritten from the
    results file; else, holding the run cache's lock, every task of the plan under ``settings`` that the cache lacks
    measured (``measure``, ``--jobs`` at a time; none unless ``new``), then the results file and the report written.
    ``flags`` end the command recorded in the results (after ``--quick`` and ``--jobs``)."""
    default_out = b.default(b.report, args.quick)
    out = args.out or default_out
    default = out.resolve() == default_out.resolve()
    b.section.check(out, default)  # a file of the user's without the section: refused before anything is measured

    from benchmarks.common.cli import reading
    from onecycle.rundir import write_json

    results_file = args.results or b.default(b.results_file, args.quick)
    runs_file = args.runs or b.default(b.runs_file, args.quick)

    if args.render:
        data = b.read_results(results_file)
        reading(results_file, "a results file", lambda: b.write(data, out, default))
        print(f"wrote {out}", file=sys.stderr)
        return 0

    start = time.perf_counter()
    with b.cache.locked(runs_file, b.command):  # until the results are written: one run at a time
        cache = b.cache.load(runs_file)

        def lookup(task: Any) -> Any:
            return cache.get(b.key(task))

        if new:
            measure_planned(cache, lambda: b.plan(settings, lookup), b.key, measure, args.jobs, b.done, b.later)
        cache.save(runs_file, final=True)

        tasks = b.plan(settings, lookup)
        missing = [b.label(t) for t in tasks if b.key(t) not in cache]
        data = {"settings": dataclasses.asdict(settings),
                "meta": {"command": f"{b.command}{' --quick' if args.quick else ''} --jobs {args.jobs}{flags}",
                         **b.meta(tasks, lookup), "jobs": args.jobs, "wall_time_s": time.perf_counter() - start,
                         "new_runs": len(cache.new), "runs": len(tasks),
                         "run_time_s": sum(cache.get(b.key(t))["seconds"] for t in tasks if b.key(t) in cache),
                         "results_file": shown(results_file), "runs_file": shown(runs_file),
                         "missing": ", ".join(missing), "quick": args.quick},
                "results": b.analyze(settings, lookup)}
        write_json(results_file, data)  # the numbers first: a report (figures) that fails to write does not lose them
        b.write(data, out, default)
        write_json(results_file, data)  # with what writing the report added (the figures' names)
        print(f"wrote {out} and {results_file} ({len(cache.new)} new measurement(s), "
              f"{time.perf_counter() - start:.0f} s)", file=sys.stderr)
        return 0
