"""Run settings: one dataclass, filled from defaults, then a TOML file, then command-line flags, validated
before any work starts.

Each setting belongs to one group (data, model and optimizer, range test, sweep, training, machine); a
command shows the flags of the groups it uses, while a ``--config`` file may hold every setting.
"""

from __future__ import annotations

import dataclasses
import difflib
import enum
import functools
import math
import re
import sys
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from onecycle.datasets import DATASETS
from onecycle.engine import DIVERGENCE_WARMUP
from onecycle.models import MODELS
from onecycle.probe import BUDGET_FRACTION, CANDIDATES, MIN_STEPS, STEP_DOWN
from onecycle.range_test import RANGE_TEST, SMALLEST_LR, SMALLEST_LR_TEXT
from onecycle.records import Origins, naming
from onecycle.records import shown as _shown
from onecycle.retry import LR_DIVISOR, MAX_RETRIES, ON_DIVERGE, WARMUP_STRETCH
from onecycle.schedules import (
    ANNEAL_STRATEGIES,
    ONE_CYCLE,
    ONE_CYCLE_ONLY,
    PCT_START,
    POLICIES,
    STEP_GAMMA,
    STEP_MILESTONES,
    WARM_STARTS,
    WARMUP_PCT,
    OneCycleDefaults,
    check_one_cycle,
    check_one_cycle_argument,
)
from onecycle.step_log import log_every_text
from onecycle.suggestions import DIVERGE_FACTOR
from onecycle.sweep import SWEEPABLE

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

SCHEDULE_KEYS = tuple(f.name for f in dataclasses.fields(OneCycleDefaults))
"""The settings that are :func:`onecycle.schedules.one_cycle` arguments (same names)."""

POLICY_SETTINGS = ("schedule", "momentum", *SCHEDULE_KEYS, "cycle_epochs")
"""The settings :meth:`RunConfig.policy_kwargs` reads: the schedule of a run, besides its length (``epochs``).
``train``, ``find-lr`` (for the probe) and the ``schedule`` preview take the same flags for them."""

OPTIMIZERS = ("sgd", "adamw")
OPTIMIZER_IMPLS: dict[str, dict[str, bool]] = {"default": {}, "foreach": {"foreach": True}, "fused": {"fused": True}}
"""The implementations of torch's optimizers a run may ask for (``optimizer_impl``), as the arguments of
``torch.optim.SGD``/``AdamW`` that choose them; ``default`` leaves the choice to torch (foreach on CUDA, a loop over
the parameters on CPU)."""
PROBE_HELP = (f"after the range test, train the schedule compressed to a few steps at the recommendation and "
              f"{CANDIDATES - 1} lower values (each /{STEP_DOWN:g}), {BUDGET_FRACTION:.0%} of the planned training "
              f"steps in all (at least {MIN_STEPS} each), and keep the highest that trains about as well as the best")
AUGMENTS = ("none", "flip", "crop", "crop+flip")
SCHEDULE_HELP = (f"learning-rate schedule: {{choices}} (step: x{STEP_GAMMA:g} at "
                 f"{', '.join(f'{m:.0%}' for m in STEP_MILESTONES)}; linear, cosine: {WARMUP_PCT:.0%} warm-up, then "
                 "to zero)")
MAX_CONFIG_BYTES = 1 << 20  # a settings file is a few hundred bytes; /dev/zero or a dataset given by mistake is not


class ConfigError(ValueError):
    """A setting, a settings file or a combination of settings that cannot make a run; the message names it."""



class Group(str, enum.Enum):
    """The groups of settings; a command uses whole groups (plus a few single settings)."""

    DATA = "data"
    MODEL = "model and optimizer"
    RANGE_TEST = "range test"
    SWEEP = "sweep"
    TRAINING = "training"
    MACHINE = "machine"


def meta(group: Group, help: str, none: str | None = None) -> dict[str, Any]:
    """A setting's group, its help text (without the default) and what its default means when it is ``None``."""
    return {"group": group, "help": help, "none": none}


def setting(default: Any, group: Group, help: str, none: str | None = None) -> Any:
    """A :class:`RunConfig` field with an immutable default and its :func:`meta`."""
    return field(default=default, metadata=meta(group, help, none))


