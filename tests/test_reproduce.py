"""The presets (the article's CIFAR-10 / ResNet-56 runs) and ``onecycle reproduce``: every number against the
article, the listing, the refusal without a GPU, and end-to-end runs on a tiny CIFAR-10 in the real file format."""

import functools
import json
import os
import re
import shlex
import signal
import statistics

import pytest
import torch

from benchmarks.time_to_accuracy import cli as time_to_accuracy
from benchmarks.time_to_accuracy.results import read_results
from onecycle import datasets, experiment, presets, rundir
from onecycle.cli import main, reproduce
from onecycle.cli.common import PrintEpochs
from onecycle.cli.reproduce import duration, estimate, refusal
from onecycle.config import build_config, from_dict, load_toml
from onecycle.experiment import planned_steps, seconds_per_step
from onecycle.models import build_model
from onecycle.report import reproduction_table
from onecycle.schedules import policy
from tests.test_datasets import _write_cifar

# What the article (The 1cycle policy, Gugger 2018) and its notebook fix, shared by its runs; He et al. 2016 for
# the step baseline.
ARTICLE = dict(dataset="cifar10", model="resnet56-b", augment="crop+flip", batch_size=512, optimizer="sgd",
               nesterov=False, weight_decay=1e-4, label_smoothing=0.0, schedule="onecycle", anneal_strategy="linear",
               three_phase=True, final_div_factor=100.0)
CYCLICAL = dict(cycle_momentum=True, max_momentum=0.95, base_momentum=0.85)
CONSTANT = dict(cycle_momentum=False, momentum=0.9)
LR_08 = dict(max_lr=0.8, div_factor=10.0)  # 0.08 -> 0.8 -> 0.08 -> 0.0008
LR_3 = dict(max_lr=3.0, div_factor=20.0)  # 0.15 -> 3 -> 0.15 -> 0.0015

# name: (settings, published accuracy %, first lr, last lr, the epoch the cycle ends with)
TRAINING = {
    "r56-95ep": ({**ARTICLE, **CYCLICAL, **LR_08, "epochs": 95, "annihilation_pct": 0.1368}, 93.53, 0.08, 8e-4, 82),
    "r56-50ep-lr3": ({**ARTICLE, **CYCLICAL, **LR_3, "epochs": 50, "annihilation_pct": 0.1}, 92.31, 0.15, 1.5e-3, 45),
    "r56-70ep-lr3": ({**ARTICLE, **CYCLICAL, **LR_3, "epochs": 70, "annihilation_pct": 0.1}, 93.08, 0.15, 1.5e-3, 63),
    "r56-const-mom-95ep": ({**ARTICLE, **CONSTANT, **LR_08, "epochs": 95, "annihilation_pct": 0.1368}, 93.39, 0.08,
                           8e-4, 82),
    "r56-const-mom-50ep": ({**ARTICLE, **CONSTANT, **LR_3, "epochs": 50, "annihilation_pct": 0.1}, 92.25, 0.15,
                           1.5e-3, 45),
    "r56-short-cycle": ({**ARTICLE, **CYCLICAL, **LR_08, "epochs": 95, "cycle_epochs": 42}, None, 0.08, 8e-4, 42),
    "r56-step-baseline": (dict(dataset="cifar10", model="resnet56", augment="crop+flip", batch_size=128,
                               optimizer="sgd", nesterov=False, momentum=0.9, weight_decay=1e-4, label_smoothing=0.0,
                               schedule="step", max_lr=0.1, epochs=164), 93.03, 0.1, 1e-3, None),
}
SWEEP = {"r56-wd-sweep": dict(dataset="cifar10", model="resnet56-b", augment="crop+flip", batch_size=512,
                              optimizer="sgd", momentum=0.9, nesterov=False, sweep_param="weight_decay",
                              sweep_values=[1e-2, 1e-3, 3e-4, 1e-4, 3e-5, 1e-5, 0.0], start_lr=0.01, end_lr=100.0,
                              sweep_steps=100)}


