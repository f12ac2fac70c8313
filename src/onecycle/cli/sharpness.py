"""``onecycle sharpness``: the top eigenvalues of the Hessian of a trained run's loss, at its checkpoint's weights."""

from __future__ import annotations

import argparse
import logging
from dataclasses import asdict, fields

from onecycle import rundir
from onecycle.cli.common import CommandError, directory, flag, whole
from onecycle.config import whole_range
from onecycle.guard import locked
from onecycle.run_sharpness import SharpnessSettings, measure_run

DEFAULTS = SharpnessSettings()
SETTINGS = tuple(f.name for f in fields(SharpnessSettings))
"""The settings of a measurement, each a flag of its name (``--max-iter``); a flag left out takes its default."""
MOST = whole_range("epochs")[1]  # the most a whole-number setting takes


def tolerance(text: str) -> float:
    """``--tol``: a number between 0 and 1, both excluded."""
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"expected a number between 0 and 1 (both excluded), got {text[:40]!r}")
    return value


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("sharpness", help="top Hessian eigenvalues of a trained run (how sharp its minimum is)",
                       description="Estimate the top eigenvalues of the Hessian of a trained run's loss at the "
                       "weights of its checkpoint.pt, by the Lanczos method on Hessian-vector products, on a fixed, "
                       "seeded subset of its training images (normalised as in training, no augmentation; the model "
                       "in eval mode; the loss without weight decay's term). Prints them and writes "
                       f"{rundir.SHARPNESS_JSON} to the run directory with the settings they were measured under; "
                       "run again under the same settings from the same checkpoint, it reuses that file.")
    p.add_argument("run_dir", type=directory, metavar="RUN_DIR", help="the run directory (config.json, checkpoint.pt)")
    p.add_argument("--images", type=whole(MOST), default=None, metavar="N",
                   help=f"training images the loss is averaged over (default: {DEFAULTS.images})")
    p.add_argument("--k", type=whole(MOST), default=None, metavar="K",
                   help=f"how many of the largest eigenvalues (default: {DEFAULTS.k})")
    p.add_argument("--tol", type=tolerance, default=None, metavar="X",
                   help="relative tolerance: each eigenvalue's residual at most X times its value "
                        f"(default: {DEFAULTS.tol:g})")
    p.add_argument("--max-iter", type=whole(MOST), default=None, metavar="N",
                   help=f"the most Lanczos iterations, one Hessian-vector product each (default: {DEFAULTS.max_iter})")
    p.add_argument("--batch-size", type=whole(*reversed(whole_range("batch_size"))), default=None,
                   metavar="N",
                   help="images per Hessian-vector product batch: memory only, the Hessian is that of the mean over "
                        f"all of them (default: {DEFAULTS.batch_size})")
    p.add_argument("--seed", type=whole(*reversed(whole_range("seed"))), default=None, metavar="N",
                   help=f"draws the images and the Lanczos start (default: {DEFAULTS.seed})")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if not args.run_dir.is_dir():
        raise CommandError(f"run directory {args.run_dir} does not exist")
    given = {name: getattr(args, name) for name in SETTINGS if getattr(args, name) is not None}
    origins = {name: f"from {flag(name)}" for name in given}  # errors name the flags, as train's do
    settings = SharpnessSettings.given({**asdict(DEFAULTS), **given}, origins)  # checked before any work
    logging.basicConfig(level=logging.WARNING if args.quiet else logging.INFO, format="%(message)s")
    with locked(args.run_dir, args.command):
        measured, reused = measure_run(args.run_dir, settings, progress=not args.quiet, origins=origins)
    print(measured)
    if not reused:
        print(f"wrote {args.run_dir / rundir.SHARPNESS_JSON}")
    return 0
