"""Settings: defaults, TOML file, flags on top; unknown keys and bad values reported before any work."""

import dataclasses
import inspect
import re

import pytest
import torch

from onecycle import datasets, models
from onecycle.cli import build_parser, main
from onecycle.cli.common import config_from_args
from onecycle.config import (
    CHOICES,
    FIELDS,
    SCHEDULE_KEYS,
    ConfigError,
    Group,
    RunConfig,
    build_config,
    field_type,
    from_dict,
    load_toml,
)
from onecycle.range_test import RANGE_TEST, SMALLEST_LR, range_test
from onecycle.scheduler import OneCycleScheduler, PolicyScheduler
from onecycle.schedules import ONE_CYCLE, POLICIES, one_cycle, policy
from onecycle.sweep import SWEEPABLE


def test_precedence_defaults_file_flags(tmp_path):
    path = tmp_path / "run.toml"
    path.write_text('dataset = "digits"\nepochs = 7\nsweep_values = [1e-3, 1e-4]\n')
    cfg = build_config(path, {"epochs": 2})
    assert cfg.dataset == "digits" and cfg.epochs == 2 and cfg.sweep_values == [1e-3, 1e-4]
    assert cfg.batch_size == RunConfig().batch_size


def test_onecycle_table_and_round_trip(tmp_path):
    path = tmp_path / "run.toml"
    path.write_text('[onecycle]\nmax_lr = 0.4\nthree_phase = false\n')
    cfg = build_config(path)
    assert cfg.max_lr == 0.4 and cfg.three_phase is False
    assert from_dict(cfg.to_dict()) == cfg
    assert cfg.schedule_kwargs()["three_phase"] is False


@pytest.mark.parametrize(
    "text,message",
    [
        ("epoch = 3\n", r"unknown key\(s\) in .*run.toml: epoch"),
        ("epochs = 0\n", "epochs must be > 0"),
        ("epochs = 2.5\n", "epochs must be an integer"),
        ('dataset = "mnist"\n', "dataset must be one of fashion-mnist, cifar10, digits"),
        ('max_lr = "high"\n', "max_lr must be a number"),
        ("momentum = 1.5\n", r"momentum must be in \[0, 1\)"),
        ("amp = 1\n", "amp must be true or false"),
        ("weight_decay = -1e-4\n", "weight_decay must be >= 0"),
        ("start_lr = 1.0\nend_lr = 0.1\n", "start_lr .* must be below end_lr"),
        ("epochs = \n", "not valid TOML"),
    ],
)
def test_bad_files_are_reported_clearly(tmp_path, text, message):
    path = tmp_path / "run.toml"
    path.write_text(text)
    with pytest.raises(ValueError, match=message):
        build_config(path)


@pytest.mark.parametrize(
    "make,message",
    [
        (lambda p: p.mkdir(), "is a directory"),
        (lambda p: p.write_bytes(b"\xff\xfe epochs = 3\n"), "is not UTF-8 text"),
        (lambda p: p.write_text("onecycle = 5\n"), "onecycle must be a table of settings"),
    ],
)
def test_unreadable_files_are_one_clear_error_naming_them(tmp_path, make, message):
    path = tmp_path / "run.toml"
    make(path)
    with pytest.raises(ValueError, match=f"config file {re.escape(str(path))}.*{message}"):
        build_config(path)


def test_missing_file():
    with pytest.raises(ValueError, match="does not exist"):
        build_config("/nonexistent/run.toml")


@pytest.mark.parametrize("command", ["sweep", "find-lr", "train", "demo", "schedule"])
@pytest.mark.parametrize("text", ["", " "])
def test_an_empty_config_path_says_it_is_empty(capsys, command, text):
    extra = ["--total-steps", "10", "--max-lr", "1"] if command == "schedule" else []
    assert main([command, "--config", text, *extra]) == 2
    assert capsys.readouterr().err.strip() == (f"onecycle {command}: error: config file path is empty ({text!r}): "
                                               "expected the path of a TOML file")


def test_replace_validates():
    with pytest.raises(ValueError, match="batch_size"):
        RunConfig().replace(batch_size=-1)


