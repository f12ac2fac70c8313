"""``onecycle report``: an HTML page and Markdown from one or more run directories."""

from __future__ import annotations

import argparse

from onecycle.cli.common import directory
from onecycle.guard import locked
from onecycle.report import write_report


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("report", help="HTML and Markdown report of run directories",
                       description="Write report.html (a self-contained page that works offline) and report.md "
                       "with the plots (range test, sweep, schedule, loss per epoch with the lr and accuracy, copied "
                       "next to the report so it can be moved) and a results table; several runs are shown side by "
                       "side.")
    p.add_argument("run_dirs", nargs="+", type=directory, metavar="RUN_DIR")
    p.add_argument("--out", type=directory, default=None, help="output directory (default: the first RUN_DIR)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    out = args.out or args.run_dirs[0]
    with locked(out, args.command):
        html_path, md_path = write_report(args.run_dirs, out)
    print(f"wrote {html_path} and {md_path}")
    return 0
