"""Checkpoints: the format version and content hash, the counters cross-checked on load, checkpoints in the middle
of an epoch and exact resume from them, and the order of a run directory's writes (no finished epoch is trained
again)."""

import functools
import json
import logging
import pickle
import random
import re
import signal

import pytest
import torch
from torch import nn

from onecycle import OneCycleScheduler, rundir
from onecycle.datasets import digits
from onecycle.engine import TrainState, train
from onecycle.interrupt import StopRequest
from onecycle.loader import Batches

EPOCHS, STEPS = 3, 8  # steps per epoch: 256 images in batches of 32


@pytest.fixture(autouse=True)
def _one_thread():
    """Tiny models train fastest on one thread, and do not slow to a crawl when the cores are busy."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@functools.cache
def _images():
    return digits()[0].subset(256, seed=0)


def tiny(epochs=EPOCHS):
    """A small run whose every step draws randomness: shuffled, flipped batches and dropout."""
    data = Batches(_images(), 32, drop_last=True, flip=True, seed=1)
    torch.manual_seed(1)
    model = nn.Sequential(nn.Flatten(), nn.Dropout(0.2), nn.Linear(64, 10))
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    return TrainState(model, opt, OneCycleScheduler(opt, max_lr=0.1, epochs=epochs, steps_per_epoch=len(data)),
                      data, epochs)


class StopAt:
    """Ends training after step ``step``, as a kill right after it would."""

    def __init__(self, step):
        self.step = step

    def wants_read(self, state):
        return state.step + 1 == self.step

    def on_steps(self, state, rows):
        return state.step == self.step


def _without_times(rows):
    return [{k: v for k, v in r.items() if k not in ("time_s", "images_per_s")} for r in rows]


def _same_weights(a, b):
    return all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values(), strict=True))


# ------------------------------------------------------------------------------------------------- integrity

def test_a_changed_byte_anywhere_in_the_file_is_refused(tmp_path, caplog):
    """Every byte of the file is covered, the header by its form, the rest by its hash: one changed byte (at every
    offset of the header and 1,500 random ones after it, whether or not torch would read the file), a file cut
    short or added to is one error naming the file, never a checkpoint loaded."""
    path = tmp_path / rundir.CHECKPOINT
    state = tiny()
    train(state, hooks=[StopAt(3)], progress=False)
    rundir.save_checkpoint(path, state)
    good = path.read_bytes()
    assert good.startswith(b"onecycle checkpoint format 2 sha256 ")
    assert rundir.read_checkpoint(path)["step"] == 3
    flips = random.Random(0)
    header = good.index(b"\n") + 1
    offsets = [*range(header), *sorted(flips.sample(range(header, len(good)), 1500))]
    refusal = re.compile(rf"{re.escape(str(path))} (is damaged: .*|is in checkpoint format \d+, and this .*)")
    with caplog.at_level(logging.WARNING, logger="onecycle"), open(path, "r+b") as f:
        for offset in offsets:
            f.seek(offset)
            f.write(bytes([good[offset] ^ flips.randrange(1, 256)]))
            f.flush()
            with pytest.raises(ValueError) as refused:
                rundir.read_checkpoint(path)
            assert refusal.fullmatch(str(refused.value)), (offset, str(refused.value))
            f.seek(offset)
            f.write(good[offset : offset + 1])
    assert not caplog.records  # never read as an older version's file, without its hash
    for cut in (0, 50, 101, len(good) // 2, len(good) - 1):
        path.write_bytes(good[:cut])
        with pytest.raises(ValueError, match=r"damaged|empty"):
            rundir.read_checkpoint(path)
    path.write_bytes(good + b"\0")
    with pytest.raises(ValueError, match="do not match the SHA-256"):
        rundir.read_checkpoint(path)


def test_the_readme_way_to_take_the_weights_out_of_a_checkpoint_gives_the_trained_weights(tmp_path):
    """README: ``model.load_state_dict(read_checkpoint(path)["model"])``, where plain ``torch.load`` cannot read
    the file (its first line is the header)."""
    state = tiny()
    train(state, progress=False)
    rundir.save_checkpoint(tmp_path / "checkpoint.pt", state)
    with pytest.raises((RuntimeError, pickle.UnpicklingError)):  # the header comes first: not a torch file
        torch.load(tmp_path / "checkpoint.pt", weights_only=True)
    fresh = tiny().model
    assert not _same_weights(fresh, state.model)
    fresh.load_state_dict(rundir.read_checkpoint(tmp_path / "checkpoint.pt")["model"])
    assert _same_weights(fresh, state.model)


def test_a_checkpoint_of_an_older_version_is_read_with_a_warning(tmp_path, caplog):
    """Format 1 (torch.save alone, no hash): resumed, since its keys, types and counters are checked, with a
    warning that its bytes could not be."""
    state = tiny()
    train(state, hooks=[StopAt(5)], progress=False)
    path = tmp_path / "old.pt"
    rundir.save_checkpoint(tmp_path / "new.pt", state)
    payload = rundir.read_checkpoint(tmp_path / "new.pt")
    torch.save(payload, path)
    with caplog.at_level(logging.WARNING, logger="onecycle"):
        resumed = rundir.load_checkpoint(path, tiny())
    assert f"{path} has no content hash (an older version of onecycle wrote it)" in caplog.text
    assert resumed.step == 5 and _same_weights(resumed.model, state.model)


def test_a_newer_format_is_refused(tmp_path):
    path = tmp_path / rundir.CHECKPOINT
    rundir.save_checkpoint(path, tiny())
    data = path.read_bytes()
    path.write_bytes(data.replace(b"format 2 ", b"format 3 ", 1))
    with pytest.raises(ValueError, match=r"checkpoint.pt is in checkpoint format 3, and this version of onecycle "
                                         r"reads format 2: a newer version wrote it, or it is damaged"):
        rundir.read_checkpoint(path)


# ------------------------------------------------------------------------------------------------ counters

def _mid_epoch_checkpoint(tmp_path):
    """A checkpoint at step 11: one epoch done, 3 steps into the second."""
    state = tiny()
    train(state, hooks=[rundir.CheckpointHook(tmp_path, every_steps=11), StopAt(11)], progress=False)
    return rundir.read_checkpoint(tmp_path / rundir.CHECKPOINT)


def _set(path, value):
    def change(ckpt):
        *keys, last = path
        target = ckpt
        for key in keys:
            target = target[key]
        target[last] = value
    return change


@pytest.mark.parametrize("change,message", [
    (_set(["epoch"], 99), r"is at epoch 99, outside this run's 0..3"),
    (_set(["epoch"], -5), r"is at epoch -5, outside this run's 0..3"),
    (_set(["epoch"], 2), r"is at epoch 2 but holds the metrics of 1 epochs"),
    (_set(["step"], 30), r"is at step 30 of epoch 1, but this run's epochs are 8 steps long"),
    (_set(["step"], -1), r"is at step -1 of epoch 1"),
    (_set(["step"], 12), r"it is at step 12, 4 into epoch 2, but its smoothed loss has averaged 11 losses, not 12"),
    (_set(["history", 0, "epoch"], 2), r"the metrics it holds are of epochs \[2\] ending at steps \[8\]"),
    (_set(["history", 0, "step"], 7), r"the metrics it holds are of epochs \[1\] ending at steps \[7\]"),
    (_set(["history", 0, "step"], "8"), r"ending at steps \['8'\]"),
    (_set(["loss_ema", "count"], 10), r"its smoothed loss has averaged 10 losses, not 11"),
    (_set(["scheduler", "last_epoch"], 12), r"its scheduler has taken 12 steps, not 11"),
    (_set(["totals", "steps"], 2), r"its epoch totals count 2 steps of the epoch in progress, not 3"),
    (_set(["data", "batch"], 4), r"its data position is 4 batches into the epoch, not 3"),
    (_set(["data", "batch"], "3"), r"its data position is '3' batches into the epoch, not 3"),
], ids=["epoch past the end", "epoch negative", "epoch without metrics", "step past the epoch", "step negative",
        "step alone", "history epochs", "history steps", "history step a string", "smoothed loss", "scheduler",
        "epoch totals", "data position", "data position a string"])
def test_every_counter_of_a_checkpoint_is_cross_checked(tmp_path, change, message):
    ckpt = _mid_epoch_checkpoint(tmp_path)
    assert rundir.load_checkpoint(tmp_path / rundir.CHECKPOINT, tiny()).step == 11
    change(ckpt)
    bad = tmp_path / "bad.pt"
    rundir.write_checkpoint(bad, ckpt)
    with pytest.raises(ValueError, match=f"^{re.escape(str(bad))} .*{message}"):
        rundir.load_checkpoint(bad, tiny())


def test_the_loss_of_the_first_step_is_checkpointed_as_a_number(tmp_path):
    """A run resumed compares its final losses with its first step's (engine.losses_above_start): the checkpoint
    holds it, a float, and one that holds anything else is refused naming the key."""
    state = tiny()
    train(state, hooks=[StopAt(3)], progress=False)
    rundir.save_checkpoint(tmp_path / "ok.pt", state)
    ckpt = rundir.read_checkpoint(tmp_path / "ok.pt")
    assert isinstance(state.initial_loss, float) and ckpt["initial_loss"] == state.initial_loss
    ckpt["initial_loss"] = "2.3"
    rundir.write_checkpoint(tmp_path / "bad.pt", ckpt)
    with pytest.raises(ValueError, match=r"bad.pt is damaged: its initial_loss is of type str, expected float or None"):
        rundir.read_checkpoint(tmp_path / "bad.pt")


def test_a_finished_run_has_no_steps_past_its_end(tmp_path):
    state = tiny()
    train(state, progress=False)
    rundir.save_checkpoint(tmp_path / "done.pt", state)
    ckpt = rundir.read_checkpoint(tmp_path / "done.pt")
    rundir.check_position(tmp_path / "done.pt", ckpt, EPOCHS, STEPS)
    ckpt["step"] += 1
    with pytest.raises(ValueError, match=r"done.pt is at step 25, past the end of this run's 3 epochs of 8 steps"):
        rundir.check_position(tmp_path / "done.pt", ckpt, EPOCHS, STEPS)


# ----------------------------------------------------------------------------------- in the middle of an epoch

def test_resume_from_any_step_is_bitwise_exact(tmp_path):
    """Resumed from a checkpoint after any step (in the middle of an epoch too), a run writes the steps.csv rows,
    the epoch metrics and the final weights of the uninterrupted run: the batches already drawn are skipped with
    the same random state, the epoch's running totals continue."""

    class KeepEvery:
        def on_steps(self, state, rows):
            if state.step % STEPS:  # after an epoch's last step, the epoch's own checkpoint follows
                rundir.save_checkpoint(tmp_path / f"{state.step}.pt", state)

        def on_epoch_end(self, state, metrics):
            rundir.save_checkpoint(tmp_path / f"{state.step}.pt", state)

    full = tiny()
    (tmp_path / "full").mkdir()
    train(full, hooks=[rundir.MetricsHook(tmp_path / "full"), KeepEvery()], progress=False)
    header, *rows = (tmp_path / "full" / rundir.STEPS_CSV).read_text().splitlines()
    for k in range(1, EPOCHS * STEPS):
        run = tmp_path / f"from{k}"
        run.mkdir()
        torch.manual_seed(999)  # whatever happened in between must not matter
        state = rundir.load_checkpoint(tmp_path / f"{k}.pt", tiny())
        train(state, hooks=[rundir.MetricsHook(run)], progress=False)
        assert (run / rundir.STEPS_CSV).read_text().splitlines() == [header, *rows[k:]], k
        assert _without_times(state.history) == _without_times(full.history), k
        assert _same_weights(state.model, full.model), k


