"""Models: the CIFAR ResNets of He et al. (2016), a small fast CNN for 28x28 images, and a registry by name.

Every model takes ``(N, in_channels, H, W)`` images with H, W >= 8 and ends in global average pooling and a
linear classifier, so the same network runs on 8x8 digits, 28x28 Fashion-MNIST and 32x32 CIFAR images.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial
from itertools import pairwise
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

Shortcut = Literal["A", "B"]


def _conv3x3(in_channels: int, out_channels: int, stride: int = 1, bias: bool = False) -> nn.Conv2d:
    return nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=bias)


def _init_weights(model: nn.Module) -> None:
    """Kaiming-normal convolutions (fan_out, ReLU gain) with zero biases, BatchNorm as identity; the linear
    classifier keeps torch's default init."""
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)


class PadShortcut(nn.Module):
    """Option A shortcut: subsample by ``stride`` and zero-pad the extra channels; no parameters."""

    def __init__(self, in_channels: int, out_channels: int, stride: int) -> None:
        super().__init__()
        if out_channels < in_channels:
            raise ValueError(f"cannot pad {in_channels} channels down to {out_channels}")
        self.extra = out_channels - in_channels
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x[:, :, :: self.stride, :: self.stride]
        # F.pad pads the last dimensions first: (W left, W right, H top, H bottom, C front, C back).
        return F.pad(x, (0, 0, 0, 0, 0, self.extra))


