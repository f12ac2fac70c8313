"""``onecycle schedule``: preview a 1cycle schedule as a plot and a table of phase boundaries."""

from __future__ import annotations

import argparse

from onecycle.cli.common import add_config_argument, add_settings, config_from_args
from onecycle.config import SCHEDULE_KEYS
from onecycle.plots import plot_schedule
from onecycle.schedules import one_cycle


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("schedule", help="preview a 1cycle learning-rate and momentum schedule",
                       description="Plot a 1cycle schedule and print its phase boundaries. The schedule settings "
                       "are those of train (same flags, same --config keys).")
    p.add_argument("--total-steps", type=int, required=True, help="number of optimizer steps")
    p.add_argument("--max-lr", dest="peak_lr", metavar="MAX_LR", type=float, required=True,
                   help="peak learning rate")
    p.add_argument("--out", default="schedule.png", help="plot file, .png or .svg (default: schedule.png)")
    add_config_argument(p)
    add_settings(p, SCHEDULE_KEYS)
    # An earlier spelling of --no-three-phase, still accepted.
    p.add_argument("--two-phase", dest="three_phase", action="store_false", default=argparse.SUPPRESS,
                   help=argparse.SUPPRESS)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    cfg = config_from_args(args)
    cycle = one_cycle(args.peak_lr, total_steps=args.total_steps, **cfg.schedule_kwargs())
    plot_schedule(cycle, out=args.out)  # first: a bad --out is reported before the table
    print(f"{'phase':<13}{'steps':>15}{'lr start':>12}{'lr end':>12}")
    for name, first, last, lr0, lr1 in cycle.table():
        print(f"{name:<13}{f'{first}-{last}':>15}{lr0:>12.4g}{lr1:>12.4g}")
    print(f"wrote {args.out}")
    return 0
