"""In-memory mini-batches on the training device.

:class:`Batches` slices an :class:`~onecycle.datasets.ImageData` that already sits on the device: no workers,
no copies through the host. Its randomness (the shuffle and the augmentation) comes from one seeded CPU
``torch.Generator``, so a seed gives the same batches on every device, and :meth:`Batches.state_dict` captures
enough to resume exactly, even in the middle of an epoch.

Under data-parallel training each of ``world_size`` processes holds a :class:`Batches` of the same seed: all draw
the same order and the same augmentation for each *global* batch of ``batch_size x world_size`` images, and each
takes its own ``batch_size`` of them (rank 0 the first). The processes together see exactly the batches of one
process at the global batch size, and each image's augmentation is drawn once: it differs from rank to rank and
is reproduced by the seed.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import torch

from onecycle.augment import crop_reflect, draw_crop_offsets, draw_flips, flip_horizontal, normalize
from onecycle.datasets import ImageData


def num_batches(num_samples: int, batch_size: int, drop_last: bool) -> int:
    """Batches per epoch of ``num_samples`` in batches of ``batch_size``: full ones only with ``drop_last``."""
    return num_samples // batch_size if drop_last else -(-num_samples // batch_size)


class Batches:
    """Iterable of ``(x, y)`` batches over ``data``: ``x`` float32 ``(B, C, H, W)``, ``y`` int64 ``(B,)``.

    Each pass is one epoch, with a new permutation when ``shuffle``. ``crop`` takes a random
    reflect-padded crop (``pad`` pixels) and ``flip`` mirrors half the images; both act on the uint8 pixels
    before ``x = (pixels / 255 - mean) / std`` (or ``pixels / 255`` without ``mean`` and ``std``). A pass that
    is left early resumes where it stopped the next time the loader is iterated.

    ``rank`` and ``world_size``: the shard of each global batch this process takes (see the module's text). A last,
    partial global batch (without ``drop_last``) is shared out in ``batch_size`` slices from rank 0 on, so a rank
    may get fewer images or none (it then yields one batch less): fine for evaluation, whose totals are summed over
    the ranks, but training needs full batches on every rank (``drop_last``).
    """

    def __init__(
        self,
        data: ImageData,
        batch_size: int,
        *,
        shuffle: bool = True,
        drop_last: bool = False,
        crop: bool = False,
        pad: int = 4,
        flip: bool = False,
        mean: torch.Tensor | Sequence[float] | None = None,
        std: torch.Tensor | Sequence[float] | None = None,
        channels_last: bool = False,
        seed: int = 0,
        device: torch.device | str | None = None,
        rank: int = 0,
        world_size: int = 1,
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if world_size < 1 or not 0 <= rank < world_size:
            raise ValueError(f"rank must be in [0, world_size) and world_size >= 1, got rank {rank} of {world_size}")
        if drop_last and len(data) < batch_size * world_size:
            raise ValueError(f"drop_last with {len(data)} samples and batch_size {batch_size}"
                             f"{f' x {world_size} processes' if world_size > 1 else ''} leaves no batches")
        if (mean is None) != (std is None):
            raise ValueError("give both mean and std, or neither")
        channels = data.images.shape[1]
        if mean is not None and (len(mean) != channels or len(std) != channels):  # type: ignore[arg-type]
            raise ValueError(f"mean and std need {channels} values, one per channel")
        self.data = data.to(device) if device is not None else data
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.drop_last = drop_last
        self.crop = crop
        self.pad = pad
        self.flip = flip
        self.mean = None if mean is None else torch.as_tensor(mean, dtype=torch.float32, device=self.data.device)
        self.std = None if std is None else torch.as_tensor(std, dtype=torch.float32, device=self.data.device)
        self.channels_last = channels_last
        self.rank, self.world_size = rank, world_size
        self.generator = torch.Generator().manual_seed(seed)
        self.epoch = 0  # epochs completed
        self._batch = 0  # batches of the current epoch already handed out
        self._epoch_state = self.generator.get_state()  # generator state when the current epoch began

    def __len__(self) -> int:
        """Batches per epoch: the global batches, one step of every process each."""
        return num_batches(len(self.data), self.global_batch, self.drop_last)

    @property
    def global_batch(self) -> int:
        """Images per step over all the processes: ``batch_size x world_size``."""
        return self.batch_size * self.world_size

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        if self._batch == 0:
            self._epoch_state = self.generator.get_state()
        else:  # replay the epoch's draws up to where it stopped
            self.generator.set_state(self._epoch_state)
        n = len(self.data)
        order = torch.randperm(n, generator=self.generator) if self.shuffle else torch.arange(n)
        order = order.to(self.data.device)
        size, mine = self.global_batch, slice(self.rank * self.batch_size, (self.rank + 1) * self.batch_size)
        for i in range(len(self)):
            index = order[i * size : (i + 1) * size]
            offsets = draw_crop_offsets(len(index), self.pad, self.generator) if self.crop else None
            flips = draw_flips(len(index), self.generator) if self.flip else None
            if i < self._batch:
                continue
            self._batch = i + 1
            if self._batch == len(self):
                self.epoch, self._batch = self.epoch + 1, 0
            if self.world_size > 1:  # this process's slice of the global batch and of its draws
                index = index[mine]
                offsets, flips = (None if t is None else t[mine] for t in (offsets, flips))
                if not len(index):
                    continue
            yield self._make(index, offsets, flips)

    def _make(
        self, index: torch.Tensor, offsets: torch.Tensor | None, flips: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.data.images[index]
        if offsets is not None:
            x = crop_reflect(x, offsets, self.pad)
        if flips is not None:
            x = flip_horizontal(x, flips)
        x = x.float() / 255 if self.mean is None or self.std is None else normalize(x, self.mean, self.std)
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        return x, self.data.labels[index]

    def state_dict(self) -> dict[str, Any]:
        """Position and randomness: ``epoch`` (completed), ``batch`` (handed out in the current epoch) and
        ``generator`` (its state when the current epoch began), plus the sizes they refer to."""
        state = self._epoch_state if self._batch else self.generator.get_state()
        return {
            "epoch": self.epoch,
            "batch": self._batch,
            "generator": state.clone(),
            "num_samples": len(self.data),
            "batch_size": self.batch_size,
            "world_size": self.world_size,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue exactly where the loader that produced ``state`` was (on any rank: every rank's position and
        randomness are the same; a state without ``world_size`` is of one process)."""
        saved = (state["num_samples"], state["batch_size"], state.get("world_size", 1))
        if saved != (len(self.data), self.batch_size, self.world_size):
            raise ValueError(
                f"state is for {saved[0]} samples in batches of {saved[1]} on {saved[2]} process(es), "
                f"this loader has {len(self.data)} in batches of {self.batch_size} on {self.world_size}"
            )
        self.generator.set_state(state["generator"])
        self._epoch_state = state["generator"].clone()
        self.epoch = int(state["epoch"])
        self._batch = int(state["batch"])