# The presets whose figures this project measured itself: name -> the results file of the benchmark they come from
# (its settings hold the recipe and name the preset; its results, the budget, max_lr and accuracy).
MEASURED = {"fmnist-93": time_to_accuracy.RESULTS_FILE}


def test_every_preset_is_in_the_table():
    assert set(presets.names()) == set(TRAINING) | set(SWEEP) | set(MEASURED)


@pytest.mark.parametrize("name", list(MEASURED))
def test_a_measured_preset_holds_its_benchmarks_recipe_and_figures(name):
    data = read_results(MEASURED[name])
    settings, results = data["settings"], data["results"]
    preset, budget = presets.load(name), results["to_target"]["mean_budget"]
    cfg = preset.config()
    assert settings["preset"] == name and preset.job == "train"
    recipe = {k: v for k, v in settings["recipe"].items() if k not in reproduce.MACHINE}  # where it runs is yours
    assert preset.settings == {**recipe, "epochs": budget["epochs"], "max_lr": results["max_lr"]}
    assert cfg.schedule == "onecycle" and cfg.max_lr == results["max_lr"]  # 1cycle with onecycle's defaults
    assert preset.published_accuracy == round(100 * budget["accuracy"]["mean"], 2)
    minutes = budget["cpu_time_s"]["mean"] / 60
    assert f"{budget['epochs']} epochs" in preset.description and f"{minutes:.0f} min of CPU" in preset.description
    assert "python -m benchmarks.time_to_accuracy" in preset.source and MEASURED[name].name in preset.source


@pytest.mark.parametrize("name", list(TRAINING))
def test_training_preset_holds_the_articles_numbers(name):
    settings, published, first_lr, last_lr, cycle_end = TRAINING[name]
    preset = presets.load(name)
    cfg = preset.config()
    assert preset.job == "train" and preset.published_accuracy == published
    assert {key: getattr(cfg, key) for key in settings} == settings
    schedule = policy(max_lr=cfg.max_lr, total_steps=planned_steps(cfg), **cfg.policy_kwargs())
    steps_per_epoch = planned_steps(cfg) // cfg.epochs
    assert schedule.lr(0) == pytest.approx(first_lr)
    assert schedule.lr(planned_steps(cfg) - 1) == pytest.approx(last_lr, rel=0.02)
    if cycle_end is not None:  # 1cycle: back at the first lr when the cycle ends, then the annihilation
        back = next(s for s in range(1, planned_steps(cfg)) if s > steps_per_epoch and schedule.lr(s) <= first_lr)
        assert back / steps_per_epoch == pytest.approx(cycle_end, abs=0.05)
    if cfg.schedule == "step":  # He et al.: x0.1 at 32k and 48k of 64k iterations
        assert planned_steps(cfg) == 63_960 and schedule.lr(31_979) == 0.1 and schedule.momentum(0) == 0.9
        assert schedule.lr(31_980) == pytest.approx(0.01) and schedule.lr(47_970) == pytest.approx(1e-3)


def test_sweep_preset_holds_the_articles_numbers():
    preset = presets.load("r56-wd-sweep")
    cfg = preset.config()
    assert preset.job == "sweep" and preset.published_pick == 1e-4 and preset.published_accuracy is None
    assert {key: getattr(cfg, key) for key in SWEEP["r56-wd-sweep"]} == SWEEP["r56-wd-sweep"]
    assert planned_steps(cfg, "sweep") == 700


@pytest.mark.parametrize("name", sorted(set(TRAINING) | set(SWEEP) | set(MEASURED)))
def test_preset_file_is_a_config_file_with_its_source(name):
    preset = presets.load(name)
    assert load_toml(preset.path) == preset.settings  # what --config reads: the [onecycle] table
    assert build_config(preset.path) == preset.config()
    assert ("Gugger" in preset.source or "He, Zhang, Ren and Sun" in preset.source
            or "python -m benchmarks." in preset.source)
    assert preset.description and "\n" not in preset.source


