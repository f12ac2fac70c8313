"""The README against the code: it names every model, schedule and dataset, and every flag it shows is one the
command it is shown with takes."""

import argparse
import importlib
import re
from pathlib import Path

import pytest

from onecycle.cli import build_parser, main
from onecycle.datasets import DATASETS
from onecycle.models import MODELS
from onecycle.schedules import POLICIES

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
FLAG = re.compile(r"--[a-z][a-z0-9_-]*")
MISTYPED = {"--max_lr": "did you mean --max-lr?"}  # shown as a mistake the command line answers with a hint
BLOCKS = re.findall(r"```bash\n(.*?)```", README, re.S)
PROSE = re.sub(r"```.*?```", "", README, flags=re.S)
PROGRAMS = {  # the commands of this repository the README shows: onecycle's, the benchmarks', the setup script
    "onecycle": re.compile(r"^(?:\.venv/bin/)?onecycle ([a-z][a-z-]*)(.*)$"),
    "module": re.compile(r"^(?:\.venv/bin/)?python -m (benchmarks[\w.]*)(.*)$"),
    "script": re.compile(r"^bash (scripts/[\w.]+)(.*)$"),
}


def _commands() -> dict[str, argparse.ArgumentParser]:
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return dict(sub.choices)


def _flags(parser: argparse.ArgumentParser) -> set[str]:
    return {s for a in parser._actions for s in a.option_strings}


def _shown_commands() -> list[str]:
    """Every command the README shows: the lines of its bash blocks and its inline code, comments cut off, each
    command of a ``&&`` chain on its own."""
    lines = [line.split("#", 1)[0] for block in BLOCKS for line in block.splitlines()]
    spans = re.findall(r"`([^`\n]+)`", PROSE)
    return [part.strip() for text in lines + spans for part in text.split("&&") if part.strip()]


def _module_parser(name: str) -> argparse.ArgumentParser | None:
    """The parser of ``python -m name`` (``name.cli.build_parser``), ``None`` for a module without one (shown
    without flags)."""
    try:
        return importlib.import_module(f"{name}.cli").build_parser()
    except ModuleNotFoundError:
        return None


def _invocations() -> list[tuple[str, str, str]]:
    """``(kind, name, the rest)`` for each command shown that runs onecycle, a benchmark or a script (see
    :data:`PROGRAMS`)."""
    return [(kind, *match.groups()) for text in _shown_commands() for kind, pattern in PROGRAMS.items()
            if (match := pattern.match(text))]


@pytest.mark.parametrize("name", [*MODELS, *POLICIES, *DATASETS])
def test_the_readme_names_every_model_schedule_and_dataset(name):
    assert f"`{name}`" in README


def test_every_flag_shown_with_a_command_is_one_it_takes():
    commands = _commands()
    shown = set()
    for kind, name, rest in _invocations():
        flags = set(FLAG.findall(rest))
        if kind == "onecycle":
            assert name in commands, f"the README shows onecycle {name}, which is not a command"
            shown.add(name)
            known = _flags(commands[name])
        elif kind == "module":
            parser = _module_parser(name)
            known = set() if parser is None else _flags(parser)
        else:
            script = (ROOT / name).read_text()
            known = {flag for flag in flags if f'"{flag}"' in script}
        assert flags <= known, f"{name}: {sorted(flags - known)} not among its flags"
    assert shown == set(commands)  # every command is shown at least once


def test_every_flag_in_the_text_is_a_flag_of_a_command_or_script_shown():
    parsers = list(_commands().values())
    parsers += [_module_parser(name) for kind, name, _ in _invocations() if kind == "module"]
    every = set().union(*(_flags(parser) for parser in parsers if parser is not None))
    scripts = {name for kind, name, _ in _invocations() if kind == "script"}
    every |= {flag for name in scripts for flag in re.findall(r'"(--[a-z][a-z-]*)"', (ROOT / name).read_text())}
    text = PROSE
    for command in sorted(_shown_commands(), key=len, reverse=True):  # the flags of a command shown are its own
        if any(pattern.match(command) for pattern in PROGRAMS.values()):
            text = text.replace(command, "")
    flags = set(FLAG.findall(text)) - set(MISTYPED)
    assert flags and flags <= every, sorted(flags - every)


@pytest.mark.parametrize(("flag", "hint"), list(MISTYPED.items()))
def test_the_mistyped_flag_the_readme_shows_gets_the_hint_it_says(flag, hint, capsys):
    assert flag in README and hint.removeprefix("did you mean ").rstrip("?") in README
    with pytest.raises(SystemExit):
        main(["train", flag, "0.1"])
    assert hint in capsys.readouterr().err


def test_the_readme_schedule_preview_writes_under_runs(tmp_path, monkeypatch, capsys):
    (line,) = [rest for kind, name, rest in _invocations() if kind == "onecycle" and name == "schedule"]
    monkeypatch.chdir(tmp_path)  # as from the repository root, where runs/ is ignored by git
    assert main(["schedule", *line.split()]) == 0
    assert [p.name for p in tmp_path.iterdir()] == ["runs"]
    assert "/runs/" in (ROOT / ".gitignore").read_text().splitlines()