def test_checkpoints_every_steps_or_minutes(tmp_path):
    class Clock:
        now = 0.0

        def __call__(self):
            return self.now

    clock = Clock()

    class Tick:  # 40 seconds a step
        def on_steps(self, state, rows):
            clock.now += 40

    class Written:
        def __init__(self, run):
            self.path, self.steps = run / rundir.CHECKPOINT, []

        def on_steps(self, state, rows):
            self.steps.append(rundir.read_checkpoint(self.path)["step"] if self.path.exists() else None)

    by_steps = Written(tmp_path / "steps")
    train(tiny(), hooks=[rundir.CheckpointHook(tmp_path / "steps", every_steps=3), by_steps], progress=False)
    # after steps 3, 6, 9 ...; not after 24 (an epoch's end: its own follows, here after step 8 and 16)
    assert by_steps.steps == [None, None, 3, 3, 3, 6, 6, 6, 9, 9, 9, 12, 12, 12, 15, 15, 16, 18, 18, 18, 21, 21, 21,
                              21]
    by_time = Written(tmp_path / "time")
    hook = rundir.CheckpointHook(tmp_path / "time", every_minutes=1, clock=clock)
    train(tiny(), hooks=[Tick(), hook, by_time], progress=False)
    assert by_time.steps[:9] == [None, 2, 2, 4, 4, 6, 6, 6, 8]  # 80 s after the last; the epoch's end resets it