def _schedule(name: str, help: str, none: str | None = None) -> Any:
    """A 1cycle setting, with its default from :data:`onecycle.schedules.ONE_CYCLE`."""
    return setting(getattr(ONE_CYCLE, name), Group.TRAINING, help, none)


@dataclass
class RunConfig:
    """Everything a run needs; saved as ``config.json`` in the run directory so it can be rerun."""

    dataset: str = setting("fashion-mnist", Group.DATA,
                           "the images: {choices} (digits: scikit-learn's 8x8 digits, always available)")
    data_dir: str | None = setting(None, Group.DATA,
                                   "the one directory to read the dataset files from (no other is searched)",
                                   none="$ONECYCLE_DATA, the cache, system dirs")
    download: bool = setting(True, Group.DATA, "download the dataset (checksum-verified) when it is not found")
    train_subset: int | None = setting(None, Group.DATA, "train on a fixed random subset of this many images",
                                       none="all")
    test_subset: int | None = setting(None, Group.DATA, "evaluate on a fixed random subset of this many images",
                                      none="all")
    augment: str = setting("flip", Group.DATA, "augmentation: {choices} (crop: reflect-pad 4 pixels, random crop)")
    model: str = setting("small-cnn", Group.MODEL, "the network")
    optimizer: str = setting("sgd", Group.MODEL, "the optimizer")
    batch_size: int = setting(256, Group.MODEL, "images per step, each process's")
    momentum: float = setting(0.9, Group.MODEL, "SGD momentum / AdamW beta1: in the range test, and in training "
                              "where it is not cycled (1cycle cycles it unless --no-cycle-momentum)")
    nesterov: bool = setting(False, Group.MODEL, "Nesterov momentum (SGD)")
    weight_decay: float | None = setting(None, Group.MODEL, "weight decay",
                                         none="the sweep's pick in the run directory, else 5e-4 sgd / 1e-2 adamw")
    label_smoothing: float = setting(0.0, Group.MODEL, "label smoothing of the cross-entropy loss")
    epochs: int = setting(4, Group.TRAINING, "training epochs")
    schedule: str = setting("onecycle", Group.TRAINING, SCHEDULE_HELP)
    max_lr: float | None = setting(None, Group.TRAINING, "peak learning rate",
                                   none="the range test's recommendation in the run directory")
    pct_start: float | None = _schedule(
        "pct_start", "fraction of training spent rising to max_lr (1cycle only)",
        none=f"{PCT_START[True]} with three phases, {PCT_START[False]} with two")
    annihilation_pct: float | None = _schedule(
        "annihilation_pct", "alternative to pct_start: the fraction of training spent in annihilation (1cycle "
        "only)", "not set")
    cycle_epochs: int | None = setting(
        None, Group.TRAINING, "alternative to pct_start: the cycle (up and down) ends at this epoch, and the rest "
        "of training is its annihilation, a slow linear decrease to the final lr (1cycle only)", none="not set")
    anneal_strategy: str = _schedule("anneal_strategy", "shape of each phase")
    div_factor: float = _schedule("div_factor", "initial lr = max_lr / div_factor (1cycle, linear, cosine)")
    final_div_factor: float = _schedule("final_div_factor", "final lr = initial lr / final_div_factor")
    base_momentum: float = _schedule("base_momentum", "lowest momentum (at the lr peak)")
    max_momentum: float = _schedule("max_momentum", "highest momentum (at the start and the end)")
    cycle_momentum: bool = _schedule("cycle_momentum", "cycle momentum (SGD) or beta1 (AdamW) opposite to the lr "
                                     "(off: constant at --momentum)")
    three_phase: bool = _schedule("three_phase", "rise, fall, then annihilation (off: torch's two-phase OneCycleLR)")
    clip_grad_norm: float | None = setting(None, Group.TRAINING, "clip the gradient norm to this value",
                                           none="no clipping")
    divergence_factor: float = setting(DIVERGE_FACTOR, Group.TRAINING, "stop training when the smoothed training "
                                       "loss exceeds this many times its lowest so far (the range test's rule; "
                                       f"checked after the first {DIVERGENCE_WARMUP} steps)")
    on_diverge: str = setting("stop", Group.TRAINING, "what a non-finite or diverged loss does: {choices} (retry, "
                              "which also counts a loss back at the untrained model's as diverged: go "
                              "back to a state kept in memory a few steps before, restart the cycle with a "
                              f"{WARMUP_STRETCH:g}x longer warm-up, then each time with a peak /{LR_DIVISOR:g} "
                              f"lower; at most {MAX_RETRIES} retries)")
    checkpoint_every_steps: int | None = setting(None, Group.TRAINING, "write checkpoint.pt every this many steps "
                                                 "too", none="at the end of each epoch only")
    checkpoint_every_minutes: float | None = setting(None, Group.TRAINING, "write checkpoint.pt every this many "
                                                     "minutes too", none="at the end of each epoch only")
    log_every: int | None = setting(None, Group.TRAINING, "read the training loss back from the device every this "
                                    "many steps (and at the end of each epoch): the smoothed loss, steps.csv and the "
                                    "progress bar are brought up to date there, and a non-finite or diverged loss "
                                    "stops training at the next read, up to log_every - 1 steps after it",
                                    none=f"by device: {log_every_text()}")
    compile: bool = setting(False, Group.TRAINING, "torch.compile the model for training (the first steps wait for "
                            "the compilation: minutes on a CPU, where it was no faster; the range test runs "
                            "uncompiled)")
    start_lr: float = setting(RANGE_TEST.start_lr, Group.RANGE_TEST, "first learning rate")
    end_lr: float = setting(RANGE_TEST.end_lr, Group.RANGE_TEST,
                            "last learning rate (extended if the loss has not diverged by then)")
    num_steps: int = setting(RANGE_TEST.num_steps, Group.RANGE_TEST, "steps from start_lr to end_lr")
    repeats: int = setting(RANGE_TEST.repeats, Group.RANGE_TEST, "repeats over seeds, with their spread")
    verify: bool = setting(False, Group.RANGE_TEST, PROBE_HELP)
    sweep_param: str = setting("weight_decay", Group.SWEEP, "the hyper-parameter to sweep")
    sweep_values: list[float] = field(default_factory=lambda: [1e-3, 1e-4, 1e-5],
                                      metadata=meta(Group.SWEEP, "comma-separated values"))
    sweep_steps: int | None = setting(None, Group.SWEEP, "range-test steps per value", none="num_steps")
    device: str = setting("auto", Group.MACHINE, "auto (cuda, else mps, else cpu), cpu, cuda, cuda:N or mps")
    amp: bool = setting(False, Group.MACHINE, "mixed precision (bf16/fp16 autocast)")
    channels_last: bool = setting(False, Group.MACHINE, "channels_last memory format")
    optimizer_impl: str = setting("default", Group.MACHINE, "the optimizer's torch implementation: {choices}")
    cudnn_benchmark: bool = setting(False, Group.MACHINE, "cuDNN times its convolution algorithms and keeps the "
                                    "fastest (no effect on CPU)")
    sync_batchnorm: bool = setting(False, Group.MACHINE, "BatchNorm over the global batch (torchrun, CUDA)")
    threads: int | None = setting(None, Group.MACHINE, "torch CPU threads", none="as torch sets it")
    seed: int = setting(0, Group.MACHINE, "random seed (weights, batch order, augmentation)")
    progress: bool = setting(True, Group.MACHINE, "progress bars")

    def schedule_kwargs(self) -> dict[str, Any]:
        """The :func:`onecycle.schedules.one_cycle` arguments held here; ``cycle_epochs`` is given as the
        ``pct_start`` that ends the cycle at that epoch, whatever the length of an epoch."""
        kwargs = {k: getattr(self, k) for k in SCHEDULE_KEYS}
        if self.cycle_epochs is not None:
            kwargs["pct_start"] = self.cycle_epochs / (2 * self.epochs)
        return kwargs

    def policy_kwargs(self) -> dict[str, Any]:
        """The arguments of :func:`onecycle.schedules.policy` and :class:`onecycle.scheduler.PolicyScheduler` held
        here (all but max_lr and the length of training)."""
        return {"schedule": self.schedule, "momentum": self.momentum, **self.schedule_kwargs()}

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def replace(self, **changes: Any) -> RunConfig:
        return from_dict({**self.to_dict(), **changes})


