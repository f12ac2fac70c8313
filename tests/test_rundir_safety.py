"""No run directory is ever damaged: one process at a time (a lock that dies with its process), no fresh run over
an old one without --overwrite (which removes it only after every check passed), demo and reproduce keeping or
continuing what is there, and the temporary files of a killed writer removed."""

import errno
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import torch

from onecycle import experiment, guard, rundir
from onecycle.cli import demo, main
from onecycle.config import from_dict
from tests.offline import without_fashion_mnist
from tests.reads import count_reads

REPO = Path(__file__).resolve().parent.parent
TINY = ["--dataset", "digits", "--train-subset", "64", "--test-subset", "32", "--batch-size", "16", "--quiet"]
TRAIN = ["--max-lr", "0.05", "--weight-decay", "0", "--epochs", "1", *TINY]


def _files(run_dir):
    """Every file under ``run_dir`` and its bytes."""
    return {str(p.relative_to(run_dir)): p.read_bytes() for p in sorted(run_dir.rglob("*")) if p.is_file()}


def _run(argv, capsys):
    try:
        code = main([str(a) for a in argv])
    except SystemExit as exit_:
        code = exit_.code
    return code, capsys.readouterr()


@pytest.fixture(scope="module")
def done(tmp_path_factory):
    """A finished 1-epoch run on 64 digits."""
    path = tmp_path_factory.mktemp("done") / "run"
    assert main(["train", "--run-dir", str(path), *TRAIN]) == 0
    return path


# ------------------------------------------------------------------------------------------ one process


PAUSED = textwrap.dedent("""
    import pathlib, sys, time
    from onecycle.cli import main, train
    real, go = train.train_run, pathlib.Path(sys.argv[1])

    def paused(*args, **kwargs):  # holds the lock, waiting for the go file before training
        while not go.exists():
            time.sleep(0.05)
        return real(*args, **kwargs)

    train.train_run = paused
    sys.exit(main(sys.argv[2:]))
""")


