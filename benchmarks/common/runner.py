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
