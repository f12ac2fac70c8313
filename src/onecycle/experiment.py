"""From a :class:`~onecycle.config.RunConfig` to data, model and optimizer, and the three jobs of a run directory: the
range test, the sweep and training (1cycle or a baseline schedule). :func:`resolve` chains them (sweep, then range test,
then training), reusing a result only when it was measured under the same settings; :func:`resume_settings` gives the
saved run that ``--resume`` continues. The CLI commands are thin wrappers over these."""

from __future__ import annotations

import contextlib
import logging
import shlex
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from onecycle import distributed, records, rundir
from onecycle.augment import channel_stats
from onecycle.config import FIELDS, OPTIMIZER_IMPLS, ConfigError, RunConfig, check_each, from_dict
from onecycle.datasets import LAYOUTS, DatasetError, ImageData, load_dataset
from onecycle.engine import (
    DIVERGENCE_WARMUP,
    FINAL_LOSSES,
    TrainState,
    autocast_dtype,
    losses_above_start,
    pick_device,
    train,
    train_time,
)
from onecycle.guard import RunDirError, check_fresh, locked
from onecycle.interrupt import StopRequest
from onecycle.loader import Batches, num_batches
from onecycle.models import build_model
from onecycle.plots import plot_schedule
from onecycle.probe import candidates_below, probe, steps_per_candidate
from onecycle.range_test import RANGE_TEST, RangeTestResult, range_test
from onecycle.retry import RetryOnDivergence
from onecycle.scheduler import PolicyScheduler
from onecycle.schedules import policy
from onecycle.suggestions import COLLAPSE_DROP, first_collapse
from onecycle.sweep import SWEEPABLE, SweepResult, sweep

log = logging.getLogger("onecycle")

DEFAULT_WEIGHT_DECAY = {"sgd": 5e-4, "adamw": 1e-2}


