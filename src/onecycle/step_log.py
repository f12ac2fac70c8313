"""The training loop's per-step values, kept on the device between reads.

Reading a loss back to the host (``float(loss)``) waits for the device to finish every step queued before it: done
every step, it stalls a GPU on small and medium networks. :class:`StepLog` holds each step's loss and count of
correct predictions as device tensors and reads them in one transfer, every ``log_every`` steps
(:func:`default_log_every`); the training loop then processes them in order, exactly as it would have step by step.
Under data-parallel training the same transfer first sums each step's values over the processes
(:func:`onecycle.distributed.all_sum`), so every process reads the loss of the global batch.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from onecycle import distributed

LOG_EVERY = {"cpu": 1, "cuda": 50, "mps": 50}
"""Steps between reads of the training loss by device type, when the settings do not say (``log_every``): on a CPU
a read costs nothing and every step is checked before its update; on an accelerator a read stalls the queue of
work, so it is made once in a while (``benchmarks/speed/loop_overhead.py`` measures it)."""


def default_log_every(device: torch.device | str) -> int:
    """Steps between reads on ``device`` (:data:`LOG_EVERY`; a device type not listed reads every step)."""
    return LOG_EVERY.get(torch.device(device).type, 1)


def log_every_text() -> str:
    """:data:`LOG_EVERY` as settings help shows it: ``1 on cpu, 50 on cuda and mps``."""
    by_value: dict[int, list[str]] = {}
    for device, every in LOG_EVERY.items():
        by_value.setdefault(every, []).append(device)
    return ", ".join(f"{every} on {' and '.join(devices)}" for every, devices in by_value.items())


@dataclass(frozen=True)
class StepValues:
    """What one step left for the host: its number, loss, images, correct predictions (``None`` when its outputs
    were not class scores), and the lr and momentum it was taken at."""

    step: int
    loss: float
    images: int
    correct: int | None
    lr: float
    momentum: float | None


class StepLog:
    """The values of the steps since the last read: losses and correct counts as device tensors (nothing is read
    back until :meth:`read`), the rest as host numbers the loop knows already."""

    def __init__(self) -> None:
        self._losses: list[torch.Tensor] = []
        self._correct: list[torch.Tensor | None] = []
        self._known: list[tuple[int, int, float, float | None]] = []  # step, images, lr, momentum

    def __len__(self) -> int:
        return len(self._known)

    def add(self, loss: torch.Tensor, correct: torch.Tensor | None, images: int, step: int = 0,
            lr: float = math.nan, momentum: float | None = None) -> None:
        """Keep a batch's ``loss`` (a one-element tensor) and ``correct`` count (a one-element integer tensor, or
        ``None``) without reading them, with its size in ``images`` and, in training, its step, lr and momentum."""
        self._losses.append(loss.detach().reshape(()))
        self._correct.append(None if correct is None else correct.detach().reshape(()))
        self._known.append((step, images, lr, momentum))

    def read(self, across_ranks: bool = False) -> list[StepValues]:
        """The steps kept, in order, read in one transfer (losses exactly as ``float(loss)`` gives them, counts as
        ``int``); the log is empty afterwards. ``across_ranks``, under data-parallel training: each step's values
        over all the processes (the loss averaged over their images, images and correct predictions summed); every
        process must read the same steps then."""
        if across_ranks and distributed.active():
            return self._read_across_ranks()
        if len(self) <= 1:  # nothing to gather: a plain read
            values = [float(v) for v in [*self._losses, *(c for c in self._correct if c is not None)]]
        else:
            values = self._gathered()
        losses, counts = values[: len(self)], iter(values[len(self) :])
        steps = [StepValues(step, loss, images, None if c is None else int(next(counts)), lr, momentum)
                 for loss, c, (step, images, lr, momentum) in zip(losses, self._correct, self._known)]
        self._losses, self._correct, self._known = [], [], []
        return steps

    def _read_across_ranks(self) -> list[StepValues]:
        """:meth:`read` summed over the processes in the same transfer: each step's loss x images, images and
        correct predictions (a process whose outputs were not class scores makes the step's count unknown)."""
        if not self._known:
            return []
        device = self._losses[0].device
        images = torch.tensor([images for _, images, _, _ in self._known], dtype=torch.float64, device=device)
        counts = torch.stack([torch.full((), math.nan, dtype=torch.float64, device=device) if c is None else
                              c.double() for c in self._correct])
        table = distributed.all_sum(torch.stack([torch.stack(self._losses).double() * images, images, counts]))
        losses, totals, correct = table.tolist()
        steps = [StepValues(step, loss / total, int(total), None if math.isnan(c) else int(c), lr, momentum)
                 for loss, total, c, (step, _, lr, momentum) in zip(losses, totals, correct, self._known)]
        self._losses, self._correct, self._known = [], [], []
        return steps

    def _gathered(self) -> list[float]:
        """The losses, then the correct counts kept, as floats, in one transfer from the device."""
        columns = [torch.stack(self._losses).double()]
        counted = [c for c in self._correct if c is not None]
        if counted:  # exact in float64: a count of images is far below 2**53
            columns.append(torch.stack(counted).double())
        return (torch.cat(columns) if len(columns) > 1 else columns[0]).tolist()
