"""Running one measurement in a fresh process (:mod:`benchmarks.speed.worker`): in this environment, or in the
peers' for theirs. A measurement that fails is recorded with why (the last line it printed), and the others go
on."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks.common.paths import ROOT
from benchmarks.common.runner import run_tasks
from benchmarks.speed.plan import kind_of
from benchmarks.speed.stats import interleaved

TIMEOUT_S = 3600
"""The longest one measurement may take."""


def environment() -> dict[str, str]:
    """The environment of a measurement's process: the repository and the package's source importable (the
    peers' environment has no copy of the package: it imports the library's networks from the source)."""
    paths = [str(ROOT), str(ROOT / "src"), *filter(None, [os.environ.get("PYTHONPATH")])]
    return {**os.environ, "PYTHONPATH": os.pathsep.join(paths)}


def run_one(task: dict[str, Any]) -> dict[str, Any]:
    """Measure ``task`` (``name``, ``repeat``, ``kind``, ``spec``, ``data``: the data file, ``python``: the
    interpreter, this one when ``None``) in a new process; its result under the task's name and repeat, or an
    ``error`` saying why there is none."""
    record = {"name": task["name"], "repeat": task["repeat"]}
    with tempfile.TemporaryDirectory() as tmp:
        task_file, result_file = Path(tmp) / "task.json", Path(tmp) / "result.json"
        task_file.write_text(json.dumps({k: task[k] for k in ("kind", "spec", "data")}))
        command = [task.get("python") or sys.executable, "-m", "benchmarks.speed.worker", str(task_file),
                   str(result_file)]
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=TIMEOUT_S, cwd=ROOT,
                                  env=environment())
        except subprocess.TimeoutExpired:
            return {**record, "error": f"no result in {TIMEOUT_S} s"}
        if done.returncode != 0 or not result_file.exists():
            lines = [line.strip() for line in done.stderr.splitlines() if line.strip()]
            return {**record, "error": lines[-1] if lines else f"exit status {done.returncode}"}
        return {**record, **json.loads(result_file.read_text())}


def measure_all(names: list[str], specs: dict[str, dict[str, Any]], data: dict[str, str], repeats: int, jobs: int,
                python: dict[str, str | None], say: Callable[[str], None]) -> list[dict[str, Any]]:
    """Every measurement of ``names`` ``repeats`` times, interleaved (:func:`~benchmarks.speed.stats.interleaved`),
    ``jobs`` at a time: each under its spec, on its data file, with its interpreter (``None``: this one). The
    records as they finished, each said as it comes."""
    tasks = [{"name": name, "repeat": repeat, "kind": kind_of(name), "spec": specs[name], "data": data[name],
              "python": python[name]} for repeat, name in interleaved(names, repeats)]
    records: list[dict[str, Any]] = []

    def finished(task: dict[str, Any], record: dict[str, Any]) -> None:
        records.append(record)
        what = (f"failed: {record['error']}" if "error" in record else
                f"{record['seconds']:.1f} s, {record['images_per_s']:,.0f} images/s, "
                f"{record['peak_memory_mib']:,.0f} MiB")
        say(f"[{len(records)}/{len(tasks)}] {task['name']} (repeat {task['repeat'] + 1}): {what}")

    say(f"{len(tasks)} measurement(s): {len(names)} x {repeats} repeat(s)")
    run_tasks(tasks, run_one, jobs, finished)
    return records
