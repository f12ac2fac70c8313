"""Preset files: each value of the [preset] table checked, one error naming the file, the key, the value and what
was expected; the [onecycle] table's errors name the file too; the steps a preset's text states are those it runs."""

import re

import pytest

from onecycle import presets
from onecycle.cli import main
from onecycle.config import ConfigError
from onecycle.experiment import planned_steps

GOOD = """[preset]
description = "a small run"
source = "a test"
published_accuracy = 90.0
{extra}
[onecycle]
dataset = "digits"
model = "small-cnn"
epochs = 2
max_lr = 0.1
weight_decay = 1e-4
{settings}
"""


def _preset(tmp_path, extra="", settings="", name="p"):
    path = tmp_path / f"{name}.toml"
    path.write_text(GOOD.format(extra=extra, settings=settings))
    return path


def test_a_good_preset_file_loads_under_its_file_name(tmp_path):
    preset = presets.load_file(_preset(tmp_path, name="small"))
    assert (preset.name, preset.job, preset.published_accuracy) == ("small", "train", 90.0)
    assert preset.config().max_lr == 0.1 and preset.path == tmp_path / "small.toml"


@pytest.mark.parametrize(("old", "new", "expected"), [
    ("published_accuracy = 90.0", "published_accuracy = nan", "[preset] published_accuracy = nan: expected a finite "
                                                               "percentage in (0, 100]"),
    ("published_accuracy = 90.0", "published_accuracy = 250", "[preset] published_accuracy = 250: expected a finite "
                                                               "percentage in (0, 100]"),
    ("published_accuracy = 90.0", "published_accuracy = 0", "[preset] published_accuracy = 0: expected"),
    ("published_accuracy = 90.0", "published_accuracy = -inf", "[preset] published_accuracy = -inf: expected"),
    ("published_accuracy = 90.0", 'published_accuracy = "93"', "[preset] published_accuracy = '93': expected a "
                                                                "finite percentage in (0, 100]"),
    ("published_accuracy = 90.0", "published_accuracy = true", "[preset] published_accuracy = True: expected"),
    ('description = "a small run"', "description = 3", "[preset] description = 3: expected a non-empty string"),
    ('description = "a small run"', 'description = " "', "[preset] description = ' ': expected a non-empty string"),
    ('source = "a test"', 'source = ["a"]', "[preset] source = ['a']: expected a non-empty string"),
    ("published_accuracy = 90.0", 'job = "fit"', "[preset] job = 'fit': expected one of train, sweep"),
    ("published_accuracy = 90.0", "published_pick = nan", "[preset] published_pick = nan: expected a finite number"),
    ("published_accuracy = 90.0", "accuracy = 90.0", "[preset] has an unknown key 'accuracy' (expected description, "
                                                     "source, job, published_accuracy, published_pick)"),
])
def test_each_bad_preset_value_is_one_error_naming_the_file_the_key_the_value_and_what_was_expected(
        tmp_path, old, new, expected):
    path = _preset(tmp_path)
    path.write_text(path.read_text().replace(old, new))
    with pytest.raises(ConfigError) as err:
        presets.load_file(path)
    assert str(err.value).startswith(f"{path}: {expected}") and "\n" not in str(err.value)


@pytest.mark.parametrize(("settings", "expected"), [
    ('max_lr = "big"', "max_lr must be a number, got 'big'"),
    ("epocs = 3", "unknown key(s) in this table: epocs (did you mean epochs?)"),
    ("cycle_epochs = 8", "cycle_epochs 8 must be between 1 and epochs 2"),
])
def test_a_bad_onecycle_value_names_the_preset_file(tmp_path, settings, expected):
    path = _preset(tmp_path)
    path.write_text(path.read_text().replace('max_lr = 0.1\n', '') if "max_lr" in settings else path.read_text())
    path.write_text(path.read_text() + settings + "\n")
    with pytest.raises(ConfigError) as err:
        presets.load_file(path)
    assert str(err.value).startswith(f"{path} [onecycle]: {expected}")


def test_a_missing_preset_file_is_named(tmp_path):
    with pytest.raises(ConfigError, match=re.escape(f"{tmp_path / 'none.toml'} cannot be read")):
        presets.load_file(tmp_path / "none.toml")


STATED = re.compile(r"(?<!notebook's )\b(\d+) (?:x|epochs of) (\d+) steps")
"""Where a preset's text states its own steps (``164 epochs of 390 steps``); the notebook's are named as such."""


def test_the_steps_a_preset_text_states_are_those_it_runs():
    stating = set()
    for name in presets.names():
        preset = presets.load(name)
        for epochs, per_epoch in STATED.findall(preset.source + preset.description):
            cfg = preset.config()
            stating.add(name)
            assert (int(epochs), int(per_epoch)) == (cfg.epochs, planned_steps(cfg) // cfg.epochs), name
    assert stating == {"r56-70ep-lr3", "r56-step-baseline"}


@pytest.mark.parametrize("command", [
    ["train", "--run-dir", "{tmp}/run"], ["find-lr", "--run-dir", "{tmp}/run"],
    ["schedule", "--total-steps", "100", "--max-lr", "0.1", "--out", "{tmp}/run/s.png"]])
@pytest.mark.parametrize(("old", "new"), [
    ("published_accuracy = 90.0", "published_accuracy = nan"),
    ("published_accuracy = 90.0", "published_accuracy = 250"),
    ("published_accuracy = 90.0", 'published_accuracy = "x"'),
    ("published_accuracy = 90.0", "accuracy = 90.0"),
    ('source = "a test"', ""),
])
def test_a_config_file_copied_from_a_preset_is_refused_as_reproduce_refuses_it(tmp_path, capsys, command, old, new):
    path = _preset(tmp_path)
    path.write_text(path.read_text().replace(old, new))
    with pytest.raises(ConfigError) as err:
        presets.load_file(path)
    assert main([*(a.replace("{tmp}", str(tmp_path)) for a in command), "--config", str(path)]) == 2
    assert capsys.readouterr().err == f"onecycle {command[0]}: error: {err.value}\n"
    assert not (tmp_path / "run").exists()


def test_a_config_file_copied_from_a_good_preset_is_read(tmp_path):
    assert presets.check_config_file(_preset(tmp_path)) is None
    assert presets.check_config_file(tmp_path / "p.toml") is None  # its [onecycle] settings are build_config's