def test_planned_steps_are_those_of_the_loader():
    assert planned_steps(presets.load("r56-95ep").config()) == 95 * 97  # 50,000 // 512: the last, partial batch
    assert planned_steps(from_dict({"dataset": "cifar10", "batch_size": 512, "train_subset": 1000, "epochs": 3})) == 6
    cfg = from_dict({"dataset": "digits", "batch_size": 64, "epochs": 2, "progress": False})
    assert planned_steps(cfg) == cfg.epochs * len(experiment.prepare(cfg).batches())


def test_the_presets_resnets():
    x = torch.randn(2, 3, 32, 32)
    for model in {presets.load(name).config().model for name in [*TRAINING, *SWEEP]}:  # the article's
        net = build_model(model, 3, 10).eval()
        assert sum(p.numel() for p in net.parameters()) == {"resnet56": 853_018, "resnet56-b": 855_770}[model]
        with torch.no_grad():
            assert net(x).shape == (2, 10)


def test_list_shows_every_preset_with_its_published_figure(capsys):
    assert main(["reproduce", "--list"]) == 0
    out = capsys.readouterr().out
    for name in presets.names():
        line = next(line for line in out.splitlines() if line.startswith(name + " "))
        assert presets.load(name).published in line and presets.load(name).description in line
    assert "93.53%" in out and "weight_decay 0.0001" in out and str(presets.DIRECTORY) in out


@pytest.mark.parametrize(("name", "hint"), [("r56-59ep", "did you mean r56-95ep?"), ("resnet", "")])
def test_unknown_preset_is_one_line_with_a_hint(name, hint, capsys):
    assert main(["reproduce", name]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and f"unknown preset {name!r}" in err and hint in err
    assert "r56-step-baseline" in err


def test_no_name_and_bad_seeds(capsys):
    assert main(["reproduce"]) == 2
    assert "--list" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["reproduce", "r56-95ep", "--seeds", "0"])


@pytest.fixture
def nowhere(tmp_path, monkeypatch):
    """No dataset anywhere but where a test puts it: an empty cache, no system directories, no $ONECYCLE_DATA."""
    monkeypatch.setattr(datasets, "default_cache_dir", lambda: tmp_path / "cache")
    monkeypatch.setattr(datasets, "SYSTEM_DIRS", ())
    monkeypatch.delenv(datasets.ENV_VAR, raising=False)
    return tmp_path / "cache" / "cifar-10-batches-py"


def test_without_a_gpu_it_refuses_with_an_estimate(tmp_path, monkeypatch, nowhere, capsys):
    _write_cifar(nowhere, per_batch=2, n_test=5)  # CIFAR-10 is here: the time is the one reason
    timed = []
    monkeypatch.setattr("onecycle.cli.reproduce.seconds_per_step", lambda cfg, steps: timed.append(cfg) or 2.1)
    run = tmp_path / "run"
    assert main(["reproduce", "r56-95ep", "--seeds", "3", "--device", "cpu", "--run-dir", str(run)]) == 2
    err = capsys.readouterr().err.strip()
    assert err == ("onecycle reproduce: error: r56-95ep would take about 16 h on this CPU (measured 2.1 s/step "
                   "× 27,645 steps in 3 runs, test evaluation not counted); run it on a GPU or pass --force")
    assert timed[0].batch_size == 512 and timed[0].model == "resnet56-b" and not run.exists()
    assert estimate("r56-wd-sweep", "mps", 0.5, 700, 1).startswith("r56-wd-sweep would take about 6 min on this "
                                                                    "machine's mps device (measured 0.5 s/step × 700 ")
    assert [duration(s) for s in (40, 720, 5400, 111_600)] == ["40 s", "12 min", "1.5 h", "31 h"]


class _Ran(Exception):
    """Raised in place of the runs: the command got past the GPU check."""


