"""``onecycle sweep``: range tests for several values of a hyper-parameter, and the pick."""

from __future__ import annotations

import argparse

from onecycle.cli.common import add_run_arguments, config_from_args, floats
from onecycle.config import Group, settings_in
from onecycle.experiment import prepare, run_sweep
from onecycle.sweep import SweepResult

# One range test per value (not repeated), each recommending a max_lr for the planned 1cycle run.
SETTINGS = (*(name for name in settings_in(Group.DATA, Group.MODEL, Group.RANGE_TEST, Group.SWEEP, Group.MACHINE)
              if name != "repeats"), "epochs", "div_factor")


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("sweep", help="choose weight decay (or momentum) by range tests",
                       description="Run the range test once per value under identical conditions and pick the "
                       "largest value whose recommended max_lr and reached loss are within tolerance of the best "
                       "(lr within 2x, loss within 10%). Writes sweep.json and sweep.png.")
    add_run_arguments(p, SETTINGS)
    # Earlier spellings of --sweep-param and --sweep-values, still accepted.
    p.add_argument("--param", dest="sweep_param", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    p.add_argument("--values", dest="sweep_values", type=floats, default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    p.set_defaults(func=run)


def describe(result: SweepResult) -> str:
    lines = [f"{result.param:>14} {'max_lr':>9} {'reached loss':>13}  eligible"]
    for value, lr, loss, ok in zip(result.values, result.max_lrs, result.reached_losses, result.eligible):
        mark = "  <- pick" if value == result.pick else ""
        lr_text = "-" if lr is None else f"{lr:.3g}"
        lines.append(f"{value:>14g} {lr_text:>9} {loss:>13.4f}  {'yes' if ok else 'no'}{mark}")
    lines.append(f"pick: {result.param}={result.pick}" if result.pick is not None else "pick: none eligible")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    cfg = config_from_args(args)
    result = run_sweep(prepare(cfg), args.run_dir)
    print(describe(result))
    print(f"wrote {args.run_dir / 'sweep.png'}, sweep.json")
    return 0
