"""Run directories across commands: resuming exactly the saved run, reusing a sweep or range test only when it was
measured under the same settings, and every file written atomically."""

import dataclasses
import json
import logging
import math
import shutil
from types import SimpleNamespace

import pytest
import torch

from onecycle import experiment, rundir
from onecycle.cli import main
from onecycle.config import from_dict
from onecycle.range_test import RangeTestResult
from onecycle.report import write_report
from onecycle.sweep import SweepResult
from tests.reads import count_reads

SETTINGS = dict(dataset="digits", train_subset=256, test_subset=128, batch_size=32, epochs=2, num_steps=30,
                sweep_steps=20, sweep_values=[1e-3, 1e-5], progress=False)
FLAGS = ["--dataset", "digits", "--train-subset", "256", "--test-subset", "128", "--batch-size", "32",
         "--num-steps", "30", "--quiet"]  # the sweep's values and steps need not match: they are how it measured
APPENDED = {rundir.METRICS_JSONL, rundir.METRICS_CSV, rundir.STEPS_CSV}  # appended a row at a time


class Kill:
    """Stops training after the first epoch, as if the process had been killed after its checkpoint."""

    def on_epoch_end(self, state, metrics):
        return True


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """``measured``: a sweep and a range test; ``full``: a finished 2-epoch run after them; ``cut``: the same
    run killed after epoch 1. ``written``: every path that went through the atomic writer meanwhile."""
    root = tmp_path_factory.mktemp("runs")
    measured, full, cut = root / "measured", root / "full", root / "cut"
    written = []
    real = rundir.atomic_write
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(rundir, "atomic_write", lambda path, write: (written.append(path), real(path, write)))
        cfg = from_dict(SETTINGS)
        setup = experiment.prepare(cfg)
        experiment.run_sweep(setup, measured)
        experiment.find_lr(setup, measured)
        shutil.copytree(measured, full)
        shutil.copytree(measured, cut)
        max_lr, wd = experiment.resolve(cfg, measured, auto=False, setup=lambda: setup, say=lambda _: None)
        experiment.train_run(setup, full, max_lr, wd)
        experiment.train_run(setup, cut, max_lr, wd, extra_hooks=[Kill()])
        write_report([full], full)
    return {"measured": measured, "full": full, "cut": cut, "written": written, "max_lr": max_lr, "wd": wd}


def _copy(runs, name, tmp_path):
    return shutil.copytree(runs[name], tmp_path / name)


def _files(run_dir):
    return {p.relative_to(run_dir): p.read_bytes() for p in sorted(run_dir.rglob("*")) if p.is_file()}


def test_every_file_is_written_atomically(runs):
    names = {p.name for p in runs["written"]}
    for run_dir in (runs["measured"], runs["full"]):
        made = {p.name for p in run_dir.iterdir() if p.is_file()} - APPENDED
        assert made <= names
    assert {"sweep.json", "sweep.png", "finder.json", "finder.csv", "finder.png", "config.json", "checkpoint.pt",
            "schedule.png", "summary.json", "report.html", "report.md"} <= names


def test_results_record_the_settings_they_were_measured_under(runs):
    finder = json.loads((runs["measured"] / rundir.FINDER_JSON).read_text())["settings"]
    sweep = json.loads((runs["measured"] / rundir.SWEEP_JSON).read_text())["settings"]
    for key in experiment.CONDITIONS:
        assert finder[key] == SETTINGS.get(key, finder[key]) and sweep[key] == finder[key], key
    assert finder["dataset"] == "digits" and finder["train_subset"] == 256 and finder["batch_size"] == 32
    assert finder["weight_decay"] == runs["wd"] and "weight_decay" not in sweep  # the sweep varies it
    assert finder["num_steps"] == 30 and sweep["num_steps"] == 20


# ------------------------------------------------------------------------------------------------ resume


