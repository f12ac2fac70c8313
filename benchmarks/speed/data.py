"""The images every measurement trains on, handed to each measurement's process in one file: the dataset's fixed
subsets (or random images of a given shape), their labels, the number of classes and the per-channel mean and std
that normalise them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch


def dataset_images(config: dict[str, Any]) -> dict[str, Any]:
    """The training and test images of the :class:`onecycle.config.RunConfig` keys ``config`` (dataset, subsets,
    seed), loaded by the library as ``onecycle train`` loads them, on the CPU."""
    from onecycle.config import from_dict
    from onecycle.experiment import prepare

    setup = prepare(from_dict({**config, "device": "cpu"}, "the speed benchmark's settings"), say=lambda _: None)
    return {"train_images": setup.train_data.images, "train_labels": setup.train_data.labels,
            "test_images": setup.test_data.images, "test_labels": setup.test_data.labels,
            "num_classes": setup.num_classes, "mean": setup.mean, "std": setup.std}


def random_images(train: int, test: int, shape: tuple[int, ...], classes: int, seed: int = 0) -> dict[str, Any]:
    """``train`` and ``test`` random uint8 images of ``shape`` (C, H, W) with random labels of ``classes``."""
    from onecycle.augment import channel_stats

    generator = torch.Generator().manual_seed(seed)
    images = torch.randint(0, 256, (train + test, *shape), dtype=torch.uint8, generator=generator)
    labels = torch.randint(0, classes, (train + test,), generator=generator)
    mean, std = channel_stats(images[:train])
    return {"train_images": images[:train], "train_labels": labels[:train], "test_images": images[train:],
            "test_labels": labels[train:], "num_classes": classes, "mean": mean, "std": std}


def save(data: dict[str, Any], path: Path) -> None:
    """Write ``data`` to ``path`` (atomically) for the measurements' processes."""
    from onecycle.rundir import atomic_write

    atomic_write(path, lambda f: torch.save(data, f))


def load(path: Path, device: str) -> dict[str, Any]:
    """The data of :func:`save`, its tensors on ``device``."""
    data = torch.load(path, weights_only=True)
    return {k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in data.items()}
