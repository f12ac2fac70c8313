"""The ``onecycle`` command line: one module per subcommand, each adding its parser and a ``run`` function."""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Sequence
from typing import TextIO

from onecycle import __version__, distributed
from onecycle.cli import demo, find_batch_size, find_lr, ranks, report, reproduce, schedule, sharpness, sweep, train
from onecycle.cli.common import CommandError, Parser, one_line
from onecycle.datasets import DatasetError, DatasetNotFound

COMMANDS = [find_lr, find_batch_size, sweep, train, report, demo, schedule, reproduce, sharpness]


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="onecycle",
        description="Learning-rate range test and 1cycle policy for PyTorch.",
    )
    parser.add_argument("--version", action="version", version=f"onecycle {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for command in COMMANDS:
        command.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    if hasattr(sys.stdout, "reconfigure"):  # each line shown as it is printed, also through a pipe or into a file
        sys.stdout.reconfigure(line_buffering=True)
    parser = build_parser()
    quiet = distributed.launched() and int(os.environ.get("RANK", "0") or 0) != 0  # torchrun: rank 0 says it
    with open(os.devnull, "w") as null, contextlib.redirect_stderr(null if quiet else sys.stderr):
        args = parser.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)  # the command as given, to say how to run it again
    if distributed.launched():  # started by torchrun
        if getattr(args, "data_parallel", False):
            return ranks.run_on_ranks(args, _run)
        if int(os.environ.get("RANK", "0") or 0) != 0:  # a command of one process: rank 0 runs it
            return 0
    return _run(args, sys.stderr)


def _run(args: argparse.Namespace, errors: TextIO) -> int:
    """Run the command of ``args``; an error is one line on ``errors`` and the exit status 2 (130 when
    interrupted), never a traceback (unless ``ONECYCLE_DEBUG`` is set)."""
    try:
        return int(args.func(args) or 0)
    except (CommandError, DatasetNotFound, DatasetError, ValueError, FileNotFoundError) as err:
        if os.environ.get("ONECYCLE_DEBUG"):
            raise
        print(f"onecycle {args.command}: error: {one_line(str(err))}", file=errors)
        return 2
    except OSError as err:  # a path that cannot be written or read: a file where a directory should be...
        if os.environ.get("ONECYCLE_DEBUG"):
            raise
        where = f"{err.filename}: " if err.filename else ""
        print(f"onecycle {args.command}: error: {one_line(f'{where}{err.strerror or err}')}", file=errors)
        return 2
    except KeyboardInterrupt:
        print(f"onecycle {args.command}: interrupted", file=errors)
        return 130
