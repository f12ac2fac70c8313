"""What the speed benchmark measures: the data, network and budget every measurement shares, the options of
``onecycle train`` it measures beside the default, for the full run and for ``--quick``."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Settings:
    """The budget of every measurement: one training run (``epochs`` of 1cycle at ``max_lr``) and one range test
    (``range_steps`` steps from ``start_lr`` to ``end_lr``), on the same data, network, batch and optimizer, each
    measured ``repeats`` times, interleaved."""

    dataset: str = "fashion-mnist"
    train_subset: int | None = 6_400  # 100 steps of batch 64 a epoch: one epoch is the range test's budget
    test_subset: int | None = 2_000
    augment: str = "crop+flip"  # reflect-pad 4 pixels + random crop, random flip: the peers' per-sample transforms
    model: str = "small-cnn"
    batch_size: int = 64
    epochs: int = 1
    max_lr: float = 0.1  # fixed, so that every loop trains the same budget at the same peak
    weight_decay: float = 5e-4
    momentum: float = 0.9
    range_steps: int = 100
    start_lr: float = 1e-5
    end_lr: float = 10.0
    repeats: int = 5  # interleaved repeats: on a shared machine the median of a few is what is steady
    threads: int = 1  # torch CPU threads of every measurement (each in its own process)
    device: str = "cpu"
    seed: int = 0
    options: tuple[dict[str, Any], ...] = field(default_factory=lambda: OPTIONS)

    def config(self, **changes: Any) -> dict[str, Any]:
        """The :class:`onecycle.config.RunConfig` keys of ``onecycle train`` under these settings, then
        ``changes``."""
        return {"dataset": self.dataset, "train_subset": self.train_subset, "test_subset": self.test_subset,
                "augment": self.augment, "model": self.model, "batch_size": self.batch_size, "epochs": self.epochs,
                "max_lr": self.max_lr, "weight_decay": self.weight_decay, "momentum": self.momentum,
                "start_lr": self.start_lr, "end_lr": self.end_lr, "num_steps": self.range_steps,
                "threads": self.threads, "device": self.device, "seed": self.seed, "download": False,
                "progress": False, **changes}


OPTIONS: tuple[dict[str, Any], ...] = (
    {"optimizer_impl": "foreach"},
    {"optimizer_impl": "fused"},
    {"log_every": 25},
    {"compile": True},
    {"cudnn_benchmark": True},
)
"""The options of ``onecycle train`` measured beside its defaults, each against the same bare loop. A setting that
:class:`onecycle.config.RunConfig` does not have (yet) is skipped with a note, as is one for another device."""

CUDA_ONLY = ("cudnn_benchmark",)
"""Settings that do nothing off a CUDA device: not measured elsewhere."""

FULL = Settings()

QUICK = Settings(dataset="digits", train_subset=128, test_subset=64, batch_size=32, range_steps=6, repeats=1,
                 options=tuple(o for o in OPTIONS if "compile" not in o))
"""A smoke run of seconds: scikit-learn's 8x8 digits (always available), a tiny subset, one repeat, the options but
compile (compiling takes most of a minute on a CPU)."""
