"""From a :class:`~onecycle.config.RunConfig` to data, model and optimizer, and the three jobs of a run
directory: the range test, the sweep and 1cycle training. The CLI commands are thin wrappers over these."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from onecycle import rundir
from onecycle.augment import channel_stats
from onecycle.config import RunConfig
from onecycle.datasets import ImageData, load_dataset
from onecycle.engine import TrainState, autocast_dtype, pick_device, train, train_time
from onecycle.loader import Batches
from onecycle.models import build_model
from onecycle.plots import plot_schedule
from onecycle.range_test import RangeTestResult, range_test
from onecycle.scheduler import OneCycleScheduler
from onecycle.sweep import SweepResult, sweep

log = logging.getLogger("onecycle")

DEFAULT_WEIGHT_DECAY = {"sgd": 5e-4, "adamw": 1e-2}


@dataclass
class Setup:
    """The data and the device of a run, loaded once and shared by its jobs."""

    cfg: RunConfig
    device: torch.device
    train_data: ImageData
    test_data: ImageData
    mean: torch.Tensor
    std: torch.Tensor

    @property
    def in_channels(self) -> int:
        return int(self.train_data.images.shape[1])

    @property
    def num_classes(self) -> int:
        return len(self.train_data.classes)

    def batches(self, train: bool = True, seed_offset: int = 0) -> Batches:
        """Training batches (shuffled, augmented) or test batches (fixed order, no augmentation)."""
        cfg = self.cfg
        aug = cfg.augment if train else "none"
        return Batches(
            self.train_data if train else self.test_data,
            cfg.batch_size if train else max(cfg.batch_size, 512),
            shuffle=train,
            drop_last=train and len(self.train_data) >= 2 * cfg.batch_size,
            crop="crop" in aug,
            flip="flip" in aug,
            mean=self.mean,
            std=self.std,
            channels_last=cfg.channels_last,
            seed=cfg.seed + seed_offset,
        )

    def model(self) -> nn.Module:
        """A freshly initialised model (seeded by ``cfg.seed``) on the device."""
        torch.manual_seed(self.cfg.seed)
        model = build_model(self.cfg.model, self.in_channels, self.num_classes).to(self.device)
        if self.cfg.channels_last:
            model = model.to(memory_format=torch.channels_last)
        return model

    def optimizer(self, model: nn.Module, lr: float, weight_decay: float) -> torch.optim.Optimizer:
        cfg = self.cfg
        if cfg.optimizer == "sgd":
            return torch.optim.SGD(model.parameters(), lr=lr, momentum=cfg.momentum, nesterov=cfg.nesterov,
                                   weight_decay=weight_decay)
        return torch.optim.AdamW(model.parameters(), lr=lr, betas=(cfg.momentum, 0.999), weight_decay=weight_decay)

    @property
    def amp_dtype(self) -> torch.dtype | None:
        return autocast_dtype(self.device, self.cfg.amp)

    def loss_fn(self) -> Any:
        smoothing = self.cfg.label_smoothing

        def loss(out: torch.Tensor, y: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
            return F.cross_entropy(out, y, label_smoothing=smoothing, reduction=reduction)

        return loss


def prepare(cfg: RunConfig) -> Setup:
    """Load the dataset onto the device (subsets as configured) and compute normalisation statistics."""
    if cfg.threads is not None:
        torch.set_num_threads(cfg.threads)
    device = pick_device(cfg.device)
    train_data, test_data = load_dataset(cfg.dataset, cfg.data_dir, cfg.download)
    train_data = _subset(train_data, cfg.train_subset, "train_subset", cfg.seed)
    test_data = _subset(test_data, cfg.test_subset, "test_subset", cfg.seed)
    mean, std = channel_stats(train_data.images)
    return Setup(cfg, device, train_data.to(device), test_data.to(device), mean.to(device), std.to(device))


def _subset(data: ImageData, size: int | None, name: str, seed: int) -> ImageData:
    """A fixed random subset of ``size`` images; all of them (with a warning when more were asked for) when the
    dataset has no more than ``size``."""
    if size is None or size >= len(data):
        if size is not None and size > len(data):
            log.warning("%s %d > %d images in %s: using all", name, size, len(data), data.name or "the dataset")
        return data
    return data.subset(size, seed=seed)


def weight_decay_for(cfg: RunConfig, run_dir: Path) -> tuple[float, str]:
    """The weight decay to use and where it came from: the config, a sweep in ``run_dir``, or the default."""
    if cfg.weight_decay is not None:
        return cfg.weight_decay, "config"
    sweep_file = run_dir / rundir.SWEEP_JSON
    if sweep_file.exists():
        result = SweepResult.load_json(sweep_file)
        if result.param == "weight_decay" and result.pick is not None:
            return float(result.pick), "sweep"
    return DEFAULT_WEIGHT_DECAY[cfg.optimizer], "default"


def find_lr(setup: Setup, run_dir: Path, weight_decay: float | None = None) -> RangeTestResult:
    """Run the range test under the training conditions; write finder.json/.csv and finder.png."""
    cfg = setup.cfg
    wd = weight_decay if weight_decay is not None else weight_decay_for(cfg, run_dir)[0]
    model = setup.model()
    result = range_test(
        model, setup.optimizer(model, cfg.start_lr, wd), setup.batches(), setup.loss_fn(),
        start_lr=cfg.start_lr, end_lr=cfg.end_lr, num_steps=cfg.num_steps, repeats=cfg.repeats, seed=cfg.seed,
        amp_dtype=setup.amp_dtype, div_factor=cfg.div_factor, progress=cfg.progress,
    )
    result.settings["weight_decay"] = wd
    run_dir.mkdir(parents=True, exist_ok=True)
    result.save_json(run_dir / rundir.FINDER_JSON)
    result.to_csv(run_dir / "finder.csv")
    result.plot(run_dir / "finder.png")
    return result


def run_sweep(setup: Setup, run_dir: Path) -> SweepResult:
    """A range test per value of ``cfg.sweep_param``; write sweep.json and sweep.png."""
    cfg = setup.cfg
    model = setup.model()
    wd = weight_decay_for(cfg, run_dir)[0] if cfg.sweep_param != "weight_decay" else 0.0
    result = sweep(
        cfg.sweep_param, cfg.sweep_values, model, setup.optimizer(model, cfg.start_lr, wd), setup.batches(),
        setup.loss_fn(), seed=cfg.seed, start_lr=cfg.start_lr, end_lr=cfg.end_lr,
        num_steps=cfg.sweep_steps or cfg.num_steps, amp_dtype=setup.amp_dtype, div_factor=cfg.div_factor,
        progress=cfg.progress,
    )
    run_dir.mkdir(parents=True, exist_ok=True)
    result.save_json(run_dir / rundir.SWEEP_JSON)
    result.plot(run_dir / "sweep.png")
    return result


def max_lr_for(cfg: RunConfig, run_dir: Path) -> tuple[float | None, str]:
    """The max_lr to use and where it came from: the config or a range test in ``run_dir``."""
    if cfg.max_lr is not None:
        return cfg.max_lr, "config"
    finder = run_dir / rundir.FINDER_JSON
    if finder.exists():
        lr = RangeTestResult.load_json(finder).max_lr
        if lr is not None:
            return lr, "range test"
    return None, "none"


def train_run(setup: Setup, run_dir: Path, max_lr: float, weight_decay: float, resume: bool = False,
              extra_hooks: Sequence[Any] = ()) -> TrainState:
    """1cycle training into ``run_dir``: config.json, metrics, checkpoint.pt each epoch, schedule.png."""
    cfg = setup.cfg
    run_dir.mkdir(parents=True, exist_ok=True)
    data = setup.batches()
    model = setup.model()
    optimizer = setup.optimizer(model, max_lr, weight_decay)
    scheduler = OneCycleScheduler(optimizer, max_lr=max_lr, epochs=cfg.epochs, steps_per_epoch=len(data),
                                  **cfg.schedule_kwargs())
    state = TrainState(model, optimizer, scheduler, data, cfg.epochs)
    checkpoint = run_dir / rundir.CHECKPOINT
    if resume and checkpoint.exists():
        rundir.load_checkpoint(checkpoint, state)
        rundir.truncate_metrics(run_dir, state.epoch)
        log.info("resuming from %s at epoch %d", checkpoint, state.epoch)
    else:
        for name in (rundir.METRICS_JSONL, rundir.METRICS_CSV, rundir.STEPS_CSV):
            (run_dir / name).unlink(missing_ok=True)
    rundir.write_json(run_dir / rundir.CONFIG, {**cfg.to_dict(), "resolved": {
        "max_lr": max_lr, "weight_decay": weight_decay, "device": str(setup.device),
        "steps_per_epoch": len(data), "total_steps": cfg.epochs * len(data)}})
    plot_schedule(scheduler.cycles[0], out=run_dir / "schedule.png")
    hooks: list[Any] = [rundir.MetricsHook(run_dir), rundir.CheckpointHook(run_dir), *extra_hooks]
    with contextlib.suppress(ImportError):
        hooks.append(rundir.TensorBoardHook(run_dir))
    train(state, loss_fn=setup.loss_fn(), val_data=setup.batches(train=False), hooks=hooks,
          amp_dtype=setup.amp_dtype, clip_grad_norm=cfg.clip_grad_norm, progress=cfg.progress)
    summary = {"epochs_completed": state.epoch, "steps": state.step, "stopped": state.stopped,
               "train_time_s": train_time(state.history), "final": state.history[-1] if state.history else None}
    rundir.write_json(run_dir / "summary.json", summary)
    return state
