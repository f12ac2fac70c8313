"""``onecycle train``: 1cycle training with max_lr and weight decay from the run directory (or --auto)."""

from __future__ import annotations

import argparse
import functools
from pathlib import Path
from typing import Any

from onecycle import rundir
from onecycle.cli.common import RUN_SETTINGS, CommandError, PrintEpochs, add_run_arguments, config_from_args
from onecycle.experiment import prepare, resolve, train_run
from onecycle.report import train_time_text


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train with the 1cycle policy",
                       description="Train with the 1cycle policy. max_lr and weight decay come from the flags, else "
                       "from a find-lr/sweep in the same run directory measured under the same settings (a result "
                       "measured under others is refused, naming each difference); --auto runs those first when "
                       "missing or stale. Writes config.json, metrics.jsonl/.csv, steps.csv, schedule.png and "
                       "checkpoint.pt.")
    p.add_argument("--auto", action="store_true", help="run the sweep and the range test first if missing or stale")
    p.add_argument("--resume", action="store_true",
                   help="continue from the run directory's checkpoint.pt with its saved settings (flags override)")
    add_run_arguments(p, RUN_SETTINGS)
    p.set_defaults(func=run)


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
    run_dir = args.run_dir
    setup_once = functools.cache(lambda: prepare(cfg))
    max_lr, wd = resolve(cfg, run_dir, args.auto, setup_once)
    state = train_run(setup_once(), run_dir, max_lr, wd, resume=args.resume, extra_hooks=[PrintEpochs()])
    if state.stopped:
        raise CommandError(f"{state.stopped}; the last good checkpoint is {run_dir / 'checkpoint.pt'}")
    print(f"train time {train_time_text(state.history)} (the epochs' steps and test evaluation)")
    print(f"wrote {run_dir}/: config.json, metrics.jsonl, metrics.csv, checkpoint.pt, schedule.png")
    return 0
