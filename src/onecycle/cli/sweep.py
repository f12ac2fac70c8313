"""``onecycle sweep``: range tests for several values of a hyper-parameter, and the pick."""

from __future__ import annotations

import argparse

from onecycle.cli.common import add_run_arguments, floats, measure
from onecycle.config import Group, settings_in
from onecycle.experiment import run_sweep, sweep_weight_decay

# One range test per value (not repeated), each recommending a max_lr for the planned 1cycle run.
SETTINGS = (*(name for name in settings_in(Group.DATA, Group.MODEL, Group.RANGE_TEST, Group.SWEEP, Group.MACHINE)
              if name not in ("repeats", "verify")), "epochs", "div_factor")


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


def run(args: argparse.Namespace) -> int:
    return measure(args, sweep_weight_decay, run_sweep, ["sweep.png", "sweep.json"])
