"""What a training run costs the machine besides its wall time: CPU time and the load average at each epoch's end
(:class:`Meter`, a training hook), the peak resident memory of the run (:func:`peak_rss_mb`), and the machine in
words (:func:`machine`)."""

from __future__ import annotations

import os
import platform
import re
import resource
import time
from pathlib import Path
from typing import Any

STATUS = Path("/proc/self/status")
CLEAR_REFS = Path("/proc/self/clear_refs")
STALL_S = 10.0
"""Two steps of an epoch further apart than this (a step of the recipe takes well under a second) mean the process
was held up: stopped, or starved by other work. :class:`Meter` sums such gaps as the epoch's ``stalled_s``."""


def reset_peak_rss() -> bool:
    """Start the process's peak resident memory afresh (Linux: ``5`` written to ``/proc/self/clear_refs``), so
    that :func:`peak_rss_mb` is the peak of what follows; ``False`` where that cannot be done (the peak is then the
    process's since it started)."""
    try:
        CLEAR_REFS.write_text("5")
    except OSError:
        return False
    return True


def peak_rss_mb() -> float:
    """The peak resident memory in MiB since :func:`reset_peak_rss` (``VmHWM``), or since the process started."""
    try:
        found = re.search(r"^VmHWM:\s+(\d+) kB", STATUS.read_text(), re.MULTILINE)
    except OSError:
        found = None
    if found:
        return int(found.group(1)) / 1024
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux, bytes on macOS
    return peak / (1 << 20) if platform.system() == "Darwin" else peak / 1024


def load_average() -> float | None:
    """The 1-minute load average (runnable processes on the machine, this one included), ``None`` where the system
    has none."""
    try:
        return round(os.getloadavg()[0], 2)
    except OSError:
        return None


class Meter:
    """A training hook: at each epoch's end, the process's CPU time since the last one (``cpu_s``: the epoch's
    steps, its test evaluation and the run's own hooks, checkpoints included, over every thread), the load average
    (``load``) and the wall time lost to gaps of more than :data:`STALL_S` between two of its steps
    (``stalled_s``). Created just before the run: it resets the peak resident memory then."""

    def __init__(self) -> None:
        import torch

        reset_peak_rss()
        self.threads = torch.get_num_threads()
        self.epochs: list[dict[str, Any]] = []
        self._last = time.process_time()
        self._step: float | None = None  # when the epoch's last step ended
        self._stalled = 0.0

    def on_step(self, state: Any, metrics: dict[str, Any]) -> None:
        now = time.perf_counter()
        if self._step is not None and now - self._step > STALL_S:
            self._stalled += now - self._step
        self._step = now

    def on_epoch_end(self, state: Any, metrics: dict[str, Any]) -> None:
        now = time.process_time()
        self.epochs.append({"cpu_s": round(now - self._last, 2), "load": load_average(),
                            "stalled_s": round(self._stalled, 2)})
        self._last, self._step, self._stalled = now, None, 0.0  # the test evaluation is no gap between steps

    def cpu_time(self) -> float:
        """The CPU time of the epochs so far."""
        return sum(e["cpu_s"] for e in self.epochs)


def machine() -> str:
    """The processor, its logical CPUs and the system, in words: ``AMD EPYC, 2 logical CPU(s), Linux x86_64``."""
    name = platform.processor() or platform.machine()
    try:
        found = re.search(r"^model name\s*:\s*(.+)$", Path("/proc/cpuinfo").read_text(), re.MULTILINE)
    except OSError:
        found = None
    if found:
        name = found.group(1).strip()
    return f"{name}, {os.cpu_count()} logical CPU(s), {platform.system()} {platform.machine()}"


def machine_meta(*_: Any) -> dict[str, Any]:
    """What a results file records of where it was measured: the :func:`machine`, its logical CPUs, the torch version
    and the date (the arguments, a benchmark's tasks and lookup, are not needed)."""
    import datetime

    import torch

    return {"machine": machine(), "cpus": os.cpu_count() or 1, "torch": torch.__version__,
            "date": datetime.date.today().isoformat()}
