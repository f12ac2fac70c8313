"""Memory: sizes as people write them (``2GiB``, ``512MB``) and shown back, and the peak memory of a piece of work.

On CUDA the peak is the caching allocator's (``torch.cuda.max_memory_allocated``) above what was allocated before
the work. On the CPU it is the growth of the process's resident set (RSS): Linux's high-water mark (``VmHWM``) reset
just before the work by writing ``5`` to ``/proc/self/clear_refs``, read after it, less the resident set before it
(freed heap memory is first handed back with glibc's ``malloc_trim``, so that the work cannot hide its growth in
memory freed earlier). That counts everything the work makes the process hold at its peak: tensors (weights,
gradients, optimizer state, the batch, activations) and also the allocator's slack and the thread pools' scratch
buffers, which is what a machine runs out of; it varies by a few MiB from run to run. torch counts the bytes of its
CPU allocator only through its profiler, whose first use here imported the compiler stack (6 to 17 s) and which
slows the work it measures, so it is not used.

While CPU work is measured its address space is capped (``RLIMIT_AS``, :func:`cpu_peak`): an allocation past the
cap fails with an error that :func:`out_of_memory` recognises, rather than the machine running out of memory.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import functools
import gc
import math
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import torch

try:
    import resource
except ImportError:  # pragma: no cover - Windows: no address-space limit
    resource = None  # type: ignore[assignment]

T = TypeVar("T")

UNITS = {"b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12,
         "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40}
"""The units of :func:`parse_size`, lower-cased: decimal (kB, MB, GB, TB) and binary (KiB, MiB, GiB, TiB)."""
_SIZE = re.compile(r"\s*(\d+(?:\.\d*)?|\.\d+)(?:[eE]([+-]?\d{1,6}))?\s*([a-zA-Z]*)\s*")

CAP_FACTOR = 2
CAP_SLACK = 256 * 2**20
"""The address space CPU work measured against a budget may add (:func:`cpu_cap`): ``CAP_FACTOR`` x the budget
plus ``CAP_SLACK`` (address space reserved but never touched, by malloc's arenas and new threads, is counted too)."""

MEASURED = {"cuda": "the CUDA caching allocator's peak above what it held before",
            "cpu": "the peak growth of the process's resident set (Linux VmHWM)"}
"""What the peak memory of work on each device type is, as batch_size.json records it."""

_STATUS = Path("/proc/self/status")
_CLEAR_REFS = Path("/proc/self/clear_refs")
_MEMINFO = Path("/proc/meminfo")


def parse_size(text: str) -> int:
    """The bytes of a size written ``2GiB``, ``512 MiB``, ``1.5GB``, ``100000`` (bytes) and so on (units: :data:`UNITS`,
    in any case); anything else, or a size that is not positive, is a ``ValueError`` saying what is expected."""
    expected = (f"expected a size such as 2GiB, 512MiB or 1.5GB (a number of bytes, or with a unit: B, kB, MB, GB, "
                f"TB, KiB, MiB, GiB, TiB), got {text[:40]!r}")
    match = _SIZE.fullmatch(text)
    if match is None or match[3].lower() not in {"", *UNITS}:
        raise ValueError(expected)
    number, exponent, unit = match.groups()
    value = float(f"{number}e{exponent or 0}") * UNITS.get(unit.lower(), 1)
    if not (math.isfinite(value) and value >= 1):
        raise ValueError(f"expected a size of at least 1 byte, and finite, got {text[:40]!r}")
    return int(value)


def show_size(size: float) -> str:
    """``size`` bytes in the largest binary unit that keeps the number at least 1, to 3 significant digits (or
    whole): ``1.5 GiB``, ``512 MiB``, ``1023 KiB``, ``100 B``."""
    for unit in ("TiB", "GiB", "MiB", "KiB"):
        if abs(size) >= UNITS[unit.lower()]:
            value = size / UNITS[unit.lower()]
            return f"{value:.3g} {unit}" if abs(value) < 1000 else f"{value:.0f} {unit}"
    return f"{size:.0f} B"


def _status(key: str) -> int:
    """A size from ``/proc/self/status`` (``VmRSS``, ``VmHWM``, ``VmSize``), in bytes."""
    for line in _STATUS.read_text().splitlines():
        if line.startswith(f"{key}:"):
            return int(line.split()[1]) * 1024
    raise OSError(f"{_STATUS} has no {key}")


def cpu_peak_measurable() -> bool:
    """Whether :func:`cpu_peak` can measure here: Linux, whose high-water mark of the resident set this process
    may reset."""
    try:
        _status("VmHWM")
        _CLEAR_REFS.write_text("5")
    except OSError:
        return False
    return True


def available() -> int | None:
    """The memory the machine has available for new work now (Linux's ``MemAvailable``), ``None`` where unknown."""
    try:
        for line in _MEMINFO.read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def cpu_cap(budget: int) -> int:
    """The address space CPU work measured against ``budget`` bytes may add (:data:`CAP_FACTOR`, :data:`CAP_SLACK`)."""
    return CAP_FACTOR * budget + CAP_SLACK


@functools.cache
def _libc() -> Any:
    """The C library, where there is one to load (``find_library`` runs a program: once)."""
    try:
        return ctypes.CDLL(ctypes.util.find_library("c"))
    except OSError:
        return None


def _trim() -> None:
    """Hand the heap's free memory back to the system (glibc's ``malloc_trim``; nothing elsewhere)."""
    with contextlib.suppress(AttributeError):
        _libc().malloc_trim(0)


@contextlib.contextmanager
def _address_space_cap(extra: int | None) -> Iterator[None]:
    """Within the block the process may add ``extra`` bytes of address space at most (where the system has the
    limit); the limit it had is put back afterwards."""
    if extra is None or resource is None:
        yield
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    cap = _status("VmSize") + extra
    if hard != resource.RLIM_INFINITY:
        cap = min(cap, hard)
    resource.setrlimit(resource.RLIMIT_AS, (cap, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


def cpu_peak(work: Callable[[], T], cap: int | None = None) -> tuple[T, int]:
    """``work()``'s result and the growth of the process's resident set at its peak while it ran, in bytes
    (Linux: see the module's text); with ``cap``, the work may add that many bytes of address space at most (an
    allocation past it fails: :func:`out_of_memory`)."""
    _trim()
    before = _status("VmRSS")
    _CLEAR_REFS.write_text("5")  # the high-water mark is now the resident set
    with _address_space_cap(cap):
        result = work()
    return result, max(0, _status("VmHWM") - before)


def cuda_peak(work: Callable[[], T], device: torch.device) -> tuple[T, int]:
    """``work()``'s result and the most bytes the CUDA caching allocator held on ``device`` while it ran, above what
    it held before it."""
    torch.cuda.synchronize(device)
    before = torch.cuda.memory_allocated(device)
    torch.cuda.reset_peak_memory_stats(device)
    result = work()
    torch.cuda.synchronize(device)
    return result, max(0, torch.cuda.max_memory_allocated(device) - before)


def out_of_memory(err: BaseException) -> bool:
    """Whether ``err`` is an allocation that failed: CUDA out of memory, or a CPU allocation refused (past
    :func:`cpu_peak`'s cap, or by the system)."""
    if isinstance(err, (torch.cuda.OutOfMemoryError, MemoryError)):
        return True
    return isinstance(err, RuntimeError) and "can't allocate memory" in str(err)


def release(device: torch.device, failed: bool = False) -> None:
    """Free what work left: after a failure (``failed``), the objects its error kept in reference cycles; on CUDA,
    the allocator's cached blocks. (A full collection takes most of a second in a process that has imported torch,
    so it is left out after work that finished.)"""
    if failed:
        gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()