def test_a_stop_request_checkpoints_after_the_current_step_and_resumes_exactly(tmp_path):
    full = tiny()
    train(full, progress=False)
    class Signal:
        def __init__(self, at, stop):
            self.at, self.stop = at, stop

        def on_steps(self, state, rows):
            if state.step == self.at:
                self.stop.request(signal.SIGTERM)

    for at, stopped_at in ((5, 5), (STEPS, STEPS)):  # at an epoch's last step: after the epoch, its checkpoint
        stop, run = StopRequest(), tmp_path / str(at)
        state = train(tiny(), hooks=[Signal(at, stop), rundir.CheckpointHook(run, stop=stop)], progress=False)
        assert state.stopped is not None and state.step == stopped_at
        resumed = rundir.load_checkpoint(run / rundir.CHECKPOINT, tiny())
        assert resumed.step == stopped_at
        train(resumed, progress=False)
        assert _same_weights(resumed.model, full.model)
        assert _without_times(resumed.history) == _without_times(full.history)


@pytest.mark.parametrize("log_every", [5, 50])
def test_resume_with_reads_every_few_steps_is_bitwise_exact(tmp_path, log_every):
    """Read every log_every steps, a run checkpointed every 3 steps and stopped by a request that comes between
    reads (it is checkpointed after the step it came in, whether or not a multiple of log_every), then resumed at
    that log_every or at 1, ends bitwise where the run reading every step ends: weights, steps.csv, epoch metrics."""
    full = tiny()
    (tmp_path / "full").mkdir()
    train(full, hooks=[rundir.MetricsHook(tmp_path / "full")], progress=False, log_every=1)
    reference = (tmp_path / "full" / rundir.STEPS_CSV).read_bytes()

    class SignalAt:
        def __init__(self, at, stop):
            self.at, self.stop = at, stop

        def wants_read(self, state):
            if state.step + 1 == self.at:  # a signal while step `at` is being taken
                self.stop.request(signal.SIGTERM)
            return False

    for at, again in ((4, 1), (7, log_every), (8, 1), (13, log_every), (22, 1)):
        run, stop = tmp_path / str(at), StopRequest()
        run.mkdir()
        files = rundir.RunFiles(rundir.MetricsHook(run), rundir.CheckpointHook(run, every_steps=3, stop=stop))
        cut = train(tiny(), hooks=[SignalAt(at, stop), files], progress=False, log_every=log_every)
        assert cut.stopped is not None and cut.step == at
        assert rundir.read_checkpoint(run / rundir.CHECKPOINT)["step"] == at
        torch.manual_seed(999)  # whatever happened in between must not matter
        resumed = rundir.load_checkpoint(run / rundir.CHECKPOINT, tiny())
        rundir.truncate_metrics(run, resumed.step, resumed.history)
        train(resumed, hooks=[rundir.RunFiles(rundir.MetricsHook(run), rundir.CheckpointHook(run, every_steps=3))],
              progress=False, log_every=again)
        assert _same_weights(resumed.model, full.model), at
        assert (run / rundir.STEPS_CSV).read_bytes() == reference, at
        assert _without_times(resumed.history) == _without_times(full.history), at


