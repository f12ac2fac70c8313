"""In-memory mini-batches on the training device.

:class:`Batches` slices an :class:`~onecycle.datasets.ImageData` that already sits on the device: no workers,
no copies through the host. Its randomness (the shuffle and the augmentation) comes from one seeded CPU
``torch.Generator``, so a seed gives the same batches on every device, and :meth:`Batches.state_dict` captures
enough to resume exactly, even in the middle of an epoch.
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
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if drop_last and len(data) < batch_size:
            raise ValueError(f"drop_last with {len(data)} samples and batch_size {batch_size} leaves no batches")
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
        self.generator = torch.Generator().manual_seed(seed)
        self.epoch = 0  # epochs completed
        self._batch = 0  # batches of the current epoch already handed out
        self._epoch_state = self.generator.get_state()  # generator state when the current epoch began

    def __len__(self) -> int:
        """Batches per epoch."""
        return num_batches(len(self.data), self.batch_size, self.drop_last)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        if self._batch == 0:
            self._epoch_state = self.generator.get_state()
        else:  # replay the epoch's draws up to where it stopped
            self.generator.set_state(self._epoch_state)
        n = len(self.data)
        order = torch.randperm(n, generator=self.generator) if self.shuffle else torch.arange(n)
        order = order.to(self.data.device)
        for i in range(len(self)):
            index = order[i * self.batch_size : (i + 1) * self.batch_size]
            offsets = draw_crop_offsets(len(index), self.pad, self.generator) if self.crop else None
            flips = draw_flips(len(index), self.generator) if self.flip else None
            if i < self._batch:
                continue
            self._batch = i + 1
            if self._batch == len(self):
                self.epoch, self._batch = self.epoch + 1, 0
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
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue exactly where the loader that produced ``state`` was."""
        if (state["num_samples"], state["batch_size"]) != (len(self.data), self.batch_size):
            raise ValueError(
                f"state is for {state['num_samples']} samples in batches of {state['batch_size']}, "
                f"this loader has {len(self.data)} in batches of {self.batch_size}"
            )
        self.generator.set_state(state["generator"])
        self._epoch_state = state["generator"].clone()
        self.epoch = int(state["epoch"])
        self._batch = int(state["batch"])