@pytest.mark.parametrize(
    "values,message",
    [
        ({"pct_start": 1.5}, r"pct_start must be in \(0.0, 1.0\)"),
        ({"pct_start": 0.6}, r"pct_start 0.6 must be <= 0.5 with three_phase True \(rise and fall"),
        ({"annihilation_pct": 0.0}, r"annihilation_pct must be in \(0.0, 1.0\)"),
        ({"annihilation_pct": 0.1, "pct_start": 0.3}, "give pct_start or annihilation_pct, not both: pct_start 0.3, "
                                                 "annihilation_pct 0.1"),
        ({"annihilation_pct": 0.1, "three_phase": False}, "annihilation_pct needs three_phase"),
        ({"div_factor": 0.5}, r"div_factor must be in \(1.0, inf\)"),
        ({"final_div_factor": 0.0}, r"final_div_factor must be in \[1.0, inf\)"),
        ({"base_momentum": 0.95, "max_momentum": 0.85}, r"^base_momentum must be <= max_momentum \(momentum is "
                                                        r"lowest where the lr peaks\): base_momentum 0.95, "
                                                        r"max_momentum 0.85$"),
        ({"base_momentum": 0.95, "max_momentum": 0.85, "cycle_momentum": False}, None),  # unused: not cycled
        ({"base_momentum": 0.97, "max_momentum": 0.99}, None),  # each checked alone against the other's value
        ({"pct_start": 0.3, "schedule": "cosine"}, "^pct_start 0.3 applies to schedule onecycle only, got schedule "
                                                   "'cosine'$"),
        ({"annihilation_pct": 0.1, "schedule": "step"}, "^annihilation_pct 0.1 applies to schedule onecycle only"),
        ({"sweep_param": "lr"}, "sweep_param must be one of weight_decay, momentum"),
        ({"model": "resnet"}, "model must be one of resnet20, "),
        ({"num_steps": 1}, "num_steps must be >= 2"),
        ({"sweep_steps": 1}, "sweep_steps must be >= 2"),
        ({"sweep_param": "momentum", "sweep_values": [0.9, 1.2]}, r"sweep_values \[0.9, 1.2\] must be in \[0, 1\) for "
                                                                  "sweep_param 'momentum'"),
        ({"sweep_values": [1e-4, 1e-4]}, "sweep_values must be distinct"),
        ({"sweep_values": [1e-4, True]}, "sweep_values must be a list of numbers"),
        ({"nesterov": True, "optimizer": "adamw"}, "nesterov True applies to optimizer sgd only, got optimizer 'adam"),
        ({"nesterov": True, "momentum": 0.0}, "nesterov True needs momentum > 0, got momentum 0.0"),
        ({"device": "gpu"}, "device must be auto, cpu, cuda, cuda:N or mps, got 'gpu'"),
        ({"seed": 10**20}, r"seed must be below 2\*\*31 in magnitude"),
        ({"threads": 10**11}, r"threads must be below 2\*\*31 in magnitude"),
        ({"epochs": 10**20}, r"epochs must be below 2\*\*31 in magnitude"),
        ({"max_lr": 1e308}, r"max_lr must be at most 3.403e\+38 \(float32\)"),
        ({"start_lr": 1e-300}, r"^start_lr must be >= 1.175e-38 \(the smallest normal float32; the optimizer's float32 "
                               r"tensors take a smaller lr as 0 or imprecisely\), got 1e-300$"),
        ({"start_lr": 1e-45}, r"^start_lr must be >= 1.175e-38 \(the smallest normal float32"),
        ({"max_lr": 1e-40}, r"^max_lr must be >= 1.175e-38 \(the smallest normal float32"),
        ({"end_lr": 5e-324}, r"^end_lr must be >= 1.175e-38 \(the smallest normal float32"),
        ({"weight_decay": 1e300}, r"weight_decay must be at most 3.403e\+38 \(float32\)"),
        ({"sweep_values": [1e-4, 1e300]}, r"sweep_values \[0.0001, 1e\+300\] must be in \[0, 3.403e\+38\] for "
                                       "sweep_param 'weight_decay'"),
        ({"schedule": "foo"}, r"^schedule must be one of onecycle, step, linear, cosine, constant; got 'foo'$"),
        ({"schedule": "cosin"}, r"got 'cosin' \(did you mean cosine\?\)$"),
        ({"optimizer": "adam"}, r"got 'adam' \(did you mean adamw\?\)$"),
        ({"epochs": 4, "cycle_epochs": 5}, r"^cycle_epochs 5 must be between 1 and epochs 4$"),
        ({"cycle_epochs": 0}, r"^cycle_epochs must be > 0, got 0$"),
        ({"cycle_epochs": 2, "schedule": "step"}, "^cycle_epochs 2 applies to schedule onecycle only, got sc"),
        ({"cycle_epochs": 2, "pct_start": 0.3}, "^give cycle_epochs, pct_start or annihilation_pct, not more t"),
        ({"cycle_epochs": 2, "annihilation_pct": 0.3}, "^give cycle_epochs, pct_start or annihilation_pct, not more"),
        ({"cycle_epochs": 2, "three_phase": False}, r"^cycle_epochs 2 needs three_phase \(the rest of training"),
        ({"log_every": 0}, r"^log_every must be > 0, got 0$"),
        ({"log_every": 2.5}, r"^log_every must be an integer, got 2.5$"),
        ({"log_every": "auto"}, r"^log_every must be an integer, got 'auto'$"),
        ({"log_every": 50}, None),
        ({"optimizer_impl": "fuse"}, r"^optimizer_impl must be one of default, foreach, fused; got 'fuse' \(did you "
                                     r"mean fused\?\)$"),
        ({"compile": "yes"}, r"^compile must be true or false, got 'yes'$"),
        ({"cudnn_benchmark": 1}, r"^cudnn_benchmark must be true or false, got 1$"),
    ],
)
def test_settings_that_would_fail_late_are_rejected_at_once(values, message):
    if message is None:  # a combination that is fine
        assert {k: getattr(from_dict(values), k) for k in values} == values
        return
    with pytest.raises(ValueError, match=message):
        from_dict(values)


