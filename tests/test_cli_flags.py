"""Flags and help: each command shows the settings it uses, with the defaults it applies, in one spelling; a
mistyped flag gets a hint."""

import argparse
import json
import re

import pytest

from onecycle.cli import build_parser, main
from onecycle.cli.common import config_from_args
from onecycle.cli.demo import DEMO
from onecycle.config import CHOICES, FIELDS, POLICY_SETTINGS, RunConfig, field_type, from_dict, whole_range
from onecycle.schedules import ONE_CYCLE
from tests.offline import without_fashion_mnist


def _commands() -> dict[str, argparse.ArgumentParser]:
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return dict(sub.choices)


def _help(command: str) -> str:
    """The help text with its line wrapping undone."""
    return " ".join(_commands()[command].format_help().split())


def _flags(command: str) -> set[str]:
    return {s for a in _commands()[command]._actions if a.help != argparse.SUPPRESS for s in a.option_strings}


def test_each_command_shows_only_the_settings_it_uses():
    find_lr, sweep, train, schedule = _flags("find-lr"), _flags("sweep"), _flags("train"), _flags("schedule")
    assert {"--start-lr", "--num-steps", "--repeats", "--epochs", "--div-factor", "--batch-size", "--verify"} <= find_lr
    assert not {"--max-lr", "--clip-grad-norm", "--sweep-values"} & find_lr
    assert {"--sweep-param", "--sweep-values", "--sweep-steps", "--start-lr", "--epochs", "--div-factor"} <= sweep
    assert not {"--repeats", "--max-lr", "--pct-start", "--verify"} & sweep
    assert {"--max-lr", "--pct-start", "--sweep-values", "--repeats", "--clip-grad-norm", "--verify"} <= train
    assert {"--schedule", "--cycle-epochs", "--cycle-momentum", "--no-cycle-momentum"} <= train
    # the schedule of the planned run, which --verify trains: every setting of it, spelt as in train
    assert {"--schedule", "--pct-start", "--cycle-epochs", "--three-phase", "--no-three-phase"} <= find_lr
    assert "--sweep-param" not in train  # train --auto sweeps weight decay only
    assert {"--pct-start", "--div-factor", "--three-phase", "--no-three-phase", "--max-lr", "--schedule",
            "--momentum"} <= schedule
    assert not {"--batch-size", "--dataset", "--weight-decay"} & schedule
    assert len(_commands()["find-lr"].format_help().splitlines()) < 110


def test_the_schedule_settings_are_what_shapes_the_schedule_and_train_and_schedule_take_them_all():
    class Spy:  # a RunConfig that records the settings its methods read
        def __init__(self, cfg):
            self.cfg, self.read = cfg, set()

        def __getattr__(self, name):
            if callable(getattr(RunConfig, name, None)):
                return getattr(RunConfig, name).__get__(self)
            self.read.add(name)
            return getattr(self.cfg, name)

    spy = Spy(from_dict({"epochs": 10, "cycle_epochs": 4}))
    RunConfig.policy_kwargs(spy)
    assert spy.read == {*POLICY_SETTINGS, "epochs"}
    flags = {"--" + name.replace("_", "-") for name in spy.read}
    assert flags <= _flags("train") and flags <= _flags("schedule") and flags <= _flags("find-lr")


def test_one_spelling_per_option():
    for command in ("sweep", "train", "demo", "schedule"):
        assert not {"--param", "--values", "--two-phase"} & _flags(command)
    parser = build_parser()
    old = parser.parse_args(["sweep", "--param", "momentum", "--values", "0.8,0.9"])
    new = parser.parse_args(["sweep", "--sweep-param", "momentum", "--sweep-values", "0.8,0.9"])
    assert (old.sweep_param, old.sweep_values) == (new.sweep_param, new.sweep_values) == ("momentum", [0.8, 0.9])
    a = parser.parse_args(["schedule", "--total-steps", "9", "--max-lr", "1", "--two-phase"])
    b = parser.parse_args(["schedule", "--total-steps", "9", "--max-lr", "1", "--no-three-phase"])
    assert a.three_phase is b.three_phase is False


def test_no_help_text_gives_a_default_twice():
    for name, parser in _commands().items():
        for action in parser._actions:
            text = action.help or ""
            for choice in CHOICES.get(action.dest, ()):  # a choice may be called default (optimizer_impl)
                text = re.sub(rf"\b{re.escape(choice)}\b(?!:)", "", text)
            assert text.count("default") <= 1, (name, action.help)


def test_help_shows_the_defaults_the_command_uses(capsys):
    demo, train = _help("demo"), _help("train")
    assert f"(default: {DEMO['sweep_steps']})" in demo and "(default: 0.1)" in demo  # label smoothing
    assert "(default: runs/demo)" in demo and "(default: runs/latest)" in train
    assert "--label-smoothing X label smoothing of the cross-entropy loss (default: 0)" in train
    assert "(default: 1e-5)" in _help("find-lr")  # start_lr
    assert f"(default: {ONE_CYCLE.final_div_factor:g})" in _help("schedule")


@pytest.mark.parametrize(
    "argv,hint",
    [
        (["train", "--max_lr", "0.1"], "did you mean --max-lr?"),
        (["train", "--maxlr", "0.1"], "did you mean --max-lr?"),
        (["train", "--no_amp"], "did you mean --no-amp?"),
        (["find-lr", "--max-lr", "0.1"], "find-lr does not use max_lr"),
        (["sweep", "--maxlr", "0.1"], "sweep does not use max_lr"),
        (["sweep", "--batch-sise", "64"], "did you mean --batch-size?"),
    ],
)
def test_mistyped_flag_gets_a_hint(capsys, argv, hint):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert f"onecycle {argv[0]}: error: unrecognized arguments: {' '.join(argv[1:])}" in err and hint in err


