"""``onecycle schedule`` and ``plot_schedule``; the README's commands match CI."""

import json
from pathlib import Path

import pytest

from onecycle.cli import main
from onecycle.plots import plot_schedule

ROOT = Path(__file__).resolve().parents[1]


def test_schedule_command_writes_plot_and_table(tmp_path, capsys):
    out = tmp_path / "s.png"
    assert main(["schedule", "--total-steps", "200", "--max-lr", "0.5", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "warm-up" in text and "annihilation" in text and "0-89" in text
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_schedule_command_previews_a_baseline(tmp_path, capsys):
    out = tmp_path / "s.png"
    assert main(["schedule", "--schedule", "step", "--total-steps", "100", "--max-lr", "0.4", "--out", str(out)]) == 0
    lines = [line.split() for line in capsys.readouterr().out.splitlines()]
    assert lines[0] == ["step", "decay:"]
    assert lines[2:5] == [["initial", "0-49", "0.4", "0.4"], ["drop", "1", "50-74", "0.04", "0.04"],
                          ["drop", "2", "75-99", "0.004", "0.004"]]
    assert lines[5] == ["momentum", "0.9", "throughout"] and out.stat().st_size > 0
    assert main(["schedule", "--schedule", "cosine", "--momentum", "0.85", "--div-factor", "20", "--total-steps",
                 "100", "--max-lr", "1", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "warm-up" in text and "0-5" in text and "0.05" in text and "momentum 0.85 throughout" in text
    path = tmp_path / "short-cycle.toml"  # a file's cycle_epochs ends the cycle at that share of the steps
    path.write_text("epochs = 10\ncycle_epochs = 4\n")
    assert main(["schedule", "--config", str(path), "--total-steps", "500", "--max-lr", "1", "--out", str(out)]) == 0
    assert "cool-down" in (text := capsys.readouterr().out) and "100-198" in text and "199-499" in text


def test_schedule_command_takes_cycle_epochs_like_train(tmp_path, capsys):
    out = tmp_path / "s.png"
    flags = ["--total-steps", "500", "--max-lr", "1", "--out", str(out)]
    assert main(["schedule", "--epochs", "10", "--cycle-epochs", "4", *flags]) == 0
    text = capsys.readouterr().out
    assert "100-198" in text and "199-499" in text  # the cycle ends at 4/10 of the steps, then the annihilation
    note = "cycle_epochs 4 of epochs 10 ({}): the cycle ends at 4/10 of the 500 steps\n"
    assert note.format("from --epochs") in text
    path = tmp_path / "short-cycle.toml"
    path.write_text("epochs = 10\ncycle_epochs = 4\n")
    assert main(["schedule", "--config", str(path), *flags]) == 0
    # the same as a --config file's, which it names
    assert capsys.readouterr().out == text.replace(note.format("from --epochs"), note.format(f"from {path}"))
    assert main(["schedule", "--cycle-epochs", "5", *flags]) == 2  # more than the default 4 epochs
    assert "cycle_epochs 5 (from --cycle-epochs) must be between 1 and epochs 4 (default)" in capsys.readouterr().err


def test_schedule_command_says_how_many_epochs_its_cycle_epochs_assumes(tmp_path, capsys):
    assert main(["schedule", "--cycle-epochs", "3", "--total-steps", "100", "--max-lr", "0.8",
                 "--out", str(tmp_path / "s.png")]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[2:5] == ["warm-up                 0-36        0.08      0.7901",
                          "cool-down              37-73      0.7901        0.08",
                          "annihilation           74-99     0.07695      0.0008"]
    assert lines[5] == ("cycle_epochs 3 of epochs 4 (default; --epochs sets the run's): the cycle ends at 3/4 of the "
                        "100 steps")
    assert main(["schedule", "--total-steps", "100", "--max-lr", "0.8", "--out", str(tmp_path / "s.png")]) == 0
    assert "epochs" not in capsys.readouterr().out  # without cycle_epochs, the epochs play no part


def test_schedule_command_states_the_peak_when_no_step_reaches_max_lr(tmp_path, capsys):
    flags = ["--max-lr", "0.8", "--out", str(tmp_path / "s.png")]
    assert main(["schedule", "--total-steps", "10", *flags]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[2] == "warm-up                  0-3        0.08      0.6971"
    assert lines[5] == ("the lr peaks at 0.6971 (step 3), below max_lr 0.8: the top of the schedule falls between two "
                        "steps")
    assert main(["schedule", "--schedule", "cosine", "--total-steps", "10", *flags]) == 0
    assert "the lr peaks at 0.7945 (step 1), below max_lr 0.8" in capsys.readouterr().out
    for steps in ("200", "7000"):  # the top on a step: no note
        assert main(["schedule", "--total-steps", steps, *flags]) == 0
        assert "peaks" not in capsys.readouterr().out


@pytest.mark.parametrize(("flags", "error"), [
    (["--schedule", "cosine", "--pct-start", "0.3"], "pct_start 0.3 (from --pct-start) applies to schedule onecycle "
                                                     "only, got schedule 'cosine' (from --schedule)"),
    (["--schedule", "step", "--annihilation-pct", "0.2"], "annihilation_pct 0.2 (from --annihilation-pct) applies "
                                                          "to schedule onecycle only, got schedule 'step' (from "
                                                          "--schedule)"),
    (["--base-momentum", "0.95", "--max-momentum", "0.85"], "base_momentum must be <= max_momentum (momentum is "
                                                            "lowest where the lr peaks): base_momentum 0.95 (from "
                                                            "--base-momentum), max_momentum 0.85 (from "
                                                            "--max-momentum)"),
    (["--annihilation-pct", "0.99", "--total-steps", "32"], "annihilation_pct=0.99 leaves the rise and the fall less "
                                                            "than a step each ((1 - annihilation_pct) / 2 of "
                                                            "total_steps=32 each); it must be below 1 - 2/32 (0.9375)"),
])
def test_schedule_settings_that_cannot_be_previewed_are_one_error_naming_them(tmp_path, capsys, flags, error):
    out = tmp_path / "s.png"
    assert main(["schedule", "--total-steps", "100", "--max-lr", "0.8", "--out", str(out), *flags]) == 2
    assert capsys.readouterr() == ("", f"onecycle schedule: error: {error}\n") and not out.exists()


def test_schedule_command_writes_under_runs_by_default(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["schedule", "--total-steps", "100", "--max-lr", "1"]) == 0
    assert capsys.readouterr().out.strip().endswith("wrote runs/schedule.png")
    assert [p.name for p in tmp_path.iterdir()] == ["runs"] and (tmp_path / "runs" / "schedule.png").exists()


def test_schedule_command_svg_and_two_phase(tmp_path, capsys):
    out = tmp_path / "s.svg"
    assert main(["schedule", "--total-steps", "100", "--max-lr", "1", "--two-phase", "--pct-start", "0.3",
                 "--out", str(out)]) == 0
    assert "annihilation" not in capsys.readouterr().out
    assert out.read_text().lstrip().startswith("<?xml")


def test_bad_value_is_one_clear_line(tmp_path, capsys):
    code = main(["schedule", "--total-steps", "100", "--max-lr", "-1", "--out", str(tmp_path / "x.png")])
    err = capsys.readouterr().err
    assert code == 2
    assert err.strip() == "onecycle schedule: error: max_lr must be > 0, got -1.0 (from --max-lr)"


def test_an_output_that_is_a_directory_is_one_error_before_the_table(tmp_path, capsys):
    code = main(["schedule", "--total-steps", "100", "--max-lr", "1", "--out", str(tmp_path)])
    out, err = capsys.readouterr()
    assert code == 2 and out == ""
    assert err.strip() == f"onecycle schedule: error: {tmp_path}: is a directory, not a file"
    assert list(tmp_path.iterdir()) == []  # no temporary file left


def test_plot_schedule_from_python(tmp_path):
    fig = plot_schedule(total_steps=50, max_lr=0.1, out=tmp_path / "p.png")
    assert len(fig.axes) == 2 and (tmp_path / "p.png").exists()
    fig = plot_schedule(total_steps=50, max_lr=0.1, cycle_momentum=False)
    assert len(fig.axes) == 1


def test_readme_test_command_is_what_ci_runs():
    ci = (ROOT / ".ci" / "run").read_text().strip().splitlines()[-1]
    assert ci in (ROOT / "README.md").read_text()


@pytest.mark.parametrize("flag", ["--help"])
def test_help_lists_commands(flag, capsys):
    with pytest.raises(SystemExit) as exc:
        main([flag])
    assert exc.value.code == 0
    assert "schedule" in capsys.readouterr().out


def test_debug_variable_shows_the_traceback(tmp_path, monkeypatch):
    monkeypatch.setenv("ONECYCLE_DEBUG", "1")
    with pytest.raises(ValueError, match="max_lr"):
        main(["schedule", "--total-steps", "100", "--max-lr", "-1", "--out", str(tmp_path / "x.png")])


def test_readme_command_line_sweep_find_lr_train_chain_works(tmp_path, capsys):
    """The README's sweep, find-lr and train lines for one run directory, run in the README's order (on tiny
    digits settings), train from each other's results."""
    block = (ROOT / "README.md").read_text().split("## Command line", 1)[1].split("```bash", 1)[1].split("```", 1)[0]
    lines = [line.split("#", 1)[0].split() for line in block.splitlines() if line.startswith("onecycle ")]
    chain = [words[1:] for words in lines if words[1] in ("sweep", "find-lr", "train") and "runs/fm" in words
             and "--resume" not in words and "--overwrite" not in words]
    assert [words[0] for words in chain] == ["sweep", "find-lr", "train"]
    again = [words[1:] for words in lines if "runs/fm" in words and "--overwrite" in words]  # then start over
    config = tmp_path / "tiny.toml"
    config.write_text('dataset = "digits"\nmodel = "mlp"\ntrain_subset = 256\ntest_subset = 64\nbatch_size = 32\n'
                      "num_steps = 20\nsweep_steps = 15\nprogress = false\n")
    tiny = ["--config", str(config), "--quiet"]
    for words in chain:
        args = [str(tmp_path) if w == "runs/fm" else w for w in words]
        if args[0] == "train":
            args = [w if w != "4" else "1" for w in args]
        assert main([*args, *tiny]) == 0, capsys.readouterr().err
    assert len(again) == 1
    assert main([*(str(tmp_path) if w == "runs/fm" else w for w in again[0]), *tiny]) == 0, capsys.readouterr().err
    assert json.loads((tmp_path / "summary.json").read_text())["epochs_completed"] == 8


def test_schedule_takes_max_lr_from_the_config_file_and_says_when_none_is_given(tmp_path, capsys):
    config = tmp_path / "c.toml"
    config.write_text("[onecycle]\nmax_lr = 0.3\n")
    out = tmp_path / "s.png"
    assert main(["schedule", "--config", str(config), "--total-steps", "100", "--out", str(out)]) == 0
    assert "0.3" in capsys.readouterr().out and out.exists()
    assert main(["schedule", "--total-steps", "100", "--out", str(out)]) == 2
    assert capsys.readouterr().err == ("onecycle schedule: error: schedule needs a peak learning rate: give --max-lr, "
                                       "or max_lr in the --config file\n")


@pytest.mark.parametrize("steps", ["abc", "1.5", "1", "10000000000"])
def test_total_steps_says_which_whole_numbers_it_takes(steps, tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(["schedule", "--total-steps", steps, "--max-lr", "0.1", "--out", str(tmp_path / "s.png")])
    assert (f"argument --total-steps: expected a whole number from 2 to 2147483647, got '{steps}'"
            in capsys.readouterr().err)
