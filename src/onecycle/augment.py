"""Batched augmentation on the device the images live on.

Every function takes a whole batch ``(N, C, H, W)`` and works in a few tensor ops, with no loop over
images. Random draws come from ``generator`` (on its own device, the CPU by default) and are then moved to
the images' device, so a seed gives the same augmentation on every device. Each random function is a
``draw_*`` followed by its deterministic counterpart, which tests (and a resuming loader) call directly.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch


def channel_stats(images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel mean and (population) std of uint8 images ``(N, C, H, W)``, for pixels scaled to [0, 1].

    Exact: computed from per-channel histograms in float64; returned as float32 ``(C,)`` tensors on the
    images' device.
    """
    if images.dtype != torch.uint8 or images.ndim != 4 or images.numel() == 0:
        shape = tuple(images.shape)
        raise ValueError(f"channel_stats needs non-empty uint8 (N, C, H, W) images, got {images.dtype} {shape}")
    counts = torch.stack([torch.bincount(images[:, c].reshape(-1), minlength=256) for c in range(images.shape[1])])
    counts = counts.cpu().double()
    values = torch.arange(256, dtype=torch.float64) / 255
    total = counts.sum(dim=1)
    mean = (counts * values).sum(dim=1) / total
    var = (counts * (values - mean[:, None]) ** 2).sum(dim=1) / total
    return mean.float().to(images.device), var.sqrt().float().to(images.device)


def normalize(
    images: torch.Tensor, mean: torch.Tensor | Sequence[float], std: torch.Tensor | Sequence[float]
) -> torch.Tensor:
    """float32 ``(images / 255 - mean) / std`` per channel (``mean``, ``std`` from :func:`channel_stats`)."""
    mean_t = torch.as_tensor(mean, dtype=torch.float32, device=images.device).view(1, -1, 1, 1)
    std_t = torch.as_tensor(std, dtype=torch.float32, device=images.device).view(1, -1, 1, 1)
    return images.float().sub_(255 * mean_t).div_(255 * std_t)


def draw_crop_offsets(n: int, pad: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """``(n, 2)`` int64 offsets ``(dy, dx)``, each uniform in ``[0, 2 * pad]``, on the generator's device."""
    device = generator.device if generator is not None else torch.device("cpu")
    return torch.randint(0, 2 * pad + 1, (n, 2), generator=generator, device=device)


def crop_reflect(x: torch.Tensor, offsets: torch.Tensor, pad: int = 4) -> torch.Tensor:
    """Reflect-pad each image by ``pad`` pixels, then crop it back to ``H x W`` at its ``offsets[i]``.

    ``out[i] = reflect_pad(x[i])[:, dy : dy + H, dx : dx + W]`` where ``(dy, dx) = offsets[i]``, each in
    ``[0, 2 * pad]``.
    """
    n, c, h, w = x.shape
    if not 0 <= pad < min(h, w):
        raise ValueError(f"pad must be in [0, {min(h, w)}) for {h}x{w} images, got {pad}")
    if tuple(offsets.shape) != (n, 2):
        raise ValueError(f"offsets must have shape ({n}, 2), got {tuple(offsets.shape)}")
    offsets = offsets.to(x.device)
    rows = _reflect_index(h, pad, x.device)[offsets[:, :1] + torch.arange(h, device=x.device)]  # (N, H)
    cols = _reflect_index(w, pad, x.device)[offsets[:, 1:] + torch.arange(w, device=x.device)]  # (N, W)
    batch = torch.arange(n, device=x.device).view(n, 1, 1, 1)
    channel = torch.arange(c, device=x.device).view(1, c, 1, 1)
    return x[batch, channel, rows.view(n, 1, h, 1), cols.view(n, 1, 1, w)]


def random_crop_reflect(x: torch.Tensor, pad: int = 4, generator: torch.Generator | None = None) -> torch.Tensor:
    """:func:`crop_reflect` at a random offset per image."""
    return crop_reflect(x, draw_crop_offsets(len(x), pad, generator), pad)


def draw_flips(n: int, generator: torch.Generator | None = None, p: float = 0.5) -> torch.Tensor:
    """``(n,)`` booleans, each true with probability ``p``, on the generator's device."""
    device = generator.device if generator is not None else torch.device("cpu")
    return torch.rand(n, generator=generator, device=device) < p


def flip_horizontal(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Images with ``mask[i]`` true mirrored left-right; the others unchanged."""
    return torch.where(mask.to(x.device).view(-1, 1, 1, 1), x.flip(-1), x)


def random_flip(x: torch.Tensor, generator: torch.Generator | None = None, p: float = 0.5) -> torch.Tensor:
    """Each image mirrored left-right with probability ``p``."""
    return flip_horizontal(x, draw_flips(len(x), generator, p))


def _reflect_index(size: int, pad: int, device: torch.device) -> torch.Tensor:
    """Source index of each position along a reflect-padded axis: ``pad, ..., 1, 0, 1, ..., size-1, ...``."""
    i = torch.arange(-pad, size + pad, device=device)
    return torch.where(i < 0, -i, torch.where(i >= size, 2 * (size - 1) - i, i))
