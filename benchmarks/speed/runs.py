"""Running one measurement in a fresh process (:mod:`benchmarks.speed.worker`): in this environment, or in the
peers' for theirs. A measurement that fails is recorded with why (the last line it printed), and the others go
on."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from benchmarks.common.paths import ROOT

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
