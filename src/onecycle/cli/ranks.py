"""Commands under ``torchrun``: every process runs the same command, in step, and only rank 0 writes and prints.

Each process joins the process group ``torchrun`` describes (:func:`onecycle.distributed.init_from_launcher`).
Rank 0 works in the run directory; every other rank works in a private copy of it, made from what rank 0 found
there when the command started (sent over the process group, so machines need not share a file system) and removed
when the command ends. So every rank reads the same results and the same checkpoint, takes the same decisions (the
losses they decide on are reduced across ranks) and runs the same code, and what the others write is thrown away.
Their output is silenced; an error of theirs is printed with their rank, since it may be theirs alone.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TextIO

import torch

from onecycle import distributed
from onecycle.engine import pick_device

MAX_COPY_BYTES = 4 << 30
"""The most a run directory may hold for the other ranks' copies (a checkpoint or a few: far less)."""


COPY_PREFIX = "onecycle-rank"
"""How the temporary directory of a rank's copy is named: ``onecycle-rank1-pid4321-XXXX``."""


def remove_stale_copies() -> list[Path]:
    """Remove the copies of processes that are gone without removing theirs (killed): returns them."""
    stale = []
    for path in Path(tempfile.gettempdir()).glob(f"{COPY_PREFIX}*-pid*-*"):
        try:
            os.kill(int(path.name.split("-pid", 1)[1].split("-", 1)[0]), 0)
        except ProcessLookupError:
            shutil.rmtree(path, ignore_errors=True)
            stale.append(path)
        except (ValueError, PermissionError):  # not one of ours, or another user's process: left alone
            continue
    return stale


def run_dir_of(args: argparse.Namespace) -> Path | None:
    """The run directory of a command's arguments (``reproduce`` finds its default from the preset's name)."""
    find = getattr(args, "run_dir_for", None)
    return find(args) if find is not None else getattr(args, "run_dir", None)


def _read_tree(root: Path) -> dict[str, bytes]:
    """Every file under ``root``, by its path relative to it (nothing when ``root`` does not exist)."""
    if not root.is_dir():
        return {}
    files, size = {}, 0
    for path in sorted(root.rglob("*")):
        if path.is_file() and not path.is_symlink():
            files[path.relative_to(root).as_posix()] = data = path.read_bytes()
            size += len(data)
            if size > MAX_COPY_BYTES:
                raise ValueError(f"{root} holds more than {MAX_COPY_BYTES >> 30} GiB, too much to copy to the other "
                                 "processes: use another --run-dir")
    return files


def _write_tree(root: Path, files: dict[str, bytes]) -> None:
    for name, data in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)


@contextlib.contextmanager
def private_run_dir(args: argparse.Namespace) -> Iterator[None]:
    """On ranks other than 0, point the command's run directory to a copy of rank 0's, removed afterwards."""
    run_dir = run_dir_of(args)
    if run_dir is None:
        yield
        return
    found = _read_tree(run_dir) if distributed.is_main() else None
    found = distributed.broadcast_object(found)
    if distributed.is_main():
        yield
        return
    remove_stale_copies()
    scratch = Path(tempfile.mkdtemp(prefix=f"{COPY_PREFIX}{distributed.rank()}-pid{os.getpid()}-"))
    try:
        copy = scratch / run_dir.name
        if found or run_dir.is_dir():
            copy.mkdir()
            _write_tree(copy, found)
        args.run_dir = copy
        yield
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def run_on_ranks(args: argparse.Namespace, run: Callable[[argparse.Namespace, TextIO], int]) -> int:
    """``run(args, errors)`` (a command, printing its error to ``errors``) as one process of the group ``torchrun``
    started: on CUDA when the command's device is, or is ``auto`` and there is a GPU. A rank other than 0 runs it in a
    copy of the run directory (:func:`private_run_dir`), its output silenced and its error printed with its rank."""
    device = getattr(args, "device", None) or "auto"
    distributed.init_from_launcher(use_cuda=torch.cuda.is_available() and pick_device(device).type == "cuda")
    try:
        if distributed.is_main():
            with private_run_dir(args):
                return run(args, sys.stderr)
        real, errors = run_dir_of(args), _RankErrors(sys.stderr)
        with private_run_dir(args), open(os.devnull, "w") as null, contextlib.redirect_stdout(null), \
                contextlib.redirect_stderr(null):
            errors.renamed = {str(run_dir_of(args)): str(real)}
            return run(args, errors)
    finally:
        distributed.shutdown()


class _RankErrors(io.TextIOBase):
    """The error stream of a rank other than 0: each line with the rank in front (``rank 1: ...``), and the paths of
    its copy of the run directory written as the run directory's (``renamed``: copy to original)."""

    def __init__(self, stream: TextIO) -> None:
        self.stream, self.line_start = stream, True
        self.renamed: dict[str, str] = {}

    def write(self, text: str) -> int:
        shown = text
        for copy, original in self.renamed.items():
            shown = shown.replace(copy, original)
        for line in shown.splitlines(keepends=True):
            self.stream.write(f"rank {distributed.rank()}: {line}" if self.line_start else line)
            self.line_start = line.endswith("\n")
        return len(text)

    def flush(self) -> None:
        self.stream.flush()
