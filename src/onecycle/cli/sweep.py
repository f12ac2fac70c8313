"""``onecycle sweep``: range tests for several values of a hyper-parameter, and the pick."""

from __future__ import annotations

import argparse

from onecycle.cli.common import CommandError, add_run_arguments, flag, floats, measure, origin, show
from onecycle.config import Group, RunConfig, settings_in
from onecycle.experiment import run_sweep, sweep_weight_decay

# One range test per value (not repeated), each recommending a max_lr for the planned 1cycle run.
SETTINGS = (*(name for name in settings_in(Group.DATA, Group.MODEL, Group.RANGE_TEST, Group.SWEEP, Group.MACHINE)
              if name not in ("repeats", "verify")), "epochs", "div_factor")


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("sweep", help="choose weight decay (or momentum) by range tests",
                       description="Run the range test once per value under identical conditions and pick the "
                       "largest value whose recommended max_lr and reached loss are within tolerance of the best "
                       "(lr within 2x, loss within 10%); the swept setting takes the swept values, so its own "
                       "flag is refused. Writes sweep.json and sweep.png.")
    add_run_arguments(p, SETTINGS)
    # Earlier spellings of --sweep-param and --sweep-values, still accepted.
    p.add_argument("--param", dest="sweep_param", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    p.add_argument("--values", dest="sweep_values", type=floats, default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    p.set_defaults(func=run, data_parallel=True)


def run(args: argparse.Namespace) -> int:
    return measure(args, "sweep", sweep_weight_decay, run_sweep, ["sweep.png", "sweep.json"], check=check_swept)


def check_swept(args: argparse.Namespace, cfg: RunConfig) -> None:
    """The setting the sweep varies takes each of the swept values: given as a flag too, it is a
    :class:`CommandError` naming both; from the ``--config`` file (where it is for the other commands), a note
    says it is not used here."""
    name = cfg.sweep_param
    value, where = getattr(cfg, name), origin(args, name)
    swept = (f"the sweep varies {name} (sweep_param {name}, {origin(args, 'sweep_param')}) over sweep_values "
             f"{show(cfg.sweep_values)}")
    if where.startswith("from --"):
        raise CommandError(f"{flag(name)} {show(value)} cannot be used: {swept}; leave {flag(name)} out, or sweep "
                           "another parameter (--sweep-param)")
    if where != "default":
        print(f"note: {name} {show(value)} ({where}) is not used: {swept}")
