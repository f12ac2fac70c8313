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
import datetime
import io
import os
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TextIO

import torch
from torch import distributed as dist

from onecycle import distributed
from onecycle.engine import pick_device
from onecycle.guard import RunDirInUse, locked

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
    found: dict[str, Any] = {}
    if distributed.is_main():
        try:  # a directory another command holds is refused on every rank, for the same reason
            with locked(run_dir, args.command):
                found["files"] = _read_tree(run_dir)
        except RunDirInUse as err:
            found["in use"] = str(err)
    found = distributed.broadcast_object(found)  # type: ignore[assignment]
    if "in use" in found:
        raise RunDirInUse(found["in use"])
    if distributed.is_main():
        yield
        return
    remove_stale_copies()
    scratch = Path(tempfile.mkdtemp(prefix=f"{COPY_PREFIX}{distributed.rank()}-pid{os.getpid()}-"))
    try:
        copy = scratch / run_dir.name
        if found["files"] or run_dir.is_dir():
            copy.mkdir()
            _write_tree(copy, found["files"])
        args.run_dir = copy
        yield
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def run_on_ranks(args: argparse.Namespace, run: Callable[[argparse.Namespace, TextIO], int]) -> int:
    """``run(args, errors)`` (a command, printing its error to ``errors``) as one process of the group ``torchrun``
    started: on CUDA when the command's device is, or is ``auto`` and there is a GPU. A rank other than 0 runs it in a
    copy of the run directory (:func:`private_run_dir`), its output silenced; its error is printed, with its rank,
    only when rank 0 did not print the same one (:class:`_Errors`)."""
    device = getattr(args, "device", None) or "auto"
    distributed.init_from_launcher(use_cuda=torch.cuda.is_available() and pick_device(device).type == "cuda")
    remove_stale_copies()
    errors = _Errors(sys.stderr)
    try:
        if distributed.is_main():
            status = _guarded(args, errors, run)
            errors.publish()
            return status
        real = run_dir_of(args)
        with open(os.devnull, "w") as null, contextlib.redirect_stdout(null), contextlib.redirect_stderr(null):
            status = _guarded(args, errors, run)
        copy = run_dir_of(args)
        errors.show_unless_rank0s({str(copy): str(real)} if copy != real else {})
        return status
    finally:
        distributed.shutdown()


LOST_PEER = ("Connection closed by peer", "Connection reset by peer", "Broken pipe", "timed out", "Timeout")
"""What a collective's error says when another process of the group is gone (killed, or failed on its own)."""


def _guarded(args: argparse.Namespace, errors: TextIO,
             run: Callable[[argparse.Namespace, TextIO], int]) -> int:
    """``run(args, errors)`` in this rank's run directory (:func:`private_run_dir`); a collective that fails because
    another process is gone is one line on rank 0 (the others stay silent: the process that failed says why)."""
    try:
        with private_run_dir(args):
            return run(args, errors)
    except (ValueError, OSError) as err:  # from the copy of the run directory: run reports its own
        print(f"onecycle {args.command}: error: {err}", file=errors)
        return 2
    except RuntimeError as err:
        if not (isinstance(err, dist.DistError) or any(text in str(err) for text in LOST_PEER)):
            raise
        if distributed.is_main():
            again = distributed.launched_as(f"onecycle {args.command}")
            print(f"onecycle {args.command}: error: another process of the run stopped ({str(err).splitlines()[0]}"
                  f"); its own error, if it printed one, says why; run `{again} ...` again once every process can "
                  "run (a training run continues from its last checkpoint with --resume)", file=errors)
        return 2


ERROR_KEY = "onecycle/rank0-error"
"""Where rank 0 leaves its error (empty: none) in the process group's key-value store, for the others to compare."""
WAIT_FOR_RANK0_S = 10.0
"""How long a failed rank waits for rank 0's error before it prints its own."""


class _Errors(io.TextIOBase):
    """The error stream of a command on a rank: rank 0's goes to ``stream`` at once and, at the end, to the store
    (:meth:`publish`); another rank's is kept, then printed with its rank in front (``rank 1: ...``) unless rank 0
    printed the same error or it is an interruption, which rank 0 reports (:meth:`show_unless_rank0s`)."""

    def __init__(self, stream: TextIO) -> None:
        self.stream, self.text = stream, ""

    def write(self, text: str) -> int:
        self.text += text
        if distributed.is_main():
            self.stream.write(text)
        return len(text)

    def flush(self) -> None:
        self.stream.flush()

    def publish(self) -> None:
        with contextlib.suppress(Exception):  # no store: the others print their own
            dist.distributed_c10d._get_default_store().set(ERROR_KEY, self.text)

    def show_unless_rank0s(self, renamed: dict[str, str]) -> None:
        """Print the error kept (its copy's paths ``renamed`` to the run directory's) unless rank 0's is the same."""
        mine = self.text
        for copy, original in renamed.items():
            mine = mine.replace(copy, original)
        if not mine or mine.rstrip().endswith(": interrupted"):
            return
        try:
            store = dist.distributed_c10d._get_default_store()
            store.wait([ERROR_KEY], datetime.timedelta(seconds=WAIT_FOR_RANK0_S))
            if store.get(ERROR_KEY).decode() == mine:
                return
        except Exception:  # rank 0 said nothing in time (or is gone): this error may be ours alone
            pass
        self.stream.write("".join(f"rank {distributed.rank()}: {line}" for line in mine.splitlines(keepends=True)))
        self.stream.flush()