@pytest.mark.parametrize(("step_s", "limit_s", "runs"), [(5.0, None, True), (5.2, None, False), (0.5, 350.0, True),
                                                        (0.5, 349.9, False)])
def test_without_a_gpu_a_preset_estimated_within_the_hour_runs_on_the_cpu(step_s, limit_s, runs, tmp_path,
                                                                         monkeypatch, capsys):
    assert reproduce.CPU_LIMIT_S == 3600
    if limit_s is not None:  # at the limit it runs, a hair below it does not
        monkeypatch.setattr(reproduce, "CPU_LIMIT_S", limit_s)
    monkeypatch.setattr("onecycle.cli.reproduce.seconds_per_step", lambda cfg, steps: step_s)
    started = []

    def run_seeds(cfg, job, run_dir, seeds, **kwargs):
        started.append((cfg.model, job, seeds))
        raise _Ran

    monkeypatch.setattr(reproduce, "run_seeds", run_seeds)
    argv = ["reproduce", "r56-wd-sweep", "--device", "cpu", "--run-dir", str(tmp_path / "run")]  # 700 steps
    if runs:
        with pytest.raises(_Ran):
            main(argv)
        out = capsys.readouterr().out
        assert started == [("resnet56-b", "sweep", 1)]
        limit = duration(reproduce.CPU_LIMIT_S)
        assert f"r56-wd-sweep would take about {duration(700 * step_s)} on this CPU (measured {step_s:.2g} s/step × " \
               f"700 steps, test evaluation not counted): within {limit}, so it runs here" in out
    else:
        assert main(argv) == 2
        assert started == [] and "run it on a GPU or pass --force" in capsys.readouterr().err


def test_force_beyond_the_hour_prints_the_estimate_and_runs(tmp_path, monkeypatch, nowhere, capsys):
    _write_cifar(nowhere, per_batch=2, n_test=5)  # CIFAR-10 is here: nothing to download
    timed, started = [], []
    monkeypatch.setattr("onecycle.cli.reproduce.seconds_per_step", lambda cfg, steps: timed.append(cfg) or 5.2)

    def run_seeds(cfg, job, run_dir, seeds, **kwargs):
        started.append((cfg.model, job, seeds))
        raise _Ran

    monkeypatch.setattr(reproduce, "run_seeds", run_seeds)
    with pytest.raises(_Ran):
        main(["reproduce", "r56-wd-sweep", "--device", "cpu", "--run-dir", str(tmp_path / "run"), "--force"])
    out = capsys.readouterr().out
    assert len(timed) == 1 and started == [("resnet56-b", "sweep", 1)]
    assert (f"r56-wd-sweep would take about {duration(700 * 5.2)} on this CPU (measured 5.2 s/step × 700 steps, test "
            f"evaluation not counted): beyond {duration(reproduce.CPU_LIMIT_S)}, run all the same (--force)"
            ) in out.splitlines()


def test_force_downloads_missing_data_before_it_times_a_step(tmp_path, monkeypatch, nowhere, capsys):
    """Offline, --force fails at once with the download's error, not after a minute of timing."""
    timed, fetched = [], []
    monkeypatch.setattr("onecycle.cli.reproduce.seconds_per_step", lambda cfg, steps: timed.append(cfg) or 5.2)

    def load_dataset(name, data_dir=None, download=True, **kwargs):
        fetched.append((name, data_dir, download))
        raise datasets.DatasetNotFound("CIFAR-10 is not here and the download failed (offline)")

    monkeypatch.setattr(datasets, "load_dataset", load_dataset)
    assert main(["reproduce", "r56-95ep", "--device", "cpu", "--run-dir", str(tmp_path / "run"), "--force"]) == 2
    out, err = capsys.readouterr()
    assert fetched == [("cifar10", None, True)] and not timed and "timing" not in out
    assert err == "onecycle reproduce: error: CIFAR-10 is not here and the download failed (offline)\n"


