"""The cache of finished measurements (training runs, range tests...), shared by every invocation of a benchmark.

Each measurement is stored under a key that names everything it was measured under, as a JSON value. Runs on CPU
with a fixed thread count are deterministic, so a cached run is the run, and a rerun measures only what is new.

The cache file is written atomically (:func:`onecycle.rundir.write_json`). With a journal (a JSON-lines file beside
it), every new measurement is also appended there as soon as it finishes, so a benchmark killed in the middle
keeps what it measured; :meth:`RunCache.load` reads the journal too (dropping a last line torn by a kill, from the
file as well) and :meth:`RunCache.save` folds it into the file.

Every run read back, from the file and from the journal, goes through the benchmark's own check
(:meth:`RunCache.check_run`), so that a damaged or hand-edited run (an accuracy of ``"0.9"`` or NaN, lists that
should pair up but differ in length) is one :class:`~benchmarks.common.cli.BenchmarkError` naming the file, the
run's key and the value, never a traceback from the analysis or a report built from it; a damaged file's error
says to move it aside (:func:`move_aside`).

One run of a benchmark at a time uses a cache: it holds the cache's lock (:meth:`RunCache.locked`) from before it
reads the cache until it has written its results, and a second run is refused at once.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import hashlib
import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from benchmarks.common.cli import BenchmarkError, read_json

KEY_SHOWN = 200
"""The characters of a run's key an error message shows (a hand-edited key may be a megabyte long)."""


def move_aside(file: Path) -> str:
    """What the error of a damaged cache or journal ``file`` ends with: what the user can do about it."""
    return f"; move {file} aside and run again: the runs it held are then measured again"


