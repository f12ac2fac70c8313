"""Guarding a run directory: one process at a time writes to it (a lock that dies with its process; the same lock
guards any file, :func:`locked_file`), a fresh start never replaces a run silently, and temporary files left by a
killed process are removed."""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Iterator
from pathlib import Path

from onecycle import rundir

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: no advisory locks; commands run without one
    fcntl = None  # type: ignore[assignment]

log = logging.getLogger("onecycle")

LOCK_FILE = ".onecycle.lock"
"""The lock of a run directory, inside it while a command runs there: its holder's pid and command."""
_HOLDER_WAIT_S = 2.0  # how long to wait for a holder that has just taken the lock to write who it is


class RunDirError(ValueError):
    """A run directory that cannot be used as asked: in use by another process, or holding a run that a fresh
    start would replace."""


class RunDirInUse(RunDirError):
    """Another process holds the lock of the run directory."""


class LockHeld(ValueError):
    """Another process holds a lock file (:func:`locked_file`): ``holder`` is who, as it wrote itself into the file
    (``"onecycle train (pid 1234)"``, ``"this process"``), ``pid`` its process id (``None``: unknown)."""

    def __init__(self, path: Path, holder: str, pid: int | None) -> None:
        super().__init__(f"{path} is held by {holder}")
        self.holder, self.pid = holder, pid


@contextlib.contextmanager
def locked(run_dir: Path, command: str) -> Iterator[None]:
    """Hold the lock of ``run_dir`` (created as needed) for the block, as ``onecycle command``; another process
    holding it is a :class:`RunDirInUse` naming its pid, at once. The lock is :func:`locked_file` on
    :data:`LOCK_FILE`, so a killed holder never blocks. Temporary files of a killed writer are removed once the
    lock is held. On the way out the lock file goes, and so do the directories this call created when they are
    still empty (a command that failed leaves nothing behind)."""
    run_dir = Path(run_dir)
    created = [d for d in (run_dir, *run_dir.parents) if not d.exists()]
    run_dir.mkdir(parents=True, exist_ok=True)
    try:
        with contextlib.ExitStack() as stack:
            try:
                stack.enter_context(locked_file(run_dir / LOCK_FILE, f"onecycle {command}", run_dir))
            except LockHeld as err:
                raise RunDirInUse(f"{run_dir} is in use by {err.holder}: one command at a time writes to a run "
                                  "directory; wait for it to finish, or use another directory") from None
            removed = rundir.remove_temporaries(run_dir)
            if removed:
                log.info("removed %d temporary file(s) a killed process left in %s: %s", len(removed), run_dir,
                         ", ".join(removed))
            yield
    finally:
        for directory in created:  # deepest first
            try:
                directory.rmdir()
            except OSError:  # not empty (or gone): it stays
                break


@contextlib.contextmanager
def locked_file(path: Path, holder: str, guarded: Path | None = None) -> Iterator[None]:
    """Hold the lock file ``path`` (its directory must exist) for the block, writing this process's pid and
    ``holder`` (``"onecycle train"``) into it; another process holding it is a :class:`LockHeld`, at once. The lock
    is an ``flock``, so the kernel releases it when its process dies, however it dies: a killed holder never
    blocks. The file goes on the way out. ``guarded``: what the lock guards (default ``path``), named by the
    warning where the file system has no locks and the block runs without one."""
    path = Path(path)
    fd = _acquire(path, holder, guarded or path)
    try:
        yield
    finally:
        if fd is not None:
            path.unlink(missing_ok=True)  # while still held: a waiting process then locks a new file
            os.close(fd)


def _acquire(path: Path, holder: str, guarded: Path) -> int | None:
    """The descriptor of ``path``, locked and holding this process's pid and ``holder`` (``None`` where there are
    no locks: Windows, or a file system without them)."""
    if fcntl is None:  # pragma: no cover
        return None
    for _ in range(100):
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        except FileNotFoundError:  # a holder that created the directory removed it as it finished
            path.parent.mkdir(parents=True, exist_ok=True)
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            who, pid = _holder(fd)
            os.close(fd)
            raise LockHeld(path, who, pid) from None
        except OSError as err:  # a file system without locks (some network ones)
            os.close(fd)
            log.warning("cannot lock %s (%s): running without the lock", guarded, err.strerror or err)
            return None
        if _is_file_at(fd, path):
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()} {holder}\n".encode(), 0)
            return fd
        os.close(fd)  # the holder removed this file as it released it: lock the one there now
    raise LockHeld(path, "another process (pid unknown)", None)  # taken and released a hundred times meanwhile


def _is_file_at(fd: int, path: Path) -> bool:
    """Whether ``fd`` is the file at ``path`` still (not one removed from there)."""
    try:
        here = os.stat(path)
    except FileNotFoundError:
        return False
    mine = os.fstat(fd)
    return (mine.st_dev, mine.st_ino) == (here.st_dev, here.st_ino)


def _holder(fd: int) -> tuple[str, int | None]:
    """Who holds the lock of ``fd``, as the holder wrote it (``"onecycle train (pid 1234)"``), and its pid."""
    deadline = time.monotonic() + _HOLDER_WAIT_S
    while True:
        words = os.pread(fd, 200, 0).decode(errors="replace").split()
        if words and words[0].isdigit():
            pid = int(words[0])
            return "this process" if pid == os.getpid() else f"{' '.join(words[1:3]) or 'onecycle'} (pid {pid})", pid
        if time.monotonic() > deadline:
            return "another process (pid unknown)", None
        time.sleep(0.02)


def check_fresh(run_dir: Path, options: str) -> None:
    """Raise :class:`RunDirError` when ``run_dir`` holds a run (:func:`rundir.run_files`), which a fresh start
    would replace; ``options``: what the command offers instead (``"pass --resume to continue it or --overwrite to
    start over"``)."""
    found = rundir.run_files(run_dir)
    if found:
        raise RunDirError(f"{run_dir} holds a run ({', '.join(found)}); {options}, or use another directory")
