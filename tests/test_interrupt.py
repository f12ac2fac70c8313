"""Stopping and killing ``onecycle train``: the first SIGTERM or SIGINT ends it after the current step with a
checkpoint and the command that resumes it, a second SIGINT at once; a run killed (SIGKILL) again and again at
random moments, some of them while a checkpoint is being written, resumes each time to the uninterrupted result."""

import multiprocessing
import os
import random
import shlex
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

import onecycle
from onecycle import rundir
from onecycle.cli import main
from onecycle.interrupt import StopRequest

DIGITS = ["--dataset", "digits", "--test-subset", "100", "--batch-size", "32", "--weight-decay", "5e-4",
          "--augment", "crop+flip", "--threads", "1", "--quiet"]


@pytest.fixture(autouse=True)
def _threads_back():
    """The runs set torch to one thread (--threads 1); later tests get back what they had."""
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


def _lines(path):
    try:
        return len(path.read_text().splitlines()) - 1  # the header
    except (FileNotFoundError, UnicodeDecodeError):
        return 0


def _wait_for(condition, seconds=120.0):
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.002)


def _same_runs(a, b):
    """The final weights, steps.csv and epoch metrics (times aside) of two run directories are the same."""
    wa, wb = (rundir.read_checkpoint(d / rundir.CHECKPOINT)["model"] for d in (a, b))
    assert wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa)
    assert (a / rundir.STEPS_CSV).read_bytes() == (b / rundir.STEPS_CSV).read_bytes()
    times = ("time_s", "images_per_s")
    rows_a, rows_b = ([{k: v for k, v in r.items() if k not in times} for r in rundir.read_metrics(d)] for d in (a, b))
    assert rows_a == rows_b


@pytest.fixture
def _default_sigint():
    """Python's own Ctrl-C handler for the test: a process started in the background (nohup, ``&``, some CI
    runners) inherits SIGINT ignored, and a second Ctrl-C then does what it did before: nothing."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


def test_the_first_signal_asks_for_a_stop_and_a_second_sigint_interrupts_at_once(_default_sigint):
    before = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    stop = StopRequest()
    with stop.handling():
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.05)
        assert stop.signal == signal.SIGINT  # recorded, nothing raised
        assert (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)) == before
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(5)
    stop = StopRequest()
    with stop.handling():
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(0.05)
        assert stop.requested and stop.signal == signal.SIGTERM
        assert signal.getsignal(signal.SIGTERM) == before[1]  # a second SIGTERM terminates, as without
    assert (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)) == before


def _env():
    src = str(Path(onecycle.__file__).resolve().parents[1])
    return {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [src, os.environ.get("PYTHONPATH")]))}


def test_sigterm_checkpoints_after_the_current_step_and_says_how_to_resume(tmp_path):
    run = [*DIGITS, "--train-subset", "640", "--epochs", "3", "--max-lr", "0.05"]  # 20 steps an epoch
    cut, full = tmp_path / "cut", tmp_path / "full"
    proc = subprocess.Popen([sys.executable, "-m", "onecycle", "train", "--run-dir", str(cut), *run], env=_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        _wait_for(lambda: _lines(cut / rundir.STEPS_CSV) >= 3 or proc.poll() is not None)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode == 128 + signal.SIGTERM, err
    command = f"onecycle train --resume --run-dir {shlex.quote(str(cut))}"
    last = err.strip().splitlines()[-1]  # after the warning that the run is short
    assert last.startswith("onecycle train: stopped by SIGTERM: the run is in ")
    assert last.endswith(f"resume it with `{command}`")
    step = rundir.read_checkpoint(cut / rundir.CHECKPOINT)["step"]
    assert not (cut / rundir.SUMMARY_JSON).exists()  # paused, not ended
    assert 3 <= step < 60 and f"at step {step}, in epoch " in err
    assert main([*shlex.split(command)[1:], "--quiet"]) == 0
    assert main(["train", "--run-dir", str(full), *run]) == 0
    _same_runs(cut, full)


KILLS = 10


def _train(argv):
    """A child process's ``onecycle train``, each write's sync made slow enough for a kill to land inside it."""
    sync = os.fsync

    def slow_fsync(fd):
        time.sleep(0.02)
        sync(fd)

    os.fsync = slow_fsync
    sys.exit(main(argv))


def test_a_run_killed_at_random_moments_resumes_to_the_uninterrupted_result(tmp_path):
    """SIGKILL at 10 random moments (when a random number of steps is on disk, or while a checkpoint is being
    written), resume each time: the final weights, steps.csv and metrics are the uninterrupted run's, and no epoch
    whose metrics row was on disk at a kill is trained again (its row, wall time included, is kept)."""
    run = [*DIGITS, "--train-subset", "320", "--epochs", "4", "--max-lr", "0.05", "--checkpoint-every-steps", "2"]
    total = 4 * 10
    cut, full = tmp_path / "cut", tmp_path / "full"
    assert main(["train", "--run-dir", str(full), *run]) == 0
    fork = multiprocessing.get_context("fork")
    moments = random.Random(int(os.environ.get("ONECYCLE_KILL_SEED", "0")))
    kills, during_writes, rows_seen = 0, 0, {}
    while True:
        resume = (cut / rundir.CHECKPOINT).exists()
        if not resume:  # never started, or killed before its first checkpoint: start afresh
            shutil.rmtree(cut, ignore_errors=True)
        left = set(cut.glob(".checkpoint.pt.*.tmp"))  # by the kills of checkpoint writes before
        child = fork.Process(target=_train, args=(["train", "--run-dir", str(cut), *run, *["--resume"] * resume],))
        child.start()
        if kills < KILLS:
            if kills % 3 == 2:  # while a checkpoint is being written
                _wait_for(lambda: set(cut.glob(".checkpoint.pt.*.tmp")) - left or not child.is_alive())  # noqa: B023
            else:  # once a few more steps are on disk, and a little into the next
                target = min(_lines(cut / rundir.STEPS_CSV) + moments.randint(1, 6), total - 1)
                _wait_for(lambda: _lines(cut / rundir.STEPS_CSV) >= target or not child.is_alive())  # noqa: B023
                time.sleep(moments.uniform(0, 0.02))
            if child.is_alive():
                writing = bool(set(cut.glob(".checkpoint.pt.*.tmp")) - left)
                child.kill()
                kills, during_writes = kills + 1, during_writes + writing
                for row in rundir.read_metrics(cut):
                    if row["kind"] == "epoch":
                        rows_seen.setdefault(row["epoch"], row)
        child.join(120)
        assert child.exitcode in (0, -signal.SIGKILL), child.exitcode
        if child.exitcode == 0 and kills >= KILLS:
            break
        if child.exitcode == 0:  # it finished before the kill: train it again, and kill it more
            _same_runs(cut, full)
            shutil.rmtree(cut)
            rows_seen = {}
    assert during_writes >= KILLS // 3
    _same_runs(cut, full)
    final = {r["epoch"]: r for r in rundir.read_metrics(cut) if r["kind"] == "epoch"}
    assert all(final[epoch] == row for epoch, row in rows_seen.items())  # not trained again
