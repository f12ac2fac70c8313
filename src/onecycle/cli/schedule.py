"""``onecycle schedule``: preview a training schedule (1cycle or a baseline) as a plot and a table of its phases."""

from __future__ import annotations

import argparse

from onecycle.cli.common import CommandError, add_config_argument, add_settings, config_from_args, flag, whole
from onecycle.config import POLICY_SETTINGS, RunConfig, load_toml
from onecycle.plots import plot_schedule
from onecycle.schedules import POLICIES, Constant, Policy, policy

MAX_TOTAL_STEPS = 2**31 - 1
DEFAULT_OUT = "runs/schedule.png"  # under runs/, like every command's results


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("schedule", help="preview a learning-rate and momentum schedule (1cycle or a baseline)",
                       description="Plot a schedule and print its phases. The schedule settings are those of train "
                       "(same flags, same --config keys); --epochs matters only to --cycle-epochs, which ends the "
                       "cycle after that share of --total-steps.")
    p.add_argument("--total-steps", type=whole(MAX_TOTAL_STEPS, least=2), required=True, metavar="N",
                   help=f"number of optimizer steps, 2 to {MAX_TOTAL_STEPS}")
    p.add_argument("--max-lr", dest="max_lr", metavar="MAX_LR", type=float, default=argparse.SUPPRESS,
                   help="peak learning rate (or max_lr in the --config file)")
    p.add_argument("--out", default=DEFAULT_OUT, help=f"plot file, .png or .svg (default: {DEFAULT_OUT})")
    add_config_argument(p)
    add_settings(p, (*POLICY_SETTINGS, "epochs"))
    # An earlier spelling of --no-three-phase, still accepted.
    p.add_argument("--two-phase", dest="three_phase", action="store_false", default=argparse.SUPPRESS,
                   help=argparse.SUPPRESS)
    p.set_defaults(func=run)


def lr_text(lr: float) -> str:
    """A learning rate as the table shows it (4 significant digits)."""
    return f"{lr:.4g}"


def origin(args: argparse.Namespace, name: str) -> str:
    """Where setting ``name`` came from: its flag, the ``--config`` file, or the default."""
    if name in vars(args):
        return f"from {flag(name)}"
    if args.config is not None and name in load_toml(args.config):
        return f"from {args.config}"
    return "default"


def cycle_note(cfg: RunConfig, total_steps: int, epochs_origin: str) -> str | None:
    """What ``cycle_epochs`` makes of a preview of ``total_steps`` steps, with the epochs it assumes and where they
    came from (``None`` without ``cycle_epochs``)."""
    if cfg.cycle_epochs is None:
        return None
    hint = "; --epochs sets the run's" if epochs_origin == "default" else ""
    return (f"cycle_epochs {cfg.cycle_epochs} of epochs {cfg.epochs} ({epochs_origin}{hint}): the cycle ends at "
            f"{cfg.cycle_epochs}/{cfg.epochs} of the {total_steps} steps")


def peak_note(schedule: Policy) -> str | None:
    """The learning rate the schedule peaks at when, as the table shows it, it is below max_lr (the top of the
    schedule falls between two steps), else ``None``."""
    step, peak = schedule.peak()
    if lr_text(peak) == lr_text(schedule.max_lr):
        return None
    return (f"the lr peaks at {lr_text(peak)} (step {step}), below max_lr {lr_text(schedule.max_lr)}: the top of the "
            "schedule falls between two steps")


def run(args: argparse.Namespace) -> int:
    cfg = config_from_args(args)  # --max-lr within the limits of the setting
    if cfg.max_lr is None:
        raise CommandError("schedule needs a peak learning rate: give --max-lr, or max_lr in the --config file")
    schedule = policy(max_lr=cfg.max_lr, total_steps=args.total_steps, **cfg.policy_kwargs())
    plot_schedule(schedule, out=args.out)  # first: a bad --out is reported before the table
    print(f"{POLICIES[schedule.name]}:")
    print(f"{'phase':<13}{'steps':>15}{'lr start':>12}{'lr end':>12}")
    for name, first, last, lr0, lr1 in schedule.table():
        print(f"{name:<13}{f'{first}-{last}':>15}{lr_text(lr0):>12}{lr_text(lr1):>12}")
    notes = [cycle_note(cfg, args.total_steps, origin(args, "epochs")), peak_note(schedule)]
    if isinstance(schedule.momentum, Constant):
        notes.append(f"momentum {schedule.momentum(0):g} throughout")
    for note in notes:
        if note is not None:
            print(note)
    print(f"wrote {args.out}")
    return 0
