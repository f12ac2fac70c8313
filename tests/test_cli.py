"""The command line end to end on tiny data in temporary run directories."""

import io
import json
import re
import sys

import pytest
import torch

from onecycle import experiment, rundir
from onecycle.cli import build_parser, main
from onecycle.cli.common import config_from_args
from onecycle.cli.sweep import check_swept
from onecycle.config import from_dict
from tests.offline import without_fashion_mnist

TINY = ["--dataset", "digits", "--train-subset", "384", "--batch-size", "32", "--num-steps", "40", "--model",
        "small-cnn", "--quiet"]
SWEEP_STEPS = ["--sweep-steps", "25"]  # for the commands that sweep


def test_find_lr_writes_plot_json_and_csv(tmp_path, capsys):
    assert main(["find-lr", "--run-dir", str(tmp_path), *TINY]) == 0
    out = capsys.readouterr().out
    assert "recommended max_lr" in out and "rules: valley" in out
    assert "\nrange test at weight decay 0.0005 (default)\n" in out  # what the recommendation depends on
    for name in ("finder.json", "finder.csv", "finder.png"):
        assert (tmp_path / name).stat().st_size > 0
    data = json.loads((tmp_path / "finder.json").read_text())
    assert data["settings"]["num_steps"] == 40 and data["recommendation"]["max_lr"] > 0