def test_resume_refuses_settings_that_would_change_the_run(runs, tmp_path, capsys):
    run_dir = _copy(runs, "cut", tmp_path)
    before = _files(run_dir)
    assert main(["train", "--resume", "--run-dir", str(run_dir), "--epochs", "4", "--max-lr", "0.5",
                 "--optimizer-impl", "fused", "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("onecycle train: error: --resume continues the run")
    assert "epochs 2 (saved) vs 4 (given)" in err
    assert "optimizer_impl default (saved) vs fused (given)" in err  # the checkpoint's optimizer state holds it
    assert f"max_lr {runs['max_lr']} (saved) vs 0.5 (given)" in err
    assert _files(run_dir) == before


def test_resume_takes_machine_settings_and_continues_exactly(runs, tmp_path, monkeypatch):
    """Where it runs and how often it reads its loss (read every 3 steps, not every step as the run began) leave
    the numbers as they were."""
    run_dir = _copy(runs, "cut", tmp_path)
    flags = ["--device", "cpu", "--threads", str(torch.get_num_threads()), "--epochs", "2", "--dataset", "digits",
             "--log-every", "3"]
    loops = []
    real = experiment.train
    monkeypatch.setattr(experiment, "train", lambda *args, **kwargs: loops.append(kwargs) or real(*args, **kwargs))
    assert main(["train", "--resume", "--run-dir", str(run_dir), "--quiet", *flags]) == 0
    assert [(k["log_every"], k["compile"]) for k in loops] == [(3, False)]
    full = runs["full"]
    assert (run_dir / rundir.STEPS_CSV).read_bytes() == (full / rundir.STEPS_CSV).read_bytes()
    a = rundir.read_checkpoint(full / rundir.CHECKPOINT)["model"]
    b = rundir.read_checkpoint(run_dir / rundir.CHECKPOINT)["model"]
    assert all(torch.equal(a[k], b[k]) for k in a)
    config = json.loads((run_dir / rundir.CONFIG).read_text())
    expected = json.loads((full / rundir.CONFIG).read_text())
    assert config == {**expected, "device": "cpu", "threads": torch.get_num_threads(), "log_every": 3}


@pytest.mark.parametrize("name", ["cut", "full"])
def test_resume_reads_the_checkpoint_once(runs, tmp_path, monkeypatch, name):
    """``train --resume`` checks the checkpoint before it writes anything, then restores the run from what it
    read: the file is read (and hashed) once, whether the run is continued or finished (completed)."""
    run_dir = _copy(runs, name, tmp_path)
    reads = count_reads(monkeypatch, run_dir / rundir.CHECKPOINT)
    assert main(["train", "--resume", "--run-dir", str(run_dir), "--quiet"]) == 0
    assert len(reads) == 1
    monkeypatch.undo()
    a = rundir.read_checkpoint(runs["full"] / rundir.CHECKPOINT)["model"]
    b = rundir.read_checkpoint(run_dir / rundir.CHECKPOINT)["model"]
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_resume_of_an_older_checkpoint_warns_once(runs, tmp_path, caplog):
    """A checkpoint of an older version (no hash line) is resumed with one warning, not one per read."""
    run_dir = _copy(runs, "cut", tmp_path)
    checkpoint = run_dir / rundir.CHECKPOINT
    torch.save(rundir.read_checkpoint(checkpoint), checkpoint)  # what an older version wrote: torch.save alone
    with caplog.at_level(logging.WARNING, logger="onecycle"):
        assert main(["train", "--resume", "--run-dir", str(run_dir), "--quiet"]) == 0
    warned = [r for r in caplog.records if r.getMessage().startswith(f"{checkpoint} has no content hash")]
    assert len(warned) == 1
    assert (run_dir / rundir.STEPS_CSV).read_bytes() == (runs["full"] / rundir.STEPS_CSV).read_bytes()


def test_resume_without_a_checkpoint_says_so(runs, tmp_path, capsys):
    run_dir = _copy(runs, "measured", tmp_path)
    before = _files(run_dir)
    for directory in (run_dir, tmp_path / "empty"):
        assert main(["train", "--resume", "--run-dir", str(directory), "--quiet"]) == 2
        err = capsys.readouterr().err
        assert f"nothing to resume: {directory / rundir.CHECKPOINT} does not exist" in err
    assert _files(run_dir) == before and not (tmp_path / "empty").exists()


def test_resume_of_a_finished_run_does_nothing(runs, tmp_path, capsys):
    run_dir = _copy(runs, "full", tmp_path)
    before = _files(run_dir)
    assert main(["train", "--resume", "--run-dir", str(run_dir), "--quiet"]) == 0
    assert f"the run in {run_dir} is finished (2/2 epochs); nothing to do" in capsys.readouterr().out
    assert _files(run_dir) == before


def test_checkpoint_of_another_schedule_is_refused(runs, tmp_path):
    run_dir = _copy(runs, "cut", tmp_path)
    saved = experiment.resume_settings(run_dir, {})
    setup = experiment.prepare(from_dict({**SETTINGS, "epochs": 4}))
    with pytest.raises(ValueError, match=r"other settings: total_steps 16 \(checkpoint\) vs 32 \(now\)"):
        experiment.train_run(setup, run_dir, runs["max_lr"], runs["wd"], resume=saved)
    setup = experiment.prepare(from_dict({**SETTINGS, "schedule": "step"}))
    with pytest.raises(ValueError, match=r"other settings: schedule onecycle \(checkpoint\) vs step \(now\), "
                                         r"momentums None \(checkpoint\) vs \[0.9\] \(now\)"):
        experiment.train_run(setup, run_dir, runs["max_lr"], runs["wd"], resume=saved)
    setup = experiment.prepare(from_dict({**SETTINGS, "cycle_epochs": 1}))
    with pytest.raises(ValueError, match=r"other settings: pct_start None \(checkpoint\) vs 0.25 \(now\)"):
        experiment.train_run(setup, run_dir, runs["max_lr"], runs["wd"], resume=saved)
    setup = experiment.prepare(from_dict({**SETTINGS, "optimizer_impl": "foreach"}))
    with pytest.raises(ValueError, match=r"other settings: foreach None \(checkpoint\) vs True \(now\)"):
        experiment.train_run(setup, run_dir, runs["max_lr"], runs["wd"], resume=saved)


def test_the_schedule_is_a_condition_of_the_probe_not_of_the_range_test():
    cfg = from_dict(SETTINGS)
    plain = experiment.finder_conditions(cfg, 1e-4)
    assert "schedule" not in plain and plain == experiment.finder_conditions(cfg.replace(schedule="step"), 1e-4)
    probed = experiment.finder_conditions(cfg.replace(verify=True, schedule="cosine", div_factor=25.0), 1e-4)
    assert probed["schedule"] == "cosine" and probed["div_factor"] == 25.0 and probed["epochs"] == 2


# ---------------------------------------------------------------------------------------- reused results


def test_a_result_measured_under_other_settings_is_refused(runs, tmp_path, capsys):
    run_dir = _copy(runs, "measured", tmp_path)
    run = ["--run-dir", str(run_dir), *FLAGS, "--epochs", "1"]
    other_wd = "0.003"
    assert main(["train", *run, "--weight-decay", other_wd]) == 2
    err = capsys.readouterr().err
    assert f"finder.json was measured under other settings: weight_decay {runs['wd']} (now {other_wd})" in err
    assert "run `onecycle find-lr" in err and "pass --max-lr, or use --auto to run it again" in err
    # checked before the data is loaded: Fashion-MNIST need not be there
    assert main(["train", *run, "--dataset", "fashion-mnist", "--batch-size", "64"]) == 2
    err = capsys.readouterr().err
    assert "sweep.json was measured under other settings: dataset digits (now fashion-mnist), batch_size 32 " \
           "(now 64)" in err
    assert main(["find-lr", *run, "--augment", "none"]) == 2
    assert "augment flip (now none)" in capsys.readouterr().err
    assert not (run_dir / rundir.CONFIG).exists()


def test_train_verify_does_not_skip_the_probe_a_finder_json_lacks(runs, tmp_path, capsys, monkeypatch):
    run_dir = _copy(runs, "measured", tmp_path)
    monkeypatch.setattr(experiment, "prepare", lambda *a, **k: pytest.fail("the data was loaded"))
    assert main(["train", "--verify", "--run-dir", str(run_dir), *FLAGS, "--epochs", "1"]) == 2
    assert capsys.readouterr().err.strip() == (
        f"onecycle train: error: {run_dir / rundir.FINDER_JSON} was measured under other settings: verify False (now "
        f"True); run `onecycle find-lr --verify --run-dir {run_dir}` to measure it with the stability probe, or pass "
        "--max-lr, or use --auto to run it again")
    assert not (run_dir / rundir.CONFIG).exists()


def test_result_files_without_settings_are_not_reused(runs, tmp_path, capsys):
    run_dir = _copy(runs, "measured", tmp_path)
    finder = json.loads((run_dir / rundir.FINDER_JSON).read_text())
    finder["settings"] = {k: v for k, v in finder["settings"].items() if k not in experiment.CONDITIONS}
    (run_dir / rundir.FINDER_JSON).write_text(json.dumps(finder))
    run = ["--run-dir", str(run_dir), *FLAGS, "--epochs", "1"]
    assert main(["train", *run, "--weight-decay", str(runs["wd"])]) == 2
    assert "finder.json does not record the settings it was measured under" in capsys.readouterr().err
    sweep = json.loads((run_dir / rundir.SWEEP_JSON).read_text())
    del sweep["settings"]
    (run_dir / rundir.SWEEP_JSON).write_text(json.dumps(sweep))
    assert main(["find-lr", *run]) == 2
    assert "sweep.json does not record the settings it was measured under" in capsys.readouterr().err


def _scale_lrs(finder: dict, factor: float) -> None:
    """Every learning rate of a finder.json multiplied by ``factor``: a result that holds together, at lrs no
    run can use."""
    for curve in finder["curves"]:
        curve["lrs"] = [lr * factor for lr in curve["lrs"]]
    rec = finder["recommendation"]
    for key in ("max_lr", "min_lr", "lr_at_minimum"):
        rec[key] *= factor
    rec["suggestions"] = {k: v and v * factor for k, v in rec["suggestions"].items()}


def _set(path: list, value):
    def edit(data: dict) -> None:
        *above, last = path
        for step in above:
            data = data[step]
        data[last] = value
    return edit


def _delete(path: list):
    def edit(data: dict) -> None:
        *above, last = path
        for step in above:
            data = data[step]
        del data[last]
    return edit


MAX_LR = ["recommendation", "max_lr"]
MAX_LR_ERROR = "recommendation.max_lr must be a finite number > 0 or null, got "
DAMAGED_FINDERS = [  # (edit of finder.json, what the one-line error says after naming the file), hand-edits first
    (_set(MAX_LR, 0.5), "but max_lr / div_factor is 0.5 / 10 = 0.05: min_lr must be max_lr / div_factor"),  # alone
    (lambda d: d["recommendation"].update(max_lr=1e300, min_lr=1e299),
     "recommendation.max_lr is 1e+300, outside the tested lrs"),
    (_set(MAX_LR, math.nan), MAX_LR_ERROR + "nan"),
    (_set(MAX_LR, -1), MAX_LR_ERROR + "-1"),
    (_set(MAX_LR, "abc"), MAX_LR_ERROR + "'abc'"),
    (_set(MAX_LR, {}), MAX_LR_ERROR + "{}"),
    (_set(MAX_LR, [0.1]), MAX_LR_ERROR + "[0.1]"),
    (_set(MAX_LR, True), MAX_LR_ERROR + "True"),
    (_set(MAX_LR, 10**400), MAX_LR_ERROR + "1000"),  # an integer too large for a float
    (_delete(["recommendation"]), "the result is missing the key(s) recommendation"),
    (_delete(["recommendation", "confidence"]), "recommendation is missing the key(s) confidence"),
    (_set(["recommendation", "confidence"], "sure"), "recommendation.confidence must be one of low, medium, high"),
    (_set(["recommendation", "suggestions"], [1, 2]), "recommendation.suggestions must be an object"),
    (_set(["recommendation", "suggestions", "valley"], "0.01"),
     "recommendation.suggestions.valley must be a finite number > 0 or null, got '0.01'"),
    (_set(["recommendation", "notes"], "none"), "recommendation.notes must be a list, got 'none'"),
    (_set(["recommendation", "repeats"], 1.5), "recommendation.repeats must be an integer >= 1, got 1.5"),
    (_set(["curves"], "junk"), "curves must be a non-empty list, got 'junk'"),
    (_set(["curves"], []), "curves must be a non-empty list, got []"),
    (_set(["curves", 0, "lrs", 3], "1e-3"), "curves[0].lrs[3] must be a finite number > 0, got '1e-3'"),
    (_set(["curves", 0, "diverged"], "yes"), "curves[0].diverged must be true or false, got 'yes'"),
    (_set(["curves", 0, "losses"], [[1.0]]), "curves[0].losses[0] must be a number, got [1.0]"),
    (_set(["curves", 0, "extra"], 1), "curves[0] has unknown key(s) 'extra'"),
    (_set(["settings"], "abc"), "settings must be an object, got 'abc'"),
    (_set(["probe"], {"pick": 1e300}), "probe is missing the key(s) candidates, final, losses, steps"),
    (lambda finder: _scale_lrs(finder, 1e8), "which training cannot use: max_lr must be at most 1e+06"),
]


@pytest.mark.parametrize("edit,message", DAMAGED_FINDERS, ids=range(len(DAMAGED_FINDERS)))
def test_a_damaged_finder_json_is_one_error_naming_the_file_and_the_key_before_training(runs, tmp_path, capsys,
                                                                                         monkeypatch, edit, message):
    run_dir = _copy(runs, "measured", tmp_path)
    path = run_dir / rundir.FINDER_JSON
    finder = json.loads(path.read_text())
    edit(finder)
    path.write_text(json.dumps(finder))
    monkeypatch.setattr(experiment, "prepare", lambda *a, **k: pytest.fail("the data was loaded"))
    assert main(["train", "--run-dir", str(run_dir), *FLAGS, "--epochs", "1"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith(f"onecycle train: error: {path}")
    assert message in err
    assert not (run_dir / rundir.CONFIG).exists()
    if "training cannot use" not in message:  # the others are not results at all: the report refuses them too
        assert main(["report", str(run_dir)]) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and err.startswith(f"onecycle report: error: {path} is not a valid")
        assert message in err


@pytest.mark.parametrize("edit,message", [
    (_set(["pick"], "abc"), "pick must be a finite number or null, got 'abc'"),
    (_set(["pick"], 1e300), "pick 1e+300 is not one of the values"),
    (lambda d: d.update(values=[-1.0, 1e-5], eligible=[True, False]),
     "pick is -1, which training cannot use: weight_decay must be >= 0"),
    (_set(["eligible"], [False, False]), "but no value is eligible (eligible is all false): it must be null"),
    (lambda d: d.update(eligible=[True, True], pick=min(d["values"])), "but the largest eligible value is "),
    (lambda d: d.update(values=[d["values"][0]] * 2), "values must be distinct, got ["),
    (_set(["param"], "dropout"), "param must be one of weight_decay, momentum, got 'dropout'"),
    (_set(["results", 1, "recommendation", "max_lr"], {}),
     "results[1].recommendation.max_lr must be a finite number > 0 or null, got {}"),
    (_set(["eligible"], [True]), "values, results and eligible must be of one length, got 2, 2 and 1"),
])
def test_a_damaged_sweep_json_is_one_error_naming_the_file_and_the_key(runs, tmp_path, capsys, edit, message):
    run_dir = _copy(runs, "measured", tmp_path)
    path = run_dir / rundir.SWEEP_JSON
    sweep = json.loads(path.read_text())
    if "which training cannot use" in message:
        sweep["pick"] = -1.0
    edit(sweep)
    path.write_text(json.dumps(sweep))
    for command in (["train", "--run-dir", str(run_dir), *FLAGS, "--epochs", "1"], ["find-lr", "--run-dir",
                                                                                      str(run_dir), *FLAGS]):
        assert main(command) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and f"error: {path}" in err and message in err
    assert not (run_dir / rundir.CONFIG).exists()


@pytest.mark.parametrize("name,key,value,message", [
    (rundir.FINDER_JSON, "batch_size", "32", "batch_size must be an integer, got '32'"),
    (rundir.FINDER_JSON, "weight_decay", "0.0005", "weight_decay must be a number, got '0.0005'"),
    (rundir.FINDER_JSON, "verify", 0, "verify must be true or false, got 0"),
    (rundir.FINDER_JSON, "train_subset", 256.0, "train_subset must be an integer, got 256.0"),
    (rundir.SWEEP_JSON, "seed", "0", "seed must be an integer, got '0'"),
    (rundir.SWEEP_JSON, "dataset", ["digits"], "dataset must be a string, got ['digits']"),
])
@pytest.mark.parametrize("auto", [[], ["--auto"]])
def test_a_recorded_setting_of_the_wrong_type_is_a_damaged_file_not_a_difference(runs, tmp_path, capsys,
                                                                                 monkeypatch, name, key, value,
                                                                                 message, auto):
    run_dir = _copy(runs, "measured", tmp_path)
    path = run_dir / name
    data = json.loads(path.read_text())
    data["settings"][key] = value  # "batch_size 32 (now 32)" would be no difference a person can see
    path.write_text(json.dumps(data))
    monkeypatch.setattr(experiment, "prepare", lambda *a, **k: pytest.fail("the data was loaded"))
    assert main(["train", *auto, "--run-dir", str(run_dir), *FLAGS, "--epochs", "1"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"onecycle train: error: {path} is damaged: settings.{message}"
    assert not (run_dir / rundir.CONFIG).exists()


def test_auto_reruns_what_is_stale_and_says_so(runs, tmp_path, monkeypatch):
    run_dir = _copy(runs, "measured", tmp_path)
    old_sweep = SweepResult.load_json(run_dir / rundir.SWEEP_JSON)
    cfg = from_dict({**SETTINGS, "batch_size": 64})
    ran = []

    def run_sweep(setup, run_dir, weight_decay):
        ran.append("sweep")
        return SweepResult("weight_decay", [1e-3, 1e-5], old_sweep.results, 1e-5, [True, True])

    def find_lr(setup, run_dir, weight_decay):
        ran.append(("range test", weight_decay))
        result = RangeTestResult.load_json(runs["measured"] / rundir.FINDER_JSON)
        return dataclasses.replace(result, recommendation=dataclasses.replace(result.recommendation, max_lr=0.123))

    monkeypatch.setattr(experiment, "run_sweep", run_sweep)
    monkeypatch.setattr(experiment, "find_lr", find_lr)
    said = []
    warned = []  # all resolve reads of the data, and where it warns
    loaded = SimpleNamespace(train_data=[None] * SETTINGS["train_subset"], warn=warned.append)
    assert experiment.resolve(cfg, run_dir, True, setup=lambda: loaded, say=said.append) == (0.123, 1e-5)
    assert len(warned) == 2 and warned[0].startswith("only 8 optimizer steps (2 epoch(s) of 4")  # before each
    assert ran == ["sweep", ("range test", 1e-5)]
    assert any("sweep.json was measured under other settings: batch_size 32 (now 64): running it again" in s
               for s in said)
    assert any("finder.json was measured under other settings" in s for s in said)
    assert said[-1] == "max_lr 0.123 (range test in finder.json), weight decay 1e-05 (sweep)"
    ran.clear()  # under the settings they were measured with, both are reused as they are, and it says so
    said.clear()
    assert experiment.resolve(from_dict(SETTINGS), runs["measured"], True, lambda: None, said.append) == (
        runs["max_lr"], runs["wd"])
    assert ran == []
    assert said[:2] == [
        f"weight-decay sweep: reusing {runs['measured'] / rundir.SWEEP_JSON}, measured under these settings",
        f"range test: reusing {runs['measured'] / rundir.FINDER_JSON}, measured under these settings"]


def test_data_too_small_for_a_schedule_names_the_batch_size(tmp_path, capsys):
    assert main(["train", "--max-lr", "0.1", "--run-dir", str(tmp_path), *FLAGS, "--epochs", "1",
                 "--batch-size", "256"]) == 2
    err = capsys.readouterr().err
    assert "1cycle needs at least 2 steps, and 256 training images at batch_size 256 make 1 per epoch" in err
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize("flags,images", [(["--train-subset", "256"], "256 training images of digits (train_subset "
                                                                      "256)"),
                                          (["--train-subset", "5000"], "1437 training images of digits")])
@pytest.mark.parametrize("command", [["train", "--max-lr", "0.1"], ["find-lr"], ["sweep"]])
def test_a_batch_larger_than_the_training_set_is_refused_naming_its_size(tmp_path, capsys, command, flags, images):
    size = images.split()[0]
    run = ["--run-dir", str(tmp_path / "r"), "--dataset", "digits", "--batch-size", "100000", "--quiet", *flags]
    assert main([*command, *run]) == 2
    err = capsys.readouterr().err.strip()
    assert err == (f"onecycle {command[0]}: error: batch_size 100000 is larger than the {images}: each step would "
                   f"take all of them, a batch of {size}, not 100000; use a batch_size of at most {size}")
    assert not (tmp_path / "r").exists()


def test_a_batch_of_the_whole_training_set_is_accepted():
    setup = experiment.prepare(from_dict({**SETTINGS, "batch_size": SETTINGS["train_subset"]}))
    assert len(setup.batches()) == 1


def test_the_data_line_names_the_subsets_used(capsys):
    experiment.prepare(from_dict({**SETTINGS, "train_subset": 300, "test_subset": 1000}))
    assert capsys.readouterr().out == ("data: digits from scikit-learn (sklearn.datasets.load_digits) (300 of 1437 "
                                       "training, 360 test images)\n")
    experiment.prepare(from_dict({**SETTINGS, "train_subset": None, "test_subset": 100}))
    assert capsys.readouterr().out == ("data: digits from scikit-learn (sklearn.datasets.load_digits) (1437 "
                                       "training, 100 of 360 test images)\n")


def test_too_few_steps_are_warned_about_with_what_would_be_enough():
    cfg = from_dict({"dataset": "digits", "epochs": 2})  # the default batch size, 256: 5 steps an epoch
    assert experiment.few_steps_warning(cfg, 1437, 5) == (
        "only 10 optimizer steps (2 epoch(s) of 5: 1437 training images at batch_size 256), fewer than the 100 of a "
        "range test: each phase of the schedule is a few steps long and training will likely end far from the "
        "accuracy it can reach; use a smaller --batch-size (16 gives 178 steps) or more --epochs (20 give 100 "
        "steps)")
    assert experiment.FEW_STEPS == 100  # the range test's default length
    assert experiment.few_steps_warning(cfg.replace(epochs=20), 1437, 5) is None  # 100 steps
    assert "steps (19 epoch(s)" in experiment.few_steps_warning(cfg.replace(epochs=19), 1437, 5)
    tiny = experiment.few_steps_warning(cfg.replace(batch_size=2, epochs=1), 20, 10)  # no batch size is enough
    assert "--batch-size" not in tiny and tiny.endswith("use more --epochs (10 give 100 steps)")
    fashion = from_dict({"epochs": 1})  # 60,000 images: 234 steps in one epoch
    assert experiment.few_steps_warning(fashion, 60_000, 234) is None
    # 256 images: only batches of 4 or less make 100 steps in 2 epochs, too small to suggest
    small = experiment.few_steps_warning(cfg.replace(batch_size=32, epochs=2), 256, 8)
    assert "--batch-size" not in small and small.endswith("use more --epochs (13 give 104 steps)")
    assert "(16 gives 104 steps)" in experiment.few_steps_warning(cfg.replace(batch_size=32, epochs=1), 1664, 52)


def test_a_run_that_ends_worse_than_it_started_says_so_in_the_log_the_summary_and_the_report(tmp_path, caplog):
    """At max_lr 10 an MLP's loss grows a million-fold within its 8 steps, finite, and the divergence stop (from
    step 11) never looks: the run ends, exit status 0, with a warning that names its final losses, the first
    step's and what to do. A run killed after its last checkpoint gets the same summary on resume."""
    run_dir = tmp_path / "run"
    assert main(["train", "--dataset", "digits", "--model", "mlp", "--train-subset", "64", "--test-subset", "32",
                 "--batch-size", "16", "--epochs", "2", "--max-lr", "10", "--weight-decay", "0", "--quiet",
                 "--run-dir", str(run_dir)]) == 0
    failed = [r.getMessage().removeprefix("warning: ") for r in caplog.records
              if r.getMessage().startswith("warning: training failed")]
    first = json.loads((run_dir / rundir.STEPS_CSV).read_text().splitlines()[1].split(",")[1])
    final = rundir.read_metrics(run_dir)[-1]
    assert failed == [f"training failed: the run ended with its training loss ({final['train_loss']:.4g}) and test "
                      f"loss ({final['val_loss']:.4g}) at or above the loss of its first step ({first:.4g}, the "
                      f"untrained model's); lower --max-lr (it was 10), or run `onecycle find-lr --run-dir {run_dir}` "
                      "to measure it"]
    assert final["train_loss"] > 1000 * first and math.isfinite(final["val_loss"])
    summary = json.loads((run_dir / rundir.SUMMARY_JSON).read_text())
    assert summary["stopped"] is None and failed[0] in summary["warnings"]
    assert main(["report", str(run_dir)]) == 0
    assert f"- warning: {failed[0]}" in (run_dir / "report.md").read_text()
    (run_dir / rundir.SUMMARY_JSON).unlink()  # as if killed after its last checkpoint
    assert main(["train", "--resume", "--run-dir", str(run_dir), "--quiet"]) == 0
    assert json.loads((run_dir / rundir.SUMMARY_JSON).read_text()) == summary


def test_train_auto_warns_of_a_run_too_short_before_it_measures(tmp_path, caplog, monkeypatch):
    shown = []

    def measure(*args, **kwargs):  # what had been warned of when measuring began; then stop
        shown.append([r.getMessage() for r in caplog.records if r.levelname == "WARNING"])
        raise ValueError("stopped where measuring begins")

    monkeypatch.setattr(experiment, "run_sweep", measure)
    monkeypatch.setattr(experiment, "find_lr", measure)
    for given in ([], ["--weight-decay", "1e-4"]):  # before the sweep; before the range test
        caplog.clear()
        assert main(["train", "--auto", "--run-dir", str(tmp_path), *FLAGS, "--epochs", "2", *given]) == 2
        assert len(shown[-1]) == 1 and shown[-1][0].startswith("warning: only 16 optimizer steps (2 epoch(s) of 8")
    assert len(shown) == 2


def test_a_setup_shows_each_warning_once(caplog):
    setup = experiment.prepare(from_dict(SETTINGS))
    with caplog.at_level("WARNING", logger="onecycle"):
        for text in ("a", "b", "a"):
            setup.warn(text)
    assert [r.getMessage() for r in caplog.records] == ["warning: a", "warning: b"]


LOW = ["the loss fell by less than 10% before its minimum: it barely trained during the test", "a second note"]


def _low_confidence(run_dir):
    path = run_dir / rundir.FINDER_JSON
    finder = json.loads(path.read_text())
    finder["recommendation"].update(confidence="low", notes=LOW)
    path.write_text(json.dumps(finder))
    return finder["recommendation"]["max_lr"]


def test_train_at_a_range_test_of_low_confidence_repeats_its_notes_and_keeps_them(runs, tmp_path, capsys, caplog):
    run_dir = _copy(runs, "measured", tmp_path)
    max_lr = _low_confidence(run_dir)
    expected = (f"max_lr from finder.json: the range test recommended {max_lr:.3g} with low confidence: "
                f"{LOW[0]}; {LOW[1]}")
    assert main(["train", "--run-dir", str(run_dir), *FLAGS, "--epochs", "1"]) == 0  # reusing finder.json
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert f"warning: {expected}" in warnings
    assert expected in json.loads((run_dir / rundir.SUMMARY_JSON).read_text())["warnings"]
    caplog.clear()
    other = tmp_path / "given"
    shutil.copytree(run_dir, other, ignore=shutil.ignore_patterns(*rundir.RUN_FILES))
    assert main(["train", "--run-dir", str(other), *FLAGS, "--epochs", "1", "--max-lr", "0.05"]) == 0
    assert not any("finder.json" in r.getMessage() for r in caplog.records)  # max_lr given: not the test's answer
    assert not any("finder.json" in w for w in json.loads((other / rundir.SUMMARY_JSON).read_text())["warnings"])
    resumed = _copy(runs, "cut", tmp_path)  # a run cut short keeps them when it is resumed to its end
    _low_confidence(resumed)
    assert main(["train", "--resume", "--run-dir", str(resumed), "--quiet"]) == 0
    assert expected in json.loads((resumed / rundir.SUMMARY_JSON).read_text())["warnings"]


def test_a_run_too_short_says_so_in_the_log_the_summary_and_the_report(tmp_path, capsys, caplog):
    run = ["train", "--dataset", "digits", "--model", "mlp", "--max-lr", "0.1", "--weight-decay", "1e-4",
           "--quiet", "--epochs"]
    assert main([*run, "2", "--run-dir", str(tmp_path / "short")]) == 0  # batches of 256: 10 steps
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert len(warnings) == 1 and warnings[0].startswith("warning: only 10 optimizer steps")
    summary = json.loads((tmp_path / "short" / rundir.SUMMARY_JSON).read_text())
    assert summary["warnings"] == [warnings[0].removeprefix("warning: ")]
    assert main(["report", str(tmp_path / "short")]) == 0
    assert f"- {warnings[0]}" in (tmp_path / "short" / "report.md").read_text()
    caplog.clear()
    assert main([*run, "3", "--batch-size", "32", "--run-dir", str(tmp_path / "long")]) == 0  # 132 steps
    assert not [r for r in caplog.records if r.levelname == "WARNING"]
    assert json.loads((tmp_path / "long" / rundir.SUMMARY_JSON).read_text())["warnings"] == []
    assert main(["report", str(tmp_path / "long")]) == 0
    assert "warning" not in (tmp_path / "long" / "report.md").read_text()


@pytest.mark.parametrize(("impl", "group"), [("default", {"foreach": None, "fused": None}),
                                             ("foreach", {"foreach": True, "fused": None}),
                                             ("fused", {"foreach": None, "fused": True})])
@pytest.mark.parametrize("optimizer", ["sgd", "adamw"])
def test_the_optimizer_implementation_is_torchs_foreach_or_fused(impl, group, optimizer):
    setup = experiment.prepare(from_dict({**SETTINGS, "optimizer": optimizer, "optimizer_impl": impl}))
    model = setup.model()
    opt = setup.optimizer(model, 0.1, 1e-4)
    assert {k: opt.param_groups[0][k] for k in group} == group
    model(next(iter(setup.batches()))[0]).sum().backward()
    opt.step()  # torch has it on this device


def test_an_optimizer_implementation_torch_lacks_is_one_error_before_the_data_is_read(tmp_path, capsys, monkeypatch):
    real = torch.optim.SGD

    def sgd(params, **kwargs):
        if kwargs.get("fused"):  # as torch answers where it has no fused kernel for the device
            raise RuntimeError("`fused=True` requires all the params to be floating point Tensors of supported "
                               "devices: ['cuda']")
        return real(params, **kwargs)

    monkeypatch.setattr(torch.optim, "SGD", sgd)
    monkeypatch.setattr(experiment, "load_dataset", lambda *a: pytest.fail("the data was read"))
    with pytest.raises(experiment.ConfigError, match=r"^optimizer_impl fused: torch \S+ has no fused sgd on cpu "
                                                      r"\(`fused=True` requires .*\['cuda'\]\); use "
                                                      r"optimizer_impl default$"):
        experiment.prepare(from_dict({**SETTINGS, "optimizer_impl": "fused"}))
    assert main(["train", "--run-dir", str(tmp_path), *FLAGS, "--max-lr", "0.1", "--optimizer-impl", "fused"]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "optimizer_impl fused: torch" in err
    assert not tmp_path.exists() or not any(tmp_path.iterdir())


def test_cudnn_benchmark_is_set_for_the_run():
    before = torch.backends.cudnn.benchmark
    try:
        for value in (True, False):
            experiment.prepare(from_dict({**SETTINGS, "cudnn_benchmark": value}))
            assert torch.backends.cudnn.benchmark is value
    finally:
        torch.backends.cudnn.benchmark = before
