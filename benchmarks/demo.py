"""The demo's section of docs/RESULTS.md, written from the run directory of a finished ``onecycle demo``: its
results table, the range test's recommendation and the sweep (as ``onecycle report`` shows them), the metrics of
each epoch and its figures (copied to ``images/`` beside the file as ``demo-*.png``). The numbers in the docs are
then those the code produced, not copied by hand.

``onecycle demo && python -m benchmarks.demo`` (defaults: ``runs/demo`` into ``docs/RESULTS.md``); the section lies
between two marker lines, and the rest of the file (written by hand) is left as it is.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks.common.cli import BenchmarkError, markdown_path, run_main
from benchmarks.common.paths import ROOT
from benchmarks.common.section import Section

COMMAND = "python -m benchmarks.demo"
SECTION = Section("demo", COMMAND)
FIGURES = {"finder.png": "range test", "sweep.png": "weight-decay sweep", "schedule.png": "schedule",
           "curves.png": "loss and accuracy"}
"""The run's figures the section shows (each copied as ``demo-<name>``), and their alt text."""


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header), *("| " + " | ".join(r) + " |" for r in rows)]


def epoch_rows(history: Sequence[dict[str, Any]]) -> list[list[str]]:
    """Per epoch: the lr at its end, train loss and accuracy, test loss and accuracy, and its wall time."""
    return [[str(h["epoch"]), f"{h['lr']:.3g}", f"{h['train_loss']:.3f}", f"{100 * h['train_accuracy']:.2f}%",
             f"{h['val_loss']:.3f}", f"{100 * h['val_accuracy']:.2f}%", f"{h['time_s']:.1f} s"] for h in history]


def render(run: Any, images: str) -> str:
    """The section of the demo's run (a :class:`onecycle.report.RunSummary`), its figures under ``images``."""
    from onecycle.report import notes, results_table, sweep_table

    parts = ["\n".join(_table(*results_table([run])))]
    said = [line for line, _ in notes(run) if not line.startswith("warning: ")]
    parts.append("What the run directory says of the range test and the sweep (as `onecycle report` shows it):\n\n"
                 + "\n".join(f"- {line}" for line in said))
    if run.sweep:
        parts.append("\n".join(_table(*sweep_table(run))))
    parts.append(f"Per epoch (from `{run.path.name}/metrics.jsonl`):\n\n" + "\n".join(_table(
        ["epoch", "lr at end", "train loss", "train acc", "test loss", "test acc", "time"], epoch_rows(run.history))))
    parts.append("\n".join(f"![{alt}]({images}/demo-{name})" for name, alt in FIGURES.items() if name in run.images))
    return "\n\n".join(parts) + "\n"


def write(run_dir: Path, out: Path, default: bool) -> None:
    """The section for the run in ``run_dir`` in ``out``, its figures in ``images/`` beside ``out``."""
    from onecycle import rundir
    from onecycle.report import read_run

    SECTION.check(out, default)
    try:
        run = read_run(run_dir)
    except (FileNotFoundError, ValueError) as err:
        raise BenchmarkError(str(err)) from None
    if not run.history or run.summary is None:
        raise BenchmarkError(f"{run_dir} holds no finished run (no epochs in metrics.jsonl or no summary.json): "
                             "run `onecycle demo` to its end first")
    images = out.parent / "images"
    images.mkdir(parents=True, exist_ok=True)
    for name in FIGURES:
        if name in run.images:
            data = run.images[name].read_bytes()
            rundir.atomic_write(images / f"demo-{name}", lambda f, data=data: f.write(data))
    SECTION.write(out, render(run, images.name), default)


def main(argv: Sequence[str] | None = None) -> int:
    """Write the demo's section of the results file from its run directory."""
    default_out = ROOT / "docs" / "RESULTS.md"
    parser = argparse.ArgumentParser(prog=COMMAND, description=__doc__.split("\n\n")[0])
    parser.add_argument("run_dir", nargs="?", type=Path, default=Path("runs/demo"),
                        help="the run directory of a finished `onecycle demo` (default runs/demo)")
    parser.add_argument("--out", type=markdown_path, default=default_out,
                        help="Markdown file (.md) whose demo section (between two marker lines) is written (default "
                             "docs/RESULTS.md); any other existing file must hold the marker lines; figures go to "
                             "images/ beside it")
    args = parser.parse_args(argv)

    def body() -> int:
        write(args.run_dir, args.out, args.out.resolve() == default_out.resolve())
        print(f"wrote {args.out}", file=sys.stderr)
        return 0

    return run_main(COMMAND, body)


if __name__ == "__main__":
    raise SystemExit(main())
