"""Arguments every run command shares: ``--config``, ``--run-dir`` and one flag per setting of RunConfig."""

from __future__ import annotations

import argparse
import dataclasses
import logging
from pathlib import Path
from typing import Any

from onecycle.config import HELP, RunConfig, build_config


class CommandError(Exception):
    """A problem with the user's input or a run, reported as one line without a traceback."""


def _floats(text: str) -> list[float]:
    try:
        return [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {text!r}") from None


_TYPES = {"int": int, "float": float, "str": str, "list[float]": _floats}


def add_run_arguments(parser: argparse.ArgumentParser, run_dir_default: str = "runs/latest") -> None:
    """``--config FILE``, ``--run-dir DIR`` and a flag per setting; a flag given overrides the file."""
    parser.add_argument("--config", metavar="FILE", help="TOML file of settings (flags override it)")
    parser.add_argument("--run-dir", default=run_dir_default, type=Path,
                        help=f"directory for results (default {run_dir_default})")
    parser.add_argument("--quiet", action="store_true", help="no progress bars or info messages")
    group = parser.add_argument_group("settings (also accepted as keys of the --config file)")
    for f in dataclasses.fields(RunConfig):
        flag = "--" + f.name.replace("_", "-")
        kind = str(f.type).replace(" | None", "")
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()  # type: ignore[misc]
        help_text = f"{HELP[f.name]} (default: {default})"
        if kind == "bool":
            group.add_argument(flag, dest=f.name, action=argparse.BooleanOptionalAction,
                               default=argparse.SUPPRESS, help=help_text)
        else:
            group.add_argument(flag, dest=f.name, type=_TYPES[kind], default=argparse.SUPPRESS,
                               metavar=f.name.upper(), help=help_text)


def config_from_args(args: argparse.Namespace, **fixed: Any) -> RunConfig:
    """Defaults, then ``--config``, then ``fixed`` values, then the flags given, validated together."""
    names = {f.name for f in dataclasses.fields(RunConfig)}
    overrides = {**fixed, **{k: v for k, v in vars(args).items() if k in names}}
    if getattr(args, "quiet", False):
        overrides["progress"] = False
    cfg = build_config(args.config, overrides)
    logging.basicConfig(level=logging.WARNING if args.quiet else logging.INFO, format="%(message)s")
    return cfg