def test_the_smallest_lr_is_a_normal_float32_and_is_accepted():
    """Learning rates from float32's smallest normal number up are taken as they are: in float32 the smallest is
    itself, not 0 (a subnormal or smaller lr is refused, above)."""
    assert torch.tensor(SMALLEST_LR, dtype=torch.float32).item() == SMALLEST_LR
    assert torch.tensor(SMALLEST_LR / 2, dtype=torch.float32).item() < SMALLEST_LR  # subnormal
    cfg = from_dict({"start_lr": SMALLEST_LR, "max_lr": SMALLEST_LR})
    assert cfg.start_lr == cfg.max_lr == SMALLEST_LR


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_a_missing_device_is_reported_at_once():
    with pytest.raises(ValueError, match="no CUDA device"):
        from_dict({"device": "cuda"})


def test_types_come_from_the_type_hints_not_their_spelling():
    assert field_type("weight_decay") == (float, True)
    assert field_type("epochs") == (int, False)
    assert field_type("sweep_values") == (list, False)
    assert field_type("three_phase") == (bool, False)
    assert {field_type(name)[0] for name in FIELDS} == {bool, int, float, str, list}
    assert from_dict({"max_lr": 1, "sweep_values": [1, 2]}).max_lr == 1.0


def test_unknown_key_gets_a_hint(tmp_path):
    path = tmp_path / "run.toml"
    path.write_text("max-lr = 0.1\nepoch = 3\n")
    with pytest.raises(ValueError, match=r"epoch \(did you mean epochs\?\), max-lr \(did you mean max_lr\?\)"):
        build_config(path)


def test_every_setting_has_a_group_and_a_help_text_without_its_default():
    for name, f in FIELDS.items():
        assert isinstance(f.metadata["group"], Group) and f.metadata["help"], name
        assert "default" not in f.metadata["help"], name
        if getattr(RunConfig(), name) is None:
            assert f.metadata["none"], f"{name}: say what None means"


def test_one_definition_of_the_defaults():
    for name in SCHEDULE_KEYS:
        want = getattr(ONE_CYCLE, name)
        assert inspect.signature(one_cycle).parameters[name].default == want, name
        assert inspect.signature(OneCycleScheduler).parameters[name].default == want, name
        assert inspect.signature(PolicyScheduler).parameters[name].default == want, name
        assert getattr(RunConfig(), name) == want, name
    assert set(SCHEDULE_KEYS) == {f.name for f in dataclasses.fields(ONE_CYCLE)}
    for f in dataclasses.fields(RANGE_TEST):
        assert inspect.signature(range_test).parameters[f.name].default == getattr(RunConfig(), f.name), f.name
    assert inspect.signature(range_test).parameters["div_factor"].default == ONE_CYCLE.div_factor


