"""What the commands share: the parser class, ``--config``/``--run-dir``/``--quiet``, and one flag per setting a
command uses, with the defaults that command applies in its help; the run of a measurement (find-lr, sweep) and
the per-epoch printout of training."""

from __future__ import annotations

import argparse
import difflib
import logging
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, NoReturn

from onecycle import presets, rundir
from onecycle.config import (
    CHOICES,
    FIELDS,
    Group,
    RunConfig,
    build_config,
    field_type,
    load_toml,
    settings_in,
    whole_range,
)
from onecycle.engine import TrainState
from onecycle.experiment import Setup, measuring, prepare
from onecycle.guard import check_fresh, locked

# --auto (train) and demo run a weight-decay sweep, so every setting but the swept parameter.
RUN_SETTINGS = tuple(name for name in settings_in(*Group) if name != "sweep_param")
"""The settings of ``train`` and ``demo``."""


class CommandError(Exception):
    """A problem with the user's input or a run, reported as one line without a traceback."""


class Parser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose commands reject unknown arguments themselves, with a hint: the flag meant
    (``--max_lr``, ``--maxlr``: did you mean ``--max-lr``?) or that the command does not use that setting."""

    def parse_known_args(self, args: Sequence[str] | None = None,  # type: ignore[override]
                         namespace: argparse.Namespace | None = None) -> tuple[argparse.Namespace, list[str]]:
        namespace, extras = super().parse_known_args(args, namespace)
        if extras and self._subparsers is None:
            self.error(self.unrecognized(extras))
        return namespace, extras

    def error(self, message: str) -> NoReturn:  # type: ignore[override]
        """One line, like every other error of the command line: the problem, and where the usage is."""
        self.exit(2, f"{self.prog}: error: {' '.join(message.split())} (see {self.prog} --help)\n")

    def unrecognized(self, extras: Sequence[str]) -> str:
        """The error message for arguments this parser does not know."""
        shown = [s for a in self._actions if a.help != argparse.SUPPRESS for s in a.option_strings]
        command = self.prog.split()[-1]
        hints = []
        for arg in extras:
            if not arg.startswith("--"):
                continue
            option = arg.split("=", 1)[0]
            dashed = "--" + option[2:].replace("_", "-")
            name = option[2:].replace("-", "_").removeprefix("no_")
            if dashed in shown and dashed != option:
                hints.append(f"did you mean {dashed}?")
            elif name in FIELDS:
                hints.append(f"{command} does not use {name}")
            else:
                close = difflib.get_close_matches(dashed, shown, n=1, cutoff=0.7)
                setting = difflib.get_close_matches(name, FIELDS, n=1, cutoff=0.8)
                if close:
                    hints.append(f"did you mean {close[0]}?")
                elif setting:
                    hints.append(f"{command} does not use {setting[0]}")
        text = f"unrecognized arguments: {' '.join(extras)}"
        return text + (f" ({'; '.join(hints)})" if hints else "")


def one_line(message: str) -> str:
    """An error message as one line: the lines of a message from a library run together."""
    return " ".join(message.split())


def floats(text: str) -> list[float]:
    """A comma-separated list of numbers (``1e-3,1e-4``); an empty item (``1e-3,,1e-4``, a trailing comma) is an
    error naming it, never dropped."""
    items = text.split(",")
    empty = [i for i, item in enumerate(items, 1) if not item.strip()]
    if empty:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {text!r}: item {empty[0]} of "
                                         f"{len(items)} is empty")
    try:
        return [float(v) for v in items]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {text!r}") from None


def whole(most: int, least: int = 1) -> Callable[[str], int]:
    """An argument type: a whole number from ``least`` to ``most`` (argparse names the flag in its error)."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = least - 1
        if not least <= value <= most:
            raise argparse.ArgumentTypeError(f"expected a whole number from {least} to {most}, got {text[:40]!r}")
        return value

    return parse


def directory(text: str) -> Path:
    """A directory argument: not empty, not an existing file, and not under one (it need not exist yet)."""
    if not text.strip():
        raise argparse.ArgumentTypeError("expected a directory, got an empty string (. is the current directory)")
    path = Path(text)
    for above in (path, *path.parents):  # the first that exists must be a directory
        if above.exists():
            if above.is_dir():
                break
            if above == path:
                raise argparse.ArgumentTypeError(f"{text} is a file, not a directory")
            raise argparse.ArgumentTypeError(f"{text} cannot be created: {above} is a file, not a directory")
    return path


