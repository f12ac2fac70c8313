"""What a report leaves out of a run directory, and why: a file of the run that is damaged, cut short or missing.

A damaged file the report cannot do without (a hand-edited ``config.json``, a ``metrics.jsonl`` line that is not a
metrics row) leaves the whole run out of a report of several (:func:`onecycle.report.write_report`), and is an error
naming it when no run is left; the files here are those it can report around, and each note says which file it is
and what the report shows without it.
"""

from __future__ import annotations

import csv
from pathlib import Path

from onecycle import rundir

SETTINGS_SHOWN = ("its settings (schedule, planned epochs, max_lr, weight decay; dataset and model where no range "
                  "test records them)")
"""What the report takes from config.json."""
HISTORY_SHOWN = "its epochs and steps (the results table's losses, accuracies and train time, and the loss curves)"
"""What the report takes from metrics.jsonl."""

WRITTEN_AFTER = {
    rundir.CONFIG: tuple(name for name in rundir.TRAIN_FILES if name != rundir.CONFIG),
    rundir.METRICS_JSONL: (rundir.METRICS_CSV, rundir.STEPS_CSV, rundir.CHECKPOINT),
}
"""The files training writes only once it has written each of these (config.json first of all; metrics.jsonl's
rows before the CSV files' and the checkpoint's): one of them without it means it was lost."""


def notes(run_dir: Path, torn_line: int | None) -> list[str]:
    """The notes on what the report of ``run_dir`` leaves out: the last line of metrics.jsonl when it was cut short
    (``torn_line``, its number: see :func:`onecycle.rundir.read_metrics_rows`), a steps.csv without the columns
    training writes, and config.json or metrics.jsonl missing from a run that trained."""
    out = []
    if torn_line is not None:
        out.append(f"{run_dir / rundir.METRICS_JSONL}: its last line (line {torn_line}) is incomplete, as a run "
                   f"killed while writing it leaves it: the report uses the {torn_line - 1} line(s) before it and "
                   "leaves that one out")
    problem = steps_csv_problem(run_dir / rundir.STEPS_CSV)
    if problem is not None:
        out.append(f"{run_dir / rundir.STEPS_CSV} {problem}: the report shows none of it (its steps are read from "
                   f"{rundir.METRICS_JSONL})")
    for name, shown in ((rundir.CONFIG, SETTINGS_SHOWN), (rundir.METRICS_JSONL, HISTORY_SHOWN)):
        written_after = [other for other in WRITTEN_AFTER[name] if (run_dir / other).exists()]
        if written_after and not (run_dir / name).exists():
            out.append(f"{run_dir / name} is missing, though the run wrote {', '.join(written_after)} after it: "
                       f"{shown} are left out")
    return out


def steps_csv_problem(path: Path) -> str | None:
    """What is wrong with the steps.csv at ``path`` (``None`` when there is none, or it starts with the header of
    :data:`onecycle.rundir.STEP_COLUMNS`): ``"has columns a,b, not step,loss,..."``, ``"is empty"``, ``"is not
    UTF-8 text"``."""
    if not path.is_file():
        return None
    try:
        with open(path, encoding="utf-8", newline="") as f:
            header = next(csv.reader(f), None)
    except UnicodeDecodeError:
        return "is not UTF-8 text"
    except csv.Error as err:
        return f"is not CSV ({err})"
    if header is None:
        return "is empty"
    if tuple(header) != rundir.STEP_COLUMNS:
        shown = ",".join(header)
        shown = shown if len(shown) <= 80 else shown[:77] + "..."
        return f"has columns {shown}, not {','.join(rundir.STEP_COLUMNS)}"
    return None
