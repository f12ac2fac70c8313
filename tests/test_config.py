"""Settings: defaults, TOML file, flags on top; unknown keys and bad values reported before any work."""

import pytest

from onecycle.config import RunConfig, build_config, from_dict


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


def test_missing_file():
    with pytest.raises(ValueError, match="does not exist"):
        build_config("/nonexistent/run.toml")


def test_replace_validates():
    with pytest.raises(ValueError, match="batch_size"):
        RunConfig().replace(batch_size=-1)
