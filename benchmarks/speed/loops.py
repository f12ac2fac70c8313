"""The loops ``onecycle`` is measured against, written as a user would write them with torch alone: the bare
loop (tensors in memory, whole-batch augmentation by :mod:`onecycle.augment`, SGD with momentum and weight decay,
torch's ``OneCycleLR``) and "the loop most users write" (a ``torch.utils.data.DataLoader`` over a ``Dataset``
that crops and flips each image in ``__getitem__``). Both evaluate the test images after each epoch, as
``onecycle train`` does. This module imports only torch and the library's networks and augmentation, so that the
peers' environment can feed the same images to the peers."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

PAD = 4
"""Pixels of reflect padding before a random crop (the library's ``crop``)."""


BARE_OPTIONS = ("optimizer_impl", "compile", "amp", "channels_last", "cudnn_benchmark")
"""The options of ``onecycle train`` that the bare loop applies too (as torch offers them), so that each is
measured against a bare loop that uses it."""


def network(spec: dict[str, Any], data: dict[str, Any]) -> nn.Module:
    """The library's network ``spec["model"]`` for ``data``'s images and classes, initialised from ``spec["seed"]``
    as ``onecycle train`` initialises it, on ``spec["device"]``."""
    from onecycle.models import build_model

    torch.manual_seed(spec["seed"])
    model = build_model(spec["model"], data["train_images"].shape[1], int(data["num_classes"]))
    return model.to(spec["device"])


def sgd(model: nn.Module, spec: dict[str, Any], lr: float, implementation: str = "default") -> torch.optim.SGD:
    """SGD with the settings' momentum and weight decay; ``implementation`` ``"foreach"`` or ``"fused"`` asks
    torch for that one (``"default"``: torch's choice)."""
    chosen = {} if implementation == "default" else {implementation: True}
    return torch.optim.SGD(model.parameters(), lr=lr, momentum=spec["momentum"], weight_decay=spec["weight_decay"],
                           **chosen)


def test_batch_size(spec: dict[str, Any]) -> int:
    """The batch of evaluation: at least 512, as ``onecycle train`` evaluates."""
    return max(spec["batch_size"], 512)


@torch.no_grad()
def accuracy(model: nn.Module, batches: Any) -> float:
    """The fraction of ``batches`` (``(x, y)``) that ``model`` classifies right, in eval mode."""
    model.eval()
    correct = seen = 0
    for x, y in batches:
        correct += int((model(x).argmax(1) == y).sum())
        seen += len(y)
    model.train()
    return correct / seen


# The bare loop: everything in memory, batches augmented whole.

def bare_batches(spec: dict[str, Any], data: dict[str, Any], generator: torch.Generator) -> Iterator[Any]:
    """One epoch of shuffled training batches ``(x, y)`` of full size, augmented as ``spec["augment"]`` says by
    :mod:`onecycle.augment`, normalised by the data's mean and std."""
    from onecycle.augment import normalize, random_crop_reflect, random_flip

    images, labels, size = data["train_images"], data["train_labels"], spec["batch_size"]
    order = torch.randperm(len(images), generator=generator).to(images.device)
    for i in range(len(images) // size):
        index = order[i * size:(i + 1) * size]
        x = images[index]
        if "crop" in spec["augment"]:
            x = random_crop_reflect(x, PAD, generator)
        if "flip" in spec["augment"]:
            x = random_flip(x, generator)
        yield normalize(x, data["mean"], data["std"]), labels[index]


def bare_test_batches(spec: dict[str, Any], data: dict[str, Any]) -> Iterator[Any]:
    """The test images in order, normalised."""
    from onecycle.augment import normalize

    images, labels, size = data["test_images"], data["test_labels"], test_batch_size(spec)
    for i in range(0, len(images), size):
        yield normalize(images[i:i + size], data["mean"], data["std"]), labels[i:i + size]


def bare_train(spec: dict[str, Any], data: dict[str, Any]) -> dict[str, Any]:
    """``spec["epochs"]`` epochs of 1cycle (torch's ``OneCycleLR`` peaking at ``spec["max_lr"]``) in the bare
    loop, the test images evaluated after each; the images and steps trained and the final test accuracy. The
    options in ``spec["options"]`` of :data:`BARE_OPTIONS` apply as torch offers them: ``torch.compile``,
    ``autocast`` (the dtype ``onecycle`` picks), channels-last tensors, SGD's foreach or fused implementation,
    cuDNN's benchmark mode."""
    from onecycle.engine import autocast_dtype

    options = spec.get("options", {})
    torch.backends.cudnn.benchmark = bool(options.get("cudnn_benchmark", False))
    memory = torch.channels_last if options.get("channels_last") else torch.contiguous_format
    model = network(spec, data).to(memory_format=memory)
    optimizer = sgd(model, spec, spec["max_lr"], options.get("optimizer_impl", "default"))
    forward = torch.compile(model) if options.get("compile") else model
    device = torch.device(spec["device"])
    amp = autocast_dtype(device, bool(options.get("amp", False)))
    steps_per_epoch = len(data["train_images"]) // spec["batch_size"]
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, spec["max_lr"],
                                                    total_steps=spec["epochs"] * steps_per_epoch)
    generator = torch.Generator().manual_seed(spec["seed"])
    steps = images = 0
    result = None
    for _ in range(spec["epochs"]):
        for x, y in bare_batches(spec, data, generator):
            with torch.autocast(device.type, dtype=amp, enabled=amp is not None):
                loss = F.cross_entropy(forward(x.contiguous(memory_format=memory)), y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()
            steps, images = steps + 1, images + len(y)
        with torch.autocast(device.type, dtype=amp, enabled=amp is not None):
            result = accuracy(forward, ((x.contiguous(memory_format=memory), y)
                                        for x, y in bare_test_batches(spec, data)))
    return {"images": images, "steps": steps, "accuracy": result}


def bare_steps(spec: dict[str, Any], data: dict[str, Any]) -> dict[str, Any]:
    """``spec["range_steps"]`` training steps of the bare loop at a constant lr (``spec["start_lr"]``), a new
    epoch of batches whenever one runs out: what a range test of that many steps costs without its bookkeeping."""
    model = network(spec, data)
    optimizer = sgd(model, spec, spec["start_lr"])
    generator = torch.Generator().manual_seed(spec["seed"])
    steps = images = 0
    while steps < spec["range_steps"]:
        for x, y in bare_batches(spec, data, generator):
            loss = F.cross_entropy(model(x), y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            steps, images = steps + 1, images + len(y)
            if steps == spec["range_steps"]:
                break
    return {"images": images, "steps": steps}


# The loop most users write: a DataLoader over a Dataset of per-sample transforms.

class PerSampleImages(torch.utils.data.Dataset):
    """The images one at a time, as float ``(C, H, W)`` normalised by ``mean`` and ``std``; with ``augment``
    (``"crop"``, ``"flip"``, ``"crop+flip"``) each is reflect-padded by :data:`PAD` pixels and cropped at a random
    place, and mirrored with probability 1/2, in ``__getitem__`` (torchvision's ``RandomCrop(padding=4,
    padding_mode="reflect")`` and ``RandomHorizontalFlip``, written with torch's own ops)."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, mean: torch.Tensor, std: torch.Tensor,
                 augment: str = "none") -> None:
        self.images, self.labels, self.augment = images, labels, augment
        self.mean, self.std = mean.view(-1, 1, 1), std.view(-1, 1, 1)

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.images[i].float().div(255)
        if "crop" in self.augment:
            h, w = x.shape[-2:]
            padded = F.pad(x.unsqueeze(0), (PAD, PAD, PAD, PAD), mode="reflect").squeeze(0)
            dy, dx = torch.randint(0, 2 * PAD + 1, (2,)).tolist()
            x = padded[:, dy:dy + h, dx:dx + w]
        if "flip" in self.augment and torch.rand(()) < 0.5:
            x = x.flip(-1)
        return (x - self.mean) / self.std, self.labels[i]


def per_sample_loaders(spec: dict[str, Any], data: dict[str, Any]) -> tuple[Any, Any]:
    """The training ``DataLoader`` (shuffled, augmented, full batches only) and the test one (in order), in this
    process (``num_workers=0``: every loop gets the same cores)."""
    from torch.utils.data import DataLoader

    train = PerSampleImages(data["train_images"], data["train_labels"], data["mean"], data["std"], spec["augment"])
    test = PerSampleImages(data["test_images"], data["test_labels"], data["mean"], data["std"])
    return (DataLoader(train, batch_size=spec["batch_size"], shuffle=True, drop_last=True),
            DataLoader(test, batch_size=test_batch_size(spec)))


def typical_train(spec: dict[str, Any], data: dict[str, Any]) -> dict[str, Any]:
    """``spec["epochs"]`` epochs of the loop most users write: the per-sample ``DataLoader``, SGD, torch's
    ``OneCycleLR`` with its defaults, the test images evaluated after each epoch."""
    model = network(spec, data)
    optimizer = sgd(model, spec, spec["max_lr"])
    train, test = per_sample_loaders(spec, data)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, spec["max_lr"], total_steps=spec["epochs"] * len(train))
    steps = images = 0
    result = None
    for _ in range(spec["epochs"]):
        for x, y in train:
            loss = F.cross_entropy(model(x), y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            scheduler.step()
            steps, images = steps + 1, images + len(y)
        result = accuracy(model, test)
    return {"images": images, "steps": steps, "accuracy": result}