FIELDS = {f.name: f for f in dataclasses.fields(RunConfig)}
_HINTS = typing.get_type_hints(RunConfig)
CHOICES: dict[str, tuple[str, ...]] = {
    "dataset": DATASETS, "model": tuple(MODELS), "optimizer": OPTIMIZERS, "augment": AUGMENTS,
    "anneal_strategy": ANNEAL_STRATEGIES, "sweep_param": SWEEPABLE, "schedule": tuple(POLICIES),
    "optimizer_impl": tuple(OPTIMIZER_IMPLS), "on_diverge": ON_DIVERGE,
}
_POSITIVE = {"batch_size", "epochs", "repeats", "max_lr", "start_lr", "end_lr", "train_subset", "test_subset",
             "threads", "clip_grad_norm", "checkpoint_every_steps", "checkpoint_every_minutes", "log_every",
             "cycle_epochs"}
_AT_LEAST_2 = {"num_steps", "sweep_steps"}  # a range test needs two points
_UNIT = {"momentum", "base_momentum", "max_momentum", "label_smoothing"}
_FLOAT32 = {"max_lr", "start_lr", "end_lr", "weight_decay"}  # set in the optimizer: must fit its float32 tensors
_LRS = ("max_lr", "start_lr", "end_lr")  # and, being lrs, be no smaller than SMALLEST_LR
_FLOAT32_MAX = torch.finfo(torch.float32).max
_INT_LIMIT = 2**31  # integers beyond it overflow torch (seed, threads) or make no sense (epochs, batch size)
_AT_MOST = {  # beyond these a run cannot be built or its numbers stop being numbers
    **dict.fromkeys(_LRS, 1e6),
    "div_factor": 1e6, "final_div_factor": 1e12,  # the lowest lr, max_lr / div_factor / final_div_factor, > 0
    "threads": 1024,  # torch's thread pool allocates per thread: 2**31 threads is an out-of-memory abort
}
MAX_THREADS = int(_AT_MOST["threads"])
"""The most torch CPU threads a run may ask for."""
DEVICE_TYPES = ("cpu", "cuda", "mps")


