"""``onecycle reproduce``: the presets (the article's CIFAR-10 / ResNet-56 runs and the recipes this project measured
itself), over seeds, beside the published figures."""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

from onecycle import datasets, distributed, presets, rundir
from onecycle.cli.common import (
    CommandError,
    PrintEpochs,
    add_overwrite_argument,
    add_settings,
    config_from_args,
    directory,
    flag,
    one_line,
    show,
    whole,
)
from onecycle.engine import pick_device
from onecycle.experiment import RESUME_MAY_CHANGE, SEED_DIR, planned_steps, run_seeds, seconds_per_step
from onecycle.guard import locked
from onecycle.interrupt import StopRequest
from onecycle.report import reproduction_table, write_report

MACHINE = RESUME_MAY_CHANGE
"""The settings a preset takes from the command line: where the data and the computation are, and what is shown
(the same that a resumed run may change: they leave what the run computes alone)."""

TIMED_STEPS = 3  # timed after one that warms up, for the estimate without a GPU
CPU_LIMIT_S = 3600.0
"""Without a CUDA GPU, a preset whose runs are estimated to take longer than this (an hour) is refused unless
``--force``; a shorter one runs where it is."""


MAX_SEEDS = 1000


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("reproduce", help="run a preset: the article's CIFAR-10 / ResNet-56 experiments, or a recipe "
                       "measured here", description="Run a preset: one of the 1cycle article's CIFAR-10 / ResNet-56 "
                       "experiments or a recipe this project measured itself (Fashion-MNIST on two CPU cores), "
                       "its settings in a TOML file shipped with onecycle (--list shows where; each is also a "
                       "--config file). Each seed 0..N-1 runs in RUN_DIR/" + SEED_DIR.format("K") + " (a seed "
                       "finished there under the same settings is kept, one cut short is continued from its "
                       "checkpoint, and one of other settings is refused unless --overwrite); " + rundir.REPRODUCE_JSON
                       + " and the report put the final test accuracy (mean ± std over the seeds) beside the "
                       "published one. "
                       "A dataset that is not here and would not be downloaded stops it at once. Without a CUDA "
                       "GPU it measures a few training steps and says how long the runs would take; beyond "
                       f"{duration(CPU_LIMIT_S)} it stops there unless --force. A seed cut short by a signal prints "
                       "the command that continues it: this one again.")
    p.add_argument("name", nargs="?", metavar="NAME", help="the preset (see --list)")
    p.add_argument("--list", action="store_true", help="list the presets: name, published figure, description")
    p.add_argument("--seeds", type=whole(MAX_SEEDS), default=1, metavar="N",
                   help="runs with seeds 0..N-1 (default: 1)")
    p.add_argument("--run-dir", type=directory, default=None, help="directory for results (default: runs/NAME)")
    p.add_argument("--force", action="store_true",
                   help=f"run without a CUDA GPU however long it takes (else: only within {duration(CPU_LIMIT_S)})")
    add_overwrite_argument(p)
    p.add_argument("--quiet", action="store_true", help="no progress bars or info messages")
    add_settings(p, MACHINE)
    p.set_defaults(func=run, config=None, data_parallel=True, run_dir_for=run_dir_for)  # no --config: the preset


