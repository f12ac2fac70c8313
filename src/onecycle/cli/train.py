"""``onecycle train``: 1cycle training (or a baseline schedule) with max_lr and weight decay from the run directory
(or --auto)."""

from __future__ import annotations

import argparse
import functools
import math
import sys

from onecycle import rundir
from onecycle.cli.common import (
    RUN_SETTINGS,
    CommandError,
    PrintEpochs,
    add_run_arguments,
    config_from_args,
    given_settings,
)
from onecycle.experiment import (
    FRESH_TRAINING,
    RESUME_MAY_CHANGE,
    Resume,
    complete_run,
    prepare,
    resolve,
    resume_settings,
    train_run,
)
from onecycle.guard import check_fresh, locked
from onecycle.interrupt import StopRequest
from onecycle.report import train_time_text
from onecycle.retry import MAX_RETRIES


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train with the 1cycle policy (or a baseline schedule)",
                       description="Train with the 1cycle policy, or with --schedule a baseline at max_lr. max_lr "
                       "and weight decay come from the flags, else "
                       "from a find-lr/sweep in the same run directory measured under the same settings (a result "
                       "measured under others is refused, naming each difference); --auto runs those first when "
                       "missing or stale. Writes " + ", ".join(rundir.TRAIN_FILES) + ". A run directory that holds "
                       "a run already is refused unless --resume or --overwrite.")
    p.add_argument("--auto", action="store_true", help="run the sweep and the range test first if missing or stale")
    start = p.add_mutually_exclusive_group()
    start.add_argument("--resume", action="store_true",
                       help="continue the run in --run-dir from its checkpoint.pt, exactly as it was set up (its "
                       "config.json); only --quiet and " + ", ".join(
                           "--" + k.replace("_", "-") for k in RESUME_MAY_CHANGE) + " may be given anew, any other "
                       "setting that differs from the saved one is refused")
    add_run_arguments(p, RUN_SETTINGS, overwrite_group=start)
    p.set_defaults(func=run, data_parallel=True)


def _retries_left(saved: Resume) -> str:
    """The retries after a diverged loss a run of on_diverge retry made before its checkpoint and those it has
    left (``"; 1 retry so far, 2 left"``); nothing for a run of on_diverge stop."""
    if saved.cfg.on_diverge != "retry":
        return ""
    retries = saved.checkpoint["retries"]
    made = len(retries)
    lowered = f" (the last lowered its peak to {retries[-1]['max_lr']:.4g})" if made and not math.isclose(
        retries[-1]["max_lr"], saved.max_lr, rel_tol=1e-9) else ""
    return f"; {made} {'retry' if made == 1 else 'retries'} so far{lowered}, {MAX_RETRIES - made} left"


def run(args: argparse.Namespace) -> int:
    cfg = config_from_args(args)
    run_dir = args.run_dir
    with locked(run_dir, args.command):
        saved = resume_settings(run_dir, given_settings(args, cfg)) if args.resume else None
        if saved is not None:
            if saved.finished:
                complete_run(run_dir, saved)
                print(f"the run in {run_dir} is finished ({saved.epoch}/{saved.cfg.epochs} epochs); nothing to do")
                return 0
            print(f"resuming at step {saved.step}, after epoch {saved.epoch}/{saved.cfg.epochs}: max_lr "
                  f"{saved.max_lr:.4g}, weight decay {saved.weight_decay:g}{_retries_left(saved)}")
            cfg, max_lr, wd = saved.cfg, saved.max_lr, saved.weight_decay
            setup = prepare(cfg)
        else:
            if not args.overwrite:
                check_fresh(run_dir, FRESH_TRAINING)  # at once, before any data is read or measured
            setup_once = functools.cache(lambda: prepare(cfg))
            max_lr, wd = resolve(cfg, run_dir, args.auto, setup_once)
            setup = setup_once()
        stop = StopRequest()
        state = train_run(setup, run_dir, max_lr, wd, resume=saved, overwrite=args.overwrite,
                          extra_hooks=[PrintEpochs()], stop=stop)
    if state.stopped and stop.signal is not None and not state.diverged:  # the checkpoint holds the run
        print(f"onecycle train: {state.stopped}", file=sys.stderr)
        return 128 + stop.signal
    if state.stopped:
        raise CommandError(state.stopped)
    print(f"train time {train_time_text(state.history)} (the epochs' steps and test evaluation)")
    print(f"wrote {run_dir}/: {', '.join(rundir.TRAIN_FILES)}")
    return 0