_PARSE = {float: float, str: str, list: floats}  # int: whole(), in the setting's range
_METAVAR = {int: "N", float: "X", list: "X,X,..."}


def show(value: Any) -> str:
    """A default as it is written on the command line."""
    if isinstance(value, list):
        return ",".join(show(v) for v in value)
    if isinstance(value, float):
        mantissa, _, exponent = f"{value:.12e}".partition("e")
        scientific = f"{mantissa.rstrip('0').rstrip('.')}e{int(exponent)}"
        return min(f"{value:g}", scientific, key=len)  # 0.85, 10, 1e-5
    return str(value)


def help_text(name: str, default: Any) -> str:
    """The help of setting ``name``: its text, its choices and ``default`` (or what ``None`` means)."""
    meta = FIELDS[name].metadata
    text = meta["help"]
    if name in CHOICES:
        choices = ", ".join(CHOICES[name])
        text = text.replace("{choices}", choices) if "{choices}" in text else f"{text}: {choices}"
    shown = meta["none"] if default is None else show(default)
    return f"{text} (default: {shown})".replace("%", "%%")


def add_settings(parser: argparse.ArgumentParser, names: Sequence[str],
                 defaults: Mapping[str, Any] | None = None) -> None:
    """A flag per setting in ``names`` (``--batch-size`` for ``batch_size``, ``--flag/--no-flag`` for booleans),
    grouped as in :class:`~onecycle.config.RunConfig`; ``defaults`` are the command's own, shown in the help.
    A flag left out leaves the setting to the ``--config`` file or the default."""
    defaults = {**RunConfig().to_dict(), **(defaults or {})}
    groups: dict[str, argparse._ArgumentGroup] = {}
    for name in sorted(names, key=list(FIELDS).index):
        title = FIELDS[name].metadata["group"]
        if title not in groups:
            groups[title] = parser.add_argument_group(f"{title.value} settings")
        group = groups[title]
        kind, _ = field_type(name)
        text = help_text(name, defaults[name])
        if kind is bool:
            group.add_argument(flag(name), dest=name, action=argparse.BooleanOptionalAction, default=argparse.SUPPRESS,
                               help=text)
        else:
            parse = whole(*reversed(whole_range(name))) if kind is int else _PARSE[kind]
            group.add_argument(flag(name), dest=name, type=parse, default=argparse.SUPPRESS,
                               metavar=_METAVAR.get(kind, name.upper()), help=text)


def add_config_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", metavar="FILE",
                        help="TOML file of settings, any of them, also those this command does not use "
                        "(flags override it)")


def add_run_arguments(parser: argparse.ArgumentParser, names: Sequence[str], run_dir_default: str = "runs/latest",
                      defaults: Mapping[str, Any] | None = None,
                      overwrite_group: argparse._MutuallyExclusiveGroup | None = None) -> None:
    """``--config FILE``, ``--run-dir DIR``, ``--overwrite`` (in ``overwrite_group`` when given: exclusive with
    what it holds), ``--quiet`` and a flag per setting in ``names``."""
    parser.usage = "%(prog)s [-h] [--config FILE] [--run-dir RUN_DIR] [--overwrite] [--quiet] [setting flags]"
    add_config_argument(parser)
    parser.add_argument("--run-dir", default=run_dir_default, type=directory,
                        help=f"directory for results (default: {run_dir_default})")
    add_overwrite_argument(overwrite_group or parser)
    parser.add_argument("--quiet", action="store_true", help="no progress bars or info messages")
    add_settings(parser, names, defaults)


def add_overwrite_argument(parser: argparse.ArgumentParser | argparse._MutuallyExclusiveGroup) -> None:
    parser.add_argument("--overwrite", action="store_true",
                        help="start over where a run is (removed after all checks)")


def _flag_settings(args: argparse.Namespace) -> dict[str, Any]:
    """The settings given as flags (``--quiet`` turns progress off)."""
    given = {k: v for k, v in vars(args).items() if k in FIELDS}
    if getattr(args, "quiet", False):
        given["progress"] = False
    return given