@dataclass
class Setup:
    """The data and the device of a run, loaded once and shared by its jobs (and the warnings they gave: each is
    shown once, see :meth:`warn`)."""

    cfg: RunConfig
    device: torch.device
    train_data: ImageData
    test_data: ImageData
    mean: torch.Tensor
    std: torch.Tensor
    warned: set[str] = field(default_factory=set)

    def warn(self, warning: str) -> None:
        """Log ``warning`` unless a job of this setup has already shown it (``train --auto`` warns of a run too
        short before it measures anything; training that follows does not say it again)."""
        if warning not in self.warned:
            self.warned.add(warning)
            log.warning("warning: %s", warning)

    @property
    def in_channels(self) -> int:
        return int(self.train_data.images.shape[1])

    @property
    def num_classes(self) -> int:
        return len(self.train_data.classes)

    def batches(self, train: bool = True, seed_offset: int = 0) -> Batches:
        """Training batches (shuffled, augmented) or test batches (fixed order, no augmentation); under
        data-parallel training, this process's shard of them (:class:`~onecycle.loader.Batches`)."""
        cfg = self.cfg
        aug = cfg.augment if train else "none"
        return Batches(
            self.train_data if train else self.test_data,
            cfg.batch_size if train else max(cfg.batch_size, 512),
            shuffle=train,
            drop_last=train and drops_last(len(self.train_data), global_batch(cfg)),
            crop="crop" in aug,
            flip="flip" in aug,
            mean=self.mean,
            std=self.std,
            channels_last=cfg.channels_last,
            seed=cfg.seed + seed_offset,
            rank=distributed.rank(),
            world_size=distributed.world_size(),
        )

    def model(self) -> nn.Module:
        """A freshly initialised model (seeded by ``cfg.seed``) on the device; under data-parallel training, in
        ``DistributedDataParallel`` (:func:`onecycle.distributed.wrap`, with ``sync_batchnorm``)."""
        torch.manual_seed(self.cfg.seed)
        model = build_model(self.cfg.model, self.in_channels, self.num_classes).to(self.device)
        if self.cfg.channels_last:
            model = model.to(memory_format=torch.channels_last)
        return distributed.wrap(model, self.cfg.sync_batchnorm)

    def optimizer(self, model: nn.Module, lr: float, weight_decay: float) -> torch.optim.Optimizer:
        """The optimizer of the settings (``optimizer``, ``momentum``, ``nesterov``, ``optimizer_impl``) over
        ``model``'s parameters; an implementation torch has not for them is a :class:`ConfigError`."""
        return optimizer_for(self.cfg, model.parameters(), lr, weight_decay)

    @property
    def amp_dtype(self) -> torch.dtype | None:
        return autocast_dtype(self.device, self.cfg.amp)

    def loss_fn(self) -> Any:
        smoothing = self.cfg.label_smoothing

        def loss(out: torch.Tensor, y: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
            return F.cross_entropy(out, y, label_smoothing=smoothing, reduction=reduction)

        return loss


def optimizer_for(cfg: RunConfig, parameters: Iterable[torch.Tensor], lr: float,
                  weight_decay: float) -> torch.optim.Optimizer:
    """The optimizer of ``cfg`` over ``parameters`` (see :meth:`Setup.optimizer`)."""
    impl, params = OPTIMIZER_IMPLS[cfg.optimizer_impl], list(parameters)
    try:
        if cfg.optimizer == "sgd":
            return torch.optim.SGD(params, lr=lr, momentum=cfg.momentum, nesterov=cfg.nesterov,
                                   weight_decay=weight_decay, **impl)
        return torch.optim.AdamW(params, lr=lr, betas=(cfg.momentum, 0.999), weight_decay=weight_decay, **impl)
    except (RuntimeError, ValueError) as err:
        if not impl:
            raise
        reason, where = " ".join(str(err).split()), {str(p.device) for p in params}
        raise ConfigError(f"optimizer_impl {cfg.optimizer_impl}: torch {torch.__version__} has no {cfg.optimizer_impl} "
                          f"{cfg.optimizer} on {', '.join(sorted(where))} ({reason}); use optimizer_impl default"
                          ) from None


def check_optimizer_impl(cfg: RunConfig, device: torch.device) -> None:
    """Raise a :class:`ConfigError` naming ``optimizer_impl`` unless torch has that implementation of ``cfg``'s
    optimizer on ``device`` (checked on one parameter, before any data is read)."""
    if OPTIMIZER_IMPLS[cfg.optimizer_impl]:
        optimizer_for(cfg, [torch.zeros(1, device=device, requires_grad=True)], 1e-3, 0.0)


def _use_machine(cfg: RunConfig) -> None:
    """The process-wide settings of a run: torch's CPU threads and cuDNN's algorithm search."""
    if cfg.threads is not None:
        torch.set_num_threads(cfg.threads)
    torch.backends.cudnn.benchmark = cfg.cudnn_benchmark


def drops_last(num_images: int, batch_size: int) -> bool:
    """Whether training drops the last, partial batch of an epoch: when the images make two full ones or more."""
    return num_images >= 2 * batch_size


def global_batch(cfg: RunConfig) -> int:
    """Images per optimizer step: ``batch_size`` (each process's) x the processes of data-parallel training."""
    return cfg.batch_size * distributed.world_size()


def steps_in_epoch(cfg: RunConfig, images: int) -> int:
    """Optimizer steps per epoch over ``images`` training images at the global batch (:func:`global_batch`)."""
    return num_batches(images, global_batch(cfg), drops_last(images, global_batch(cfg)))


def prepare(cfg: RunConfig, say: Callable[[str], None] = print) -> Setup:
    """Load the dataset onto the device (subsets as configured) and compute normalisation statistics, once the
    machine settings are made (:func:`_use_machine`) and ``optimizer_impl`` is checked on the device. ``say``
    receives where the data was read from (shown even when quiet: the search may have found any copy)."""
    _use_machine(cfg)
    device = pick_device(cfg.device)
    check_optimizer_impl(cfg, device)
    check_processes(cfg, device)
    full_train, full_test = _load_once_per_machine(cfg)
    for split, data in (("training", full_train), ("test", full_test)):
        if len(data) == 0:  # the readers refuse empty files; other sources are checked here, before training
            raise DatasetError(f"{cfg.dataset} from {data.source}: the {split} set is empty")
    train_data = _subset(full_train, cfg.train_subset, "train_subset", cfg.seed)
    test_data = _subset(full_test, cfg.test_subset, "test_subset", cfg.seed)
    used = [f"{len(part)}{f' of {len(full)}' if len(part) < len(full) else ''} {split}"
            for part, full, split in ((train_data, full_train, "training"), (test_data, full_test, "test"))]
    say(f"data: {cfg.dataset} from {train_data.source} ({', '.join(used)} images)")
    processes = distributed.world_size()
    if processes > 1 and len(train_data) < 2 * global_batch(cfg):
        subset = f" (train_subset {cfg.train_subset})" if len(train_data) < len(full_train) else ""
        raise ConfigError(f"batch_size {cfg.batch_size} on each of {processes} processes is a global batch of "
                          f"{global_batch(cfg)}, and the {len(train_data)} training images of {cfg.dataset}{subset} "
                          "do not make the two full global batches data-parallel training needs (every process "
                          f"takes a full batch at every step); use a batch_size of at most "
                          f"{len(train_data) // (2 * processes)} or fewer processes")
    if cfg.batch_size > len(train_data):
        subset = f" (train_subset {cfg.train_subset})" if len(train_data) < len(full_train) else ""
        raise ConfigError(f"batch_size {cfg.batch_size} is larger than the {len(train_data)} training images of "
                          f"{cfg.dataset}{subset}: each step would take all of them, a batch of {len(train_data)}, "
                          f"not {cfg.batch_size}; use a batch_size of at most {len(train_data)}")
    low, high = train_data.images.transpose(0, 1).flatten(1).aminmax(dim=1)
    flat = [c for c in range(len(low)) if low[c] == high[c]]
    if flat:
        subset = f" (train_subset {cfg.train_subset})" if cfg.train_subset is not None else ""
        raise DatasetError(f"{cfg.dataset} from {train_data.source}: the training images{subset} have zero variance "
                           f"(every pixel of channel {flat[0]} is {int(low[flat[0]])}), so normalising them by their "
                           "standard deviation would divide by zero: the files are damaged or not this dataset")
    mean, std = channel_stats(train_data.images)
    return Setup(cfg, device, train_data.to(device), test_data.to(device), mean.to(device), std.to(device))


def check_processes(cfg: RunConfig, device: torch.device) -> None:
    """Raise a :class:`ConfigError` for settings data-parallel training cannot honour on ``device``:
    ``sync_batchnorm`` anywhere but on CUDA (torch's SyncBatchNorm runs on GPUs only)."""
    if cfg.sync_batchnorm and distributed.active() and device.type != "cuda":
        raise ConfigError(f"sync_batchnorm needs CUDA devices (torch's SyncBatchNorm runs on GPUs only), and these "
                          f"processes train on {device.type}; leave it out: each process then normalises by its own "
                          "batch's statistics")


def _load_once_per_machine(cfg: RunConfig) -> tuple[ImageData, ImageData]:
    """The dataset of ``cfg`` (downloaded when missing and allowed): under data-parallel training the first process
    of each machine reads it (and downloads it) first, then the others, so that no two write the same files."""
    if not distributed.active():
        return load_dataset(cfg.dataset, cfg.data_dir, cfg.download)
    first = distributed.local_rank() == 0
    loaded = load_dataset(cfg.dataset, cfg.data_dir, cfg.download) if first else None
    distributed.barrier()
    return loaded or load_dataset(cfg.dataset, cfg.data_dir, cfg.download)


def _subset(data: ImageData, size: int | None, name: str, seed: int) -> ImageData:
    """A fixed random subset of ``size`` images; all of them (with a warning when more were asked for) when the
    dataset has no more than ``size``."""
    if size is None or size >= len(data):
        if size is not None and size > len(data):
            log.warning("%s %d > %d images in %s: using all", name, size, len(data), data.name or "the dataset")
        return data
    return data.subset(size, seed=seed)


CONDITIONS = ("dataset", "train_subset", "augment", "model", "optimizer", "batch_size", "momentum", "nesterov",
              "label_smoothing", "amp", "channels_last", "seed", "world_size", "sync_batchnorm")
"""The settings that make a range test see what training will see (with the weight decay): finder.json and
sweep.json record them and are reused only under the same values. How a test measures (start_lr, end_lr,
num_steps, repeats, the swept values) is recorded too but does not make its result stale.

The training schedule is not among them: a range test trains at each learning rate for a few steps under the
optimizer's own settings, whatever schedule follows, so one test serves 1cycle and the baselines alike (its
recommendation is how max_lr is chosen for every schedule). The stability probe does train the schedule, so
:func:`finder_conditions` adds it when the probe ran.

Nor are the settings of how fast a run goes: ``log_every`` (how often training reads its loss) and, on CPU,
``cudnn_benchmark`` change no number; ``compile`` applies to training only (the range test runs uncompiled); and
``optimizer_impl`` (foreach and fused kernels) and cuDNN's choice of algorithm round differently in the last bits, as
another device does (the device is no condition either), which moves no recommendation read off a smoothed curve."""


LATER_CONDITIONS = {"world_size": 1, "sync_batchnorm": False}
"""The :data:`CONDITIONS` added after results were first recorded, with the value a result that does not record one
was measured under: one process, each normalising by its own batch."""


def range_test_conditions(cfg: RunConfig, weight_decay: float, swept: str | None = None) -> dict[str, Any]:
    """The :data:`CONDITIONS` of ``cfg`` and the weight decay, leaving out the setting a sweep varies (``swept``):
    ``world_size`` is the number of processes training together (``batch_size`` being each one's)."""
    launch = {"world_size": distributed.world_size()}
    conditions = {k: launch[k] if k in launch else getattr(cfg, k) for k in CONDITIONS if k != swept}
    if swept != "weight_decay":
        conditions["weight_decay"] = weight_decay
    return conditions


class StaleResult(ValueError):
    """A result in the run directory was measured under other settings than the ones asked for now."""

    def __init__(self, path: Path, differences: list[str], advice: str) -> None:
        self.path, self.differences, self.advice = path, differences, advice
        super().__init__(f"{self.reason}; {advice}")

    @property
    def reason(self) -> str:
        if not self.differences:
            return f"{self.path} does not record the settings it was measured under (an older version wrote it)"
        return f"{self.path} was measured under other settings: {', '.join(self.differences)}"


def _check_conditions(path: Path, recorded: dict[str, Any], wanted: dict[str, Any], advice: str) -> None:
    """Raise :class:`StaleResult` unless ``recorded`` holds every key of ``wanted`` with the same value; a recorded
    value that is no value of its setting (``"batch_size": "64"``) is a ``ValueError`` naming the file and the key:
    the file is damaged, not measured under other settings."""
    recorded = {**LATER_CONDITIONS, **recorded}
    if any(k not in recorded for k in wanted):
        raise StaleResult(path, [], advice)
    try:
        check_each({k: recorded[k] for k in wanted if k in FIELDS})
    except ConfigError as err:
        raise ValueError(f"{path} is damaged: settings.{err}") from None
    processes = recorded.get("world_size")
    if "world_size" in wanted and not (isinstance(processes, int) and not isinstance(processes, bool)
                                       and processes >= 1):
        raise ValueError(f"{path} is damaged: settings.world_size must be an integer >= 1, got "
                         f"{records.shown(processes)}")
    differences = _differences(recorded, wanted)
    if differences:
        raise StaleResult(path, differences, advice)


def fresh_sweep(cfg: RunConfig, run_dir: Path) -> SweepResult | None:
    """The weight-decay sweep in ``run_dir`` if there is one; :class:`StaleResult` if it was measured under
    other settings."""
    path = run_dir / rundir.SWEEP_JSON
    if not path.exists():
        return None
    result = SweepResult.load_json(path, SWEEPABLE)
    if result.param != "weight_decay":
        return None
    _check_conditions(path, result.settings, range_test_conditions(cfg, 0.0, swept=result.param),
                      f"run `{distributed.launched_as(f'onecycle sweep --run-dir {run_dir}')}` with these settings "
                      "or pass --weight-decay")
    if result.pick is not None:
        _check_usable(path, "pick", "weight_decay", result.pick)
    return result


def finder_conditions(cfg: RunConfig, weight_decay: float) -> dict[str, Any]:
    """What finder.json must have been measured under: the :func:`range_test_conditions`, whether the stability
    probe ran (``verify``) and, when it did, what it depends on: the planned epochs and the schedule it trains
    (its name and settings)."""
    conditions = {**range_test_conditions(cfg, weight_decay), "verify": cfg.verify}
    if cfg.verify:
        conditions.update(_probe_conditions(cfg))
    return conditions


def fresh_finder(cfg: RunConfig, run_dir: Path, weight_decay: float,
                 say: Callable[[str], None] | None = None) -> RangeTestResult | None:
    """The range test in ``run_dir`` if there is one; :class:`StaleResult` if it was measured under other
    settings (the weight decay among them). One with the stability probe serves ``cfg`` with or without
    ``verify`` (its ``max_lr`` is the probe's pick) when the probe trained the schedule of ``cfg``; when it trained
    another, it serves without ``verify`` at its range test's max_lr (``say`` is told); one without the probe does
    not serve ``verify``: the probe is never skipped silently."""
    path = run_dir / rundir.FINDER_JSON
    if not path.exists():
        return None
    result = RangeTestResult.load_json(path)
    probed = result.settings.get("verify") is True
    if probed and not cfg.verify and not _probe_serves(cfg, result):
        # the probe trained another schedule: without --verify its range test still serves, at its own max_lr
        _check_conditions(path, result.settings, range_test_conditions(cfg, weight_decay),
                          f"run `{distributed.launched_as(f'onecycle find-lr --run-dir {run_dir}')}` with these "
                          "settings or pass --max-lr")
        if say is not None:
            say(f"note: the stability probe in {path} trained another schedule ({_probe_differences(cfg, result)}): "
                "max_lr is its range test's recommendation (pass --verify to probe this schedule)")
        result = replace(result, probe=None)
    else:
        wanted = finder_conditions(cfg.replace(verify=probed), weight_decay)
        verify = " --verify" if cfg.verify else ""
        find = distributed.launched_as(f"onecycle find-lr{verify} --run-dir {run_dir}")
        advice = f"run `{find}` with these settings or pass --max-lr"
        if cfg.verify and not probed:  # what it lacks is the probe (a result without one records no probe settings)
            wanted["verify"] = True
            find = distributed.launched_as(f"onecycle find-lr --verify --run-dir {run_dir}")
            advice = (f"run `{find}` to measure it with the stability probe, "
                      "or pass --max-lr")
        _check_conditions(path, result.settings, wanted, advice)
    if result.max_lr is not None:
        _check_usable(path, "recommendation.max_lr" if result.probe is None else "probe.pick", "max_lr", result.max_lr)
    return result


def _probe_conditions(cfg: RunConfig) -> dict[str, Any]:
    """What a stability probe's pick depends on beyond the range test: the planned epochs and the schedule."""
    return {"epochs": cfg.epochs, **cfg.policy_kwargs()}


def _differences(recorded: dict[str, Any], wanted: dict[str, Any]) -> list[str]:
    """Each key of ``wanted`` that ``recorded`` lacks or holds another value of, as "key recorded (now wanted)"."""
    return [f"{k} {recorded.get(k)} (now {v})" for k, v in wanted.items() if k not in recorded or recorded[k] != v]


def _probe_serves(cfg: RunConfig, result: RangeTestResult) -> bool:
    """Whether the probe in ``result`` trained the schedule ``cfg`` trains."""
    return not _differences(result.settings, _probe_conditions(cfg))


def _probe_differences(cfg: RunConfig, result: RangeTestResult) -> str:
    return ", ".join(_differences(result.settings, _probe_conditions(cfg)))


def _check_usable(path: Path, key: str, setting: str, value: float) -> None:
    """Raise a :class:`ConfigError` naming ``path`` and ``key`` unless ``value`` is one the setting ``setting`` of a
    run accepts (a max_lr of 1e300 in a hand-edited finder.json never reaches the optimizer)."""
    try:
        from_dict({setting: value})
    except ConfigError as err:
        raise ConfigError(f"{path}: {key} is {value:g}, which training cannot use: {err}") from None


def _weight_decay_from(cfg: RunConfig, sweep_result: SweepResult | None) -> tuple[float, str]:
    if sweep_result is not None and sweep_result.pick is not None:
        return float(sweep_result.pick), "sweep"
    return DEFAULT_WEIGHT_DECAY[cfg.optimizer], "default"


def weight_decay_for(cfg: RunConfig, run_dir: Path) -> tuple[float, str]:
    """The weight decay to use and where it came from: the config, a sweep in ``run_dir`` measured under these
    settings (:class:`StaleResult` if it was not), or the default."""
    if cfg.weight_decay is not None:
        return cfg.weight_decay, "config"
    return _weight_decay_from(cfg, fresh_sweep(cfg, run_dir))


def sweep_weight_decay(cfg: RunConfig, run_dir: Path) -> tuple[float, str]:
    """The weight decay a sweep runs at and where it came from: none (``"swept"``) while it sweeps the weight
    decay, else :func:`weight_decay_for`."""
    return (0.0, "swept") if cfg.sweep_param == "weight_decay" else weight_decay_for(cfg, run_dir)


def measuring(cfg: RunConfig, job: str, weight_decay: float, source: str) -> str:
    """The line every command prints as ``job`` (``"sweep"`` or ``"range test"``) starts: a sweep's values, and
    the weight decay it runs at with where it came from (``source``, as :func:`weight_decay_for` gives it), for the
    recommendation depends on it."""
    at = f"weight decay {weight_decay:g} ({source})"
    if job == "range test":
        return f"range test at {at}"
    values = ", ".join(f"{v:g}" for v in cfg.sweep_values)
    if cfg.sweep_param == "weight_decay":
        return f"weight-decay sweep over {values}"
    return f"{cfg.sweep_param} sweep over {values} at {at}"


def find_lr(setup: Setup, run_dir: Path, weight_decay: float | None = None) -> RangeTestResult:
    """Run the range test under the training conditions; write finder.json (with the settings it ran under),
    finder.csv and finder.png. With ``verify``, the stability probe follows: its schedule is checked before the
    range test (:func:`check_schedule`), and the range test is written before the probe runs (as a result without
    the probe), so that a probe that fails loses nothing; finder.json is written again with the probe."""
    cfg = setup.cfg
    if cfg.verify:
        check_schedule(cfg, len(setup.train_data))
    wd = weight_decay if weight_decay is not None else weight_decay_for(cfg, run_dir)[0]
    model = setup.model()
    optimizer = setup.optimizer(model, cfg.start_lr, wd)
    result = range_test(
        model, optimizer, setup.batches(), setup.loss_fn(),
        start_lr=cfg.start_lr, end_lr=cfg.end_lr, num_steps=cfg.num_steps, repeats=cfg.repeats, seed=cfg.seed,
        amp_dtype=setup.amp_dtype, div_factor=cfg.div_factor, progress=cfg.progress,
    )
    probing = cfg.verify and result.recommendation.max_lr is not None
    # The schedule it recommends for (a condition only when the probe trained it): what the text and plot describe.
    result.settings.update({"schedule": cfg.schedule,
                            **finder_conditions(cfg.replace(verify=False) if probing else cfg, wd)})
    result.save_json(run_dir / rundir.FINDER_JSON)
    result.to_csv(run_dir / "finder.csv")
    result.plot(run_dir / "finder.png")
    if probing:
        # The probe trains the schedule that training will use (1cycle or a baseline), compressed: what it checks
        # is that a whole run of that schedule at the candidate max_lr stays stable.
        data = setup.batches()
        planned = cfg.epochs * len(data)
        result.probe = probe(model, optimizer, data, setup.loss_fn(), candidates_below(result.recommendation.max_lr),
                             steps_per_candidate(planned), schedule=cfg.policy_kwargs(), amp_dtype=setup.amp_dtype,
                             seed=cfg.seed, planned_steps=planned, progress=cfg.progress)
        result.settings.update(finder_conditions(cfg, wd))
        result.save_json(run_dir / rundir.FINDER_JSON)
    return result


def check_schedule(cfg: RunConfig, images: int) -> None:
    """Raise a :class:`ConfigError` naming the settings unless the schedule of ``cfg`` can be built over the training
    ``images`` training images make (``cfg.epochs`` epochs at ``cfg.batch_size``) and, with ``cfg.verify``, over
    the stability probe's compressed runs too. The checks of the schedule settings that need the length of training
    (a phase of no steps, too few steps), made before any range test or training."""
    per_epoch = steps_in_epoch(cfg, images)
    total = cfg.epochs * per_epoch
    what = "1cycle" if cfg.schedule == "onecycle" else f"the {cfg.schedule} schedule"
    if total < 2:
        raise ConfigError(f"{what} needs at least 2 steps, and {images} training images at batch_size "
                          f"{cfg.batch_size} make {per_epoch} per epoch, over {cfg.epochs} epoch(s): lower batch_size "
                          "or raise epochs or train_subset")
    lengths = [(total, f"over the {total} training steps ({cfg.epochs} epoch(s) of {per_epoch})")]
    if cfg.verify:
        steps = steps_per_candidate(total)
        lengths.append((steps, f"in the stability probe (verify), which trains it compressed to {steps} steps per "
                               f"candidate ({cfg.epochs} epoch(s) of {per_epoch} steps planned)"))
    given = f" (cycle_epochs {cfg.cycle_epochs} of {cfg.epochs} epochs)" if cfg.cycle_epochs is not None else ""
    for steps, where in lengths:
        try:
            policy(max_lr=1.0, total_steps=steps, **cfg.policy_kwargs())
        except ValueError as err:
            raise ConfigError(f"{what} cannot run {where}: {err}{given}") from None


def run_sweep(setup: Setup, run_dir: Path, weight_decay: float | None = None) -> SweepResult:
    """A range test per value of ``cfg.sweep_param``; write sweep.json (with the settings it ran under) and
    sweep.png. ``weight_decay``: the one to run at when another setting is swept (default: see
    :func:`sweep_weight_decay`)."""
    cfg = setup.cfg
    wd = weight_decay if weight_decay is not None else sweep_weight_decay(cfg, run_dir)[0]
    model = setup.model()
    result = sweep(
        cfg.sweep_param, cfg.sweep_values, model, setup.optimizer(model, cfg.start_lr, wd), setup.batches(),
        setup.loss_fn(), seed=cfg.seed, start_lr=cfg.start_lr, end_lr=cfg.end_lr,
        num_steps=cfg.sweep_steps or cfg.num_steps, amp_dtype=setup.amp_dtype, div_factor=cfg.div_factor,
        progress=cfg.progress,
    )
    result.settings = sweep_settings(cfg, wd)
    result.save_json(run_dir / rundir.SWEEP_JSON)
    result.plot(run_dir / "sweep.png")
    return result


def sweep_settings(cfg: RunConfig, weight_decay: float) -> dict[str, Any]:
    """What sweep.json records of the settings a sweep ran under (at ``weight_decay`` when it swept another)."""
    return {**range_test_conditions(cfg, weight_decay, swept=cfg.sweep_param), "start_lr": cfg.start_lr,
            "end_lr": cfg.end_lr, "num_steps": cfg.sweep_steps or cfg.num_steps}


def _reusable(find: Callable[[], Any], auto: bool, say: Callable[[str], None]) -> Any:
    """``find()``'s result; a stale one is an error, or with ``auto`` announced and treated as missing."""
    try:
        return find()
    except StaleResult as err:
        if not auto:
            raise StaleResult(err.path, err.differences, f"{err.advice}, or use --auto to run it again") from None
        say(f"{err.reason}: running it again")
        return None


def resolve(cfg: RunConfig, run_dir: Path, auto: bool, setup: Callable[[], Setup],
            say: Callable[[str], None] = print) -> tuple[float, float]:
    """max_lr and weight decay for training: from the settings, else from sweep.json and finder.json in
    ``run_dir`` when they were measured under these settings. With ``auto`` the weight-decay sweep and the range
    test run first where their result is missing or stale (``setup()`` gives the loaded data); without, a
    stale result is a :class:`StaleResult` naming each difference, and a missing max_lr a ``ValueError``.
    ``say`` receives what is done and why. Before anything is measured, the schedule is checked against the loaded
    data (:func:`check_schedule`) and a run too short to trust is warned of (:func:`few_steps_warning`)."""

    def loaded() -> Setup:
        ready = setup()
        images = len(ready.train_data)
        check_schedule(cfg, images)
        short = few_steps_warning(cfg, images, steps_in_epoch(cfg, images))
        if short is not None:  # said before anything is measured for a run that short
            ready.warn(short)
        return ready

    if cfg.max_lr is None and (run_dir / rundir.FINDER_JSON).exists():  # damaged: said before any sweep is run
        try:
            RangeTestResult.load_json(run_dir / rundir.FINDER_JSON)
        except ValueError as err:
            raise ValueError(f"{err}; remove it to measure the range test again, or pass --max-lr") from None
    if cfg.weight_decay is not None:
        wd, wd_source = cfg.weight_decay, "config"
        if auto:
            say(f"weight decay {wd:g} given: no sweep")
    else:
        swept = _reusable(lambda: fresh_sweep(cfg, run_dir), auto, say)
        if swept is not None and auto:
            say(f"weight-decay sweep: reusing {run_dir / rundir.SWEEP_JSON}, measured under these settings")
        if swept is None and auto and cfg.sweep_param == "weight_decay":
            ready = loaded()
            say(measuring(cfg, "sweep", *sweep_weight_decay(cfg, run_dir)))
            swept = run_sweep(ready, run_dir, 0.0)
            say(str(swept))
        wd, wd_source = _weight_decay_from(cfg, swept)
    if cfg.max_lr is not None:
        max_lr, lr_source = cfg.max_lr, "config"
        if auto:
            say(f"max_lr {max_lr:g} given: no range test")
    else:
        finder = _reusable(lambda: fresh_finder(cfg, run_dir, wd, say), auto, say)
        if finder is not None and auto:
            say(f"range test: reusing {run_dir / rundir.FINDER_JSON}, measured under these settings")
        if finder is None:
            if not auto:
                find = distributed.launched_as(f"onecycle find-lr --run-dir {run_dir}")
                raise ValueError(f"no max_lr: pass --max-lr, run `{find}` first, or use --auto")
            ready = loaded()
            say(measuring(cfg, "range test", wd, wd_source))
            finder = find_lr(ready, run_dir, wd)
            say(str(finder))
        if finder.max_lr is None:
            raise ValueError(f"the range test in {run_dir / rundir.FINDER_JSON} gave no recommendation; see "
                             "finder.png and pass --max-lr")
        lr_source = f"{'range test' if finder.probe is None else 'stability probe'} in {rundir.FINDER_JSON}"
        max_lr = finder.max_lr
    say(f"max_lr {max_lr:.4g} ({lr_source}), weight decay {wd:g} ({wd_source})")
    return max_lr, wd


RESUME_MAY_CHANGE = ("data_dir", "download", "device", "threads", "cudnn_benchmark", "compile", "progress",
                     "log_every", "checkpoint_every_steps", "checkpoint_every_minutes", "divergence_factor")
"""The settings a resumed run takes from the command line: where the data and the computation are and how it is
run, what is shown, how often the loss is read and checkpoints are written, and when a diverged loss stops it. They
leave what the run computes alone, though on another device, compiled or not, or with cuDNN's own choice of
algorithm the numbers may differ in the last bits (and with dropout a compiled model draws other masks); every other
setting is the saved run's (``optimizer_impl`` too: the checkpoint's optimizer state holds it)."""


@dataclass
class Resume:
    """A saved run to continue: its settings, the max_lr and weight decay it resolved, the epochs it completed
    and the steps it took (more than those epochs' when its checkpoint is from the middle of an epoch), and its
    checkpoint, read and checked once (:func:`rundir.read_checkpoint`), for :func:`train_run` or
    :func:`complete_run` to use rather than read the file again."""

    cfg: RunConfig
    max_lr: float
    weight_decay: float
    epoch: int
    step: int
    checkpoint: dict[str, Any] = field(repr=False, compare=False)

    @property
    def finished(self) -> bool:
        return self.epoch >= self.cfg.epochs


def resume_settings(run_dir: Path, given: dict[str, Any]) -> Resume:
    """The run saved in ``run_dir``, to be continued exactly as it was set up (config.json, checkpoint.pt).

    ``given``: the settings the command line names. Those in :data:`RESUME_MAY_CHANGE` replace the saved ones;
    any other that differs from the saved value (max_lr and weight decay: the resolved ones) is a
    ``ValueError`` naming each with both values. No checkpoint is a ``FileNotFoundError``.
    """
    checkpoint = run_dir / rundir.CHECKPOINT
    if not checkpoint.exists():
        raise FileNotFoundError(f"nothing to resume: {checkpoint} does not exist (a run writes it at the end of "
                                "each epoch, or as often as --checkpoint-every-steps/-minutes say); start the run "
                                "without --resume")
    cfg, resolved = saved_settings(run_dir)
    used = {**cfg.to_dict(), "max_lr": resolved["max_lr"], "weight_decay": resolved["weight_decay"]}
    differences = [f"{k} {used[k]} (saved) vs {v} (given)" for k, v in given.items()
                   if k not in RESUME_MAY_CHANGE and v != used[k]]
    if differences:
        raise ValueError(f"--resume continues the run in {run_dir} with the settings it started with, and these "
                         f"differ: {', '.join(differences)}; leave them out, or start a new run in another "
                         "--run-dir")
    cfg = cfg.replace(**{k: v for k, v in given.items() if k in RESUME_MAY_CHANGE})
    check_world_size(run_dir, resolved.get("world_size", 1))
    ckpt = rundir.read_checkpoint(checkpoint)
    rundir.check_position(checkpoint, ckpt, cfg.epochs, resolved.get("steps_per_epoch"))
    return Resume(cfg, float(resolved["max_lr"]), float(resolved["weight_decay"]), ckpt["epoch"], ckpt["step"],
                  ckpt)


def check_world_size(run_dir: Path, saved: int) -> None:
    """Raise a ``ValueError`` saying how to launch it unless the run in ``run_dir``, trained by ``saved`` processes,
    is resumed by as many: its batches, its steps and its checkpoint's data position are those of that many."""
    now = distributed.world_size()
    if saved == now:
        return
    command = distributed.launched_as(f"onecycle train --resume --run-dir {shlex.quote(str(run_dir))}", saved)
    how = f"`{command}`, without torchrun" if saved == 1 else f"`{command}` (or as many over several machines)"
    raise ValueError(f"the run in {run_dir} trained on {saved} process(es) and this is {now}: its batch_size is "
                     f"each process's, so its global batch, steps and data position hold for {saved} only; resume it "
                     f"with {how}, or start a new run in another --run-dir")


def saved_settings(run_dir: Path) -> tuple[RunConfig, dict[str, Any]]:
    """The settings of the run saved in ``run_dir`` and what it resolved (max_lr, weight decay, steps), from its
    config.json; a missing or damaged file is an error naming it."""
    config = run_dir / rundir.CONFIG
    if not config.exists():
        raise FileNotFoundError(f"cannot resume: {config} does not exist, and it holds the run's settings")
    saved = rundir.read_json(config)
    resolved = saved.pop("resolved", None) if isinstance(saved, dict) else None
    if not isinstance(resolved, dict) or not {"max_lr", "weight_decay"} <= set(resolved):
        raise ValueError(f"{config} is not the settings file of a train run (no resolved max_lr and weight_decay)")
    cfg = from_dict(saved, source=str(config), origins=dict.fromkeys(saved, f"in {config}"))
    _check_resolved(config, resolved, cfg)
    return cfg, resolved


def kept_run(cfg: RunConfig, run_dir: Path, options: str, say: Callable[[str], None] = print) -> Resume | None:
    """The run in ``run_dir`` when it is a run of ``cfg`` (where it ran and what it showed aside): the one rule of
    ``demo`` and ``reproduce`` for a run they find. Finished (:attr:`Resume.finished`), it is kept
    (:func:`complete_run`); stopped before its end, however it stopped (killed, a signal, a diverged loss), it is
    continued from its checkpoint (:func:`train_run` with ``resume``, as the machine settings of ``cfg`` say);
    ``None`` when there is no run, or one that wrote no checkpoint (nothing to keep: ``say`` is told). A run of other
    settings is a :class:`~onecycle.guard.RunDirError` naming each difference, and ``options`` (what the command
    offers instead); so is one whose config.json or summary.json cannot be read."""
    if not rundir.run_files(run_dir):
        return None
    try:
        saved, _ = saved_settings(run_dir)
        if (run_dir / rundir.SUMMARY_JSON).exists():
            json_object(run_dir / rundir.SUMMARY_JSON)
    except (ValueError, FileNotFoundError) as err:
        raise RunDirError(f"{run_dir} holds a run that cannot be read ({err}); {options}, or use another "
                          "directory") from None
    now = cfg.to_dict()
    differences = [f"{k} {v} (saved) vs {now[k]} (now)" for k, v in saved.to_dict().items()
                   if k not in RESUME_MAY_CHANGE and v != now[k]]
    if differences:
        raise RunDirError(f"{run_dir} holds a run with other settings: {', '.join(differences)}; {options}, or use "
                          "another directory")
    if not (run_dir / rundir.CHECKPOINT).exists():
        say(f"{run_dir} holds a run of these settings that wrote no checkpoint: starting it again")
        return None
    return resume_settings(run_dir, {k: now[k] for k in RESUME_MAY_CHANGE})


def _check_resolved(path: Path, resolved: dict[str, Any], cfg: RunConfig) -> None:
    """Raise a ``ValueError`` naming ``path`` unless the ``resolved`` block of a saved config.json holds a max_lr
    and a weight decay that the settings accept, and step counts (where recorded) that fit its epochs."""
    for key in ("max_lr", "weight_decay"):
        if resolved[key] is None:
            raise ValueError(f"{path} is damaged: its resolved {key} is null")
    try:
        from_dict({"max_lr": resolved["max_lr"], "weight_decay": resolved["weight_decay"]})
    except ValueError as err:
        raise ValueError(f"{path} is damaged: its resolved {err}") from None
    processes = resolved.get("world_size", 1)
    if isinstance(processes, bool) or not isinstance(processes, int) or processes < 1:
        raise ValueError(f"{path} is damaged: its resolved world_size {records.shown(processes)} is not a number of "
                         "processes (an integer >= 1)")
    steps, total = resolved.get("steps_per_epoch"), resolved.get("total_steps")
    recorded = steps is not None or total is not None
    if recorded and not (isinstance(steps, int) and isinstance(total, int) and not isinstance(steps, bool)
                         and steps >= 1 and total == steps * cfg.epochs):
        raise ValueError(f"{path} is damaged: its resolved steps_per_epoch {records.shown(steps)} and "
                         f"total_steps {records.shown(total)} do not make {cfg.epochs} epochs")


FEW_STEPS = RANGE_TEST.num_steps
"""A training run of fewer optimizer steps than a (default) range test takes is too short to trust: its schedule's
phases are a handful of steps each, and the lr was chosen by watching the loss over more steps than it trains."""

SMALLEST_SUGGESTED_BATCH = 16
"""The smallest batch size :func:`few_steps_warning` suggests: below it, batch norm's statistics are too noisy to
train on, so more epochs are the only advice."""


def few_steps_warning(cfg: RunConfig, images: int, steps_per_epoch: int) -> str | None:
    """Why a run of ``cfg.epochs`` epochs of ``steps_per_epoch`` steps (``images`` training images) is too short
    (:data:`FEW_STEPS`), with the batch size and the epochs that would make it long enough; ``None`` when it is
    not."""
    total = cfg.epochs * steps_per_epoch
    if total >= FEW_STEPS:
        return None
    fixes = []
    smaller = [b for b in (2**k for k in range(cfg.batch_size.bit_length()))
               if SMALLEST_SUGGESTED_BATCH <= b < cfg.batch_size
               and cfg.epochs * steps_in_epoch(cfg.replace(batch_size=b), images) >= FEW_STEPS]
    if smaller:
        steps = cfg.epochs * steps_in_epoch(cfg.replace(batch_size=smaller[-1]), images)
        fixes.append(f"a smaller --batch-size ({smaller[-1]} gives {steps} steps)")
    epochs = -(-FEW_STEPS // steps_per_epoch)
    fixes.append(f"more --epochs ({epochs} give {epochs * steps_per_epoch} steps)")
    processes = distributed.world_size()
    batch = (f"batch_size {cfg.batch_size}" if processes == 1 else
             f"batch_size {cfg.batch_size} on each of {processes} processes, a global batch of {global_batch(cfg)}")
    return (f"only {total} optimizer steps ({cfg.epochs} epoch(s) of {steps_per_epoch}: {images} training images at "
            f"{batch}), fewer than the {FEW_STEPS} of a range test: each phase of the schedule "
            f"is a few steps long and training will likely end far from the accuracy it can reach; use "
            f"{' or '.join(fixes)}")


def finder_warnings(result: RangeTestResult) -> list[str]:
    """What a run trained at the max_lr of the range test ``result`` (finder.json) is warned of: a recommendation
    of low confidence, with its notes, and the notes of the stability probe that picked it."""
    rec, warnings = result.recommendation, []
    if rec.confidence == "low" and rec.max_lr is not None:
        notes = f": {'; '.join(rec.notes)}" if rec.notes else ""
        warnings.append(f"max_lr from {rundir.FINDER_JSON}: the range test recommended {rec.max_lr:.3g} with low "
                        f"confidence{notes}")
    if result.probe is not None:
        warnings += [f"max_lr from {rundir.FINDER_JSON}: the stability probe's note: {note}"
                     for note in result.probe.notes]
    return warnings


def run_warnings(cfg: RunConfig, run_dir: Path, max_lr: float, images: int | None,
                 steps_per_epoch: int | None) -> list[str]:
    """The warnings of a training run of ``cfg`` at ``max_lr`` in ``run_dir``, shown as it starts and kept in
    summary.json: a run too short (:func:`few_steps_warning`, when ``images`` and ``steps_per_epoch`` are known)
    and, when max_lr is the answer of the range test in ``run_dir`` (not given in the settings),
    :func:`finder_warnings`."""
    warnings = []
    if images is not None and steps_per_epoch is not None:
        warnings += [w for w in [few_steps_warning(cfg, images, steps_per_epoch)] if w is not None]
    path = run_dir / rundir.FINDER_JSON
    if cfg.max_lr is None and path.exists():
        finder = RangeTestResult.load_json(path)
        if finder.max_lr == max_lr:
            warnings += finder_warnings(finder)
    return warnings


FRESH_TRAINING = "pass --resume to continue it or --overwrite to remove it and start over"
"""What a directory holding a run offers a fresh start of training instead (:func:`~onecycle.guard.check_fresh`)."""


def train_run(setup: Setup, run_dir: Path, max_lr: float, weight_decay: float, resume: Resume | None = None,
              overwrite: bool = False, extra_hooks: Sequence[Any] = (),
              stop: StopRequest | None = None, resume_command: str | None = None) -> TrainState:
    """Training with ``cfg.schedule`` (1cycle or a baseline) into ``run_dir``: the files of
    :data:`rundir.TRAIN_FILES`, checkpoint.pt each epoch (and as often as ``cfg.checkpoint_every_*`` say). A run
    too short to trust and the notes of the range test it takes max_lr from (:func:`run_warnings`) are warned about
    in the log (once per ``setup``: see :meth:`Setup.warn`) and in summary.json's ``warnings``.

    While it trains, the first SIGTERM or SIGINT ends it after the current step with a checkpoint (``stop``
    records the signal); like a killed run, it has no summary.json until it is resumed to its end. When training
    stops early, ``state.stopped`` says why, which checkpoint holds the run and what to do: resume it after a
    signal (with ``resume_command``, the command that continues it: by default ``onecycle train --resume``); after a
    diverged loss, lower max_lr. With ``cfg.on_diverge`` retry a diverged loss, or one that collapsed back to the
    untrained model's (``stop_at_collapse`` of :func:`~onecycle.engine.train`), is retried first
    (:class:`~onecycle.retry.RetryOnDivergence`): each retry cuts the metrics files back to the state put back,
    records itself there (a retry row of metrics.jsonl) and in summary.json's ``retries``, writes a checkpoint at once
    and draws schedule.png again with the schedule now followed.

    ``resume``: continue the run in ``run_dir`` from its checkpoint, as :func:`resume_settings` read it (the file is
    not read again); else a run there is a :class:`~onecycle.guard.RunDirError`, unless ``overwrite``: its files
    are removed (:func:`rundir.remove_run`).
    Everything that can fail is checked before a file is written or removed."""
    cfg = setup.cfg
    check_schedule(cfg.replace(verify=False), len(setup.train_data))
    if resume is None and not overwrite:
        check_fresh(run_dir, FRESH_TRAINING)
    data = setup.batches()
    warnings = run_warnings(cfg, run_dir, max_lr, len(setup.train_data), len(data))
    for warning in warnings:
        setup.warn(warning)
    model = setup.model()
    optimizer = setup.optimizer(model, max_lr, weight_decay)
    scheduler = PolicyScheduler(optimizer, max_lr=max_lr, epochs=cfg.epochs, steps_per_epoch=len(data),
                                **cfg.policy_kwargs())
    state = TrainState(model, optimizer, scheduler, data, cfg.epochs)
    checkpoint = run_dir / rundir.CHECKPOINT
    stop = stop if stop is not None else StopRequest()
    checkpoints = rundir.CheckpointHook(run_dir, cfg.checkpoint_every_steps, cfg.checkpoint_every_minutes, stop)
    if resume is not None:
        rundir.load_checkpoint(checkpoint, state, resume.checkpoint)
        rundir.truncate_metrics(run_dir, state.step, state.history, state.retries)
        checkpoints.written = rundir.position(state)
        log.info("resuming from %s at %s", checkpoint, checkpoints.written)
    else:
        run_dir.mkdir(parents=True, exist_ok=True)
        rundir.remove_run(run_dir)
    rundir.write_json(run_dir / rundir.CONFIG, {**cfg.to_dict(), "resolved": {
        "max_lr": max_lr, "weight_decay": weight_decay, "device": str(setup.device),
        "steps_per_epoch": len(data), "total_steps": cfg.epochs * len(data), "data": setup.train_data.source,
        "world_size": distributed.world_size(), "global_batch_size": global_batch(cfg)}})
    plot_schedule(scheduler.policies[0], out=run_dir / rundir.SCHEDULE_PNG)
    hooks: list[Any] = [rundir.RunFiles(rundir.MetricsHook(run_dir), checkpoints), *extra_hooks]
    if cfg.on_diverge == "retry":
        def retried(state: TrainState, record: dict[str, Any]) -> None:
            """A checkpoint of the state put back at once (a kill after the retry resumes from it with the new
            schedule), then the run directory as if the run had come to it, the retry recorded: killed in between,
            a resumed run cuts the metrics back to its checkpoint the same way."""
            checkpoints.save(state)
            rundir.truncate_metrics(run_dir, state.step, state.history, state.retries)
            plot_schedule(scheduler.policies[0], out=run_dir / rundir.SCHEDULE_PNG)

        hooks.append(RetryOnDivergence(state, on_retry=retried))
    with contextlib.suppress(ImportError):
        hooks.append(rundir.TensorBoardHook(run_dir))
    with stop.handling():
        train(state, loss_fn=setup.loss_fn(), val_data=setup.batches(train=False), hooks=hooks,
              amp_dtype=setup.amp_dtype, clip_grad_norm=cfg.clip_grad_norm,
              divergence_factor=cfg.divergence_factor, stop_at_collapse=cfg.on_diverge == "retry",
              progress=cfg.progress, log_every=cfg.log_every, compile=cfg.compile)
    if state.stopped is not None:
        state.stopped = _stopped_text(state, run_dir, max_lr, checkpoints.written, stop, resume_command)
    else:
        failed = (failed_warning(state.initial_loss, state.history, max_lr, run_dir)
                  or collapse_warning(state.initial_loss, state.history, run_dir, max_lr, cfg.on_diverge))
        if failed is not None:
            log.warning("warning: %s", failed)
            warnings.append(failed)
    if stop.signal is None or state.stopped is None or state.diverged:  # stopped by a signal, it is only paused
        rundir.write_json(run_dir / rundir.SUMMARY_JSON,
                          _summary(state.epoch, state.step, state.stopped, state.history, warnings, state.retries))
    return state


def _summary(epoch: int, step: int, stopped: str | None, history: list[dict[str, Any]],
             warnings: list[str], retries: list[dict[str, Any]]) -> dict[str, Any]:
    """What summary.json holds (``retries``: the records of the restarts after a diverged loss, with on_diverge
    retry)."""
    return {"epochs_completed": epoch, "steps": step, "stopped": stopped, "train_time_s": train_time(history),
            "final": history[-1] if history else None, "warnings": warnings, "retries": retries}


def complete_run(run_dir: Path, saved: Resume) -> None:
    """Write what the finished run ``saved`` (:func:`resume_settings`), killed after its last checkpoint, left
    unwritten in ``run_dir``: the last epoch's metrics row (written after the checkpoint) and summary.json. A
    complete run is left as it is."""
    ckpt, cfg = saved.checkpoint, saved.cfg
    history = ckpt["history"]
    if [r for r in rundir.read_metrics(run_dir) if r["kind"] == "epoch"] != [{"kind": "epoch", **h} for h in history]:
        rundir.truncate_metrics(run_dir, ckpt["step"], history, ckpt["retries"])
    if not (run_dir / rundir.SUMMARY_JSON).exists():
        images = (ckpt["data"] or {}).get("num_samples")
        known = isinstance(images, int) and bool(history)
        warnings = run_warnings(cfg, run_dir, saved.max_lr, images if known else None,
                                history[0]["step"] if known else None)
        failed = (failed_warning(ckpt["initial_loss"], history, saved.max_lr, run_dir)
                  or collapse_warning(ckpt["initial_loss"], history, run_dir, saved.max_lr, cfg.on_diverge))
        warnings += [failed] if failed else []
        rundir.write_json(run_dir / rundir.SUMMARY_JSON, _summary(ckpt["epoch"], ckpt["step"], None, history, warnings,
                                                                 ckpt["retries"]))


def failed_warning(initial_loss: float | None, history: Sequence[dict[str, Any]], max_lr: float,
                   run_dir: Path) -> str | None:
    """Why a run of ``history`` that trained to its end at ``max_lr`` failed: its last epoch's losses are not below
    ``initial_loss``, the loss of its first step (:func:`~onecycle.engine.losses_above_start`); ``None`` when they
    are. Training is not stopped for it (1cycle's loss may rise for a while at its peak): it is told at the end."""
    above = losses_above_start(initial_loss, history[-1]) if history else {}
    if not above:
        return None
    losses = " and ".join(f"{FINAL_LOSSES[k]} ({v:.4g})" for k, v in above.items())
    return (f"training failed: the run ended with its {losses} at or above the loss of its first step "
            f"({initial_loss:.4g}, the untrained model's); {_lower_max_lr(max_lr, run_dir)}")


def collapse_warning(initial_loss: float | None, history: Sequence[dict[str, Any]], run_dir: Path, max_lr: float,
                     on_diverge: str = "stop") -> str | None:
    """Why a run of ``history`` in ``run_dir`` that trained to its end at ``max_lr`` failed though its last losses are
    below ``initial_loss`` (the first step's, the untrained model's): it had learned (its lowest smoothed training
    loss in ``metrics.jsonl`` below :data:`~onecycle.suggestions.COLLAPSE_DROP` x that) and its last epoch's training
    loss is more than halfway back from that lowest to the first: it lost most of what it had learned, a collapse at
    a too-high lr that a loss under 4x its lowest does not stop. Names the first step whose smoothed loss was back at
    the first (:func:`~onecycle.suggestions.first_collapse`) when there is one; ``None`` when the run did not fail."""
    steps = [r for r in rundir.read_metrics(run_dir) if r["kind"] == "step"]
    if initial_loss is None or not steps or not history:
        return None
    lowest, final = min(r["smoothed_loss"] for r in steps), history[-1]["train_loss"]
    if not (lowest < COLLAPSE_DROP * initial_loss and final >= (lowest + initial_loss) / 2):
        return None
    at = first_collapse([r["smoothed_loss"] for r in steps], initial_loss, after=DIVERGENCE_WARMUP)
    where = "" if at is None else (f" (its smoothed training loss was back at the untrained model's at step "
                                   f"{steps[at]['step']}, lr={steps[at]['lr']:.4g})")
    retry = "" if on_diverge == "retry" else (", or train with --on-diverge retry, which restarts the cycle from a "
                                              "state kept before such a collapse")
    return (f"training failed: the run ended with a training loss of {final:.4g}, more than halfway back from its "
            f"lowest ({lowest:.4g}) to the untrained model's ({initial_loss:.4g}){where}; "
            f"{_lower_max_lr(max_lr, run_dir)}{retry}")


def _find_lr(run_dir: Path) -> str:
    """The advice to measure max_lr for the run in ``run_dir``."""
    return (f"run `{distributed.launched_as(f'onecycle find-lr --run-dir {shlex.quote(str(run_dir))}')}` "
            "to measure it")


def _lower_max_lr(max_lr: float, run_dir: Path) -> str:
    """What to do after a run at ``max_lr`` in ``run_dir`` diverged or failed."""
    return f"lower --max-lr (it was {max_lr:.4g}), or {_find_lr(run_dir)}"


def _below_last_retry(state: TrainState, max_lr: float, run_dir: Path) -> str:
    """What to do after the retries of a run at ``max_lr`` (``state.retries``) diverged too: the peak the last one
    tried and the lr its loss diverged at (``state.diverged_lr``), the max_lr to stay below."""
    peak = state.retries[-1]["max_lr"]
    first = f" (the run's was {max_lr:.4g})" if f"{peak:.4g}" != f"{max_lr:.4g}" else ""
    return (f"the last retry's peak was max_lr {peak:.4g}{first}, and its loss diverged at lr "
            f"{state.diverged_lr:.4g}: train with a --max-lr below {state.diverged_lr:.4g}, or {_find_lr(run_dir)}")


def _stopped_text(state: TrainState, run_dir: Path, max_lr: float, written: str | None, stop: StopRequest,
                  resume_command: str | None = None) -> str:
    """Why training stopped early, which checkpoint holds the run (``written``: where the last one this run
    wrote or resumed from is, if any) and what to do (``resume_command`` continues a run stopped by a signal).
    After a non-finite or diverged loss the last checkpoint is good (written at a read whose check passed); after a
    collapse, which climbs back over many steps before it is found, it may hold a model already on its way up."""
    where = f"{run_dir / rundir.CHECKPOINT}, at {written}" if written else None
    if state.diverged:
        hint = _below_last_retry(state, max_lr, run_dir) if state.retries else _lower_max_lr(max_lr, run_dir)
        if where is None:
            return f"{state.stopped}; {hint}; no checkpoint was written before it"
        if state.collapsed:
            return (f"{state.stopped}; {hint}; the last checkpoint is {where}, written before the collapse was found "
                    "(its loss may already have been climbing back), and resumed with these settings it would "
                    "diverge the same way")
        return (f"{state.stopped}; {hint}; the last good checkpoint is {where}, but resumed with these settings it "
                "would diverge the same way")
    if stop.signal is not None and where is not None:
        command = resume_command or distributed.launched_as(
            f"onecycle train --resume --run-dir {shlex.quote(str(run_dir))}")
        return f"stopped by {stop.signal.name}: the run is in {where}; resume it with `{command}`"
    return f"{state.stopped}; the last checkpoint is {where}" if where else f"{state.stopped}; no checkpoint yet"


JOBS = ("train", "sweep")
"""What :func:`run_seeds` runs: training (at the max_lr and weight decay of the settings) or a sweep."""

SEED_DIR = "seed-{}"
"""The directory of each seed's run inside the run directory of :func:`run_seeds`."""


def run_seeds(cfg: RunConfig, job: str, run_dir: Path, seeds: int, say: Callable[[str], None] = print,
              extra_hooks: Sequence[Any] = (), overwrite: bool = False, stop: StopRequest | None = None,
              resume_command: str | None = None) -> list[Path]:
    """``job`` (one of :data:`JOBS`) once for each seed 0 .. ``seeds - 1``, each in its own directory of ``run_dir``
    (:data:`SEED_DIR`), locked while it runs; a seed whose directory holds the job finished under the same
    settings is kept, not run again, and a training run of the same settings stopped before its end is continued
    from its checkpoint (:func:`kept_run`: the rule of ``demo`` too). Every seed's directory is checked before any
    seed runs: one whose records are damaged is a ``ValueError`` naming the file, one holding a run of other
    settings a :class:`~onecycle.guard.RunDirError`, unless ``overwrite``: that run is removed, and the seed run
    afresh. Returns the directories. Training needs ``cfg.max_lr`` and ``cfg.weight_decay``; a seed stopped before
    its end is a ``ValueError`` saying why (``stop`` records a signal that stopped it, and ``resume_command``, the
    command that continues the seeds, is the advice then: see :func:`train_run`)."""
    if job not in JOBS:
        raise ValueError(f"job must be one of {', '.join(JOBS)}, got {job!r}")
    if job == "train" and (cfg.max_lr is None or cfg.weight_decay is None):
        raise ValueError("training once per seed needs max_lr and weight_decay in the settings")
    plans = []
    for seed in range(seeds):  # every seed's directory checked before any work
        seed_cfg, seed_dir = cfg.replace(seed=seed), run_dir / SEED_DIR.format(seed)
        kept = None
        try:
            if job == "train":
                kept = kept_run(seed_cfg, seed_dir, "pass --overwrite to start it over", say)
                progress = "new" if kept is None else "finished" if kept.finished else "stopped"
            else:
                progress = sweep_progress(seed_cfg, seed_dir)
        except RunDirError as err:
            if not overwrite:
                raise RunDirError(f"seed {seed}: {err}") from None
            progress = "other"
        except ValueError as err:
            if not overwrite:
                raise ValueError(f"seed {seed}: {err}; remove {seed_dir} or pass --overwrite to run the seed "
                                 "again") from None
            progress = "other"
        if progress == "other" and not overwrite:
            raise RunDirError(f"seed {seed}: {seed_dir} holds a run of other settings "
                              f"({', '.join(rundir.run_files(seed_dir))}); pass --overwrite to start it over, or use "
                              "another directory")
        plans.append((seed_cfg, seed_dir, progress, kept))
    for seed, (seed_cfg, seed_dir, progress, kept) in enumerate(plans):
        if progress == "finished":
            if kept is not None:
                with locked(seed_dir, "reproduce"):
                    complete_run(seed_dir, kept)
            say(f"seed {seed}: {seed_dir} holds this {job} run, finished: kept")
            continue
        resume = kept if progress == "stopped" else None
        say(f"seed {seed} ({seed + 1}/{seeds}): {job} in {seed_dir}"
            + (", resumed from its checkpoint (the run was stopped before its end)" if resume is not None else ""))
        with locked(seed_dir, "reproduce"):
            setup = prepare(seed_cfg)
            if job == "sweep":
                if progress == "other":  # only with overwrite
                    rundir.remove_run(seed_dir)
                say(str(run_sweep(setup, seed_dir)))
                continue
            state = train_run(setup, seed_dir, seed_cfg.max_lr, seed_cfg.weight_decay, resume=resume,
                              overwrite=resume is None, extra_hooks=extra_hooks, stop=stop,
                              resume_command=resume_command)
        if state.stopped:
            raise ValueError(f"seed {seed}: {state.stopped}")
    return [seed_dir for _, seed_dir, _, _ in plans]


def json_object(path: Path) -> dict[str, Any]:
    """The JSON object in ``path``; a file that is missing, not JSON or not an object is a ``ValueError`` (or
    ``FileNotFoundError``) naming it."""
    data = rundir.read_json(path)
    if not isinstance(data, dict):
        raise ValueError(f"{path} is damaged: it holds a JSON {rundir.json_kind(data)}, not an object")
    return data


def sweep_progress(cfg: RunConfig, run_dir: Path) -> str:
    """How far ``run_dir`` holds the sweep of ``cfg`` (where it ran and what it showed aside): ``"finished"``;
    ``"new"``, nothing of it to keep (no sweep, or one of other settings); or ``"other"``, a run
    (:data:`rundir.RUN_FILES`), which only ``overwrite`` replaces."""
    path = run_dir / rundir.SWEEP_JSON
    if path.exists():
        result = SweepResult.load_json(path, SWEEPABLE)
        wd = sweep_weight_decay(cfg, run_dir)[0]
        recorded = {**LATER_CONDITIONS, **result.settings}
        if (result.param, list(result.values), recorded) == (cfg.sweep_param, cfg.sweep_values,
                                                             sweep_settings(cfg, wd)):
            return "finished"
    return "other" if rundir.run_files(run_dir) else "new"


def planned_steps(cfg: RunConfig, job: str = "train") -> int:
    """The optimizer steps of ``job`` under ``cfg``, known before the data is read (:data:`LAYOUTS`): the epochs'
    steps for training, the range tests' for a sweep (each may stop earlier, at divergence)."""
    if job == "sweep":
        return len(cfg.sweep_values) * (cfg.sweep_steps or cfg.num_steps)
    images = LAYOUTS[cfg.dataset].train_images
    if cfg.train_subset is not None:
        images = min(images, cfg.train_subset)
    return cfg.epochs * steps_in_epoch(cfg, images)


def seconds_per_step(cfg: RunConfig, steps: int = 3, budget_s: float = 10.0) -> float:
    """The wall time of one training step under ``cfg`` on its device (model, batch size, augmentation, amp,
    optimizer_impl, log_every...), measured on random images of the dataset's shape: the mean of up to ``steps``
    steps after one that warms up, fewer when they would take more than ``budget_s`` (uncompiled: a few steps do not
    pay for ``compile``)."""
    _use_machine(cfg)
    layout = LAYOUTS[cfg.dataset]
    device = pick_device(cfg.device)
    generator = torch.Generator().manual_seed(cfg.seed)

    def random_data(batches: int) -> ImageData:
        n = batches * cfg.batch_size
        images = torch.randint(0, 256, (n, *layout.image_shape), dtype=torch.uint8, generator=generator)
        labels = torch.randint(0, layout.num_classes, (n,), generator=generator)
        return ImageData(images, labels, tuple(str(c) for c in range(layout.num_classes)), cfg.dataset).to(device)

    first = random_data(1)
    mean, std = channel_stats(first.images)
    setup = Setup(cfg, device, first, first, mean, std)
    model = setup.model()
    optimizer = setup.optimizer(model, 1e-6, 0.0)  # a tiny lr: random labels must not make the loss diverge

    def wall_time(batches: int) -> float:
        data = replace(setup, train_data=random_data(batches)).batches()
        state = train(TrainState(model, optimizer, None, data, 1), loss_fn=setup.loss_fn(),
                      amp_dtype=setup.amp_dtype, clip_grad_norm=cfg.clip_grad_norm, progress=False,
                      log_every=cfg.log_every)
        if state.stopped:
            raise RuntimeError(f"timing training steps under {cfg.model}: {state.stopped}")
        return float(state.history[0]["time_s"])

    timed = max(1, min(steps, int(budget_s / wall_time(1))))
    return wall_time(timed) / timed
