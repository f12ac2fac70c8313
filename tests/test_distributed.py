"""Data-parallel training under torchrun: two local CPU processes (gloo, over the loopback interface) against one
process at the same global batch, and the command line's run directory, kill and resume under torchrun."""

from __future__ import annotations

import contextlib
import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from torch import distributed as dist

import onecycle
from onecycle import experiment, rundir
from onecycle.cli import main
from onecycle.config import from_dict
from onecycle.loader import Batches
from tests import ddp_worker

pytestmark = pytest.mark.skipif(not dist.is_available() or not dist.is_gloo_available(),
                                reason="this torch has no gloo backend for CPU processes")

WORKER = Path(ddp_worker.__file__)
PER_PROCESS, PROCESSES = 32, 2
LOSS_TOLERANCE, CLOSE_STEPS = 1e-5, 100
"""How far a step's loss over two processes may be from one process's at the same global batch over the first
``CLOSE_STEPS`` steps (1cycle's warm-up, which peaks at step 119): float32 sums of 32 + 32 images against 64, and
the gradients' all-reduce, round differently in the last bits. At the peak lr the differences compound, as between
any two devices: the runs end within one percentage point of test accuracy."""
TIMING = {"time_s", "images_per_s"}  # the only metrics that differ from rank to rank


def _env(tmp_path: Path) -> dict[str, str]:
    source = str(Path(onecycle.__file__).parents[1])
    return {**os.environ, "PYTHONPATH": os.pathsep.join([source, str(WORKER.parents[1])]), "TMPDIR": str(tmp_path),
            "OMP_NUM_THREADS": "1", "GLOO_SOCKET_IFNAME": "lo"}  # the processes talk over the loopback interface only