def flag(name: str, value: Any = None) -> str:
    """The flag of setting ``name`` (``--no-amp`` for ``amp`` set to false)."""
    dashed = name.replace("_", "-")
    return f"--no-{dashed}" if value is False else f"--{dashed}"


def _flag_origins(args: argparse.Namespace, given: Mapping[str, Any]) -> dict[str, str]:
    """Where each setting of :func:`_flag_settings` came from: its flag (or ``--quiet``)."""
    origins = {k: f"from {flag(k, v)}" for k, v in given.items()}
    if getattr(args, "quiet", False):
        origins["progress"] = "from --quiet"
    return origins


def config_from_args(args: argparse.Namespace, defaults: Mapping[str, Any] | None = None,
                     **fixed: Any) -> RunConfig:
    """``defaults`` (the command's own), then ``--config``, then ``fixed`` values, then the flags given, validated
    together; an error names where each value came from (the file, a flag, the command, a default)."""
    if args.config is not None:
        presets.check_config_file(args.config)  # a copy of a preset file: its [preset] table as reproduce checks it
    flags = _flag_settings(args)
    origins = {**dict.fromkeys(fixed, f"set by onecycle {args.command}"), **_flag_origins(args, flags)}
    cfg = build_config(args.config, {**fixed, **flags}, dict(defaults or {}), origins)
    logging.basicConfig(level=logging.WARNING if getattr(args, "quiet", False) else logging.INFO,
                        format="%(message)s")
    return cfg


def given_settings(args: argparse.Namespace, cfg: RunConfig) -> dict[str, Any]:
    """The values in ``cfg`` (from :func:`config_from_args`) of the settings the command line names: the keys
    of the ``--config`` file and the flags given."""
    names = set(load_toml(args.config)) if args.config else set()
    return {k: getattr(cfg, k) for k in names | set(_flag_settings(args))}


def origin(args: argparse.Namespace, name: str) -> str:
    """Where setting ``name`` came from on this command line: ``"from --flag"``, ``"from FILE"`` (``--config``) or
    ``"default"``."""
    flags = _flag_settings(args)
    if name in flags:
        return _flag_origins(args, flags)[name]
    if args.config and name in load_toml(args.config):
        return f"from {args.config}"
    return "default"


def epoch_line(m: dict[str, Any], epochs: int) -> str:
    text = (f"epoch {m['epoch']:>2}/{epochs}  train loss {m['train_loss']:.4f} acc {100 * m['train_accuracy']:.2f}%")
    if "val_loss" in m:
        text += f"  test loss {m['val_loss']:.4f} acc {100 * m['val_accuracy']:.2f}%"
    return text + f"  lr {m['lr']:.3g}  {m['time_s']:.1f}s  {m['images_per_s']:.0f} img/s"


class PrintEpochs:
    """Prints one line per epoch."""

    def on_epoch_end(self, state: TrainState, metrics: dict[str, Any]) -> bool:
        print(epoch_line(metrics, state.epochs), flush=True)
        return False


def measure(args: argparse.Namespace, name: str, weight_decay: Callable[[RunConfig, Path], tuple[float, str]],
            job: Callable[[Setup, Path, float], Any], written: Sequence[str],
            check: Callable[[argparse.Namespace, RunConfig], None] | None = None) -> int:
    """Run ``find-lr`` or ``sweep`` (``name``: ``"range test"`` or ``"sweep"``): the settings (and ``check`` of
    them, the command's own), the run directory locked and checked (one holding a run is refused without
    ``--overwrite``), the weight decay to run at and where it came from (checked against the run directory before
    any data is loaded), the data, and only then the run's files removed (``--overwrite``) and the job run, after
    the line that says what it measures (:func:`~onecycle.experiment.measuring`); then what it found and the files
    it wrote."""
    cfg = config_from_args(args)
    if check is not None:
        check(args, cfg)
    with locked(args.run_dir, args.command):
        if not args.overwrite:
            check_fresh(args.run_dir, "pass --overwrite to remove it and start over")
        wd, source = weight_decay(cfg, args.run_dir)
        setup = prepare(cfg)
        if args.overwrite:  # after every check
            rundir.remove_run(args.run_dir)
        print(measuring(cfg, name, wd, source))
        result = job(setup, args.run_dir, wd)
    print(result)
    print(f"wrote {args.run_dir / written[0]}, {', '.join(written[1:])}")
    return 0