def test_one_definition_of_the_names():
    assert CHOICES["dataset"] is datasets.DATASETS
    assert CHOICES["model"] == tuple(models.MODELS)
    assert CHOICES["sweep_param"] is SWEEPABLE
    assert CHOICES["schedule"] == tuple(POLICIES)
    assert inspect.signature(PolicyScheduler).parameters["schedule"].default == RunConfig().schedule == "onecycle"


def test_cycle_epochs_is_the_pct_start_that_ends_the_cycle_there():
    cfg = from_dict({"epochs": 95, "cycle_epochs": 42})
    assert cfg.schedule_kwargs()["pct_start"] == 42 / 190 and cfg.pct_start is None
    assert from_dict({"epochs": 4, "cycle_epochs": 4}).schedule_kwargs()["pct_start"] == 0.5
    kwargs = from_dict({"schedule": "step", "momentum": 0.85}).policy_kwargs()
    assert kwargs == {"schedule": "step", "momentum": 0.85, **RunConfig().schedule_kwargs()}
    assert policy(max_lr=0.1, total_steps=100, **kwargs).momentum(50) == 0.85


# ------------------------------------------------------------------------------ a file merged with the flags

COMBINATIONS = [  # a, its value, b, its value, the error with {a} and {b} where each came from
    ("cycle_epochs", 8, "epochs", 4, "cycle_epochs 8 ({a}) must be between 1 and epochs 4 ({b})"),
    ("start_lr", 1.0, "end_lr", 0.1, "start_lr 1.0 ({a}) must be below end_lr 0.1 ({b})"),
    ("base_momentum", 0.95, "max_momentum", 0.85, "base_momentum must be <= max_momentum (momentum is lowest where "
                                                  "the lr peaks): base_momentum 0.95 ({a}), max_momentum 0.85 ({b})"),
    ("pct_start", 0.3, "schedule", "linear", "pct_start 0.3 ({a}) applies to schedule onecycle only, got schedule "
                                             "'linear' ({b})"),
    ("annihilation_pct", 0.2, "schedule", "cosine", "annihilation_pct 0.2 ({a}) applies to schedule onecycle only, "
                                                    "got schedule 'cosine' ({b})"),
    ("nesterov", True, "optimizer", "adamw", "nesterov True ({a}) applies to optimizer sgd only, got optimizer "
                                             "'adamw' ({b})"),
    ("nesterov", True, "momentum", 0.0, "nesterov True ({a}) needs momentum > 0, got momentum 0.0 ({b})"),
    ("cycle_epochs", 2, "schedule", "step", "cycle_epochs 2 ({a}) applies to schedule onecycle only, got schedule "
                                            "'step' ({b})"),
    ("cycle_epochs", 2, "three_phase", False, "cycle_epochs 2 ({a}) needs three_phase (the rest of training after "
                                              "the cycle is its annihilation), got three_phase False ({b})"),
    ("cycle_epochs", 2, "pct_start", 0.3, "give cycle_epochs, pct_start or annihilation_pct, not more than one; got "
                                          "cycle_epochs 2 ({a}), pct_start 0.3 ({b})"),
    ("pct_start", 0.6, "three_phase", True, "pct_start 0.6 ({a}) must be <= 0.5 with three_phase True ({b}) (rise "
                                            "and fall take pct_start each)"),
    ("pct_start", 0.3, "annihilation_pct", 0.1, "give pct_start or annihilation_pct, not both: pct_start 0.3 ({a}), "
                                                "annihilation_pct 0.1 ({b})"),
    ("annihilation_pct", 0.1, "three_phase", False, "annihilation_pct needs three_phase=True (two phases have no "
                                                    "annihilation): annihilation_pct 0.1 ({a}), three_phase False "
                                                    "({b})"),
    ("sweep_values", [0.5, 2.0], "sweep_param", "momentum", "sweep_values [0.5, 2.0] ({a}) must be in [0, 1) for "
                                                            "sweep_param 'momentum' ({b})"),
]


