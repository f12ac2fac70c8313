"""The cache of finished measurements (training runs, range tests...), shared by every invocation of a benchmark.

Each measurement is stored under a key that names everything it was measured under, as a JSON value. Runs on CPU
with a fixed thread count are deterministic, so a cached run is the run, and a rerun measures only what is new.

The cache file is written atomically (:func:`onecycle.rundir.write_json`). With a journal (a JSON-lines file beside
it), every new measurement is also appended there as soon as it finishes, so a benchmark killed in the middle
keeps what it measured; :meth:`RunCache.load` reads the journal too (dropping a line torn by a kill) and
:meth:`RunCache.save` folds it into the file.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from benchmarks.common.cli import BenchmarkError, read_json


class RunCache:
    """Finished measurements by key (``runs``); ``new`` holds those this process added."""

    def __init__(self, runs: dict[str, Any] | None = None, journal: Path | None = None) -> None:
        self.runs: dict[str, Any] = dict(runs or {})
        self.new: dict[str, Any] = {}
        self.journal = journal

    @staticmethod
    def journal_of(path: Path) -> Path:
        """The journal file that goes with the cache file ``path``."""
        return path.with_name(path.stem + "-journal.jsonl")

    @classmethod
    def load(cls, path: Path, **kwargs: Any) -> Any:
        """The cache in ``path`` and its journal (either may be missing), journaling new measurements there;
        ``kwargs`` go to the constructor. A cache file that is truncated, corrupt or not a cache is a
        :class:`~benchmarks.common.cli.BenchmarkError` naming it."""
        runs: dict[str, Any] = {}
        if path.exists():
            runs = read_json(path, "the run cache", ("runs",))["runs"]
            if not isinstance(runs, dict):
                raise BenchmarkError(f"{path} is not the run cache of this benchmark: its runs are not an object")
        journal = cls.journal_of(path)
        runs.update(cls.journal_runs(journal))
        if journal.exists() and not journal.read_bytes().endswith(b"\n"):
            with open(journal, "a") as f:  # end a line torn by a kill, so that the next entry starts its own
                f.write("\n")
        return cls(runs, journal=journal, **kwargs)

    @staticmethod
    def journal_runs(journal: Path) -> dict[str, Any]:
        """The measurements appended to ``journal`` (a line torn by a kill is dropped; a whole line that is not an
        entry is a :class:`~benchmarks.common.cli.BenchmarkError` naming the journal)."""
        runs: dict[str, Any] = {}
        if journal.exists():
            for number, line in enumerate(journal.read_bytes().decode("utf-8", "replace").splitlines(), 1):
                try:
                    entry = json.loads(line)
                except json.JSONDecodeError:
                    continue
                if not (isinstance(entry, dict) and set(entry) == {"key", "run"} and isinstance(entry["key"], str)):
                    raise BenchmarkError(f"{journal} is not a run journal of this benchmark: line {number} is not "
                                         "an entry (key and run)")
                runs[entry["key"]] = entry["run"]
        return runs

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
