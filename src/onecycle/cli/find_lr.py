"""``onecycle find-lr``: the learning-rate range test on a dataset and model."""

from __future__ import annotations

import argparse

from onecycle.cli.common import add_run_arguments, measure
from onecycle.config import POLICY_SETTINGS, Group, settings_in
from onecycle.experiment import find_lr, weight_decay_for

# The recommendation is for a planned run: its min_lr is max_lr / div_factor; the stability probe (--verify) trains
# its schedule (every setting of it), for a share of its epochs.
SETTINGS = tuple(dict.fromkeys((*settings_in(Group.DATA, Group.MODEL, Group.RANGE_TEST, Group.MACHINE), "epochs",
                                *POLICY_SETTINGS)))


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("find-lr", help="run the learning-rate range test",
                       description="Train while the learning rate grows from --start-lr to --end-lr, stop when the "
                       "loss explodes, and recommend a max_lr for 1cycle. Writes finder.json, finder.csv and "
                       "finder.png to the run directory.")
    add_run_arguments(p, SETTINGS)
    p.set_defaults(func=run, data_parallel=True)


def run(args: argparse.Namespace) -> int:
    return measure(args, "range test", weight_decay_for, find_lr,
                   ["finder.png", "finder.json", "finder.csv"])
