"""``onecycle train``: 1cycle training with max_lr and weight decay from the run directory (or --auto)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from onecycle import rundir
from onecycle.cli.common import CommandError, add_run_arguments, config_from_args
from onecycle.cli.find_lr import describe as describe_finder
from onecycle.cli.sweep import describe as describe_sweep
from onecycle.config import Group, settings_in
from onecycle.engine import TrainState
from onecycle.experiment import Setup, find_lr, max_lr_for, prepare, run_sweep, train_run, weight_decay_for
from onecycle.report import train_time_text

# --auto runs a weight-decay sweep, so every setting but the swept parameter.
SETTINGS = tuple(name for name in settings_in(*Group) if name != "sweep_param")


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train with the 1cycle policy",
                       description="Train with the 1cycle policy. max_lr and weight decay come from the flags, else "
                       "from a find-lr/sweep in the same run directory; --auto runs those first when missing. "
                       "Writes config.json, metrics.jsonl/.csv, steps.csv, schedule.png and checkpoint.pt.")
    p.add_argument("--auto", action="store_true", help="run the sweep and the range test first if needed")
    p.add_argument("--resume", action="store_true",
                   help="continue from the run directory's checkpoint.pt with its saved settings (flags override)")
    add_run_arguments(p, SETTINGS)
    p.set_defaults(func=run)


def epoch_line(m: dict[str, Any], epochs: int) -> str:
    text = (f"epoch {m['epoch']:>2}/{epochs}  train loss {m['train_loss']:.4f} acc {100 * m['train_accuracy']:.2f}%")
    if "val_loss" in m:
        text += f"  test loss {m['val_loss']:.4f} acc {100 * m['val_accuracy']:.2f}%"
    return text + f"  lr {m['lr']:.3g}  {m['time_s']:.1f}s  {m['images_per_s']:.0f} img/s"


class PrintEpochs:
    """Prints one line per epoch."""

    def on_epoch_end(self, state: TrainState, metrics: dict[str, Any]) -> bool:
        print(epoch_line(metrics, state.epochs), flush=True)
        return False


def resolve(setup: Setup, args: argparse.Namespace, auto: bool) -> tuple[float, float]:
    """max_lr and weight decay for training, running the sweep and range test first when ``auto``."""
    cfg, run_dir = setup.cfg, args.run_dir
    wd, wd_source = weight_decay_for(cfg, run_dir)
    if auto and wd_source == "default" and cfg.sweep_param == "weight_decay":
        print(describe_sweep(run_sweep(setup, run_dir)))
        wd, wd_source = weight_decay_for(cfg, run_dir)
    max_lr, lr_source = max_lr_for(cfg, run_dir)
    if max_lr is None and auto:
        print(describe_finder(find_lr(setup, run_dir, wd)))
        max_lr, lr_source = max_lr_for(cfg, run_dir)
    if max_lr is None:
        raise CommandError(f"no max_lr: pass --max-lr, run `onecycle find-lr --run-dir {run_dir}` first, or use "
                           "--auto" if not auto else "the range test gave no recommendation; pass --max-lr")
    print(f"max_lr {max_lr:.4g} ({lr_source}), weight decay {wd:g} ({wd_source})")
    return max_lr, wd


def saved_settings(run_dir: Path) -> dict[str, Any]:
    """The settings of the run saved in ``run_dir`` (with the max_lr and weight decay it resolved), so that
    ``--resume`` continues it without repeating its flags."""
    path = run_dir / rundir.CONFIG
    if not path.exists():
        return {}
    saved = rundir.read_json(path)
    resolved = saved.pop("resolved", {})
    saved.update(max_lr=resolved.get("max_lr", saved.get("max_lr")),
                 weight_decay=resolved.get("weight_decay", saved.get("weight_decay")))
    return saved


def run(args: argparse.Namespace) -> int:
    cfg = config_from_args(args, **(saved_settings(args.run_dir) if args.resume else {}))
    setup = prepare(cfg)
    max_lr, wd = resolve(setup, args, args.auto)
    state = train_run(setup, args.run_dir, max_lr, wd, resume=args.resume, extra_hooks=[PrintEpochs()])
    if state.stopped:
        raise CommandError(f"{state.stopped}; the last good checkpoint is {args.run_dir / 'checkpoint.pt'}")
    print(f"train time {train_time_text(state.history)} (the epochs' steps and test evaluation)")
    print(f"wrote {args.run_dir}/: config.json, metrics.jsonl, metrics.csv, checkpoint.pt, schedule.png")
    return 0