def test_find_lr_describes_the_recommendation_for_the_schedule_given(tmp_path, capsys):
    assert main(["find-lr", "--run-dir", str(tmp_path), *TINY, "--schedule", "step"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"recommended max_lr \S+ \(step decay\), \w+ confidence", out) and "1cycle" not in out
    assert json.loads((tmp_path / "finder.json").read_text())["settings"]["schedule"] == "step"
    assert main(["report", str(tmp_path)]) == 0
    assert "(step decay)" in (tmp_path / "report.md").read_text()
    capsys.readouterr()
    train = ["train", "--run-dir", str(tmp_path), *TINY, "--epochs", "1", "--schedule", "cosine"]
    assert main(train) == 0  # the range test serves every schedule; the report speaks of the one trained
    assert main(["report", str(tmp_path)]) == 0
    assert re.search(r"\(warm-up from \S+, then cosine to zero\)", (tmp_path / "report.md").read_text())


def test_find_lr_verify_runs_the_probe_and_train_uses_its_pick(tmp_path, capsys):
    run = ["--run-dir", str(tmp_path), *TINY, "--epochs", "2", "--weight-decay", "5e-4"]
    assert main(["find-lr", *run, "--verify"]) == 0
    out = capsys.readouterr().out
    assert "stability probe: 3 candidates x 10 steps (30 steps)" in out and "<- pick" in out
    data = json.loads((tmp_path / "finder.json").read_text())
    probe, rec = data["probe"], data["recommendation"]
    assert probe["candidates"][0] == rec["max_lr"] and len(probe["losses"]) == 3
    assert data["settings"]["verify"] is True and data["settings"]["epochs"] == 2
    assert "\nrange test at weight decay 0.0005 (config)\n" in out
    # train uses the probe's pick, with --verify or without, and says where it comes from; the probe's notes (its
    # cost, here more than the planned 24 steps) come along as warnings
    for verify in ([], ["--verify"]):
        assert main(["train", *run, *verify, "--overwrite"]) == 0
        assert (f"max_lr {probe['pick']:.4g} (stability probe in finder.json), weight decay 0.0005 (config)"
                in capsys.readouterr().out)
        assert json.loads((tmp_path / "config.json").read_text())["resolved"]["max_lr"] == probe["pick"]
        warnings = json.loads((tmp_path / "summary.json").read_text())["warnings"]
        assert probe["notes"] and [w for w in warnings if "stability probe" in w] == [
            f"max_lr from finder.json: the stability probe's note: {note}" for note in probe["notes"]]
    # a second fresh run there is refused; with --overwrite, another planned length changes the probe's budget:
    # stale too, found before the first run's files are removed
    assert main(["train", *run, "--verify"]) == 2
    assert f"{tmp_path} holds a run (config.json, " in capsys.readouterr().err
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    # the probe trained 2 epochs' schedule: its pick is not for 3; with --verify that is stale (nothing removed),
    # without it the range test's recommendation serves, and a note says why the probe's pick is not used
    three = [*run[:-4], "--weight-decay", "5e-4", "--epochs", "3"]
    assert main(["train", *three, "--verify", "--overwrite"]) == 2
    err = capsys.readouterr().err
    assert "epochs 2 (now 3)" in err and "onecycle find-lr --verify --run-dir" in err
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before
    assert main(["train", *three, "--overwrite"]) == 0
    out = capsys.readouterr().out
    assert "the stability probe in" in out and "trained another schedule (epochs 2 (now 3))" in out
    assert f"max_lr {rec['max_lr']:.4g} (range test in finder.json)" in out
    assert json.loads((tmp_path / "config.json").read_text())["resolved"]["max_lr"] == rec["max_lr"]


def _must_not_run(name):
    def run(*args, **kwargs):
        raise AssertionError(f"{name} ran")
    return run


@pytest.mark.parametrize(
    "flags,message",
    [
        (["--pct-start", "0.05"], "1cycle cannot run in the stability probe (verify), which trains it compressed to "
                                  "10 steps per candidate (2 epoch(s) of 12 steps planned): pct_start=0.05 leaves a "
                                  "phase with no steps for total_steps=10"),
        (["--epochs", "20", "--cycle-epochs", "1"], "1cycle cannot run in the stability probe (verify), which trains "
                                                    "it compressed to 12 steps per candidate (20 epoch(s) of 12 steps "
                                                    "planned): pct_start=0.025 leaves a phase with no steps for "
                                                    "total_steps=12; it must be in (1/12, 0.5417) (cycle_epochs 1 of "
                                                    "20 epochs)"),
        (["--pct-start", "0.01"], "1cycle cannot run over the 24 training steps (2 epoch(s) of 12): pct_start=0.01 "
                                  "leaves a phase with no steps for total_steps=24"),
        (["--annihilation-pct", "0.9"], "1cycle cannot run in the stability probe (verify), which trains it "
                                        "compressed to 10 steps per candidate (2 epoch(s) of 12 steps planned): "
                                        "annihilation_pct=0.9 leaves the rise and the fall less than a step each "
                                        "((1 - annihilation_pct) / 2 of total_steps=10 each); it must be below 1 - "
                                        "2/10 (0.8)"),
    ],
)
def test_an_infeasible_probe_schedule_is_one_error_before_the_range_test(tmp_path, capsys, monkeypatch, flags,
                                                                         message):
    monkeypatch.setattr(experiment, "range_test", _must_not_run("the range test"))
    monkeypatch.setattr(experiment, "run_sweep", _must_not_run("the sweep"))
    run = ["--run-dir", str(tmp_path / "r"), *TINY, "--epochs", "2", "--weight-decay", "5e-4", *flags]
    for command in (["find-lr", "--verify"], ["train", "--auto", "--verify"]):
        assert main([*command, *run]) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith(f"onecycle {command[0]}: error: {message}") and len(err.splitlines()) == 1, err
        assert not (tmp_path / "r" / "finder.json").exists()


def test_train_auto_checks_the_schedule_before_measuring(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(experiment, "range_test", _must_not_run("the range test"))
    monkeypatch.setattr(experiment, "run_sweep", _must_not_run("the sweep"))
    assert main(["train", "--auto", "--run-dir", str(tmp_path), *TINY, "--epochs", "2", "--pct-start", "0.01"]) == 2
    err = capsys.readouterr().err
    assert "onecycle train: error: 1cycle cannot run over the 24 training steps (2 epoch(s) of 12)" in err
    assert not (tmp_path / "sweep.json").exists() and not (tmp_path / "finder.json").exists()


def test_a_probe_that_fails_keeps_the_finished_range_test(tmp_path, capsys, monkeypatch):
    def failing_probe(*args, **kwargs):
        raise ValueError("the probe failed")

    monkeypatch.setattr(experiment, "probe", failing_probe)
    run = ["--run-dir", str(tmp_path), *TINY, "--epochs", "2", "--weight-decay", "5e-4"]
    assert main(["find-lr", "--verify", *run]) == 2
    assert "the probe failed" in capsys.readouterr().err
    finder = json.loads((tmp_path / "finder.json").read_text())
    assert finder["recommendation"]["max_lr"] > 0 and finder["probe"] is None
    assert finder["settings"]["verify"] is False  # a range test without the probe: train takes it as such
    assert (tmp_path / "finder.png").exists() and (tmp_path / "finder.csv").exists()
    assert main(["train", *run]) == 0
    assert f"max_lr {finder['recommendation']['max_lr']:.4g} (range test in finder.json)" in capsys.readouterr().out


def test_find_lr_says_when_the_range_was_extended_past_end_lr(tmp_path, capsys):
    assert main(["find-lr", "--run-dir", str(tmp_path), *TINY, "--start-lr", "1e-4", "--end-lr", "1e-3",
                 "--num-steps", "20"]) == 0
    out = capsys.readouterr().out
    finder = json.loads((tmp_path / "finder.json").read_text())
    curve = finder["curves"][0]
    assert curve["extended"] and len(curve["lrs"]) > 20
    assert f"; extended to lr {curve['lrs'][-1]:.3g}: the loss had not diverged by end_lr 0.001" in out


def test_sweep_then_train_uses_their_results(tmp_path, capsys):
    run = ["--run-dir", str(tmp_path), *TINY]
    assert main(["sweep", "--sweep-param", "weight_decay", "--sweep-values", "1e-3,1e-5", *SWEEP_STEPS, *run]) == 0
    out = capsys.readouterr().out
    sweep = json.loads((tmp_path / "sweep.json").read_text())
    assert "pick: weight_decay=" in out and "\nweight-decay sweep over 0.001, 1e-05\n" in out
    for value, result in zip(sweep["values"], sweep["results"]):  # how each range test ended, as find-lr says it
        assert f"weight_decay {value:g}: range test of {len(result['curves'][0]['lrs'])} steps, stopped: " in out
    assert main(["find-lr", *run]) == 0
    finder = json.loads((tmp_path / "finder.json").read_text())
    assert finder["settings"]["weight_decay"] == sweep["pick"]
    assert f"\nrange test at weight decay {sweep['pick']:g} (sweep)\n" in capsys.readouterr().out
    assert main(["train", "--epochs", "2", *run]) == 0
    out = capsys.readouterr().out
    assert "(range test in finder.json)" in out and "(sweep)" in out and "epoch  2/2" in out
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["resolved"]["max_lr"] == finder["recommendation"]["max_lr"]
    assert config["resolved"]["weight_decay"] == sweep["pick"]
    assert len((tmp_path / "metrics.csv").read_text().splitlines()) == 3


@pytest.mark.parametrize("argv,message", [
    (["--weight-decay", "0.1"], "--weight-decay 0.1 cannot be used: the sweep varies weight_decay (sweep_param "
                                "weight_decay, default) over sweep_values 1e-3,1e-4,1e-5; leave --weight-decay out, "
                                "or sweep another parameter (--sweep-param)"),
    (["--param", "momentum", "--values", "0.8,0.9", "--momentum", "0.5"],
     "--momentum 0.5 cannot be used: the sweep varies momentum (sweep_param momentum, from --sweep-param) over "
     "sweep_values 0.8,0.9; leave --momentum out, or sweep another parameter (--sweep-param)"),
])
def test_sweep_refuses_a_flag_of_the_setting_it_varies_naming_both(tmp_path, capsys, argv, message):
    assert main(["sweep", "--run-dir", str(tmp_path / "r"), *TINY, *argv]) == 2
    assert capsys.readouterr().err.strip() == f"onecycle sweep: error: {message}"
    assert not (tmp_path / "r").exists()


def test_sweep_notes_a_config_value_of_the_setting_it_varies(tmp_path, capsys):
    config = tmp_path / "run.toml"
    config.write_text("weight_decay = 1e-4\nsweep_values = [1e-3, 1e-5]\n")  # weight_decay: for train
    args = build_parser().parse_args(["sweep", "--config", str(config)])
    check_swept(args, config_from_args(args))
    assert capsys.readouterr().out == (f"note: weight_decay 1e-4 (from {config}) is not used: the sweep varies "
                                       "weight_decay (sweep_param weight_decay, default) over sweep_values "
                                       "1e-3,1e-5\n")
    args = build_parser().parse_args(["sweep", "--config", str(config), "--sweep-param", "momentum",
                                      "--sweep-values", "0.8,0.9"])
    check_swept(args, config_from_args(args))  # momentum at its default: nothing to say
    assert capsys.readouterr().out == ""


def test_momentum_sweep_with_adamw_sweeps_beta1(tmp_path, capsys):
    assert main(["sweep", "--sweep-param", "momentum", "--sweep-values", "0.8,0.95", "--optimizer", "adamw",
                 "--sweep-steps", "10", "--run-dir", str(tmp_path), *TINY]) == 0
    assert "\nmomentum sweep over 0.8, 0.95 at weight decay 0.01 (default)\n" in capsys.readouterr().out
    sweep = json.loads((tmp_path / "sweep.json").read_text())
    assert sweep["param"] == "momentum" and sweep["values"] == [0.8, 0.95]
    first, second = (r["curves"][0]["losses"] for r in sweep["results"])
    assert first[0] == second[0] and first[1:] != second[1:]  # same start, different beta1


def test_subset_larger_than_the_dataset_is_noted(caplog):
    with caplog.at_level("WARNING", logger="onecycle"):
        setup = experiment.prepare(_cfg(train_subset=99999, test_subset=100))
    assert len(setup.train_data) == 1437 and len(setup.test_data) == 100
    assert "train_subset 99999 > 1437 images in digits: using all" in caplog.text


def test_train_without_max_lr_says_what_to_do(tmp_path, capsys):
    assert main(["train", "--run-dir", str(tmp_path), *TINY]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "no max_lr: pass --max-lr, run `onecycle find-lr" in err


@pytest.mark.parametrize(
    "flags,message",
    [
        (["--divergence-factor", "1"], "divergence_factor must be > 1"),
        (["--dataset", "imagenet"], "dataset must be one of"),
        (["--momentum", "1.2"], r"momentum must be in \[0, 1\)"),
    ],
)
def test_bad_settings_fail_before_any_work(tmp_path, capsys, flags, message):
    assert main(["train", "--max-lr", "0.1", "--run-dir", str(tmp_path / "r"), *TINY, *flags]) == 2
    assert re.search(message, capsys.readouterr().err)
    assert not (tmp_path / "r").exists()


def test_config_file_with_unknown_key(tmp_path, capsys):
    cfg = tmp_path / "c.toml"
    cfg.write_text("epochz = 3\n")
    assert main(["find-lr", "--config", str(cfg), "--run-dir", str(tmp_path)]) == 2
    assert "unknown key(s) in" in capsys.readouterr().err


def _cfg(**kw):
    base = dict(dataset="digits", train_subset=384, batch_size=32, epochs=3, progress=False, augment="crop+flip")
    return from_dict({**base, **kw})


def test_killed_run_resumes_to_the_same_result(tmp_path):
    setup = experiment.prepare(_cfg())
    experiment.train_run(setup, tmp_path / "full", 0.05, 5e-4)

    class Kill:
        def on_epoch_end(self, state, metrics):
            return metrics["epoch"] == 1

    experiment.train_run(setup, tmp_path / "cut", 0.05, 5e-4, extra_hooks=[Kill()])
    assert rundir.read_checkpoint(tmp_path / "cut" / rundir.CHECKPOINT)["epoch"] == 1
    experiment.train_run(setup, tmp_path / "cut", 0.05, 5e-4, resume=experiment.resume_settings(tmp_path / "cut", {}))
    full = rundir.read_checkpoint(tmp_path / "full" / rundir.CHECKPOINT)
    cut = rundir.read_checkpoint(tmp_path / "cut" / rundir.CHECKPOINT)
    for key, value in full["model"].items():
        assert torch.equal(value, cut["model"][key]), key
    assert (tmp_path / "full" / "metrics.csv").read_text().splitlines()[1:] != []
    full_rows = [json.loads(x) for x in (tmp_path / "full" / "metrics.jsonl").read_text().splitlines()]
    cut_rows = [json.loads(x) for x in (tmp_path / "cut" / "metrics.jsonl").read_text().splitlines()]
    drop = ("time_s", "images_per_s")
    assert [{k: v for k, v in r.items() if k not in drop} for r in full_rows] == [
        {k: v for k, v in r.items() if k not in drop} for r in cut_rows
    ]


def test_resume_needs_only_the_run_directory(tmp_path):
    cfg = _cfg(epochs=2)
    full, cut = tmp_path / "full", tmp_path / "cut"
    setup = experiment.prepare(cfg)
    experiment.train_run(setup, full, 0.05, 5e-4)

    class Kill:
        def on_epoch_end(self, state, metrics):
            return True

    experiment.train_run(setup, cut, 0.05, 5e-4, extra_hooks=[Kill()])
    assert main(["train", "--resume", "--run-dir", str(cut), "--quiet"]) == 0
    a = rundir.read_checkpoint(full / rundir.CHECKPOINT)["model"]
    b = rundir.read_checkpoint(cut / rundir.CHECKPOINT)["model"]
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_resume_cli_flag_and_nan_message(tmp_path, capsys):
    run = ["--run-dir", str(tmp_path), *TINY, "--epochs", "1"]
    assert main(["train", "--max-lr", "1e6", *run]) == 2  # diverges at once
    err = capsys.readouterr().err
    assert "non-finite loss" in err and "lr=" in err and "checkpoint" in err
    assert main(["train", "--max-lr", "0.05", "--overwrite", *run]) == 0
    assert main(["train", "--max-lr", "0.05", "--resume", *run]) == 0  # nothing left to do: same result
    assert len((tmp_path / "metrics.csv").read_text().splitlines()) == 2


def test_train_with_a_baseline_schedule_records_it_and_resume_keeps_it(tmp_path, capsys):
    run = ["--run-dir", str(tmp_path), *TINY, "--train-subset", "128", "--test-subset", "64", "--epochs", "1",
           "--max-lr", "0.05", "--weight-decay", "5e-4"]
    assert main(["train", "--schedule", "step", *run]) == 0
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["schedule"] == "step" and config["momentum"] == 0.9 and config["resolved"]["total_steps"] == 4
    # 4 steps: steps 1-2 at max_lr, 3 (from 50%) at max_lr/10, 4 (from 75%) at max_lr/100
    steps = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    steps = [r for r in steps if r["kind"] == "step"]
    assert [r["lr"] for r in steps] == pytest.approx([0.05, 0.05, 0.005, 0.0005], rel=1e-6)
    assert all(r["momentum"] == pytest.approx(0.9) for r in steps)
    capsys.readouterr()
    assert main(["train", "--resume", "--schedule", "cosine", *run]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "schedule step (saved) vs cosine (given)" in err
    assert main(["report", str(tmp_path), "--out", str(tmp_path)]) == 0
    assert "| step decay (momentum 0.9) | 1/1 |" in (tmp_path / "report.md").read_text()


@pytest.mark.parametrize(
    "flags,message",
    [
        (["--schedule", "foo"], "schedule must be one of onecycle, step, linear, cosine, constant; got 'foo'"),
        (["--schedule", "cosin"], "schedule must be one of onecycle, step, linear, cosine, constant; got 'cosin' "
                                  "(did you mean cosine?)"),
        (["--cycle-epochs", "3"], "cycle_epochs 3 (from --cycle-epochs) must be between 1 and epochs 2 "
                                  "(from --epochs)"),
        (["--schedule", "linear", "--cycle-epochs", "1"], "cycle_epochs 1 (from --cycle-epochs) applies to schedule "
                                                          "onecycle only"),
    ],
)
def test_a_bad_schedule_is_one_clear_line_before_any_work(tmp_path, capsys, flags, message):
    argv = ["train", "--max-lr", "0.1", "--epochs", "2", "--run-dir", str(tmp_path / "r"), *TINY, *flags]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"onecycle train: error: {message}") and len(err.splitlines()) == 1
    assert not (tmp_path / "r").exists()


def test_report_html_references_existing_images(tmp_path, capsys):
    a, b = tmp_path / "a", tmp_path / "b"
    assert main(["train", "--auto", "--epochs", "2", "--run-dir", str(a), *TINY, *SWEEP_STEPS]) == 0
    assert main(["train", "--max-lr", "0.05", "--epochs", "2", "--run-dir", str(b), *TINY]) == 0
    out = tmp_path / "report"
    assert main(["report", str(a), str(b), "--out", str(out)]) == 0
    html = (out / "report.html").read_text()
    sources = re.findall(r"<img src='([^']+)'", html)
    assert len(sources) >= 6
    for src in sources:
        assert (out / src).is_file(), src
    md = (out / "report.md").read_text()
    assert "| a | digits | small-cnn | 1cycle | 2/2 |" in md and "| b |" in md
    for src in re.findall(r"!\[[^]]*\]\(([^)]+)\)", md):
        assert (out / src).is_file(), src


def test_report_of_an_empty_directory_is_an_error(tmp_path, capsys):
    assert main(["report", str(tmp_path)]) == 2
    assert "holds no onecycle results" in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv",
    [
        ["train", "--max-lr", "0.1", "--run-dir", "{file}"],
        ["find-lr", "--run-dir", "{file}"],
        ["train", "--max-lr", "0.1", "--run-dir", ""],
        ["report", "{file}"],
        ["report", "{dir}", "--out", "{file}"],
    ],
)
def test_a_directory_argument_that_is_a_file_or_empty_is_refused_at_once(tmp_path, capsys, argv):
    file = tmp_path / "notes.txt"
    file.write_text("mine\n")
    argv = [a.format(file=file, dir=tmp_path) for a in argv]
    with pytest.raises(SystemExit) as exit_:
        main([*argv, *TINY] if argv[0] != "report" else argv)
    err = capsys.readouterr().err
    assert exit_.value.code == 2
    assert re.search(r"error: argument (--run-dir|--out|RUN_DIR): (.*notes.txt is a file, not a directory|expected a "
                     r"directory, got an empty string)", err)
    assert file.read_text() == "mine\n"


def test_demo_end_to_end_with_fallback_to_digits(tmp_path, capsys, monkeypatch):
    without_fashion_mnist(monkeypatch, "Fashion-MNIST not found in /nowhere; put the four .gz files there")
    demo = ["demo", "--run-dir", str(tmp_path), "--train-subset", "384", "--epochs", "2", "--sweep-steps", "20",
            "--num-steps", "30"]
    code = main(demo)
    out, err = capsys.readouterr()
    assert code == 0, out
    assert "notice: running the demo on scikit-learn's 8x8 digits instead" in out
    assert "test acc" in out
    assert (tmp_path / "report.html").exists() and (tmp_path / "sweep.png").exists()
    # a line as each phase starts, and progress bars (stderr) within it
    phases = ["[1/3] weight decay and max_lr", "weight-decay sweep over", "weight_decay 1e-05: range test of ",
              "range test at weight decay",
              "[2/3] 1cycle training", "epoch  1/2", "epoch  2/2", "[3/3] report", f"wrote {tmp_path / 'report.html'}"]
    assert [out.find(line) for line in phases] == sorted(out.find(line) for line in phases) and -1 not in [
        out.find(line) for line in phases]
    assert [line for line in err.replace("\r", "\n").splitlines() if line.startswith("sweep ")] == [
        "sweep 1/3: weight_decay=0.001", "sweep 2/3: weight_decay=0.0001", "sweep 3/3: weight_decay=1e-05"]
    assert "range test:" in err and "epoch 1/2:" in err
    assert main([*demo, "--quiet"]) == 0  # run again: what is reused is said
    out, err = capsys.readouterr()
    assert f"reusing those of the run of these settings in {tmp_path} (no sweep or range test)" in out
    assert f"{tmp_path} holds this run, finished (2/2 epochs): kept" in out
    assert "sweep 1/3" not in err and "range test:" not in err and "epoch 1/2:" not in err
    (tmp_path / "checkpoint.pt").unlink()  # a training run of the demo's settings that wrote no checkpoint
    (tmp_path / "summary.json").unlink()
    assert main([*demo, "--quiet"]) == 0  # its sweep and range test are reused, and training starts again
    out, err = capsys.readouterr()
    assert f"weight-decay sweep: reusing {tmp_path / 'sweep.json'}" in out and "range test: reusing" in out
    assert "sweep 1/3" not in err and "range test:" not in err and "holds this run" not in out
    assert json.loads((tmp_path / "summary.json").read_text())["epochs_completed"] == 2


def test_the_command_line_shows_each_line_as_it_is_printed(tmp_path, monkeypatch, capsys):
    stdout = io.TextIOWrapper(io.BytesIO(), line_buffering=False)
    monkeypatch.setattr(sys, "stdout", stdout)
    assert main(["schedule", "--total-steps", "100", "--max-lr", "1", "--out", str(tmp_path / "s.png")]) == 0
    assert stdout.line_buffering


def test_train_names_every_file_it_writes(tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    assert main(["train", "--max-lr", "0.05", "--epochs", "1", "--run-dir", str(tmp_path), *TINY]) == 0
    written = capsys.readouterr().out.strip().splitlines()[-1]
    files = sorted(p.name for p in tmp_path.iterdir() if p.is_file())
    assert written == f"wrote {tmp_path}/: {', '.join(rundir.TRAIN_FILES)}"
    assert sorted(rundir.TRAIN_FILES) == files
    assert all(name in help_text for name in files)


def test_a_diverging_run_names_the_step_the_lr_a_hint_and_its_last_good_checkpoint(tmp_path, capsys):
    run = [*TINY, "--epochs", "2", "--weight-decay", "5e-4", "--max-lr", "8"]
    first = tmp_path / "first"
    assert main(["train", "--run-dir", str(first), *run]) == 2
    err = capsys.readouterr().err.splitlines()[-1]  # after the warning that the run is short
    assert err.startswith("onecycle train: error: ") and "exceeded 4x its lowest" in err
    assert "at step 11 (epoch 1, lr=" in err
    assert (f"lower --max-lr (it was 8), or run `onecycle find-lr --run-dir {first}` to measure it; no checkpoint "
            "was written before it") in err
    assert json.loads((first / "summary.json").read_text())["stopped"] == err.split("error: ", 1)[1].strip()
    later = tmp_path / "later"  # with checkpoints every 4 steps, the last one before step 11 is named
    assert main(["train", "--run-dir", str(later), "--checkpoint-every-steps", "4", *run]) == 2
    err = capsys.readouterr().err
    assert (f"the last good checkpoint is {later / 'checkpoint.pt'}, at step 8, in epoch 1, but resumed with these "
            "settings it would diverge the same way") in err
    assert main(["train", "--resume", "--run-dir", str(later), "--quiet"]) == 2
    out, err = capsys.readouterr()
    assert "at step 11 (epoch 1, lr=" in err
    assert out.startswith("resuming at step 8, after epoch 0/2: max_lr 8, weight decay 0.0005\n")  # no retries told


def test_a_run_killed_after_its_last_checkpoint_is_completed_on_resume(tmp_path, monkeypatch, capsys):
    """The last epoch's row comes after its checkpoint, and summary.json after both: a run killed in between is
    finished (nothing is trained again) and gets them on resume; a complete run is left as it is."""

    class Killed(Exception):
        pass

    setup = experiment.prepare(_cfg(epochs=2))
    full, cut = tmp_path / "full", tmp_path / "cut"
    experiment.train_run(setup, full, 0.05, 5e-4)
    write_row = rundir.MetricsHook.on_epoch_end

    def killed_before_the_last_row(self, state, metrics):
        if metrics["epoch"] == 2:
            raise Killed
        return write_row(self, state, metrics)

    monkeypatch.setattr(rundir.MetricsHook, "on_epoch_end", killed_before_the_last_row)
    with pytest.raises(Killed):
        experiment.train_run(setup, cut, 0.05, 5e-4)
    monkeypatch.undo()
    assert not (cut / "summary.json").exists()
    assert main(["train", "--resume", "--run-dir", str(cut), "--quiet"]) == 0
    assert "is finished (2/2 epochs); nothing to do" in capsys.readouterr().out
    times = ("time_s", "images_per_s")
    rows = [[{k: v for k, v in r.items() if k not in times} for r in rundir.read_metrics(d)] for d in (full, cut)]
    assert rows[0] == rows[1]
    assert (full / "steps.csv").read_bytes() == (cut / "steps.csv").read_bytes()
    assert json.loads((cut / "summary.json").read_text())["epochs_completed"] == 2
    files = {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in cut.iterdir() if p.is_file()}
    assert main(["train", "--resume", "--run-dir", str(cut), "--quiet"]) == 0
    assert files == {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in cut.iterdir() if p.is_file()}