def test_without_a_gpu_or_cifar_it_says_both_in_one_line(tmp_path, monkeypatch, nowhere, capsys):
    monkeypatch.setattr("onecycle.cli.reproduce.seconds_per_step", lambda cfg, steps: 2.1)
    assert main(["reproduce", "r56-95ep", "--device", "cpu", "--run-dir", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert err == ("onecycle reproduce: error: r56-95ep would take about 5.4 h on this CPU (measured 2.1 s/step × "
                   "9,215 steps, test evaluation not counted); run it on a GPU or pass --force. The data is missing "
                   f"too: CIFAR-10 is not in any of {nowhere}; it would be downloaded from "
                   "https://www.cs.toronto.edu/~kriz first\n")
    assert refusal("r", "cpu", 1.0, 10, 1, "it is not here") == (
        "r would take about 10 s on this CPU (measured 1 s/step × 10 steps, test evaluation not counted); run it on "
        "a GPU or pass --force. The data is missing too: it is not here")


@pytest.mark.parametrize(("flags", "missing"), [
    (["--no-download"], "CIFAR-10 is not in any of {cache} and download is off; put the cifar-10-batches-py files"),
    (["--data-dir", "{empty}"], "data_dir {empty} does not exist; give the directory that holds the cifar-10"),
    (["--data-dir", "{empty}", "--force"], "data_dir {empty} does not exist; give the directory that holds the "
                                           "cifar-10"),
])
def test_data_that_is_not_here_and_would_not_be_downloaded_is_refused_before_any_step_is_timed(
        flags, missing, tmp_path, monkeypatch, nowhere, capsys):
    timed = []
    monkeypatch.setattr("onecycle.cli.reproduce.seconds_per_step", lambda cfg, steps: timed.append(cfg) or 2.1)
    flags = [flag.format(empty=tmp_path / "empty") for flag in flags]
    assert main(["reproduce", "r56-95ep", "--device", "cpu", "--run-dir", str(tmp_path / "run"), *flags]) == 2
    out, err = capsys.readouterr()
    assert not timed and "timing" not in out
    assert len(err.strip().splitlines()) == 1
    assert err.startswith("onecycle reproduce: error: r56-95ep needs cifar10: "
                          + missing.format(cache=nowhere, empty=tmp_path / "empty"))


def test_a_broken_preset_file_is_named_and_leaves_the_others_listed(tmp_path, monkeypatch, capsys):
    _tiny_presets(tmp_path, monkeypatch)
    (tmp_path / "presets" / "a-not-toml.toml").write_text("[preset\ndescription = 'x'\n")
    (tmp_path / "presets" / "b-bad-key.toml").write_text(
        (presets.DIRECTORY / "r56-95ep.toml").read_text().replace("epochs = 95", "epocs = 95"))
    (tmp_path / "presets" / "c-not-utf8.toml").write_bytes(b"\xff\xfe[preset]\n")
    assert main(["reproduce", "--list"]) == 0
    out, err = capsys.readouterr()
    for name in presets.names():
        if name[0] not in "abc":
            assert any(line.startswith(name + " ") for line in out.splitlines())
    assert not any(line.startswith(("a-", "b-", "c-")) for line in out.splitlines())
    lines = err.strip().splitlines()
    assert len(lines) == 3 and all(line.startswith("onecycle reproduce: warning: preset ") for line in lines)
    assert f"preset a-not-toml left out: {tmp_path / 'presets' / 'a-not-toml.toml'} is not a valid preset file" in err
    assert "unknown key(s) in" in lines[1] and "epocs (did you mean epochs?)" in lines[1]
    assert f"{tmp_path / 'presets' / 'c-not-utf8.toml'} is not a valid preset file" in lines[2]
    assert main(["reproduce", "a-not-toml"]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "a-not-toml.toml is not a valid preset file" in err


def test_seconds_per_step_times_real_steps():
    cfg = from_dict({"dataset": "cifar10", "model": "mlp", "batch_size": 8, "augment": "crop+flip"})
    assert 0 < seconds_per_step(cfg, steps=2) < 60


def _tiny_presets(tmp_path, monkeypatch, **changes):
    """The presets directory with a preset's numbers shrunk by ``changes`` (name: {old text: new text}): a small
    network on a few steps, to run on the tiny CIFAR-10."""
    directory = tmp_path / "presets"
    directory.mkdir()
    for name in presets.names():
        text = (presets.DIRECTORY / f"{name}.toml").read_text()
        for old, new in changes.get(name, {}).items():
            assert old in text
            text = text.replace(old, new)
        (directory / f"{name}.toml").write_text(text)
    monkeypatch.setattr(presets, "DIRECTORY", directory)


@pytest.fixture
def cifar(tmp_path, monkeypatch):
    """A tiny CIFAR-10 (10 training and 5 test images in the real file format) and no other place to find one."""
    monkeypatch.delenv(datasets.ENV_VAR, raising=False)
    monkeypatch.setattr(experiment, "load_dataset", functools.partial(
        datasets.load_dataset, cache_dir=tmp_path / "cache", system_dirs=()))
    _write_cifar(tmp_path / "data" / "cifar-10-batches-py", per_batch=2, n_test=5)
    return ["--data-dir", str(tmp_path / "data"), "--no-download", "--device", "cpu", "--force", "--quiet"]


def test_force_runs_each_seed_and_puts_the_mean_beside_the_published_figure(tmp_path, monkeypatch, cifar, capsys):
    _tiny_presets(tmp_path, monkeypatch, **{"r56-95ep": {"epochs = 95": "epochs = 2", "batch_size = 512":
                                                         "batch_size = 4", '"resnet56-b"': '"mlp"'}})
    run = tmp_path / "run"
    assert main(["reproduce", "r56-95ep", "--seeds", "2", "--run-dir", str(run), *cifar]) == 0
    out = capsys.readouterr().out
    record = json.loads((run / "reproduce.json").read_text())
    finals = [json.loads((run / f"seed-{s}" / "summary.json").read_text())["final"] for s in (0, 1)]
    accuracies = [100 * final["val_accuracy"] for final in finals]
    assert record["runs"] == ["seed-0", "seed-1"] and record["seeds"] == [0, 1]
    assert record["test_accuracy"] == accuracies and record["published_accuracy"] == 93.53
    assert record["mean"] == pytest.approx(sum(accuracies) / 2)
    assert record["std"] == pytest.approx(abs(accuracies[0] - accuracies[1]) / 2 ** 0.5)  # sample std of two
    assert json.loads((run / "seed-1" / "config.json").read_text())["seed"] == 1
    assert "published: 93.53%" in out and f"{record['mean']:.2f}%" in out
    estimate_line = (r"^r56-95ep would take about [\d.]+ (?:s|min|h) on this CPU \(measured \S+ s/step × 50,000 "
                     r"steps in 2 runs, test evaluation not counted\): ")  # --force says it too (at CIFAR-10's size)
    assert len(re.findall(estimate_line, out, re.M)) == 1
    report = (run / "report.md").read_text()
    assert "## Reproduction: r56-95ep" in report and "93.53%" in report and "## r56-95ep-seed-1" in report
    assert (run / "report.html").exists() and (run / "2-r56-95ep-seed-1-curves.png").exists()
    assert main(["report", str(run), "--out", str(tmp_path / "report")]) == 0  # the preset's directory: its runs
    assert "Reproduction: r56-95ep" in (tmp_path / "report" / "report.html").read_text()
    stamp = (run / "seed-0" / "checkpoint.pt").stat().st_mtime_ns
    assert main(["reproduce", "r56-95ep", "--seeds", "3", "--run-dir", str(run), *cifar]) == 0  # one more seed
    out = capsys.readouterr().out
    assert out.count("finished: kept") == 2 and (run / "seed-2" / "summary.json").exists()
    assert (run / "seed-0" / "checkpoint.pt").stat().st_mtime_ns == stamp
    assert json.loads((run / "reproduce.json").read_text())["seeds"] == [0, 1, 2]


def test_force_runs_the_weight_decay_sweep(tmp_path, monkeypatch, cifar, capsys):
    _tiny_presets(tmp_path, monkeypatch, **{"r56-wd-sweep": {
        "batch_size = 512": "batch_size = 4", "sweep_steps = 100": "sweep_steps = 4", '"resnet56-b"': '"mlp"',
        "[1e-2, 1e-3, 3e-4, 1e-4, 3e-5, 1e-5, 0.0]": "[1e-3, 0.0]"}})
    run = tmp_path / "sweep"
    assert main(["reproduce", "r56-wd-sweep", "--run-dir", str(run), *cifar]) == 0
    record = json.loads((run / "reproduce.json").read_text())
    sweep = json.loads((run / "seed-0" / "sweep.json").read_text())
    assert record["picks"] == [sweep["pick"]] and record["published_pick"] == 1e-4 and sweep["values"] == [1e-3, 0]
    assert (run / "seed-0" / "sweep.png").exists() and "| pick | 0.0001 |" in (run / "report.md").read_text()


def test_without_cifar_it_says_so_in_one_line(tmp_path, monkeypatch, cifar, capsys):
    args = [a if a != str(tmp_path / "data") else str(tmp_path / "empty") for a in cifar]
    assert main(["reproduce", "r56-95ep", "--run-dir", str(tmp_path / "run"), *args]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and f"data_dir {tmp_path / 'empty'} does not exist" in err


def test_reproduction_table_mean_and_sample_std():
    record = {"job": "train", "runs": ["seed-0", "seed-1", "seed-2"], "test_accuracy": [93.0, 93.5, 94.0],
              "mean": statistics.fmean([93.0, 93.5, 94.0]), "std": statistics.stdev([93.0, 93.5, 94.0]),
              "published_accuracy": 93.53}
    header, rows = reproduction_table(record)
    assert header == ["", "published", "ours (3 seeds: 93.00, 93.50, 94.00)", "difference"]
    assert rows == [["test accuracy", "93.53%", "93.50% ± 0.50", "-0.03"]]
    one = {**record, "runs": ["seed-0"], "test_accuracy": [92.0], "mean": 92.0, "std": None,
           "published_accuracy": None}
    assert reproduction_table(one)[1] == [["test accuracy", "-", "92.00%", "-"]]


TINY_95EP = {"r56-95ep": {"epochs = 95": "epochs = 3", "batch_size = 512": "batch_size = 4",
                          '"resnet56-b"': '"mlp"'}}


@pytest.mark.parametrize(("damage", "message"), [
    (lambda seed: (seed / "summary.json").write_text('{"epochs_completed": 3, "fin'),
     "{seed}/summary.json is not valid JSON"),
    (lambda seed: (seed / "config.json").write_text("[]"),
     "{seed}/config.json is not the settings file of a train run"),
    (lambda seed: (seed / "summary.json").write_text('{"epochs_completed": 3, "stopped": null, "final": null}'),
     "{seed}/summary.json is damaged: it holds no number at final.val_accuracy"),
])
def test_a_damaged_seed_directory_is_one_error_naming_the_file(damage, message, tmp_path, monkeypatch, cifar,
                                                               capsys):
    _tiny_presets(tmp_path, monkeypatch, **TINY_95EP)
    run = tmp_path / "run"
    assert main(["reproduce", "r56-95ep", "--run-dir", str(run), *cifar]) == 0
    damage(run / "seed-0")
    capsys.readouterr()
    assert main(["reproduce", "r56-95ep", "--run-dir", str(run), *cifar]) == 2
    out, err = capsys.readouterr()
    assert len(err.strip().splitlines()) == 1 and message.format(seed=run / "seed-0") in err
    assert "seed 0 (1/1)" not in out  # nothing was run again


def test_a_killed_seed_run_is_resumed_to_the_result_of_an_uninterrupted_one(tmp_path, monkeypatch, cifar,
                                                                            capsys):
    _tiny_presets(tmp_path, monkeypatch, **TINY_95EP)
    assert main(["reproduce", "r56-95ep", "--run-dir", str(tmp_path / "whole"), *cifar]) == 0

    class Kill(PrintEpochs):
        def on_epoch_end(self, state, metrics):
            if state.epoch == 2:  # after its checkpoint
                raise KeyboardInterrupt
            return False

    monkeypatch.setattr(reproduce, "PrintEpochs", Kill)
    shown = [flag for flag in cifar if flag != "--quiet"]  # the epoch printer is the one that kills
    run = tmp_path / "killed"
    assert main(["reproduce", "r56-95ep", "--seeds", "2", "--run-dir", str(run), *shown]) == 130
    seed = run / "seed-0"
    assert (seed / "checkpoint.pt").exists() and not (seed / "summary.json").exists()
    monkeypatch.setattr(reproduce, "PrintEpochs", PrintEpochs)
    capsys.readouterr()
    assert main(["reproduce", "r56-95ep", "--seeds", "2", "--run-dir", str(run), *shown]) == 0
    out = capsys.readouterr().out
    assert "seed 0 (1/2): train in " + str(seed) + ", resumed from its checkpoint" in out
    assert out.count("epoch  1/3") == 1 and out.count("epoch  3/3") == 2  # seed 0 from epoch 3, seed 1 whole
    whole, resumed = (json.loads((d / "seed-0" / "summary.json").read_text()) for d in (tmp_path / "whole", run))
    timing = ("time_s", "images_per_s")
    assert {k: v for k, v in resumed["final"].items() if k not in timing} == {
        k: v for k, v in whole["final"].items() if k not in timing}
    weights = [rundir.read_checkpoint(d / "seed-0" / "checkpoint.pt")["model"] for d in (tmp_path / "whole", run)]
    assert all(torch.equal(weights[0][k], weights[1][k]) for k in weights[0])


def test_a_seed_stopped_by_a_signal_says_to_run_the_same_reproduce_command_again(tmp_path, monkeypatch, cifar,
                                                                                  capsys):
    _tiny_presets(tmp_path, monkeypatch, **TINY_95EP)

    class Signal(PrintEpochs):
        def on_epoch_end(self, state, metrics):
            if state.epoch == 1:  # SIGINT, as Ctrl-C sends it: training stops after the next step, checkpointed
                os.kill(os.getpid(), signal.SIGINT)
            return False

    monkeypatch.setattr(reproduce, "PrintEpochs", Signal)
    shown = [flag for flag in cifar if flag != "--quiet"]
    run = tmp_path / "run dir"
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        assert main(["reproduce", "r56-95ep", "--seeds", "2", "--run-dir", str(run), *shown]) == 128 + signal.SIGINT
    finally:
        signal.signal(signal.SIGINT, previous)
    err = capsys.readouterr().err.strip().splitlines()[-1]
    command = (f"onecycle reproduce r56-95ep --seeds 2 --run-dir {shlex.quote(str(run))} --force --data-dir "
               f"{shlex.quote(str(tmp_path / 'data'))} --no-download --device cpu")
    assert err.startswith("onecycle reproduce: seed 0: stopped by SIGINT: the run is in ")
    assert err.endswith(f"resume it with `{command}`") and "train --resume" not in err
    assert not (run / "reproduce.json").exists()
    monkeypatch.setattr(reproduce, "PrintEpochs", PrintEpochs)
    assert main(shlex.split(command)[1:]) == 0  # the command it printed finishes the seeds and writes the record
    assert "seed 0 (1/2): train in " + str(run / "seed-0") + ", resumed from its checkpoint" in capsys.readouterr().out
    assert json.loads((run / "reproduce.json").read_text())["seeds"] == [0, 1]
