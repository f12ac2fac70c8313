"""``onecycle schedule``: preview a 1cycle schedule as a plot and a table of phase boundaries."""

from __future__ import annotations

import argparse

from onecycle.config import SCHEDULE_KEYS
from onecycle.plots import plot_schedule
from onecycle.schedules import one_cycle


def add_schedule_arguments(parser: argparse.ArgumentParser) -> None:
    """The 1cycle flags shared by ``schedule`` and ``train`` (torch's OneCycleLR names, dashed)."""
    g = parser.add_argument_group("1cycle schedule")
    g.add_argument("--pct-start", type=float, default=None,
                   help="fraction of training spent rising to max_lr (default 0.45 with three phases)")
    g.add_argument("--annihilation-pct", type=float, default=None,
                   help="alternative to --pct-start: fraction of training spent in annihilation")
    g.add_argument("--anneal-strategy", choices=["linear", "cos"], default="linear")
    g.add_argument("--div-factor", type=float, default=10.0, help="initial lr = max_lr / div_factor (10)")
    g.add_argument("--final-div-factor", type=float, default=100.0,
                   help="final lr = initial lr / final_div_factor (100)")
    g.add_argument("--base-momentum", type=float, default=0.85)
    g.add_argument("--max-momentum", type=float, default=0.95)
    g.add_argument("--no-cycle-momentum", dest="cycle_momentum", action="store_false")
    g.add_argument("--two-phase", dest="three_phase", action="store_false",
                   help="no separate annihilation phase (torch's three_phase=False)")


def schedule_kwargs(args: argparse.Namespace) -> dict:
    """The ``one_cycle`` keyword arguments held in parsed flags."""
    return {k: getattr(args, k) for k in SCHEDULE_KEYS}


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("schedule", help="preview a 1cycle learning-rate and momentum schedule",
                       description="Plot a 1cycle schedule and print its phase boundaries.")
    p.add_argument("--total-steps", type=int, required=True, help="number of optimizer steps")
    p.add_argument("--max-lr", type=float, required=True, help="peak learning rate")
    p.add_argument("--out", default="schedule.png", help="plot file (.png or .svg), default schedule.png")
    add_schedule_arguments(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    cycle = one_cycle(args.max_lr, total_steps=args.total_steps, **schedule_kwargs(args))
    print(f"{'phase':<13}{'steps':>15}{'lr start':>12}{'lr end':>12}")
    for name, first, last, lr0, lr1 in cycle.table():
        print(f"{name:<13}{f'{first}-{last}':>15}{lr0:>12.4g}{lr1:>12.4g}")
    plot_schedule(cycle, out=args.out)
    print(f"wrote {args.out}")
    return 0
