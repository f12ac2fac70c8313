"""Stopping training cleanly on SIGTERM or SIGINT (Ctrl-C).

While :meth:`StopRequest.handling` is active, the first of these signals only records itself: training finishes
the step it is in, :class:`~onecycle.rundir.CheckpointHook` writes a checkpoint and training ends. The signal's
handlers are put back at once, so a second SIGINT interrupts at once (``KeyboardInterrupt``) and a second SIGTERM
terminates the process, as they would have without it.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from types import FrameType

from onecycle import distributed

SIGNALS = (signal.SIGTERM, signal.SIGINT)


class StopRequest:
    """A request to stop training after the current step, made by a signal (or by :meth:`request`)."""

    def __init__(self) -> None:
        self.signal: signal.Signals | None = None  # the signal that asked, if one did

    @property
    def requested(self) -> bool:
        return self.signal is not None

    def sync(self) -> None:
        """Under data-parallel training, take the signal any process received (the highest number when several
        did), so that every process stops at the same step, for the same reason, whichever process was signalled."""
        number = distributed.max_across_ranks(int(self.signal or 0))
        if number and self.signal is None:
            self.signal = signal.Signals(number)

    def request(self, signum: int) -> None:
        """Record the request (made by signal ``signum``)."""
        self.signal = signal.Signals(signum)

    @contextlib.contextmanager
    def handling(self) -> Iterator[StopRequest]:
        """Turn the first SIGTERM or SIGINT into a request while the block runs, then put the handlers back.
        Outside the main thread, where Python cannot handle signals, nothing is installed."""
        if threading.current_thread() is not threading.main_thread():
            yield self
            return
        previous = {s: signal.getsignal(s) or signal.SIG_DFL for s in SIGNALS}  # None: set outside Python

        def restore() -> None:
            for s, handler in previous.items():
                signal.signal(s, handler)

        def handler(signum: int, frame: FrameType | None) -> None:
            restore()  # a second signal acts as it would have without this
            self.request(signum)

        for s in SIGNALS:
            signal.signal(s, handler)
        try:
            yield self
        finally:
            restore()