class BasicBlock(nn.Module):
    """Two 3x3 conv-BN layers with a ReLU between, added to the shortcut, then a ReLU.

    The shortcut is the identity when the shape is kept; otherwise option A (:class:`PadShortcut`) or option B
    (a strided 1x1 convolution and BatchNorm).
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1, shortcut: Shortcut = "A") -> None:
        super().__init__()
        self.conv1 = _conv3x3(in_channels, out_channels, stride)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.conv2 = _conv3x3(out_channels, out_channels)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.shortcut: nn.Module
        if stride == 1 and in_channels == out_channels:
            self.shortcut = nn.Identity()
        elif shortcut == "A":
            self.shortcut = PadShortcut(in_channels, out_channels, stride)
        elif shortcut == "B":
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False), nn.BatchNorm2d(out_channels)
            )
        else:
            raise ValueError(f"shortcut must be 'A' or 'B', got {shortcut!r}")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class CifarResNet(nn.Module):
    """The CIFAR ResNet of He et al. 2016, section 4.2, with ``6 * blocks_per_stage + 2`` weighted layers.

    A 3x3 conv (16 channels) + BN + ReLU, three stages of ``blocks_per_stage`` :class:`BasicBlock` with 16, 32
    and 64 channels (the second and third start with stride 2), global average pooling and a linear layer.

    ``shortcut="A"`` (the paper's CIFAR choice, the default) makes the downsampling shortcuts parameter-free:
    stride-2 subsampling plus zero channels. ``"B"`` uses 1x1 projections, adding two conv+BN layers
    (512 + 64 and 2,048 + 128 parameters) that are not counted in the depth.
    """

    def __init__(
        self, blocks_per_stage: int, in_channels: int = 3, num_classes: int = 10, shortcut: Shortcut = "A"
    ) -> None:
        super().__init__()
        if blocks_per_stage < 1:
            raise ValueError(f"blocks_per_stage must be >= 1, got {blocks_per_stage}")
        self.depth = 6 * blocks_per_stage + 2
        self.stem = nn.Sequential(_conv3x3(in_channels, 16), nn.BatchNorm2d(16), nn.ReLU(inplace=True))
        stages: list[nn.Module] = []
        channels = 16
        for width, stride in ((16, 1), (32, 2), (64, 2)):
            blocks = [BasicBlock(channels, width, stride, shortcut)]
            blocks += [BasicBlock(width, width, 1, shortcut) for _ in range(blocks_per_stage - 1)]
            stages.append(nn.Sequential(*blocks))
            channels = width
        self.stages = nn.Sequential(*stages)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(channels, num_classes)
        _init_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stages(self.stem(x))
        return self.fc(torch.flatten(self.pool(x), 1))


def resnet(depth: int, in_channels: int = 3, num_classes: int = 10, shortcut: Shortcut = "A") -> CifarResNet:
    """The CIFAR ResNet of the given depth: 20, 32, 44, 56, 110, or any other ``6n + 2``."""
    if depth < 8 or (depth - 2) % 6:
        raise ValueError(f"CIFAR ResNet depth must be 6n + 2 with n >= 1, got {depth}")
    return CifarResNet((depth - 2) // 6, in_channels, num_classes, shortcut)


class SmallCNN(nn.Module):
    """A plain four-layer CNN for 28x28 grayscale images: 92-93% on Fashion-MNIST in 4-5 epochs of 1cycle.

    That is 100-150 s on two CPU cores (about 2,000-2,500 images/s training with batches of 256 in
    ``channels_last`` memory format, which is ~30% faster than contiguous here).

    Four 3x3 conv-BN-ReLU layers, each followed by 2x2 max-pooling except the last; global average pooling and
    a linear classifier. On 28x28 inputs the four convs run at 28, 14, 7 and 3 pixels square: each doubling of
    channels comes with a 4x cut in positions, so the net costs about 10 M multiply-adds per image (0.2 M, 3.6 M,
    3.6 M, 2.7 M) while its widest layers see the coarse features.
    With the default ``widths=(32, 64, 128, 256)``, one input channel and 10 classes it has 390,890 parameters:
    convs 288 + 18,432 + 73,728 + 294,912, BatchNorm 2 x 480, linear 2,570.

    ``batch_norm=False`` drops the BatchNorm layers and gives the convs biases instead (a net whose usable
    learning rates are far narrower, for comparisons).
    """

    def __init__(
        self,
        in_channels: int = 1,
        num_classes: int = 10,
        widths: Sequence[int] = (32, 64, 128, 256),
        batch_norm: bool = True,
    ) -> None:
        super().__init__()
        if not widths:
            raise ValueError("widths must not be empty")
        layers: list[nn.Module] = []
        channels = in_channels
        for i, width in enumerate(widths):
            layers.append(_conv3x3(channels, width, bias=not batch_norm))
            if batch_norm:
                layers.append(nn.BatchNorm2d(width))
            layers.append(nn.ReLU(inplace=True))
            if i < len(widths) - 1:
                layers.append(nn.MaxPool2d(2))
            channels = width
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(channels, num_classes)
        _init_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.features(x)
        return self.fc(torch.flatten(self.pool(x), 1))


class ResNet9(nn.Module):
    """A ResNet-9 in the shape of Page's DAWNBench CIFAR-10 network, narrowed to train on a CPU.

    A 3x3 conv-BN-ReLU stem (``widths[0]`` channels); three layers, each a 3x3 conv-BN-ReLU to ``widths[i]``
    channels followed by 2x2 max-pooling, the first and the last of them followed by a residual block (two 3x3
    conv-BN-ReLU layers added to their input); global average pooling and a linear classifier: 8 convolutions and
    the linear layer. On 28x28 inputs the layers run at 28 (stem), 14, 7 and 3 pixels square.
    With the default ``widths=(16, 32, 64, 128)``, one input channel and 10 classes it has 412,666 parameters:
    convs 144 + 4,608 + 2 x 9,216 + 18,432 + 73,728 + 2 x 147,456, BatchNorm 2 x 560, linear 1,290; about 17 M
    multiply-adds per image on 28x28 inputs (SmallCNN's 10 M, at nearly the same parameters).
    """

    def __init__(self, in_channels: int = 1, num_classes: int = 10, widths: Sequence[int] = (16, 32, 64, 128)) -> None:
        super().__init__()
        if len(widths) != 4 or any(w < 1 for w in widths):
            raise ValueError(f"widths must be 4 positive channel counts (stem, three layers), got {tuple(widths)}")
        stem, *layers = widths
        self.stem = _conv_bn_relu(in_channels, stem)
        self.layers = nn.Sequential(*(
            nn.Sequential(_conv_bn_relu(a, b), nn.MaxPool2d(2), *([_Residual(b)] if i != 1 else []))
            for i, (a, b) in enumerate(pairwise((stem, *layers)))))
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(layers[-1], num_classes)
        _init_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.layers(self.stem(x))
        return self.fc(torch.flatten(self.pool(x), 1))


def _conv_bn_relu(in_channels: int, out_channels: int) -> nn.Sequential:
    return nn.Sequential(_conv3x3(in_channels, out_channels), nn.BatchNorm2d(out_channels), nn.ReLU(inplace=True))


class _Residual(nn.Module):
    """``x + f(x)``, ``f`` two 3x3 conv-BN-ReLU layers that keep the channels (ResNet-9's residual block)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.body = nn.Sequential(_conv_bn_relu(channels, channels), _conv_bn_relu(channels, channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class MLP(nn.Module):
    """A multi-layer perceptron on the image resized to ``side x side`` pixels (adaptive average pooling, so one
    network serves 8x8 digits, 28x28 Fashion-MNIST and 32x32 CIFAR images; 28x28 images pass unchanged).

    Linear-ReLU layers of the given ``hidden`` widths, then a linear classifier; torch's default init. With the
    defaults, one input channel and 10 classes it has 269,322 parameters: (784 + 1) x 256, (256 + 1) x 256 and
    (256 + 1) x 10.
    """

    def __init__(
        self, in_channels: int = 1, num_classes: int = 10, hidden: Sequence[int] = (256, 256), side: int = 28
    ) -> None:
        super().__init__()
        if side < 1 or any(h < 1 for h in hidden):
            raise ValueError(f"side and hidden widths must be >= 1, got side={side}, hidden={tuple(hidden)}")
        self.pool = nn.AdaptiveAvgPool2d(side)
        layers: list[nn.Module] = []
        features = in_channels * side * side
        for width in hidden:
            layers += [nn.Linear(features, width), nn.ReLU(inplace=True)]
            features = width
        layers.append(nn.Linear(features, num_classes))
        self.layers = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(torch.flatten(self.pool(x), 1))


MODELS: dict[str, Callable[..., nn.Module]] = {
    **{f"resnet{depth}": partial(resnet, depth) for depth in (20, 32, 44, 56, 110)},
    "resnet56-b": partial(resnet, 56, shortcut="B"),  # the 1cycle article's (onecycle reproduce)
    "small-cnn": SmallCNN,
    "small-cnn-nobn": partial(SmallCNN, batch_norm=False),
    "resnet9": ResNet9,
    "mlp": MLP,
}
"""Model factories by name; each takes ``in_channels`` and ``num_classes`` plus its own keyword arguments.
The ``resnetN`` have He et al.'s parameter-free option-A shortcuts; ``resnet56-b`` has option-B projections, as the
ResNet-56 of the 1cycle article's notebook (any depth: ``build_model("resnet20", 3, 10, shortcut="B")``)."""


def build_model(name: str, in_channels: int, num_classes: int, **kw: object) -> nn.Module:
    """The model registered as ``name`` in :data:`MODELS`, e.g. ``build_model("resnet20", 3, 10)``."""
    try:
        factory = MODELS[name]
    except KeyError:
        raise ValueError(f"unknown model {name!r}; valid names: {', '.join(MODELS)}") from None
    return factory(in_channels=in_channels, num_classes=num_classes, **kw)
