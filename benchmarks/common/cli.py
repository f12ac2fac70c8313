"""What the benchmarks' command lines share: the report's path (``--out``), the most ``--jobs``, reading their JSON
files, the warning on a smoke run's report, and problems reported as one line naming the file, never a traceback."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

SMOKE_WARNING = ("> **Smoke run (`--quick`): tiny data, one seed, a few steps; the figures mean nothing.** It checks "
                 "that the benchmark runs end to end; the measured report is the one without `--quick`.")
"""The first lines of a report written by ``--quick``."""

MAX_JOBS = 64
"""The most worker processes a benchmark runs side by side (``--jobs``): each is started at once, and more than the
cores only share them."""


class BenchmarkError(Exception):
    """A problem with a benchmark's input or files, reported as one line naming the file."""


def measurements_to_make(todo: int, cached: int, later: str) -> str:
    """The line a benchmark prints before it measures: ``todo`` measurements to make now (``later``: when more
    come), or, with none, that every one it needs is in the cache of ``cached`` runs (none comes later: more are
    planned only as measurements finish)."""
    if todo == 0:
        return f"nothing to measure: every measurement is cached ({cached} in the cache)"
    return f"{todo} measurement(s) to make now ({later}), {cached} cached"


def markdown_path(text: str) -> Path:
    """``--out``: the path of a Markdown file (``.md``; it need not exist, but must not be a directory). Its figures,
    if any, go to ``images/`` beside it."""
    path = Path(text)
    if not text.strip() or path.suffix.lower() != ".md" or path.is_dir():
        raise argparse.ArgumentTypeError(f"expected the path of a Markdown file ending in .md (figures go to images/ "
                                         f"beside it), got {text!r}")
    return path


def add_quick_jobs(parser: argparse.ArgumentParser, quick: str, quick_dir: str, jobs: str = "") -> None:
    """``--quick`` (a smoke run of seconds: ``quick`` says on what, into ``quick_dir``) and ``--jobs N`` (``jobs``
    ends its help)."""
    from onecycle.cli.common import whole

    parser.add_argument("--quick", action="store_true", help=f"a smoke run of seconds: {quick} (into {quick_dir}/)")
    parser.add_argument("--jobs", type=whole(MAX_JOBS), default=1, metavar="N",
                        help=f"runs side by side in worker processes, 1 to {MAX_JOBS} (default 1){jobs}")


def add_report_arguments(parser: argparse.ArgumentParser, section: str, report: str, figures: bool = False) -> None:
    """``--out`` (the Markdown file whose ``section`` is written, ``docs/REPORT`` by default, and the ``figures``
    beside it, if any), ``--results``, ``--runs`` and ``--render``."""
    images = "; figures go to images/ beside it" if figures else ""
    parser.add_argument("--out", type=markdown_path,
                        help=f"Markdown file (.md) whose {section} section (between two marker lines) is written "
                             f"(default docs/{report}; quick: {report} in the quick dir); any other existing file "
                             f"must hold the marker lines, the rest of it is left as it is{images}")
    parser.add_argument("--results", type=Path, help="raw JSON results (default under benchmarks/results/)")
    parser.add_argument("--runs", type=Path, help="cache of finished runs, reused by later invocations (default "
                                                  "under benchmarks/results/)")
    parser.add_argument("--render", action="store_true",
                        help=f"only rewrite the report{' and figures' if figures else ''} from the results")


def read_json(path: Path, what: str, keys: Iterable[str] = (), remedy: str = "") -> Any:
    """The JSON object in ``path``, ``what`` the file is (for the message): a missing, unreadable, truncated or
    corrupt file, or one without ``keys`` at its top, is a :class:`BenchmarkError` naming it; ``remedy`` ends the
    message of a file that is not valid JSON (truncated, corrupt)."""
    from onecycle.rundir import json_kind
    from onecycle.rundir import read_json as read

    try:
        data = read(path)
    except FileNotFoundError as err:  # its message names the file
        raise BenchmarkError(f"cannot read {what}: {err}") from None
    except ValueError as err:  # its message names the file
        raise BenchmarkError(f"cannot read {what}: {err}{remedy}") from None
    except OSError as err:  # a directory, no permission...
        raise BenchmarkError(f"cannot read {what}: {path}: {err.strerror or err}") from None
    missing = [k for k in keys if not isinstance(data, dict) or k not in data]
    if not isinstance(data, dict) or missing:
        found = f"an object without {', '.join(missing)}" if isinstance(data, dict) else f"a JSON {json_kind(data)}"
        raise BenchmarkError(f"{path} is not {what} of this benchmark: it holds {found}")
    return data


def reading(path: Path, what: str, read: Callable[[], Any]) -> Any:
    """``read()``, which reads the contents of ``path`` (``what`` it is); a value of the wrong kind inside the file
    (``KeyError``, ``TypeError``...) is a :class:`BenchmarkError` naming the file."""
    try:
        return read()
    except (KeyError, TypeError, ValueError, AttributeError, IndexError) as err:
        raise BenchmarkError(f"{path} is not {what} of this benchmark ({type(err).__name__}: {err})") from None


def run_main(prog: str, body: Callable[[], int]) -> int:
    """``body()``, with a :class:`BenchmarkError` or a file that cannot be written printed as one line on stderr
    (exit status 2)."""
    try:
        return body()
    except BenchmarkError as err:
        message = str(err)
    except OSError as err:
        message = f"{err.filename + ': ' if err.filename else ''}{err.strerror or err}"
    print(f"{prog}: error: {' '.join(message.split())}", file=sys.stderr)
    return 2
