"""``onecycle demo``: the whole method on Fashion-MNIST in a few minutes on a laptop CPU — weight-decay sweep,
range test, 1cycle training and a report."""

from __future__ import annotations

import argparse
import shlex
import sys
import time

from onecycle import distributed
from onecycle.cli.common import RUN_SETTINGS, PrintEpochs, add_run_arguments, config_from_args, show
from onecycle.config import RunConfig
from onecycle.datasets import DatasetNotFound
from onecycle.experiment import Setup, complete_run, kept_run, prepare, resolve, train_run
from onecycle.guard import locked
from onecycle.interrupt import StopRequest
from onecycle.report import read_run, results_table, write_report
from onecycle.schedules import POLICIES

# The demo's defaults (--config and flags override them), sized for 2 CPU cores: the sweep and the range test
# cost about one epoch together.
DEMO = {
    "dataset": "fashion-mnist",
    "model": "small-cnn",
    "batch_size": 256,  # 128 and 512 run far slower on CPU than 256
    "channels_last": True,  # ~1.3x the images/s of the default layout on CPU for this net
    "epochs": 4,
    "augment": "none",  # a random flip cost accuracy in runs this short
    "label_smoothing": 0.1,
    "num_steps": 100,
    "sweep_values": [1e-3, 1e-4, 1e-5],
    "sweep_steps": 60,
}


# Over DEMO when Fashion-MNIST is not installed and cannot be downloaded: 1,437 training images of 8x8.
DIGITS_DEMO = {"dataset": "digits", "batch_size": 64, "epochs": 20, "sweep_steps": 40, "num_steps": 80}


def add_parser(sub: argparse._SubParsersAction) -> None:
    fallback = ", ".join(f"{k} {show(v)}" for k, v in DIGITS_DEMO.items() if k != "dataset")
    p = sub.add_parser("demo", help="sweep, range test, 1cycle training and report on Fashion-MNIST",
                       description="Run the whole method on Fashion-MNIST: a weight-decay sweep, the range test at "
                       "the picked weight decay, 1cycle training at the recommended max_lr, and a report. "
                       "--weight-decay skips the sweep, --max-lr the range test; a sweep or range test already in "
                       "the run directory, measured under the same settings, is reused, and so is a training run of "
                       "the same settings: kept when finished, else continued from its checkpoint (a run of other "
                       "settings is refused unless --overwrite). When Fashion-MNIST cannot be "
                       f"found or downloaded it runs on scikit-learn's 8x8 digits instead ({fallback}, unless "
                       "set). Any setting can be changed.")
    add_run_arguments(p, RUN_SETTINGS, run_dir_default="runs/demo", defaults=DEMO)
    p.set_defaults(func=run, data_parallel=True)


def run(args: argparse.Namespace) -> int:
    start = time.perf_counter()
    cfg = config_from_args(args, defaults=DEMO, sweep_param="weight_decay")
    run_dir = args.run_dir
    with locked(run_dir, args.command):
        setup = load(args, cfg)
        cfg = setup.cfg
        kept = None if args.overwrite else kept_run(cfg, run_dir, "pass --overwrite to remove it and start over")
        print(f"[1/3] weight decay and max_lr on {cfg.dataset} ({len(setup.train_data)} training images, "
              f"{cfg.model}): sweep and range test, reused where run before under these settings")
        if kept is None:
            max_lr, wd = resolve(cfg, run_dir, auto=True, setup=lambda: setup)
        else:
            max_lr, wd = kept.max_lr, kept.weight_decay
            print(f"max_lr {max_lr:.4g}, weight decay {wd:g}: reusing those of the run of these settings in {run_dir} "
                  "(no sweep or range test)")
        print(f"[2/3] {POLICIES[cfg.schedule]} training: {cfg.epochs} epochs, max_lr {max_lr:.3g}, weight decay "
              f"{wd:g}")
        if kept is not None and kept.finished:
            complete_run(run_dir, kept)
            print(f"{run_dir} holds this run, finished ({kept.epoch}/{cfg.epochs} epochs): kept (--overwrite trains "
                  "it again)")
        else:
            if kept is not None:
                print(f"resuming the run in {run_dir} after epoch {kept.epoch}/{cfg.epochs}")
            stop = StopRequest()
            state = train_run(setup, run_dir, max_lr, wd, resume=kept, overwrite=kept is None,
                              extra_hooks=[] if args.quiet else [PrintEpochs()], stop=stop,
                              resume_command=again(args))
            if state.stopped and stop.signal is not None and not state.diverged:  # the checkpoint holds the run
                print(f"onecycle demo: {state.stopped}", file=sys.stderr)
                return 128 + stop.signal
            if state.stopped:
                raise ValueError(state.stopped)
        print("[3/3] report", flush=True)
        html_path, _ = write_report([run_dir], run_dir)
    print(f"wrote {html_path}")
    header, rows = results_table([read_run(run_dir)])
    for name, value in zip(header, rows[0]):
        print(f"  {name:<13} {value}")
    print(f"whole command {time.perf_counter() - start:.0f} s (data, sweep, range test, training, report)")
    return 0


def again(args: argparse.Namespace) -> str:
    """The demo command as given, without ``--overwrite``: run again, it reuses the sweep and range test and
    continues the training run from its checkpoint."""
    return distributed.launched_as(shlex.join(["onecycle", *(a for a in args.argv if a != "--overwrite")]))


def load(args: argparse.Namespace, cfg: RunConfig) -> Setup:
    """The data of ``cfg``; scikit-learn's digits (:data:`DIGITS_DEMO`) where Fashion-MNIST is not found and no
    --data-dir was named."""
    try:
        return prepare(cfg)
    except DatasetNotFound as err:
        if cfg.data_dir is not None:  # the user named where the data is: no quiet change of dataset
            raise
        print(f"notice: {err}\nnotice: running the demo on scikit-learn's 8x8 digits instead")
        cfg = config_from_args(args, defaults={**DEMO, **DIGITS_DEMO}, sweep_param="weight_decay",
                               dataset=DIGITS_DEMO["dataset"])
        return prepare(cfg)