class RunCache:
    """Finished measurements by key (``runs``); ``new`` holds those this process added. Each benchmark's cache
    overrides :meth:`check_run` with what its runs hold."""

    def __init__(self, runs: dict[str, Any] | None = None, journal: Path | None = None) -> None:
        self.runs: dict[str, Any] = dict(runs or {})
        self.new: dict[str, Any] = {}
        self.journal = journal

    @staticmethod
    def check_run(key: str, run: Any) -> None:
        """Raise a ``ValueError`` naming the value inside ``run`` (``history[2].val_loss must be ...``) unless it is
        a measurement of this benchmark stored under ``key``. Here: any JSON value."""

    @staticmethod
    def journal_of(path: Path) -> Path:
        """The journal file that goes with the cache file ``path``."""
        return path.with_name(path.stem + "-journal.jsonl")

    @staticmethod
    def lock_of(path: Path) -> Path:
        """The lock file of the cache file ``path``: ``.NAME.lock`` beside it, there while a run of a benchmark
        uses the cache."""
        return path.with_name(f".{path.name}.lock")

    @staticmethod
    @contextlib.contextmanager
    def locked(path: Path, command: str) -> Iterator[None]:
        """Hold the lock of the cache file ``path`` (:meth:`lock_of`, its directory created as needed) for the block,
        as ``command``; another process holding it is a :class:`~benchmarks.common.cli.BenchmarkError` naming the
        cache and that process's pid, at once. A killed holder never blocks (:func:`onecycle.guard.locked_file`)."""
        from onecycle.guard import LockHeld, locked_file

        path.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.ExitStack() as stack:
            try:
                stack.enter_context(locked_file(RunCache.lock_of(path), command, path))
            except LockHeld as err:
                raise BenchmarkError(f"{path} is in use by another run of this benchmark (pid "
                                     f"{err.pid or 'unknown'}); wait for it or use another --runs") from None
            yield

    @classmethod
    def load(cls, path: Path, **kwargs: Any) -> Any:
        """The cache in ``path`` and its journal (either may be missing), journaling new measurements there;
        ``kwargs`` go to the constructor. A cache file that is truncated, corrupt or not a cache, or a run in
        either file that :meth:`check_run` refuses, is a :class:`~benchmarks.common.cli.BenchmarkError` naming
        the file (and the run's key and the value), and says to move a damaged file aside (:func:`move_aside`). A
        last journal line torn by a kill is dropped from the journal too, so that the next entry does not follow
        it. Call it under :meth:`locked`: only then is the cache this process's alone."""
        runs: dict[str, Any] = {}
        if path.exists():
            runs = read_json(path, "the run cache", ("runs",), move_aside(path))["runs"]
            if not isinstance(runs, dict):
                raise BenchmarkError(f"{path} is not the run cache of this benchmark: its runs are not an object")
            for key, run in runs.items():
                cls._check(path, key, run)
        journal = cls.journal_of(path)
        journaled, torn = cls._read_journal(journal)
        runs.update(journaled)
        if torn is not None:
            os.truncate(journal, torn)
        elif journal.exists() and journal.stat().st_size and not journal.read_bytes().endswith(b"\n"):
            with open(journal, "a") as f:  # a whole last entry without its newline: the next one starts its own
                f.write("\n")
        return cls(runs, journal=journal, **kwargs)

    @classmethod
    def _check(cls, file: Path, key: str, run: Any, line: int | None = None) -> None:
        """:meth:`check_run`, its ``ValueError`` a :class:`~benchmarks.common.cli.BenchmarkError` naming ``file``
        (and the journal's ``line``) and ``key``."""
        try:
            cls.check_run(key, run)
        except ValueError as err:
            at = f"line {line}, " if line is not None else ""
            shown = key if len(key) <= KEY_SHOWN else f"{key[:KEY_SHOWN]}..."
            raise BenchmarkError(f"{file} is damaged: {at}the run {shown}: {err}{move_aside(file)}") from None

    @classmethod
    def journal_runs(cls, journal: Path) -> dict[str, Any]:
        """The measurements appended to ``journal``, each checked (:meth:`check_run`); a last line torn by a kill
        is dropped, any other line that is not an entry is a :class:`~benchmarks.common.cli.BenchmarkError`
        naming the journal and the line."""
        return cls._read_journal(journal)[0]

    @classmethod
    def _read_journal(cls, journal: Path) -> tuple[dict[str, Any], int | None]:
        """:meth:`journal_runs`, and the offset at which a last line torn by a kill starts (``None``: none is)."""
        runs: dict[str, Any] = {}
        if not journal.exists():
            return runs, None
        data = journal.read_bytes()
        lines = data.split(b"\n")  # the last is empty when the file ends with a newline, else an unfinished line
        offset = 0
        for number, line in enumerate(lines, 1):
            start, offset = offset, offset + len(line) + 1
            if not line.strip():
                continue
            try:
                entry = json.loads(line)
            except (ValueError, RecursionError) as err:  # not JSON, not UTF-8, nested too deeply
                if number == len(lines):  # no newline after it: torn by a kill in the middle of its write
                    return runs, start
                raise BenchmarkError(f"{journal} is damaged: line {number} is not valid JSON ({type(err).__name__}: "
                                     f"{err}; only a last line torn by a kill is dropped){move_aside(journal)}"
                                     ) from None
            if not (isinstance(entry, dict) and set(entry) == {"key", "run"} and isinstance(entry["key"], str)):
                raise BenchmarkError(f"{journal} is not a run journal of this benchmark: line {number} is not "
                                     f"an entry (key and run){move_aside(journal)}")
            cls._check(journal, entry["key"], entry["run"], number)
            runs[entry["key"]] = entry["run"]
        return runs, None

    def save(self, path: Path, final: bool = False) -> None:
        """Write every measurement, those other processes have appended to the journal so far included; ``final``
        (no worker running any more) also removes the journal, whose entries are all in the file then."""
        from onecycle.rundir import write_json

        self.runs.update(self.journal_runs(self.journal_of(path)))
        write_json(path, {"runs": dict(sorted(self.runs.items()))})
        if final:
            self.journal_of(path).unlink(missing_ok=True)

    def __contains__(self, key: str) -> bool:
        return key in self.runs

    def get(self, key: str) -> Any:
        """The measurement stored under ``key``, ``None`` when there is none."""
        return self.runs.get(key)

    def record(self, key: str, value: Any) -> None:
        """Store a new measurement, and append it to the journal (one ``write`` of one line, so that appends of
        several processes do not interleave)."""
        self.runs[key] = self.new[key] = value
        if self.journal is not None:
            line = (json.dumps({"key": key, "run": value}) + "\n").encode()
            fd = os.open(self.journal, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
            try:
                os.write(fd, line)
                os.fsync(fd)
            finally:
                os.close(fd)


def task_key(task: Any, label: Callable[[Any], str], measured_under: Callable[[Any], dict[str, Any]]) -> str:
    """The key the finished run of ``task`` (a dataclass of plain data) is cached under: ``label(task)``, what a
    person reads, then a hash of ``measured_under(task)``, everything it is measured under, so two tasks differing
    in any one setting never share a key. Memoised on the task's fields: a plan makes the keys of every task."""
    return _task_key(type(task), json.dumps(dataclasses.astuple(task), sort_keys=True), label, measured_under)


@functools.lru_cache(maxsize=4096)
def _task_key(kind: type, fields: str, label: Callable[[Any], str],
              measured_under: Callable[[Any], dict[str, Any]]) -> str:
    task = kind(*json.loads(fields))
    digest = hashlib.sha256(json.dumps(measured_under(task), sort_keys=True).encode()).hexdigest()[:24]
    return f"{label(task)}|{digest}"