def settings_in(*groups: Group) -> tuple[str, ...]:
    """The names of the settings in ``groups``, in :class:`RunConfig` order."""
    return tuple(name for name, f in FIELDS.items() if f.metadata["group"] in groups)


def field_type(name: str) -> tuple[type, bool]:
    """The type of setting ``name`` (``list`` for lists of numbers) and whether it may be ``None``."""
    hint = _HINTS[name]
    optional = False
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        optional, hint = True, args[0]
    return typing.get_origin(hint) or hint, optional


def _check_type(key: str, value: Any) -> Any:
    kind, optional = field_type(key)
    if value is None:
        if optional:
            return None
        raise ValueError(f"{key} must not be empty")
    if kind is bool:
        if not isinstance(value, bool):
            raise ValueError(f"{key} must be true or false, got {_shown(value)}")
        return value
    if kind is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"{key} must be an integer, got {_shown(value)}")
        return value
    if kind is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise ValueError(f"{key} must be a number, got {_shown(value)}")
        return float(value)
    if kind is str:
        if not isinstance(value, str):
            raise ValueError(f"{key} must be a string, got {_shown(value)}")
        return value
    if kind is list:
        if not isinstance(value, (list, tuple)) or not value:
            raise ValueError(f"{key} must be a non-empty list of numbers, got {_shown(value)}")
        if any(isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) for v in value):
            raise ValueError(f"{key} must be a list of numbers, got {_shown(value)}")
        return [float(v) for v in value]
    raise AssertionError(f"{key}: no check for {kind}")  # pragma: no cover


def _unknown_key_message(unknown: list[str], source: str, shown: int = 10) -> str:
    hints = []
    for key in unknown[:shown]:
        name = key if key.isprintable() else repr(key)
        name = name if len(name) <= 60 else name[:57] + "..."
        close = difflib.get_close_matches(key.replace("-", "_"), FIELDS, n=1)
        if close:
            hints.append(f"{name} (did you mean {close[0]}?)")
        else:
            hints.append(name)
    if len(unknown) > shown:
        hints.append(f"and {len(unknown) - shown} more")
    return f"unknown key(s) in {source}: {', '.join(hints)} (valid keys: {', '.join(FIELDS)})"


