"""Data-parallel training under torchrun: two local CPU processes (gloo, over the loopback interface) against one
process at the same global batch, and the command line's run directory, kill and resume under torchrun."""

from __future__ import annotations

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
            "OMP_NUM_THREADS": "1"}


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
        os.kill(pid, signal.SIGKILL)
    process.wait()
    for pid in pids[1:]:
        while Path(f"/proc/{pid}").exists() and "Z" not in Path(f"/proc/{pid}/stat").read_text().split()[2]:
            time.sleep(0.01)


def test_a_killed_run_of_two_processes_resumes_on_two_and_only_rank_0_writes(workers, tmp_path, capsys):
    run_dir, scratch = tmp_path / "run", tmp_path / "tmp"
    scratch.mkdir()
    command = _torchrun("-m", "onecycle", "train", *_cli_flags(run_dir))
    process = subprocess.Popen(command, env=_env(scratch), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                               start_new_session=True)
    try:
        deadline = time.monotonic() + 300
        while not (run_dir / rundir.CHECKPOINT).exists() and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        _kill_all(process)
    assert (run_dir / rundir.CHECKPOINT).exists() and not (run_dir / rundir.SUMMARY_JSON).exists()

    # one process cannot continue it: it says how
    assert main(["train", "--resume", "--run-dir", str(run_dir), "--quiet"]) == 2
    error = capsys.readouterr().err
    assert "trained on 2 process(es) and this is 1" in error
    assert f"torchrun --nproc_per_node 2 -m onecycle train --resume --run-dir {run_dir}" in error

    done = subprocess.run(_torchrun("-m", "onecycle", "train", "--resume", "--run-dir", str(run_dir), "--quiet"),
                          env=_env(scratch), capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    resumed = rundir.read_checkpoint(run_dir / rundir.CHECKPOINT)["model"]
    uninterrupted = torch.load(workers["two"][0] / "weights.pt")
    assert all(torch.equal(resumed[k], uninterrupted[k]) for k in uninterrupted)
    # one writer: every step and epoch once, the files of a run and nothing else; the other rank's copy is gone
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