def _torchrun(*args: str) -> list[str]:
    return [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={PROCESSES}", *args]


@pytest.fixture(scope="module")
def workers(tmp_path_factory):
    """``two``: each rank's directory of the worker run by torchrun; ``one``: the worker alone at the global batch
    (in this process)."""
    root = tmp_path_factory.mktemp("ddp")
    (root / "tmp").mkdir()
    done = subprocess.run(_torchrun(str(WORKER), str(root / "two"), str(PER_PROCESS)), env=_env(root / "tmp"),
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    threads = torch.get_num_threads()
    try:
        ddp_worker.main(str(root / "one"), PER_PROCESS * PROCESSES)
    finally:
        torch.set_num_threads(threads)
    return {"two": [root / "two" / f"rank-{r}" for r in range(PROCESSES)], "one": root / "one" / "rank-0",
            "tmp": root / "tmp"}


def _rows(run_dir: Path, kind: str) -> list[dict]:
    return [{k: v for k, v in r.items() if k not in TIMING} for r in rundir.read_metrics(run_dir) if r["kind"] == kind]


def _steps(run_dir: Path) -> list[dict]:
    with open(run_dir / rundir.STEPS_CSV) as f:
        return list(csv.DictReader(f))


def test_every_rank_ends_with_the_same_weights_metrics_and_range_test(workers):
    zero, one = workers["two"]
    a, b = torch.load(zero / "weights.pt"), torch.load(one / "weights.pt")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert _rows(zero, "epoch") == _rows(one, "epoch") and len(_rows(zero, "epoch")) == ddp_worker.SETTINGS["epochs"]
    assert _rows(zero, "step") == _rows(one, "step")
    first, second = (json.loads((d / rundir.FINDER_JSON).read_text()) for d in (zero, one))
    assert first == second and first["recommendation"]["max_lr"] is not None
    assert first["settings"]["world_size"] == PROCESSES
    user = [json.loads((d / "user.json").read_text()) for d in (zero, one)]
    assert user[0] == user[1] and user[0]["unchanged"] and user[0]["max_lr"] is not None


def test_two_processes_train_as_one_at_the_same_global_batch(workers):
    two, one = workers["two"][0], workers["one"]
    ours, theirs = _steps(two), _steps(one)
    assert [r["step"] for r in ours] == [r["step"] for r in theirs]
    assert [r["lr"] for r in ours] == [r["lr"] for r in theirs]  # the schedule counts global steps
    assert [r["momentum"] for r in ours] == [r["momentum"] for r in theirs]
    close = zip(ours[:CLOSE_STEPS], theirs[:CLOSE_STEPS])
    assert max(abs(float(a["loss"]) - float(b["loss"])) for a, b in close) < LOSS_TOLERANCE
    config = json.loads((two / rundir.CONFIG).read_text())["resolved"]
    assert (config["world_size"], config["global_batch_size"]) == (PROCESSES, PER_PROCESS * PROCESSES)
    assert config["steps_per_epoch"] == json.loads((one / rundir.CONFIG).read_text())["resolved"]["steps_per_epoch"]
    ranked, alone = (json.loads((d / rundir.FINDER_JSON).read_text()) for d in (two, one))
    assert ranked["curves"][0]["lrs"] == alone["curves"][0]["lrs"]
    assert ranked["curves"][0]["losses"] == pytest.approx(alone["curves"][0]["losses"], rel=1e-4)
    assert ranked["recommendation"]["max_lr"] == pytest.approx(alone["recommendation"]["max_lr"], rel=1e-3)
    final = [json.loads((d / rundir.SUMMARY_JSON).read_text())["final"] for d in (two, one)]
    assert final[0]["val_accuracy"] == pytest.approx(final[1]["val_accuracy"], abs=0.01)
    first = [_rows(d, "epoch")[0] for d in (two, one)]  # the first epoch's test evaluation, summed over the ranks
    assert first[0]["val_loss"] == pytest.approx(first[1]["val_loss"], abs=1e-5)
    assert first[0]["val_accuracy"] == first[1]["val_accuracy"]


def _cli_flags(run_dir: Path) -> list[str]:
    flags = {"dataset": "digits", "model": "mlp", "batch-size": str(PER_PROCESS), "num-steps": "40",
             "epochs": str(ddp_worker.SETTINGS["epochs"]), "threads": "1", "max-lr": str(ddp_worker.MAX_LR),
             "weight-decay": str(ddp_worker.WEIGHT_DECAY), "checkpoint-every-steps": "7", "run-dir": str(run_dir)}
    return [word for k, v in flags.items() for word in (f"--{k}", v)] + ["--quiet"]


def _children(pid: int) -> list[int]:
    """The processes whose parent is ``pid`` (from /proc)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # gone meanwhile
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def _kill_all(process: subprocess.Popen) -> None:
    """SIGKILL torchrun and the processes it started (each in a session of its own), as a crash of the machine
    would: nothing is told, nothing cleans up."""
    pids = [process.pid, *_children(process.pid)]
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):  # gone already
            os.kill(pid, signal.SIGKILL)
    process.wait()
    for pid in pids[1:]:
        while _exiting(pid):
            time.sleep(0.01)


def _exiting(pid: int) -> bool:
    """Whether the process ``pid`` still runs or exits: a zombie whose other threads are gone has let go of its files
    (and locks); the main thread of a process of several turns zombie first."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        return state != "Z" or len(list(Path(f"/proc/{pid}/task").iterdir())) > 1
    except (OSError, IndexError):  # reaped
        return False


def _rank_pid(process: subprocess.Popen, rank: int) -> int:
    """The pid of the process of ``rank`` that torchrun started."""
    for pid in _children(process.pid):
        with contextlib.suppress(OSError):
            if f"RANK={rank}".encode() in Path(f"/proc/{pid}/environ").read_bytes().split(b"\0"):
                return pid
    raise AssertionError(f"no process of rank {rank}")


def _wait_for(condition, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + 300
    while not condition() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)


def test_a_run_of_two_processes_stops_on_a_signal_to_either_and_resumes_exactly_after_a_kill(workers, tmp_path,
                                                                                            capsys):
    run_dir, scratch = tmp_path / "run", tmp_path / "tmp"
    scratch.mkdir()
    launch = {"env": _env(scratch), "stdout": subprocess.DEVNULL, "stderr": subprocess.PIPE, "text": True,
              "start_new_session": True}
    process = subprocess.Popen(_torchrun("-m", "onecycle", "train", *_cli_flags(run_dir)), **launch)
    try:
        _wait_for(lambda: (run_dir / rundir.CHECKPOINT).exists(), process)
    finally:
        _kill_all(process)  # torchrun and both processes, at once
    assert (run_dir / rundir.CHECKPOINT).exists() and not (run_dir / rundir.SUMMARY_JSON).exists()

    # one process cannot continue it: it says how
    assert main(["train", "--resume", "--run-dir", str(run_dir), "--quiet"]) == 2
    error = capsys.readouterr().err
    assert "trained on 2 process(es) and this is 1" in error
    assert f"torchrun --standalone --nproc_per_node 2 -m onecycle train --resume --run-dir {run_dir}`" in error

    # resumed on two, then SIGTERM to rank 1 only: both stop at one step, rank 0 checkpoints it and says how to go on
    resume = _torchrun("-m", "onecycle", "train", "--resume", "--run-dir", str(run_dir), "--quiet")
    process = subprocess.Popen(resume, **launch)
    try:
        _wait_for(lambda: rundir.read_metrics(run_dir)[-1].get("step", 0) >= 15, process)
        os.kill(_rank_pid(process, 1), signal.SIGTERM)
        _, stderr = process.communicate(timeout=300)
    finally:
        _kill_all(process)
    assert "onecycle train: stopped by SIGTERM: the run is in" in stderr
    assert f"resume it with `torchrun --standalone --nproc_per_node 2 -m onecycle train --resume --run-dir {run_dir}`" \
        in stderr
    assert not (run_dir / rundir.SUMMARY_JSON).exists()
    stopped = rundir.read_checkpoint(run_dir / rundir.CHECKPOINT)["step"]
    assert stopped == rundir.read_metrics(run_dir)[-1]["step"] >= 15  # checkpointed at the step it stopped

    done = subprocess.run(resume, env=_env(scratch), capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    resumed = rundir.read_checkpoint(run_dir / rundir.CHECKPOINT)["model"]
    uninterrupted = torch.load(workers["two"][0] / "weights.pt")
    assert all(torch.equal(resumed[k], uninterrupted[k]) for k in uninterrupted)
    # one writer: every step and epoch once, the files of a run and nothing else; the other rank's copies are gone
    assert [int(r["step"]) for r in _steps(run_dir)] == list(range(1, len(_steps(workers["one"])) + 1))
    assert [r["epoch"] for r in _rows(run_dir, "epoch")] == list(range(1, ddp_worker.SETTINGS["epochs"] + 1))
    assert sorted(p.name for p in run_dir.iterdir()) == sorted(rundir.TRAIN_FILES)
    assert not [p for p in scratch.iterdir() if p.name.startswith("onecycle-")]


def test_shards_are_the_global_batches_of_one_process():
    """Two ranks' batches, side by side, are one process's at the global batch: images, labels and augmentation."""
    data = experiment.prepare(from_dict({"dataset": "digits", "train_subset": 200, "batch_size": 32})).train_data
    kw = dict(shuffle=True, drop_last=True, crop=True, flip=True, pad=2, seed=3)
    alone = list(Batches(data, 2 * 16, **kw))
    ranks = [list(Batches(data, 16, rank=r, world_size=2, **kw)) for r in range(2)]
    assert len(ranks[0]) == len(ranks[1]) == len(alone) == 200 // 32
    for (x, y), (x0, y0), (x1, y1) in zip(alone, *ranks):
        assert torch.equal(x, torch.cat([x0, x1])) and torch.equal(y, torch.cat([y0, y1]))


# ----------------------------------------------------------------------------------------- in one process


DIGITS = {"dataset": "digits", "train_subset": 256, "test_subset": 64, "batch_size": 32, "num_steps": 20,
          "progress": False}


@pytest.mark.parametrize(("kw", "message"), [
    ({"rank": 2, "world_size": 2}, "rank must be in [0, world_size) and world_size >= 1, got rank 2 of 2"),
    ({"rank": 0, "world_size": 0}, "rank must be in [0, world_size) and world_size >= 1, got rank 0 of 0"),
    ({"world_size": 4, "drop_last": True}, "drop_last with 100 samples and batch_size 30 x 4 processes leaves no "
                                           "batches"),
])
def test_a_shard_that_cannot_be_is_one_error(kw, message):
    data = experiment.prepare(from_dict({**DIGITS, "train_subset": 100})).train_data
    with pytest.raises(ValueError, match=f"^{message.replace('[', '.').replace(')', '.')}"):
        Batches(data, 30, **kw)


def test_a_last_partial_global_batch_is_shared_out_and_a_position_is_of_its_world_size():
    data = experiment.prepare(from_dict({**DIGITS, "train_subset": 100})).train_data
    shards = [list(Batches(data, 30, shuffle=False, rank=r, world_size=2)) for r in range(2)]
    assert [[len(y) for _, y in s] for s in shards] == [[30, 30], [30, 10]]  # 100 = 60 + 30 + 10
    thirds = [[len(y) for _, y in Batches(data, 30, shuffle=False, rank=r, world_size=3)] for r in range(3)]
    assert thirds == [[30, 10], [30], [30]]  # 90 + 10: ranks 1 and 2 have none of the last
    one = Batches(data, 30, rank=0, world_size=1)
    state = one.state_dict()
    with pytest.raises(ValueError, match=r"state is for 100 samples in batches of 30 on 1 process\(es\), this loader "
                                         r"has 100 in batches of 30 on 2"):
        Batches(data, 30, rank=1, world_size=2).load_state_dict(state)
    del state["world_size"]  # a checkpoint of an older version: one process
    one.load_state_dict(state)


def test_a_range_test_of_other_processes_is_stale_and_an_older_one_is_of_one(tmp_path, monkeypatch):
    cfg = from_dict(DIGITS)
    experiment.find_lr(experiment.prepare(cfg), tmp_path, 1e-4)
    path = tmp_path / rundir.FINDER_JSON
    data = json.loads(path.read_text())
    assert (data["settings"]["world_size"], data["settings"]["sync_batchnorm"]) == (1, False)
    for key in ("world_size", "sync_batchnorm"):  # written before they were conditions: one process, its own batch
        del data["settings"][key]
    path.write_text(json.dumps(data))
    assert experiment.fresh_finder(cfg, tmp_path, 1e-4) is not None
    monkeypatch.setattr(experiment.distributed, "world_size", lambda: 2)
    with pytest.raises(experiment.StaleResult, match=r"measured under other settings: world_size 1 \(now 2\)"):
        experiment.fresh_finder(cfg, tmp_path, 1e-4)
    data["settings"]["world_size"] = "two"
    path.write_text(json.dumps(data))
    with pytest.raises(ValueError, match=r"is damaged: settings.world_size must be an integer >= 1, got 'two'"):
        experiment.fresh_finder(cfg, tmp_path, 1e-4)


def test_a_run_of_one_process_resumed_by_two_says_to_resume_it_without_torchrun(tmp_path, monkeypatch):
    monkeypatch.setattr(experiment.distributed, "world_size", lambda: 2)
    with pytest.raises(ValueError, match=r"trained on 1 process\(es\) and this is 2: .* resume it with `onecycle train "
                                         r"--resume --run-dir \S+`, without torchrun"):
        experiment.check_world_size(tmp_path, 1)


def test_a_damaged_world_size_in_config_json_is_named(tmp_path):
    cfg = from_dict({**DIGITS, "epochs": 1})
    setup = experiment.prepare(cfg)
    experiment.train_run(setup, tmp_path, 0.05, 1e-4)
    config = json.loads((tmp_path / rundir.CONFIG).read_text())
    assert (config["resolved"]["world_size"], config["resolved"]["global_batch_size"]) == (1, 32)
    config["resolved"]["world_size"] = 0
    (tmp_path / rundir.CONFIG).write_text(json.dumps(config))
    with pytest.raises(ValueError, match=r"config.json is damaged: its resolved world_size 0 is not a number of "
                                         r"processes"):
        experiment.resume_settings(tmp_path, {})


def test_sync_batchnorm_off_cuda_is_one_error_naming_it(monkeypatch):
    monkeypatch.setattr(experiment.distributed, "active", lambda: True)
    with pytest.raises(experiment.ConfigError, match=r"^sync_batchnorm needs CUDA devices .* train on cpu"):
        experiment.check_processes(from_dict({**DIGITS, "sync_batchnorm": True}), torch.device("cpu"))
    experiment.check_processes(from_dict(DIGITS), torch.device("cpu"))


def test_a_copy_left_by_a_killed_rank_is_removed_and_a_live_ones_kept(tmp_path, monkeypatch):
    from onecycle.cli import ranks

    monkeypatch.setattr(ranks.tempfile, "gettempdir", lambda: str(tmp_path))
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    dead = tmp_path / f"{ranks.COPY_PREFIX}1-pid{gone.pid}-abc"
    live = tmp_path / f"{ranks.COPY_PREFIX}1-pid{os.getpid()}-def"
    other = tmp_path / f"{ranks.COPY_PREFIX}1-pidxyz-ghi"
    for d in (dead, live, other):
        (d / "run").mkdir(parents=True)
    assert ranks.remove_stale_copies() == [dead]
    assert not dead.exists() and live.exists() and other.exists()


@pytest.mark.parametrize(("rank", "prints"), [("0", True), ("1", False)])
def test_a_command_of_one_process_runs_on_rank_0_only_under_torchrun(rank, prints, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", rank)
    out = tmp_path / "schedule.png"
    assert main(["schedule", "--total-steps", "100", "--max-lr", "0.1", "--out", str(out)]) == 0
    assert out.exists() == prints and bool(capsys.readouterr().out) == prints


@pytest.mark.parametrize(("env", "processes", "shown"), [
    ({}, None, "onecycle train --resume --run-dir r"),
    ({"WORLD_SIZE": "2", "LOCAL_WORLD_SIZE": "2"}, None,
     "torchrun --standalone --nproc_per_node 2 -m onecycle train --resume --run-dir r"),
    ({"WORLD_SIZE": "8", "LOCAL_WORLD_SIZE": "4"}, None,
     "torchrun --nnodes 2 --nproc_per_node 4 --rdzv-endpoint HOST:PORT -m onecycle train --resume --run-dir r on each "
     "machine"),
    ({"WORLD_SIZE": "8", "LOCAL_WORLD_SIZE": "4"}, 1, "onecycle train --resume --run-dir r"),
    ({}, 3, "torchrun --standalone --nproc_per_node 3 -m onecycle train --resume --run-dir r"),
])
def test_the_command_to_run_again_is_launched_as_this_one_was(env, processes, shown, monkeypatch):
    for name in ("WORLD_SIZE", "LOCAL_WORLD_SIZE"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert experiment.distributed.launched_as("onecycle train --resume --run-dir r", processes) == shown


def test_a_damaged_range_test_stops_train_auto_before_its_sweep(tmp_path, capsys):
    (tmp_path / rundir.FINDER_JSON).write_text('{"curves": "oops"}')
    flags = ["--dataset", "digits", "--train-subset", "256", "--batch-size", "32", "--quiet"]
    assert main(["train", "--auto", "--run-dir", str(tmp_path), *flags]) == 2
    error = capsys.readouterr().err
    assert "finder.json is not a valid range-test result" in error
    assert "remove it to measure the range test again, or pass --max-lr" in error
    assert not (tmp_path / rundir.SWEEP_JSON).exists()


def test_every_rank_refuses_a_run_directory_another_command_holds(tmp_path):
    from types import SimpleNamespace

    from onecycle.cli import ranks
    from onecycle.guard import RunDirInUse, locked

    args = SimpleNamespace(run_dir=tmp_path / "run", command="train")
    with locked(args.run_dir, "train"), pytest.raises(RunDirInUse, match="run is in use by this process"), \
            ranks.private_run_dir(args):
        pytest.fail("ran in a directory another command holds")


def test_a_lost_process_is_one_line_on_rank_0_and_nothing_on_the_others(monkeypatch):
    import io
    from types import SimpleNamespace

    from onecycle.cli import ranks

    def lost(args, errors):
        raise RuntimeError("[../gloo/transport/tcp/pair.cc:537] Read error: Connection reset by peer\ndetails")

    args, errors = SimpleNamespace(run_dir=None, command="train"), io.StringIO()
    assert ranks._guarded(args, errors, lost) == 2
    assert errors.getvalue().count("\n") == 1 and "another process of the run stopped (" in errors.getvalue()
    monkeypatch.setattr(ranks.distributed, "is_main", lambda: False)
    quiet = io.StringIO()
    assert ranks._guarded(args, quiet, lost) == 2 and quiet.getvalue() == ""
    with pytest.raises(RuntimeError, match="a bug"):
        ranks._guarded(args, quiet, lambda a, e: (_ for _ in ()).throw(RuntimeError("a bug")))


def test_a_rank_prints_its_error_only_when_rank_0_printed_another(monkeypatch, capsys):
    import io

    from onecycle.cli import ranks

    published = {}

    class Store:
        def set(self, key, value):
            published[key] = value.encode()

        def wait(self, keys, timeout):
            if not all(k in published for k in keys):
                raise RuntimeError("timed out")

        def get(self, key):
            return published[key]

    monkeypatch.setattr(ranks.dist.distributed_c10d, "_get_default_store", Store)
    zero = ranks._Errors(io.StringIO())
    zero.write("onecycle train: error: r holds a run\n")
    zero.publish()
    monkeypatch.setattr(ranks.distributed, "is_main", lambda: False)
    monkeypatch.setattr(ranks.distributed, "rank", lambda: 1)
    for text, shown in (("onecycle train: error: /tmp/copy/r holds a run\n", ""),  # the same, in its copy
                        ("onecycle train: interrupted\n", ""),  # rank 0 says what the interruption left
                        ("onecycle train: error: its own\n", "rank 1: onecycle train: error: its own\n")):
        stream = io.StringIO()
        one = ranks._Errors(stream)
        one.write(text)
        one.show_unless_rank0s({"/tmp/copy/r": "r"})
        assert stream.getvalue() == shown


def test_argument_errors_are_printed_by_rank_0_only(monkeypatch, capsys):
    monkeypatch.setenv("WORLD_SIZE", "2")
    for rank, printed in (("1", False), ("0", True)):
        monkeypatch.setenv("RANK", rank)
        with pytest.raises(SystemExit):
            main(["train", "--epochs", "zero"])
        assert ("--epochs" in capsys.readouterr().err) == printed
