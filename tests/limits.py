"""Limits for tests that feed hostile inputs: a memory cap (an allocation past it is a ``MemoryError``, not a
machine out of memory) and a time limit (a hang is a ``TimeoutError``, not a stuck CI job)."""

from __future__ import annotations

import contextlib
import resource
import signal
from collections.abc import Iterator
from pathlib import Path


def address_space() -> int | None:
    """The bytes of address space this process uses now (``None`` where /proc is not there)."""
    try:
        status = Path("/proc/self/status").read_text()
    except OSError:
        return None
    for line in status.splitlines():
        if line.startswith("VmSize:"):
            return int(line.split()[1]) * 1024
    return None


@contextlib.contextmanager
def memory_cap(headroom: int) -> Iterator[None]:
    """Within the block, the process may grow by ``headroom`` bytes of address space at most (Linux); the cap is
    lifted afterwards."""
    used = address_space()
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    if used is None:
        yield
        return
    cap = used + headroom if hard == resource.RLIM_INFINITY else min(used + headroom, hard)
    resource.setrlimit(resource.RLIMIT_AS, (cap, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


@contextlib.contextmanager
def time_limit(seconds: float) -> Iterator[None]:
    """A ``TimeoutError`` when the block runs longer than ``seconds`` (main thread, where SIGALRM exists)."""
    if not hasattr(signal, "setitimer"):
        yield
        return

    def expire(signum: int, frame: object) -> None:
        raise TimeoutError(f"still running after {seconds} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