def run(args: argparse.Namespace) -> int:
    if args.list:
        print_list()
        return 0
    if args.name is None:
        raise CommandError("name a preset (onecycle reproduce --list shows them)")
    preset = presets.load(args.name)
    cfg = config_from_args(args, defaults=preset.settings)
    run_dir = run_dir_for(args)
    assert run_dir is not None  # a preset's name
    with locked(run_dir, args.command):
        absent = datasets.unobtainable(cfg.dataset, cfg.data_dir, cfg.download)
        if absent is not None:  # before any step is timed
            raise CommandError(f"{preset.name} needs {cfg.dataset}: {absent}")
        device = pick_device(cfg.device)
        steps = planned_steps(cfg, preset.job) * args.seeds
        if device.type != "cuda" and args.force and datasets.missing(cfg.dataset, cfg.data_dir, cfg.download):
            datasets.load_dataset(cfg.dataset, cfg.data_dir, cfg.download)  # the download first: it may fail at once
        if device.type != "cuda":
            print(f"no CUDA GPU: timing a few training steps of {preset.name} on {device} to say how long it would "
                  "take", flush=True)
            step_s = seconds_per_step(cfg, TIMED_STEPS)
            took = estimate(preset.name, device.type, step_s, steps, args.seeds)
            if step_s * steps <= CPU_LIMIT_S:
                print(f"{took}: within {duration(CPU_LIMIT_S)}, so it runs here", flush=True)
            elif args.force:
                print(f"{took}: beyond {duration(CPU_LIMIT_S)}, run all the same (--force)", flush=True)
            else:
                raise CommandError(refusal(preset.name, device.type, step_s, steps, args.seeds,
                                           datasets.missing(cfg.dataset, cfg.data_dir, cfg.download)))
        print(f"{preset.name}: {preset.description}, {args.seeds} seed(s), {steps:,} steps on {device}; published: "
              f"{preset.published}")
        stop = StopRequest()
        try:
            dirs = run_seeds(cfg, preset.job, run_dir, args.seeds, extra_hooks=[] if args.quiet else [PrintEpochs()],
                             overwrite=args.overwrite, stop=stop, resume_command=command_line(args, run_dir))
        except ValueError as err:
            if stop.signal is None:
                raise
            print(f"onecycle reproduce: {one_line(str(err))}", file=sys.stderr)
            return 128 + stop.signal
        record = presets.summarize(preset, run_dir, dirs)
        rundir.write_json(run_dir / rundir.REPRODUCE_JSON, record)
        html_path, _ = write_report([run_dir], run_dir)
    header, rows = reproduction_table(record)
    for row in rows:
        print("  ".join(f"{name}: {value}" if name else value for name, value in zip(header, row)))
    print(f"wrote {run_dir / rundir.REPRODUCE_JSON} and {html_path}")
    return 0


def run_dir_for(args: argparse.Namespace) -> Path | None:
    """Where the runs of ``args`` go: ``--run-dir``, else ``runs/NAME`` (``None`` without a preset's name)."""
    if args.run_dir is not None or args.name not in presets.names():
        return args.run_dir
    return Path("runs") / args.name


def command_line(args: argparse.Namespace, run_dir: Path) -> str:
    """The ``onecycle reproduce`` command of ``args`` (run in ``run_dir``), written out: run again, it keeps the
    seeds finished, continues the one cut short and writes reproduce.json."""
    words = ["onecycle", "reproduce", args.name, "--seeds", str(args.seeds), "--run-dir", str(run_dir)]
    words += [f"--{name}" for name in ("force", "overwrite", "quiet") if getattr(args, name)]
    for name in MACHINE:
        if name in vars(args):
            value = getattr(args, name)
            words += [flag(name, value)] if isinstance(value, bool) else [flag(name), show(value)]
    return distributed.launched_as(shlex.join(words))


def print_list() -> None:
    """The presets, one a line; a preset file that cannot be read is named, with why, after the others."""
    print("The 1cycle article's CIFAR-10 / ResNet-56 runs, and recipes measured by this project's benchmarks:\n")
    print(f"{'preset':<20}{'published':<21}description")
    broken = []
    for name in presets.names():
        try:
            preset = presets.load(name)
        except ValueError as err:
            broken.append(f"onecycle reproduce: warning: preset {name} left out: {one_line(str(err))}")
            continue
        print(f"{name:<20}{preset.published:<21}{preset.description}")
    print(f"\nThe presets are TOML files in {presets.DIRECTORY} (each also a --config file); the published figures' "
          "sources are in them.")
    for line in broken:
        print(line, file=sys.stderr)


def duration(seconds: float) -> str:
    """A rough wall time: ``"31 h"``, ``"12 min"``, ``"40 s"``."""
    if seconds >= 3600:
        return f"{seconds / 3600:.0f} h" if seconds >= 36000 else f"{seconds / 3600:.1f} h"
    return f"{seconds / 60:.0f} min" if seconds >= 60 else f"{seconds:.0f} s"


def estimate(name: str, device: str, step_s: float, steps: int, seeds: int) -> str:
    """How long a preset's runs would take without a GPU, from the measured time of a step."""
    where = "this CPU" if device == "cpu" else f"this machine's {device} device"
    runs = f" in {seeds} runs" if seeds > 1 else ""
    return (f"{name} would take about {duration(step_s * steps)} on {where} (measured {step_s:.2g} s/step × "
            f"{steps:,} steps{runs}, test evaluation not counted)")


def refusal(name: str, device: str, step_s: float, steps: int, seeds: int, missing_data: str | None = None) -> str:
    """Why a preset does not run without a GPU: how long it would take (:func:`estimate`), and ``missing_data``,
    why its dataset is not here (see :func:`onecycle.datasets.missing`), when it is not."""
    text = f"{estimate(name, device, step_s, steps, seeds)}; run it on a GPU or pass --force"
    return text if missing_data is None else f"{text}. The data is missing too: {missing_data}"