def _toml(values):
    return "".join(f"{k} = {str(v).lower() if isinstance(v, bool) else repr(v).replace(chr(39), chr(34))}\n"
                   for k, v in values.items())


@pytest.mark.parametrize("where", ["file", "flags", "mixed"])
@pytest.mark.parametrize("a,a_value,b,b_value,message", COMBINATIONS, ids=[f"{c[0]}-{c[2]}" for c in COMBINATIONS])
def test_settings_are_checked_against_each_other_once_merged_naming_where_each_came_from(
        tmp_path, where, a, a_value, b, b_value, message):
    path = tmp_path / "run.toml"
    in_file = {"file": [a, b], "flags": [], "mixed": [a]}[where]
    values = {a: a_value, b: b_value}
    path.write_text(_toml({k: values[k] for k in in_file}) + 'dataset = "digits"\n')
    flags = {k: v for k, v in values.items() if k not in in_file}
    origins = {k: f"from --{k.replace('_', '-')}" for k in flags}
    origin = {**dict.fromkeys(in_file, f"from {path}"), **origins}
    with pytest.raises(ValueError) as err:
        build_config(path, flags, origins=origins)
    assert str(err.value) == message.format(a=origin[a], b=origin[b])


def test_a_file_value_is_checked_against_the_flags_not_against_the_defaults(tmp_path):
    path = tmp_path / "run.toml"
    path.write_text("cycle_epochs = 8\nstart_lr = 20.0\n")  # beyond the default epochs (4) and end_lr (10)...
    cfg = build_config(path, {"epochs": 10, "end_lr": 40.0})
    assert (cfg.cycle_epochs, cfg.epochs, cfg.start_lr, cfg.end_lr) == (8, 10, 20.0, 40.0)
    path.write_text("epochs = 10\ncycle_epochs = 8\n")  # ...and a file fine on its own, not with the flags
    with pytest.raises(ValueError, match=rf"^cycle_epochs 8 \(from {re.escape(str(path))}\) must be between 1 and "
                                         r"epochs 4 \(from --epochs\)$"):
        build_config(path, {"epochs": 4}, origins={"epochs": "from --epochs"})


def test_a_value_bad_on_its_own_names_the_file_even_when_a_flag_overrides_it(tmp_path):
    path = tmp_path / "run.toml"
    path.write_text("epochs = 0\n")
    with pytest.raises(ValueError, match=rf"^epochs must be > 0, got 0 \(from {re.escape(str(path))}\)$"):
        build_config(path, {"epochs": 3})


def test_the_command_line_names_each_flag(tmp_path):
    path = tmp_path / "run.toml"
    path.write_text("cycle_epochs = 2\n")
    args = build_parser().parse_args(["train", "--config", str(path), "--no-three-phase", "--quiet"])
    with pytest.raises(ValueError, match=r"got three_phase False \(from --no-three-phase\)$"):
        config_from_args(args)
    args = build_parser().parse_args(["demo", "--max-lr", "-1"])
    with pytest.raises(ValueError, match=r"^max_lr must be > 0, got -1.0 \(from --max-lr\)$"):
        config_from_args(args, defaults={"epochs": 4}, sweep_param="weight_decay")


@pytest.mark.parametrize(("text", "table", "hint"), [
    ("[onecycl]\nepochs = 3\n\n[preset]\nsource = 'x'\n", "onecycl", " (did you mean [onecycle]?)"),
    ("[onecycle]\nepochs = 3\n\n[presett]\nsource = 'x'\n", "presett", " (did you mean [preset]?)"),
    ("epochs = 3\n\n[training]\nmax_lr = 0.1\n", "training", ""),
])
def test_a_table_of_a_config_file_that_is_not_onecycle_or_preset_is_named(tmp_path, text, table, hint):
    path = tmp_path / "run.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as err:
        build_config(path)
    assert str(err.value) == (f"config file {path}: unknown table [{table}]{hint}; a config file holds settings at "
                              "its top level or under [onecycle]")


def test_a_preset_table_may_stand_beside_the_settings(tmp_path):
    path = tmp_path / "run.toml"
    for text in ("[onecycle]\nepochs = 3\n\n[preset]\nsource = 'x'\n", "epochs = 3\n\n[preset]\nsource = 'x'\n"):
        path.write_text(text)
        assert load_toml(path) == {"epochs": 3} and build_config(path).epochs == 3