def check_device_name(name: str) -> torch.device | None:
    """The device ``name`` names (``None`` for ``auto``); a ``ValueError`` unless it is ``auto`` or a device onecycle
    runs on (cpu, cuda, cuda:N, mps), whether or not this machine has it (a saved run names where it ran)."""
    if name == "auto":
        return None
    try:
        device = torch.device(name)
    except (RuntimeError, ValueError):
        device = None
    if device is None or device.type not in DEVICE_TYPES or (device.type != "cuda" and device.index):
        raise ValueError(f"device must be auto, cpu, cuda, cuda:N or mps, got {_shown(name)}")
    return device


def check_device(name: str) -> None:
    """Raise ``ValueError`` unless ``name`` is ``auto`` or a device onecycle runs on (cpu, cuda, cuda:N, mps)
    that this machine has."""
    device = check_device_name(name)
    if device is None:
        return
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {_shown(name)}: this machine has no CUDA device (use auto or cpu)")
    if device.type == "cuda" and device.index is not None and device.index >= torch.cuda.device_count():
        raise ValueError(f"device {_shown(name)}: this machine has {torch.cuda.device_count()} CUDA device(s)")
    mps = getattr(torch.backends, "mps", None)
    if device.type == "mps" and not (mps is not None and mps.is_available()):
        raise ValueError(f"device {_shown(name)}: MPS is not available on this machine (use auto or cpu)")


def whole_range(name: str) -> tuple[int, int]:
    """The least and the most that the integer setting ``name`` may be on its own (:func:`_check_value`'s range;
    a command line flag of it accepts only the whole numbers in it)."""
    least = 2 if name in _AT_LEAST_2 else 1 if name in _POSITIVE else -_INT_LIMIT + 1
    return least, int(_AT_MOST.get(name, _INT_LIMIT - 1))


def _check_value(key: str, v: Any) -> None:
    """Raise ``ValueError`` unless ``v`` (of the type of setting ``key``) lies in the range of ``key`` whatever
    the other settings are."""
    if v is None:
        return
    if key in CHOICES and v not in CHOICES[key]:
        close = difflib.get_close_matches(v, CHOICES[key], n=1)
        hint = f" (did you mean {close[0]}?)" if close else ""
        raise ValueError(f"{key} must be one of {', '.join(CHOICES[key])}; got {_shown(v)}{hint}")
    if key in _POSITIVE and v <= 0:
        raise ValueError(f"{key} must be > 0, got {v!r}")
    if key in _LRS and v < SMALLEST_LR:
        raise ValueError(f"{key} must be {SMALLEST_LR_TEXT}, got {v!r}")
    if key in _AT_LEAST_2 and v < 2:
        raise ValueError(f"{key} must be >= 2, got {v!r}")
    if key in _UNIT and not 0 <= v < 1:
        raise ValueError(f"{key} must be in [0, 1), got {v!r}")
    if key in _FLOAT32 and v > _FLOAT32_MAX:
        raise ValueError(f"{key} must be at most {_FLOAT32_MAX:.4g} (float32), got {v!r}")
    if isinstance(v, int) and not isinstance(v, bool) and not -_INT_LIMIT < v < _INT_LIMIT:
        raise ValueError(f"{key} must be below 2**31 in magnitude, got {_shown(v)}")
    if key in _AT_MOST and v > _AT_MOST[key]:
        raise ValueError(f"{key} must be at most {_AT_MOST[key]:g}, got {v!r}")
    if key == "data_dir" and not v.strip():
        raise ValueError("data_dir must be a directory, got an empty string (. is the current directory)")
    if key == "divergence_factor" and v <= 1:
        raise ValueError(f"divergence_factor must be > 1 (its lowest loss is never above itself), got {v!r}")
    if key == "weight_decay" and v < 0:
        raise ValueError(f"weight_decay must be >= 0, got {v!r}")
    if key == "sweep_values" and len(set(v)) != len(v):
        raise ValueError(f"sweep_values must be distinct, got {_shown(v)}")
    if key in SCHEDULE_KEYS:
        check_one_cycle_argument(key, v)  # its range (combinations are checked with the other settings)
    if key == "device":
        check_device(v)