def _start_paused(tmp_path, argv):
    """``onecycle`` ``argv`` in a process of its own that takes the lock and waits for ``go`` before training."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "src"), str(REPO)])}
    go = tmp_path / "go"
    proc = subprocess.Popen([sys.executable, "-c", PAUSED, str(go), *map(str, argv)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    return proc, go


def _wait_for_lock(run_dir, proc, timeout=180):
    lock = run_dir / guard.LOCK_FILE
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if lock.exists() and lock.read_text().startswith(f"{proc.pid} "):
            return
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.1)
    proc.kill()
    raise AssertionError("the first process never took the lock")


def test_a_second_process_is_refused_at_once_naming_the_holder_and_the_first_finishes(tmp_path, capsys):
    run_dir = tmp_path / "run"
    first, go = _start_paused(tmp_path, ["train", "--run-dir", run_dir, *TRAIN])
    try:
        _wait_for_lock(run_dir, first)
        code, captured = _run(["train", "--run-dir", run_dir, "--overwrite", *TRAIN[:1], "0.1", *TRAIN[2:]], capsys)
        assert code == 2
        assert captured.err.strip() == (f"onecycle train: error: {run_dir} is in use by onecycle train (pid "
                                        f"{first.pid}): one command at a time writes to a run directory; wait for "
                                        "it to finish, or use another directory")
        assert _run(["find-lr", "--run-dir", run_dir, *TINY], capsys)[0] == 2
        go.touch()
        _, err = first.communicate(timeout=300)
    finally:
        first.kill()
    assert first.returncode == 0, err
    assert json.loads((run_dir / rundir.CONFIG).read_text())["resolved"]["max_lr"] == 0.05  # the first's, untouched
    assert json.loads((run_dir / rundir.SUMMARY_JSON).read_text())["epochs_completed"] == 1
    assert sorted(p.name for p in run_dir.iterdir()) == sorted(rundir.TRAIN_FILES)  # the lock is gone


def test_a_killed_holder_does_not_block_the_next_run(tmp_path, capsys):
    run_dir = tmp_path / "run"
    first, _ = _start_paused(tmp_path, ["train", "--run-dir", run_dir, *TRAIN])
    try:
        _wait_for_lock(run_dir, first)
    finally:
        first.send_signal(signal.SIGKILL)
        first.communicate(timeout=60)
    assert (run_dir / guard.LOCK_FILE).read_text().startswith(f"{first.pid} ")  # left behind, no longer held
    code, captured = _run(["train", "--run-dir", run_dir, *TRAIN], capsys)
    assert code == 0, captured.err
    assert not (run_dir / guard.LOCK_FILE).exists()


@pytest.mark.parametrize("argv", [
    ["train", "--run-dir", "{dir}", *TRAIN],
    ["train", "--resume", "--run-dir", "{dir}"],
    ["find-lr", "--run-dir", "{dir}", *TINY],
    ["sweep", "--run-dir", "{dir}", *TINY],
    ["demo", "--run-dir", "{dir}", *TINY],
    ["report", "{done}", "--out", "{dir}"],
    ["reproduce", "r56-95ep", "--run-dir", "{dir}", "--quiet"],
], ids=lambda argv: " ".join(argv[:2]))
def test_every_command_that_writes_to_a_run_directory_holds_its_lock(argv, done, tmp_path, capsys):
    with guard.locked(tmp_path, "train"):
        code, captured = _run([a.format(dir=tmp_path, done=done) for a in argv], capsys)
    assert code == 2 and f"{tmp_path} is in use by this process" in captured.err
    assert not any(tmp_path.iterdir())


def test_the_lock_makes_the_directory_and_removes_it_when_a_failed_command_left_it_empty(tmp_path):
    target = tmp_path / "a" / "b"
    with pytest.raises(ValueError, match="failed"), guard.locked(target, "train"):
        assert (target / guard.LOCK_FILE).read_text() == f"{os.getpid()} onecycle train\n"
        raise ValueError("failed")
    assert not (tmp_path / "a").exists()
    with guard.locked(target, "train"):
        (target / "kept.txt").write_text("x")
    assert [p.name for p in target.iterdir()] == ["kept.txt"]


def test_without_file_locks_a_command_runs_unlocked_and_says_so(tmp_path, monkeypatch, caplog):
    def no_locks(fd, operation):
        raise OSError(errno.ENOLCK, "No locks available")

    monkeypatch.setattr(guard.fcntl, "flock", no_locks)
    with caplog.at_level("WARNING", logger="onecycle"), guard.locked(tmp_path, "train"):
        pass
    assert f"cannot lock {tmp_path} (No locks available): running without the lock" in caplog.text


# -------------------------------------------------------------------------------- a run is never replaced


@pytest.mark.parametrize("argv,options", [
    (["train", *TRAIN], "pass --resume to continue it or --overwrite to remove it and start over"),
    (["train", "--auto", *TRAIN], "pass --resume to continue it or --overwrite to remove it and start over"),
    (["find-lr", *TINY], "pass --overwrite to remove it and start over"),
    (["sweep", *TINY], "pass --overwrite to remove it and start over"),
], ids=lambda v: " ".join(v[:2]) if isinstance(v, list) else "")
def test_a_fresh_start_in_a_directory_holding_a_run_is_refused(argv, options, done, tmp_path, capsys):
    run_dir = shutil.copytree(done, tmp_path / "run")
    before = _files(run_dir)
    code, captured = _run([argv[0], "--run-dir", run_dir, *argv[1:]], capsys)
    assert code == 2
    files = ", ".join(rundir.TRAIN_FILES)
    assert captured.err.strip() == f"onecycle {argv[0]}: error: {run_dir} holds a run ({files}); {options}, or use " \
                                   "another directory"
    assert _files(run_dir) == before


def test_overwrite_removes_the_old_run_and_its_report_and_keeps_the_measurements(done, tmp_path, capsys):
    run_dir = shutil.copytree(done, tmp_path / "run")
    assert _run(["report", run_dir], capsys)[0] == 0
    (run_dir / rundir.TENSORBOARD).mkdir(exist_ok=True)
    (run_dir / rundir.TENSORBOARD / "old.events").write_text("old")
    (run_dir / rundir.FINDER_JSON).write_text("{}")  # a measurement: not read here (max_lr given), kept
    code, captured = _run(["train", "--run-dir", run_dir, "--overwrite", *TRAIN[:4], "--epochs", "2", *TINY], capsys)
    assert code == 0, captured.err
    assert json.loads((run_dir / rundir.SUMMARY_JSON).read_text())["epochs_completed"] == 2
    assert not (run_dir / rundir.REPORT_HTML).exists() and not (run_dir / rundir.CURVES_PNG).exists()
    assert not (run_dir / rundir.TENSORBOARD / "old.events").exists()
    assert (run_dir / rundir.FINDER_JSON).read_text() == "{}"


def test_a_failed_fresh_run_leaves_no_checkpoint_of_the_run_it_replaced(done, tmp_path, capsys):
    """A fresh run that failed used to keep the old checkpoint.pt: --resume then called the run finished."""
    run_dir = shutil.copytree(done, tmp_path / "run")
    code, captured = _run(["train", "--run-dir", run_dir, "--overwrite", "--max-lr", "1e6", *TRAIN[2:]], capsys)
    assert code == 2 and "non-finite loss" in captured.err
    assert not (run_dir / rundir.CHECKPOINT).exists()
    code, captured = _run(["train", "--resume", "--run-dir", run_dir, "--quiet"], capsys)
    assert code == 2 and "nothing to resume" in captured.err


def test_resume_and_overwrite_exclude_each_other(tmp_path, capsys):
    code, captured = _run(["train", "--resume", "--overwrite", "--run-dir", tmp_path], capsys)
    assert code == 2 and "argument --overwrite: not allowed with argument --resume" in captured.err


def test_find_lr_over_a_run_with_overwrite_starts_the_chain_again(done, tmp_path, capsys):
    run_dir = shutil.copytree(done, tmp_path / "run")
    measured = [*TINY, "--train-subset", "384", "--batch-size", "32", "--num-steps", "40"]  # a test that recommends
    code, captured = _run(["find-lr", "--run-dir", run_dir, "--overwrite", *measured], capsys)
    assert code == 0, captured.err
    assert rundir.run_files(run_dir) == [] and (run_dir / rundir.FINDER_JSON).exists()
    code, captured = _run(["train", "--run-dir", run_dir, "--epochs", "1", *measured], capsys)
    assert code == 0, captured.err
    assert "(range test in finder.json)" in captured.out


# ----------------------------------------------------------------------------------- temporary files


def test_temporary_files_a_killed_writer_left_are_removed_on_the_next_start(done, tmp_path, capsys):
    run_dir = shutil.copytree(done, tmp_path / "run")
    seen = []
    rundir.atomic_write(run_dir / "x.json", lambda f: seen.extend(p.name for p in run_dir.iterdir()))
    (run_dir / "x.json").unlink()
    [temporary] = [name for name in seen if name.startswith(".x.json.")]  # the name atomic_write gives its file
    before = _files(run_dir)
    for name in (temporary, ".checkpoint.pt.a1b2c3d_.tmp", ".keep.tmp", "notes.tmp"):  # two orphans, two not
        (run_dir / name).write_bytes(b"x")
    assert _run(["train", "--resume", "--run-dir", run_dir, "--quiet"], capsys)[0] == 0  # finished: nothing to do
    assert _files(run_dir) == {**before, ".keep.tmp": b"x", "notes.tmp": b"x"}


# ------------------------------------------------------------------------------------ demo, reproduce


DEMO = ["--train-subset", "256", "--test-subset", "64", "--epochs", "2", "--sweep-steps", "15", "--num-steps", "25",
        "--quiet"]


class Kill:
    def on_epoch_end(self, state, metrics):
        return True


@pytest.fixture(scope="module")
def demos(tmp_path_factory):
    """``full``: a finished demo (on digits, Fashion-MNIST being missing); ``cut``: the same stopped after its
    first epoch (its sweep and range test copied from ``full``)."""
    root = tmp_path_factory.mktemp("demos")
    with pytest.MonkeyPatch.context() as mp:
        without_fashion_mnist(mp)
        assert main(["demo", "--run-dir", str(root / "full"), *DEMO]) == 0
        (root / "cut").mkdir()
        for name in ("sweep.json", "finder.json"):
            shutil.copy(root / "full" / name, root / "cut" / name)
        real = demo.train_run
        mp.setattr(demo, "train_run", lambda *args, **kwargs: real(*args, **{**kwargs, "extra_hooks": [Kill()]}))
        assert main(["demo", "--run-dir", str(root / "cut"), *DEMO]) == 2
    return root


@pytest.mark.parametrize("killed", [False, True])
def test_demo_again_keeps_its_finished_run(demos, tmp_path, capsys, monkeypatch, killed):
    """Kept as it is; one killed after its last checkpoint (no summary.json yet) gets what it had not written, as
    ``train --resume`` and ``reproduce`` give it."""
    without_fashion_mnist(monkeypatch)
    run_dir = shutil.copytree(demos / "full", tmp_path / "full")
    before = _files(run_dir)
    if killed:
        (run_dir / rundir.SUMMARY_JSON).unlink()
    code, captured = _run(["demo", "--run-dir", run_dir, *DEMO], capsys)
    assert code == 0, captured.err
    assert f"{run_dir} holds this run, finished (2/2 epochs): kept (--overwrite trains it again)" in captured.out
    assert "[3/3] report" in captured.out
    after = _files(run_dir)
    assert {k: v for k, v in after.items() if not k.startswith(("report", "curves"))} == {
        k: v for k, v in before.items() if not k.startswith(("report", "curves"))}


def test_demo_again_continues_a_run_cut_short_exactly(demos, tmp_path, capsys, monkeypatch):
    """A run of the same settings stopped before its end (here by a hook, so with a summary.json that says so) is
    continued from its checkpoint, read once: the rule of reproduce too."""
    without_fashion_mnist(monkeypatch)
    run_dir = shutil.copytree(demos / "cut", tmp_path / "cut")
    assert rundir.read_checkpoint(run_dir / rundir.CHECKPOINT)["epoch"] == 1
    assert json.loads((run_dir / rundir.SUMMARY_JSON).read_text())["stopped"].startswith("stopped by a hook")
    reads = count_reads(monkeypatch, run_dir / rundir.CHECKPOINT)
    code, captured = _run(["demo", "--run-dir", run_dir, *DEMO], capsys)
    assert code == 0, captured.err
    assert len(reads) == 1
    assert f"resuming the run in {run_dir} after epoch 1/2" in captured.out
    full = rundir.read_checkpoint(demos / "full" / rundir.CHECKPOINT)["model"]
    cut = rundir.read_checkpoint(run_dir / rundir.CHECKPOINT)["model"]
    assert all(torch.equal(full[k], cut[k]) for k in full)


def test_a_demo_stopped_by_a_signal_says_to_run_the_same_demo_command_again(demos, tmp_path, capsys, monkeypatch):
    """Not ``train --resume``: the demo command again (without --overwrite) continues the run and writes the
    report."""
    without_fashion_mnist(monkeypatch)
    run_dir = tmp_path / "run dir"
    run_dir.mkdir()
    for name in ("sweep.json", "finder.json"):
        shutil.copy(demos / "full" / name, run_dir / name)

    class Signal:
        def on_epoch_end(self, state, metrics):
            if state.epoch == 1:  # SIGINT, as Ctrl-C sends it: training stops after the next step, checkpointed
                os.kill(os.getpid(), signal.SIGINT)
            return False

    real = demo.train_run
    monkeypatch.setattr(demo, "train_run", lambda *a, **kw: real(*a, **{**kw, "extra_hooks": [Signal()]}))
    given = ["demo", "--run-dir", str(run_dir), *DEMO, "--overwrite"]
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        code, captured = _run(given, capsys)
    finally:
        signal.signal(signal.SIGINT, previous)
    assert code == 128 + signal.SIGINT, captured.err
    command = shlex.join(["onecycle", *given[:-1]])
    last = captured.err.strip().splitlines()[-1]
    assert last.startswith("onecycle demo: stopped by SIGINT: the run is in ")
    assert last.endswith(f"resume it with `{command}`") and "train --resume" not in last
    monkeypatch.setattr(demo, "train_run", real)
    code, captured = _run(shlex.split(command)[1:], capsys)
    assert code == 0, captured.err
    assert f"resuming the run in {run_dir} after epoch 1/2" in captured.out and "[3/3] report" in captured.out


def test_demo_with_other_settings_is_refused_unless_overwrite(demos, tmp_path, capsys, monkeypatch):
    without_fashion_mnist(monkeypatch)
    run_dir = shutil.copytree(demos / "full", tmp_path / "full")
    before = _files(run_dir)
    code, captured = _run(["demo", "--run-dir", run_dir, *DEMO, "--epochs", "1"], capsys)
    assert code == 2
    assert (f"{run_dir} holds a run with other settings: epochs 2 (saved) vs 1 (now); pass --overwrite to remove it "
            "and start over, or use another directory") in captured.err
    assert _files(run_dir) == before
    code, captured = _run(["demo", "--run-dir", run_dir, *DEMO, "--epochs", "1", "--overwrite"], capsys)
    assert code == 0, captured.err
    assert json.loads((run_dir / rundir.SUMMARY_JSON).read_text())["epochs_completed"] == 1


def test_reproduce_checks_every_seed_before_any_runs_and_continues_one_cut_short(tmp_path):
    cfg = from_dict({"dataset": "digits", "train_subset": 64, "test_subset": 32, "batch_size": 16, "epochs": 2,
                     "max_lr": 0.05, "weight_decay": 0.0, "progress": False})
    said = []
    experiment.run_seeds(cfg, "train", tmp_path, 1, say=said.append)
    other = cfg.replace(epochs=1)
    with pytest.raises(guard.RunDirError, match=r"^seed 0: .*seed-0 holds a run with other settings: epochs 2 "
                                                r"\(saved\) vs 1 \(now\); pass --overwrite to start it over, or use "
                                                r"another directory$"):
        experiment.run_seeds(other, "train", tmp_path, 2, say=said.append)
    assert not (tmp_path / "seed-1").exists()  # refused before any seed ran
    experiment.train_run(experiment.prepare(cfg.replace(seed=1), say=said.append), tmp_path / "seed-1", 0.05, 0.0,
                         extra_hooks=[Kill()])
    # stopped before its end with a summary.json that says so: continued from its checkpoint (read once), as demo does
    assert json.loads((tmp_path / "seed-1" / rundir.SUMMARY_JSON).read_text())["stopped"].startswith("stopped by")
    said.clear()
    with pytest.MonkeyPatch.context() as mp:
        reads = count_reads(mp, tmp_path / "seed-1" / rundir.CHECKPOINT)
        experiment.run_seeds(cfg, "train", tmp_path, 2, say=said.append)
    assert len(reads) == 1
    assert f"seed 0: {tmp_path / 'seed-0'} holds this train run, finished: kept" in said
    assert f"seed 1 (2/2): train in {tmp_path / 'seed-1'}, resumed from its checkpoint (the run was stopped before " \
           "its end)" in said
    assert json.loads((tmp_path / "seed-1" / rundir.SUMMARY_JSON).read_text())["epochs_completed"] == 2
    experiment.run_seeds(other, "train", tmp_path, 2, say=said.append, overwrite=True)
    assert json.loads((tmp_path / "seed-1" / rundir.CONFIG).read_text())["epochs"] == 1
