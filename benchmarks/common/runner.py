"""Running a benchmark's tasks: in this process, or side by side in spawned worker processes."""

from __future__ import annotations

import multiprocessing
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from typing import Any

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
    import sys

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