def test_mid_epoch_checkpoints_need_data_that_records_its_position(tmp_path):
    state = tiny()
    state.data = list(state.data)
    with pytest.raises(ValueError, match="checkpoints in the middle of an epoch need data that has a length and "
                                         "records its position"):
        train(state, hooks=[rundir.CheckpointHook(tmp_path, every_steps=2)], progress=False)


# -------------------------------------------------------------------------------------------- kill ordering

class Killed(Exception):
    """The process dying at that point."""


def test_an_epoch_is_checkpointed_before_its_metrics_row_so_it_is_never_trained_again(tmp_path, monkeypatch):
    full, cut = tmp_path / "full", tmp_path / "cut"
    full.mkdir(), cut.mkdir()
    reference = tiny()
    train(reference, hooks=[rundir.RunFiles(rundir.MetricsHook(full), rundir.CheckpointHook(full))],
          progress=False)
    on_disk = []
    write_row = rundir.MetricsHook.on_epoch_end

    def killed_before_the_second_row(self, state, metrics):
        on_disk.append(rundir.read_checkpoint(cut / rundir.CHECKPOINT)["epoch"])
        if metrics["epoch"] == 2:
            raise Killed
        return write_row(self, state, metrics)

    monkeypatch.setattr(rundir.MetricsHook, "on_epoch_end", killed_before_the_second_row)
    with pytest.raises(Killed):
        train(tiny(), hooks=[rundir.RunFiles(rundir.MetricsHook(cut), rundir.CheckpointHook(cut))], progress=False)
    monkeypatch.undo()
    assert on_disk == [1, 2]  # each epoch's checkpoint was on disk when its row was about to be written
    assert [r["epoch"] for r in rundir.read_metrics(cut) if r["kind"] == "epoch"] == [1]

    state = rundir.load_checkpoint(cut / rundir.CHECKPOINT, tiny())
    assert state.epoch == 2  # the second epoch is not trained again
    rundir.truncate_metrics(cut, state.step, state.history)
    epochs = [r for r in rundir.read_metrics(cut) if r["kind"] == "epoch"]
    assert epochs == [{"kind": "epoch", **h} for h in state.history]  # its row, time included, from the checkpoint
    train(state, hooks=[rundir.RunFiles(rundir.MetricsHook(cut), rundir.CheckpointHook(cut))], progress=False)
    assert _same_weights(state.model, reference.model)
    assert (cut / rundir.STEPS_CSV).read_bytes() == (full / rundir.STEPS_CSV).read_bytes()
    rows = [json.loads(line) for line in (cut / rundir.METRICS_JSONL).read_text().splitlines()]
    assert _without_times(rows) == _without_times(rundir.read_metrics(full))
    assert [r for r in rows if r["kind"] == "epoch"][:2] == epochs


