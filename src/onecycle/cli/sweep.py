"""``onecycle sweep``: range tests for several values of a hyper-parameter, and the pick."""

from __future__ import annotations

import argparse

from onecycle.cli.common import _floats, add_run_arguments, config_from_args
from onecycle.experiment import prepare, run_sweep
from onecycle.sweep import SweepResult


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("sweep", help="choose weight decay (or momentum) by range tests",
                       description="Run the range test once per value under identical conditions and pick the "
                       "largest value whose recommended max_lr and reached loss are within tolerance of the best "
                       "(lr within 2x, loss within 10%). Writes sweep.json and sweep.png.")
    p.add_argument("--param", dest="sweep_param", default=argparse.SUPPRESS,
                   help="hyper-parameter to sweep (weight_decay or momentum; default weight_decay)")
    p.add_argument("--values", dest="sweep_values", type=_floats, default=argparse.SUPPRESS,
                   help="comma-separated values (default 1e-3,1e-4,1e-5)")
    add_run_arguments(p)
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