def _check_combinations(cfg: RunConfig, origins: Origins | None = None) -> None:
    """The checks of settings against each other, first problem first, each naming the values (and, given
    ``origins``, where each came from)."""
    said = naming(functools.partial(getattr, cfg), origins)
    if cfg.start_lr >= cfg.end_lr:
        raise ValueError(f"{said('start_lr')} must be below {said('end_lr')}")
    if cfg.nesterov and cfg.optimizer != "sgd":
        raise ValueError(f"{said('nesterov')} applies to optimizer sgd only, got {said('optimizer')}")
    if cfg.nesterov and cfg.momentum == 0:
        raise ValueError(f"{said('nesterov')} needs momentum > 0, got {said('momentum')}")
    for key in ("cycle_epochs", *ONE_CYCLE_ONLY):  # they place 1cycle's phases; the baselines' are fixed
        if getattr(cfg, key) is not None and cfg.schedule != "onecycle":
            raise ValueError(f"{said(key)} applies to schedule onecycle only, got {said('schedule')}")
    if cfg.on_diverge == "retry" and cfg.schedule not in WARM_STARTS:
        raise ValueError(f"{said('on_diverge')} restarts the schedule's warm-up, and {said('schedule')} has none "
                         f"(schedules with one: {', '.join(WARM_STARTS)})")
    if cfg.cycle_epochs is not None:
        if not 1 <= cfg.cycle_epochs <= cfg.epochs:
            raise ValueError(f"{said('cycle_epochs')} must be between 1 and {said('epochs')}")
        given = [said(k) for k in ("pct_start", "annihilation_pct") if getattr(cfg, k) is not None]
        if given:
            raise ValueError(f"give cycle_epochs, pct_start or annihilation_pct, not more than one; got "
                             f"{', '.join([said('cycle_epochs'), *given])}")
        if not cfg.three_phase:
            raise ValueError(f"{said('cycle_epochs')} needs three_phase (the rest of training after the cycle is "
                             f"its annihilation), got {said('three_phase')}")
    try:
        check_one_cycle(**cfg.schedule_kwargs())
    except ValueError as err:  # pct_start with annihilation_pct, base_momentum above max_momentum, ...
        named = [said(k) for k in SCHEDULE_KEYS if re.search(rf"\b{k}\b", str(err))]
        raise ValueError(f"{err}: {', '.join(named)}" if named else str(err)) from None
    if cfg.three_phase and cfg.pct_start is not None and cfg.pct_start > 0.5:
        raise ValueError(f"{said('pct_start')} must be <= 0.5 with {said('three_phase')} (rise and fall take "
                         "pct_start each)")
    if cfg.sweep_param == "weight_decay" and not all(0 <= v <= _FLOAT32_MAX for v in cfg.sweep_values):
        raise ValueError(f"{said('sweep_values')} must be in [0, {_FLOAT32_MAX:.4g}] for {said('sweep_param')}")
    if cfg.sweep_param == "momentum" and not all(0 <= v < 1 for v in cfg.sweep_values):
        raise ValueError(f"{said('sweep_values')} must be in [0, 1) for {said('sweep_param')}")


def check_each(values: Mapping[str, Any], source: str = "settings", origins: Origins | None = None) -> dict[str, Any]:
    """``values`` with each checked on its own: a known key, of the setting's type, in its range (not against the
    other settings: see :func:`from_dict`). Returns them converted (ints to floats where floats are expected); the
    first problem is one :class:`ConfigError` naming it (and where the value came from, given ``origins``)."""
    if not isinstance(values, dict):
        raise ConfigError(f"{source} must be a table of settings, got {type(values).__name__}")
    unknown = sorted(set(values) - set(FIELDS), key=str)
    if unknown:
        raise ConfigError(_unknown_key_message([str(k) for k in unknown], source))
    checked = {}
    for key in sorted(values, key=list(FIELDS).index):
        try:
            checked[key] = _check_type(key, values[key])
            _check_value(key, checked[key])
        except ValueError as err:
            where = f" ({origins[key]})" if origins is not None and key in origins else ""
            raise ConfigError(f"{err}{where}") from None
    return checked