def test_a_step_row_is_written_before_the_checkpoint_that_holds_the_step(tmp_path, monkeypatch):
    run = tmp_path / "run"
    run.mkdir()
    steps_on_disk = []
    save = rundir.save_checkpoint

    def save_and_look(path, state):
        rows = rundir.read_metrics(run)
        steps_on_disk.append((state.step, max((r["step"] for r in rows if r["kind"] == "step"), default=0)))
        save(path, state)

    monkeypatch.setattr(rundir, "save_checkpoint", save_and_look)
    train(tiny(), hooks=[rundir.RunFiles(rundir.MetricsHook(run), rundir.CheckpointHook(run, every_steps=3))],
          progress=False)
    assert len(steps_on_disk) == 10 and all(step == written for step, written in steps_on_disk)


@pytest.mark.filterwarnings("ignore:`torch.jit.script_method` is deprecated:DeprecationWarning")  # torch's own
def test_a_compiled_run_checkpoints_the_plain_module_and_resumes_exactly(tmp_path, monkeypatch):
    """With ``compile`` the forward passes go through ``torch.compile`` (inductor: C++ kernels on CPU) while the
    checkpoint holds the model's own parameter names, which load into an uncompiled model; resumed compiled from
    the middle of an epoch, the run ends bitwise where the uninterrupted compiled run ends (dropout included: the
    compiled kernels draw their masks from the random state the checkpoint holds)."""
    compiled = []
    real = torch.compile
    monkeypatch.setattr(torch, "compile", lambda model: compiled.append(model) or real(model))

    class KeepAt5:
        def wants_read(self, state):
            return state.step + 1 == 5

        def on_steps(self, state, rows):
            if state.step == 5:
                rundir.save_checkpoint(tmp_path / "5.pt", state)

    full = tiny(epochs=2)
    train(full, hooks=[KeepAt5()], progress=False, compile=True, log_every=4)
    ckpt = rundir.read_checkpoint(tmp_path / "5.pt")
    assert ckpt["step"] == 5 and list(ckpt["model"]) == list(tiny().model.state_dict())  # no _orig_mod. prefix
    resumed = rundir.load_checkpoint(tmp_path / "5.pt", tiny(epochs=2))
    train(resumed, progress=False, compile=True, log_every=4)
    assert compiled == [full.model, resumed.model]
    assert _same_weights(resumed.model, full.model)
    assert _without_times(resumed.history) == _without_times(full.history)
    assert full.history[-1]["train_loss"] < full.initial_loss


def test_load_weights_names_what_differs_in_another_models_weights(tmp_path):
    path = tmp_path / "checkpoint.pt"
    model = torch.nn.Sequential(torch.nn.Linear(2, 3), torch.nn.Linear(3, 1))
    other = torch.nn.Sequential(torch.nn.Linear(2, 4), torch.nn.ReLU(), torch.nn.Linear(4, 1)).state_dict()
    with pytest.raises(ValueError) as err:
        rundir.load_weights(path, model, other, "this run's model")
    assert str(err.value) == (f"{path} holds the weights of another model than this run's model: missing 1.weight, "
                              "1.bias; unexpected 2.weight, 2.bias; of other shapes 0.weight [4, 2] (the model's "
                              "[3, 2]), 0.bias [4] (the model's [3])")
    same = torch.nn.Sequential(torch.nn.Linear(2, 3), torch.nn.Linear(3, 1)).state_dict()
    rundir.load_weights(path, model, same, "this run's model")
    assert all(torch.equal(v, same[k]) for k, v in model.state_dict().items())
