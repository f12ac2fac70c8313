"""Run settings: one dataclass, filled from defaults, then a TOML file, then command-line flags, validated
before any work starts."""

from __future__ import annotations

import dataclasses
import math
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

SCHEDULE_KEYS = ("pct_start", "annihilation_pct", "anneal_strategy", "div_factor", "final_div_factor",
                 "base_momentum", "max_momentum", "cycle_momentum", "three_phase")
"""The settings that are :func:`onecycle.schedules.one_cycle` arguments (same names)."""

DATASETS = ("fashion-mnist", "cifar10", "digits")
OPTIMIZERS = ("sgd", "adamw")
AUGMENTS = ("none", "flip", "crop", "crop+flip")


@dataclass
class RunConfig:
    """Everything a run needs; saved as ``config.json`` in the run directory so it can be rerun."""

    # data
    dataset: str = "fashion-mnist"  # fashion-mnist | cifar10 | digits
    data_dir: str | None = None  # where to look first (then $ONECYCLE_DATA, the cache, system dirs)
    download: bool = True  # fetch (checksum-verified) when the files are not found
    train_subset: int | None = None  # train on this many images (a fixed random subset), None = all
    test_subset: int | None = None  # evaluate on this many images, None = all
    augment: str = "flip"  # none | flip | crop | crop+flip (crop: reflect-pad 4 pixels, random crop)
    # model and optimizer
    model: str = "small-cnn"
    optimizer: str = "sgd"  # sgd | adamw
    batch_size: int = 256
    momentum: float = 0.9  # SGD momentum / Adam beta1 for the range test (1cycle cycles it in training)
    nesterov: bool = False
    weight_decay: float | None = None  # None: the sweep's pick if there is one, else 5e-4 (sgd) / 1e-2 (adamw)
    label_smoothing: float = 0.0
    # 1cycle training
    epochs: int = 4
    max_lr: float | None = None  # None: the range test's recommendation
    pct_start: float | None = None
    annihilation_pct: float | None = None
    anneal_strategy: str = "linear"
    div_factor: float = 10.0
    final_div_factor: float = 100.0
    base_momentum: float = 0.85
    max_momentum: float = 0.95
    cycle_momentum: bool = True
    three_phase: bool = True
    clip_grad_norm: float | None = None
    # range test and sweep
    start_lr: float = 1e-5
    end_lr: float = 10.0
    num_steps: int = 100
    repeats: int = 1
    sweep_param: str = "weight_decay"
    sweep_values: list[float] = field(default_factory=lambda: [1e-3, 1e-4, 1e-5])
    sweep_steps: int | None = None  # range-test steps per sweep value, None = num_steps
    # machine
    device: str = "auto"  # auto | cpu | cuda | mps | cuda:1 ...
    amp: bool = False  # mixed precision (bf16 where supported)
    channels_last: bool = False
    threads: int | None = None  # torch CPU threads, None = torch's default
    seed: int = 0
    progress: bool = True

    def schedule_kwargs(self) -> dict[str, Any]:
        """The :func:`onecycle.schedules.one_cycle` arguments held here."""
        return {k: getattr(self, k) for k in SCHEDULE_KEYS}

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def replace(self, **changes: Any) -> RunConfig:
        return from_dict({**self.to_dict(), **changes})


HELP = {
    "dataset": "fashion-mnist, cifar10 or digits (scikit-learn's 8x8 digits, always available)",
    "data_dir": "directory holding the dataset files (searched before $ONECYCLE_DATA, the cache, system dirs)",
    "download": "download the dataset (checksum-verified) when it is not found",
    "train_subset": "train on a fixed random subset of this many images",
    "test_subset": "evaluate on a fixed random subset of this many images",
    "augment": "none, flip, crop or crop+flip (crop: reflect-pad 4 pixels, then a random crop)",
    "model": "network: small-cnn, resnet20/32/44/56/110, ...",
    "optimizer": "sgd or adamw",
    "batch_size": "images per optimizer step",
    "momentum": "SGD momentum / AdamW beta1 during the range test (1cycle cycles it while training)",
    "nesterov": "Nesterov momentum for SGD",
    "weight_decay": "weight decay (default: the sweep's pick in the run directory, else 5e-4 sgd / 1e-2 adamw)",
    "label_smoothing": "label smoothing of the cross-entropy loss",
    "epochs": "training epochs",
    "max_lr": "peak learning rate (default: the range test's recommendation in the run directory)",
    "pct_start": "fraction of training spent rising to max_lr (default 0.45 with three phases)",
    "annihilation_pct": "alternative to pct_start: the fraction of training spent in annihilation",
    "anneal_strategy": "linear or cos",
    "div_factor": "initial lr = max_lr / div_factor",
    "final_div_factor": "final lr = initial lr / final_div_factor",
    "base_momentum": "lowest momentum (at the lr peak)",
    "max_momentum": "highest momentum (at the start and end)",
    "cycle_momentum": "cycle momentum (SGD) or beta1 (AdamW) opposite to the lr",
    "three_phase": "rise, fall, then annihilation (off: torch's two-phase OneCycleLR)",
    "clip_grad_norm": "clip the gradient norm to this value",
    "start_lr": "range test: first learning rate",
    "end_lr": "range test: last learning rate (extended if the loss has not diverged by then)",
    "num_steps": "range test: steps from start_lr to end_lr",
    "repeats": "range test: repeat over this many seeds and report the spread",
    "sweep_param": "sweep: the hyper-parameter to sweep (weight_decay, momentum)",
    "sweep_values": "sweep: comma-separated values",
    "sweep_steps": "sweep: range-test steps per value (default: num_steps)",
    "device": "auto, cpu, cuda, cuda:N or mps",
    "amp": "mixed precision (bf16 autocast where supported)",
    "channels_last": "channels_last memory format",
    "threads": "torch CPU threads",
    "seed": "random seed (weights, batch order, augmentation)",
    "progress": "progress bars",
}