def from_dict(values: dict[str, Any], source: str = "settings", origins: Origins | None = None) -> RunConfig:
    """A validated :class:`RunConfig`: each value on its own (:func:`check_each`), then the settings against each
    other; unknown keys and bad values raise one :class:`ConfigError` naming them (and, given ``origins``, where
    each value came from)."""
    cfg = RunConfig(**check_each(values, source, origins))
    try:
        _check_combinations(cfg, origins)
    except ValueError as err:
        raise ConfigError(str(err)) from None
    return cfg


CONFIG_TABLES = ("onecycle", "preset")
"""The tables a config file may hold: its settings (``[onecycle]``, else at its top level) and, in a copy of a
preset file, that preset's ``[preset]`` table (which :func:`onecycle.presets.check_config_file` checks)."""


def read_toml(path: str | Path) -> dict[str, Any]:
    """The whole TOML file ``path``; a file that cannot be read as such (missing, a directory, larger than
    :data:`MAX_CONFIG_BYTES`, not UTF-8, not TOML) is a :class:`ConfigError` naming it. An empty path is one too
    (``Path("")`` would be the current directory)."""
    if not str(path).strip():
        raise ConfigError(f"config file path is empty ({_shown(str(path))}): expected the path of a TOML file")
    path = Path(path)
    try:
        with open(path, "rb") as f:  # read no more than a settings file can hold: /dev/zero never ends
            raw = f.read(MAX_CONFIG_BYTES + 1)
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist") from None
    except IsADirectoryError:
        raise ConfigError(f"config file {path} is a directory") from None
    except OSError as err:
        raise ConfigError(f"config file {path} cannot be read: {err.strerror or err}") from None
    if len(raw) > MAX_CONFIG_BYTES:
        raise ConfigError(f"config file {path} is larger than {MAX_CONFIG_BYTES >> 20} MiB: not a settings file")
    try:
        return tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise ConfigError(f"config file {path} is not UTF-8 text (TOML files are)") from None
    except ValueError as err:  # TOMLDecodeError, or an integer of more digits than Python converts
        raise ConfigError(f"config file {path} is not valid TOML: {err}") from None
    except RecursionError:
        raise ConfigError(f"config file {path} is not valid TOML: arrays or tables nested too deeply") from None


def load_toml(path: str | Path) -> dict[str, Any]:
    """The settings in a TOML file (:func:`read_toml`): its top-level keys, or its ``[onecycle]`` table; a table
    other than :data:`CONFIG_TABLES` (a misspelled ``[onecycl]``) is a :class:`ConfigError` naming it."""
    data = read_toml(path)
    settings = data.get("onecycle", data)
    if not isinstance(settings, dict):
        raise ConfigError(f"config file {path}: onecycle must be a table of settings ([onecycle]), got "
                          f"{_shown(settings)}")
    # a table named after a setting (seed = {x = 1}) is a value of the wrong type, which the setting's check names
    unknown = [str(k) for k, v in data.items() if isinstance(v, dict) and k not in CONFIG_TABLES and k not in FIELDS]
    if unknown:
        close = difflib.get_close_matches(unknown[0], CONFIG_TABLES, n=1)
        hint = f" (did you mean [{close[0]}]?)" if close else ""
        raise ConfigError(f"config file {path}: unknown table [{unknown[0]}]{hint}; a config file holds settings at "
                          "its top level or under [onecycle]")
    return {k: v for k, v in settings.items() if not (settings is data and k == "preset" and isinstance(v, dict))}


def build_config(toml_path: str | Path | None = None, overrides: dict[str, Any] | None = None,
                 defaults: dict[str, Any] | None = None, origins: Origins | None = None) -> RunConfig:
    """``defaults`` (over RunConfig's own), then the TOML file, then ``overrides`` (command-line flags). Each
    value of the file is checked on its own first (naming the file); the settings are checked against each other
    once, on the merged values, naming where each came from: the file, ``origins`` of the overrides (default:
    ``"given"``) or a default."""
    values: dict[str, Any] = dict(defaults or {})
    where: dict[str, str] = {}
    if toml_path is not None:
        file_values = load_toml(toml_path)
        file_origins = dict.fromkeys(file_values, f"from {toml_path}")
        check_each(file_values, source=str(toml_path), origins=file_origins)
        values.update(file_values)
        where.update(file_origins)
    overrides = overrides or {}
    values.update(overrides)
    where.update({k: (origins or {}).get(k, "given") for k in overrides})
    return from_dict(values, origins=where)