def test_config_file_may_hold_settings_the_command_does_not_show(tmp_path):
    path = tmp_path / "run.toml"
    path.write_text("max_lr = 0.4\npct_start = 0.3\nepochs = 7\n")
    args = build_parser().parse_args(["find-lr", "--config", str(path), "--epochs", "2"])
    cfg = config_from_args(args)
    assert (cfg.max_lr, cfg.pct_start, cfg.epochs) == (0.4, 0.3, 2)


def test_schedule_reads_the_schedule_settings_of_a_config_file(tmp_path, capsys):
    path = tmp_path / "run.toml"
    path.write_text('three_phase = false\ndataset = "digits"\n')
    out = tmp_path / "s.png"
    assert main(["schedule", "--config", str(path), "--total-steps", "100", "--max-lr", "1", "--out", str(out)]) == 0
    assert "annihilation" not in capsys.readouterr().out


def test_demo_honours_max_lr_and_weight_decay(tmp_path, capsys, monkeypatch):
    without_fashion_mnist(monkeypatch)
    code = main(["demo", "--run-dir", str(tmp_path), "--train-subset", "256", "--epochs", "1", "--max-lr", "0.05",
                 "--weight-decay", "1e-4", "--quiet"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "max_lr 0.05 given: no range test" in out and "weight decay 0.0001 given: no sweep" in out
    resolved = json.loads((tmp_path / "config.json").read_text())["resolved"]
    assert resolved["max_lr"] == 0.05 and resolved["weight_decay"] == 1e-4
    assert not (tmp_path / "finder.json").exists() and not (tmp_path / "sweep.json").exists()


def test_demo_settings_come_under_the_config_file(tmp_path):
    path = tmp_path / "run.toml"
    path.write_text("batch_size = 64\n")
    args = build_parser().parse_args(["demo", "--config", str(path)])
    cfg = config_from_args(args, defaults=DEMO)
    assert cfg.batch_size == 64 and cfg.label_smoothing == DEMO["label_smoothing"]


def test_find_lr_takes_every_setting_of_the_schedule_the_probe_trains_in_trains_spelling():
    from onecycle.config import FIELDS, RunConfig, from_dict

    read = set()

    class Watched(RunConfig):
        def __getattribute__(self, name):
            if name in FIELDS:
                read.add(name)
            return super().__getattribute__(name)

    for values in ({}, {"cycle_epochs": 2, "epochs": 4}, {"annihilation_pct": 0.2}, {"schedule": "cosine"}):
        Watched(**from_dict(values).to_dict()).policy_kwargs()
    assert {"schedule", "pct_start", "cycle_epochs", "epochs", "momentum"} <= read
    names = {a.dest: a.option_strings for a in _commands()["find-lr"]._actions}
    train = {a.dest: a.option_strings for a in _commands()["train"]._actions}
    assert read <= set(names) and all(names[name] == train[name] for name in read)



@pytest.mark.parametrize("command,flag", [("sweep", "--sweep-values"), ("sweep", "--values"),
                                          ("train", "--sweep-values"), ("demo", "--sweep-values")])
@pytest.mark.parametrize("text,which", [("1e-3,,1e-4", "item 2 of 3"), ("1e-3,1e-4,", "item 3 of 3"),
                                        (" ,1e-4", "item 1 of 2"), ("", "item 1 of 1")])
def test_an_empty_item_of_a_list_is_refused_naming_the_flag_and_the_item(capsys, command, flag, text, which):
    with pytest.raises(SystemExit) as exc:
        build_parser().parse_args([command, flag, text])
    assert exc.value.code == 2
    assert capsys.readouterr().err.strip() == (
        f"onecycle {command}: error: argument {flag}: expected comma-separated numbers, got {text!r}: {which} is "
        f"empty (see onecycle {command} --help)")


INTEGER_FLAGS = {"--log-every": (1, 2**31 - 1), "--epochs": (1, 2**31 - 1), "--num-steps": (2, 2**31 - 1),
                 "--threads": (1, 1024), "--seed": (-(2**31) + 1, 2**31 - 1)}
"""Integer settings' flags of train and the whole numbers each accepts (the settings' own ranges)."""


@pytest.mark.parametrize("flag", INTEGER_FLAGS)
@pytest.mark.parametrize("text", ["abc", "1.5", "", "99999999999"])
def test_an_integer_flag_says_which_whole_numbers_it_takes(capsys, flag, text):
    least, most = INTEGER_FLAGS[flag]
    with pytest.raises(SystemExit) as exc:
        main(["train", flag, text])
    assert exc.value.code == 2
    assert capsys.readouterr().err == (f"onecycle train: error: argument {flag}: expected a whole number from "
                                       f"{least} to {most}, got {text!r} (see onecycle train --help)\n")


def test_every_integer_flag_of_every_command_takes_its_settings_range():
    for command, parser in _commands().items():
        for action in parser._actions:
            if action.dest not in FIELDS or field_type(action.dest)[0] is not int:
                continue
            least, most = whole_range(action.dest)
            assert action.type(str(least)) == least and action.type(str(most)) == most, (command, action.dest)
            for bad in (least - 1, most + 1):
                with pytest.raises(argparse.ArgumentTypeError, match=f"from {least} to {most}, got '{bad}'"):
                    action.type(str(bad))
                with pytest.raises(ValueError):  # the settings refuse what the flag refuses
                    from_dict({action.dest: bad})