_CHOICES = {"dataset": DATASETS, "optimizer": OPTIMIZERS, "augment": AUGMENTS,
            "anneal_strategy": ("linear", "cos")}
_POSITIVE = {"batch_size", "epochs", "num_steps", "repeats", "sweep_steps", "max_lr", "start_lr", "end_lr",
             "train_subset", "test_subset", "threads", "clip_grad_norm"}
_UNIT = {"momentum", "base_momentum", "max_momentum", "label_smoothing"}


def _check_type(key: str, value: Any, hint: str) -> Any:
    optional = "None" in hint
    if value is None:
        if optional:
            return None
        raise ValueError(f"{key} must not be empty")
    base = hint.replace(" | None", "")
    if base == "bool":
        if not isinstance(value, bool):
            raise ValueError(f"{key} must be true or false, got {value!r}")
        return value
    if base == "int":
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"{key} must be an integer, got {value!r}")
        return value
    if base == "float":
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise ValueError(f"{key} must be a number, got {value!r}")
        return float(value)
    if base == "str":
        if not isinstance(value, str):
            raise ValueError(f"{key} must be a string, got {value!r}")
        return value
    if base == "list[float]":
        if not isinstance(value, (list, tuple)) or not value:
            raise ValueError(f"{key} must be a non-empty list of numbers, got {value!r}")
        return [_check_type(key, v, "float") for v in value]
    raise AssertionError(hint)  # pragma: no cover


def from_dict(values: dict[str, Any], source: str = "settings") -> RunConfig:
    """A validated :class:`RunConfig`; unknown keys and bad values raise one ``ValueError`` naming them."""
    hints = {f.name: str(f.type) for f in dataclasses.fields(RunConfig)}  # e.g. "float | None"
    unknown = sorted(set(values) - set(hints))
    if unknown:
        raise ValueError(f"unknown key(s) in {source}: {', '.join(unknown)} (valid keys: {', '.join(hints)})")
    clean = {k: _check_type(k, v, hints[k]) for k, v in values.items()}
    cfg = RunConfig(**clean)
    for key, choices in _CHOICES.items():
        if getattr(cfg, key) not in choices:
            raise ValueError(f"{key} must be one of {', '.join(choices)}; got {getattr(cfg, key)!r}")
    for key in _POSITIVE:
        v = getattr(cfg, key)
        if v is not None and v <= 0:
            raise ValueError(f"{key} must be > 0, got {v!r}")
    for key in _UNIT:
        v = getattr(cfg, key)
        if not 0 <= v < 1:
            raise ValueError(f"{key} must be in [0, 1), got {v!r}")
    if cfg.weight_decay is not None and cfg.weight_decay < 0:
        raise ValueError(f"weight_decay must be >= 0, got {cfg.weight_decay!r}")
    if any(v < 0 for v in cfg.sweep_values):
        raise ValueError(f"sweep_values must be >= 0, got {cfg.sweep_values}")
    if cfg.start_lr >= cfg.end_lr:
        raise ValueError(f"start_lr ({cfg.start_lr}) must be below end_lr ({cfg.end_lr})")
    return cfg


def load_toml(path: str | Path) -> dict[str, Any]:
    """The settings in a TOML file (top-level keys, or under a ``[onecycle]`` table)."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise ValueError(f"config file {path} does not exist") from None
    except tomllib.TOMLDecodeError as err:
        raise ValueError(f"config file {path} is not valid TOML: {err}") from None
    return dict(data.get("onecycle", data))


def build_config(toml_path: str | Path | None = None, overrides: dict[str, Any] | None = None) -> RunConfig:
    """Defaults, then the TOML file, then ``overrides`` (command-line flags), validated together."""
    values: dict[str, Any] = {}
    if toml_path is not None:
        file_values = load_toml(toml_path)
        from_dict(file_values, source=str(toml_path))  # report the file's own problems first
        values.update(file_values)
    values.update(overrides or {})
    return from_dict(values)
