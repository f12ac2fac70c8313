"""The cache of finished 1cycle runs, shared by every invocation of the benchmark."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from benchmarks.recommendation.cases import Case
from benchmarks.recommendation.scoring import Run, lr_key
from benchmarks.recommendation.training import one_cycle_run


class RunCache:
    """Finished 1cycle runs by case, weight decay, lr, seed and CPU threads, so that a rerun (another rule,
    another seed) trains only what it has not seen. Runs on CPU with a fixed thread count are deterministic,
    so a cached run is the run.

    With a ``journal`` (a JSON-lines file beside the cache), every new run is appended to it as soon as it
    finishes, so a benchmark killed in the middle of a case keeps the runs it trained; :meth:`load` reads the
    journal too (dropping a torn last line) and :meth:`save` folds it into the cache file."""

    def __init__(self, runs: dict[str, list[Any]] | None = None, threads: int = 1,
                 journal: Path | None = None) -> None:
        self.runs: dict[str, list[Any]] = dict(runs or {})
        self.new: dict[str, list[Any]] = {}
        self.threads = threads
        self.journal = journal

    @staticmethod
    def journal_of(path: Path) -> Path:
        """The journal file that goes with the cache file ``path``."""
        return path.with_name(path.stem + "-journal.jsonl")

    @classmethod
    def load(cls, path: Path, threads: int) -> RunCache:
        runs = json.loads(path.read_text())["runs"] if path.exists() else {}
        journal = cls.journal_of(path)
        runs.update(cls.journal_runs(journal))
        if journal.exists() and not journal.read_bytes().endswith(b"\n"):
            with open(journal, "a") as f:  # end a line torn by a kill, so that the next run starts its own
                f.write("\n")
        return cls(runs, threads, journal)

    @staticmethod
    def journal_runs(journal: Path) -> dict[str, list[Any]]:
        """The runs appended to ``journal`` (a line torn by a kill is dropped)."""
        runs: dict[str, list[Any]] = {}
        if journal.exists():
            for line in journal.read_text().splitlines():
                try:
                    entry = json.loads(line)
                except json.JSONDecodeError:
                    continue
                runs[entry["key"]] = entry["run"]
        return runs

    def save(self, path: Path, final: bool = False) -> None:
        """Write every run, those other workers have appended to the journal so far included; ``final`` (no
        worker running any more) also removes the journal, whose runs are all in the file then."""
        from onecycle.rundir import write_json

        self.runs.update(self.journal_runs(self.journal_of(path)))
        write_json(path, {"runs": dict(sorted(self.runs.items()))})
        if final:
            self.journal_of(path).unlink(missing_ok=True)

    def key(self, case: Case, weight_decay: float, lr: float, seed: int) -> str:
        return f"{case.name}|wd={weight_decay:g}|lr={lr_key(lr):g}|seed={seed}|threads={self.threads}"

    def of_case(self, case: Case) -> dict[str, list[Any]]:
        return {k: v for k, v in self.runs.items() if k.startswith(f"{case.name}|")}

    def run(self, case: Case, setup: Any, lr: float, seed: int, weight_decay: float) -> Run:
        """The cached run, or a new one (recorded, and appended to the journal)."""
        key = self.key(case, weight_decay, lr, seed)
        if key not in self.runs:
            start = time.perf_counter()
            run = one_cycle_run(setup, lr, seed, weight_decay)
            self.runs[key] = self.new[key] = [run.accuracy, run.diverged, round(time.perf_counter() - start, 2)]
            if self.journal is not None:
                with open(self.journal, "a") as f:  # one short line per write: appends do not interleave
                    f.write(json.dumps({"key": key, "run": self.runs[key]}) + "\n")
                    f.flush()
                    os.fsync(f.fileno())
        accuracy, diverged = self.runs[key][:2]
        return Run(accuracy, diverged)
