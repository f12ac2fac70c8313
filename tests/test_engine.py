"""The training loop and run directories: learning, exact resume, NaN stop, atomic checkpoints, metrics."""

import csv
import json
import math
import os
import re
import stat
import time

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from onecycle import OneCycleScheduler, rundir
from onecycle.datasets import digits
from onecycle.engine import (
    DIVERGENCE_WARMUP,
    TrainState,
    are_class_scores,
    evaluate,
    losses_above_start,
    train,
    train_time,
)
from onecycle.loader import Batches
from tests.quadratic import half_mse, least_squares


def _data():
    return digits()


def _model():
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.Dropout(0.1),
                         nn.Flatten(), nn.Linear(8 * 8 * 8, 10))


def _state(epochs=3, seed=0, max_lr=0.2, weight_decay=5e-4):
    train_data, _ = _data()
    data = Batches(train_data, 64, drop_last=True, flip=True, crop=True, pad=1, seed=seed)
    model = _model()
    opt = torch.optim.SGD(model.parameters(), lr=max_lr, momentum=0.9, weight_decay=weight_decay)
    sched = OneCycleScheduler(opt, max_lr=max_lr, epochs=epochs, steps_per_epoch=len(data))
    return TrainState(model, opt, sched, data, epochs)


def test_training_lowers_the_loss_and_records_history():
    _, test_data = _data()
    val = Batches(test_data, 256, shuffle=False)
    state = _state()
    before = evaluate(state.model, val)
    train(state, val_data=val, progress=False)
    after = evaluate(state.model, val)
    assert after["loss"] < 0.5 * before["loss"] and after["accuracy"] > 0.7
    assert [h["epoch"] for h in state.history] == [1, 2, 3]
    assert state.step == 3 * len(state.data) and state.scheduler.last_epoch == state.step
    assert state.history[-1]["val_accuracy"] == pytest.approx(after["accuracy"])
    assert all(h["images_per_s"] > 0 for h in state.history)


def test_resume_equals_uninterrupted_bitwise(tmp_path):
    full = _state()
    train(full, progress=False)

    first = _state()
    first.epochs = 1  # a run killed after its first epoch's checkpoint
    train(first, hooks=[rundir.CheckpointHook(tmp_path)], progress=False)
    torch.manual_seed(999)  # whatever happened in between must not matter
    resumed = rundir.load_checkpoint(tmp_path / rundir.CHECKPOINT, _state())
    assert resumed.epoch == 1
    train(resumed, progress=False)
    for a, b in zip(full.model.state_dict().values(), resumed.model.state_dict().values()):
        assert torch.equal(a, b)
    assert [h["train_loss"] for h in full.history] == [h["train_loss"] for h in resumed.history]
    assert full.optimizer.param_groups[0]["lr"] == resumed.optimizer.param_groups[0]["lr"]
    assert resumed.initial_loss == full.initial_loss == first.initial_loss is not None


def test_non_finite_loss_stops_at_once_and_keeps_the_last_good_checkpoint(tmp_path):
    state = _state(epochs=3)
    calls = {"n": 0}
    nan_at = len(state.data) + 5  # in the second epoch

    def loss_fn(out, y, reduction="mean"):
        calls["n"] += 1
        loss = nn.functional.cross_entropy(out, y, reduction=reduction)
        return loss * float("nan") if calls["n"] == nan_at else loss

    train(state, loss_fn=loss_fn, hooks=[rundir.CheckpointHook(tmp_path)], progress=False)
    assert state.stopped is not None
    assert f"at step {nan_at}" in state.stopped and "epoch 2" in state.stopped and "lr=" in state.stopped
    assert state.step == nan_at - 1 and state.epoch == 1
    ckpt = rundir.read_checkpoint(tmp_path / rundir.CHECKPOINT)
    assert ckpt["epoch"] == 1
    assert all(torch.isfinite(p).all() for p in state.model.parameters())


def test_hook_can_stop_training_and_metrics_are_written(tmp_path):
    class StopAfterTwo:
        def on_epoch_end(self, state, metrics):
            return metrics["epoch"] == 2

    state = _state(epochs=4)
    train(state, hooks=[rundir.MetricsHook(tmp_path), StopAfterTwo()], progress=False)
    assert state.epoch == 2 and state.stopped == "stopped by a hook"
    rows = [json.loads(line) for line in (tmp_path / rundir.METRICS_JSONL).read_text().splitlines()]
    assert sum(r["kind"] == "epoch" for r in rows) == 2
    assert sum(r["kind"] == "step" for r in rows) == state.step
    with open(tmp_path / rundir.METRICS_CSV) as f:
        epochs = list(csv.DictReader(f))
    assert [int(r["epoch"]) for r in epochs] == [1, 2]
    with open(tmp_path / rundir.STEPS_CSV) as f:
        steps = list(csv.DictReader(f))
    assert {"step", "smoothed_loss", "lr", "momentum"} <= set(steps[0])
    assert float(steps[0]["momentum"]) == pytest.approx(0.95)
    rundir.truncate_metrics(tmp_path, len(state.data), state.history[:1])
    rows = [json.loads(line) for line in (tmp_path / rundir.METRICS_JSONL).read_text().splitlines()]
    assert max(r["step"] for r in rows) == len(state.data)


def test_checkpoint_write_is_atomic(tmp_path):
    path = tmp_path / "checkpoint.pt"
    rundir.atomic_write(path, lambda f: f.write(b"good"))

    def fail(f):
        f.write(b"partial")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        rundir.atomic_write(path, fail)
    assert path.read_bytes() == b"good"
    assert [p.name for p in tmp_path.iterdir()] == ["checkpoint.pt"]


def test_atomic_write_syncs_the_file_then_the_directory(tmp_path, monkeypatch):
    synced = []
    real = os.fsync

    def fsync(fd):
        synced.append("directory" if stat.S_ISDIR(os.fstat(fd).st_mode) else "file")
        real(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    rundir.write_json(tmp_path / "a.json", {"x": 1})
    assert synced == ["file", "directory"]
    assert rundir.read_json(tmp_path / "a.json") == {"x": 1}


@pytest.mark.skipif(not hasattr(os, "fchmod"), reason="no POSIX file modes")
def test_atomic_write_gives_the_permissions_of_a_plain_open(tmp_path):
    old = os.umask(0o022)
    try:
        rundir.write_text(tmp_path / "a.txt", "x")
        (tmp_path / "b.txt").write_text("x")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "a.txt").stat().st_mode) == stat.S_IMODE((tmp_path / "b.txt").stat().st_mode)
    assert stat.S_IMODE((tmp_path / "a.txt").stat().st_mode) == 0o644


def test_checkpoint_of_a_run_with_other_settings_is_refused(tmp_path):
    first = _state(epochs=2)
    first.epochs = 1
    train(first, hooks=[rundir.CheckpointHook(tmp_path)], progress=False)
    path = tmp_path / rundir.CHECKPOINT
    with pytest.raises(ValueError, match=r"other settings: weight_decay 0.0005 \(checkpoint\) vs 0.001 \(now\)"):
        rundir.load_checkpoint(path, _state(epochs=2, weight_decay=1e-3))
    with pytest.raises(ValueError, match=r"max_lrs \[0.2\] \(checkpoint\) vs \[0.4\] \(now\)"):
        rundir.load_checkpoint(path, _state(epochs=2, max_lr=0.4))
    assert rundir.load_checkpoint(path, _state(epochs=2)).epoch == 1


def test_truncate_metrics_drops_a_line_cut_short(tmp_path):
    state = _state(epochs=2)
    train(state, hooks=[rundir.MetricsHook(tmp_path)], progress=False)
    with open(tmp_path / rundir.METRICS_JSONL, "a") as f:
        f.write('{"kind": "step", "step": 9')  # killed in the middle of a write
    rundir.truncate_metrics(tmp_path, len(state.data), state.history[:1])
    rows = [json.loads(line) for line in (tmp_path / rundir.METRICS_JSONL).read_text().splitlines()]
    assert max(r["step"] for r in rows) == len(state.data)
    assert len((tmp_path / rundir.STEPS_CSV).read_text().splitlines()) == len(state.data) + 1


def test_corrupt_or_missing_checkpoint_is_a_clear_error(tmp_path):
    state = _state()
    train(state, hooks=[rundir.CheckpointHook(tmp_path)], progress=False)
    data = (tmp_path / rundir.CHECKPOINT).read_bytes()
    (tmp_path / "cut.pt").write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match=r"cut.pt is damaged: its contents do not match the SHA-256"):
        rundir.load_checkpoint(tmp_path / "cut.pt", _state())
    with pytest.raises(FileNotFoundError, match="no checkpoint to resume from"):
        rundir.load_checkpoint(tmp_path / "none.pt", _state())


@pytest.mark.parametrize("width", [1, None], ids=["column", "flat"])
def test_regression_trains_without_an_accuracy(width):
    torch.manual_seed(0)
    x = torch.randn(64, 3)
    y = x.sum(1, keepdim=width is not None)
    data = [(x[i : i + 16], y[i : i + 16]) for i in range(0, 64, 16)]
    layers = [nn.Linear(3, 1)] if width else [nn.Linear(3, 1), nn.Flatten(0)]
    model = nn.Sequential(*layers)
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    state = train(TrainState(model, opt, None, data, 2), loss_fn=nn.functional.mse_loss, val_data=data,
                  progress=False)
    assert [h["epoch"] for h in state.history] == [1, 2]
    assert {"train_loss", "val_loss"} <= set(state.history[-1])
    assert not {"train_accuracy", "val_accuracy"} & set(state.history[-1])
    assert set(evaluate(model, data, nn.functional.mse_loss)) == {"loss"}


def test_class_scores_are_integer_labels_for_two_dimensional_outputs():
    scores, labels = torch.zeros(4, 3), torch.tensor([0, 1, 2, 0])
    assert are_class_scores(scores, labels)
    assert not are_class_scores(scores, labels.float())
    assert not are_class_scores(torch.zeros(4, 1), torch.zeros(4, 1))
    assert not are_class_scores(torch.zeros(4), labels)
    assert not are_class_scores(torch.zeros(4, 3, 5, 5), torch.zeros(4, 5, 5, dtype=torch.long))


def test_epoch_time_counts_the_test_evaluation_and_train_time_sums_the_epochs():
    class SlowTest:
        def __iter__(self):
            time.sleep(0.3)
            yield from Batches(_data()[1], 256, shuffle=False)

    state = train(_state(epochs=2), val_data=SlowTest(), progress=False)
    steps_time = [len(state.data) * 64 / h["images_per_s"] for h in state.history]  # images/s is of the steps
    assert all(h["time_s"] >= t + 0.3 for h, t in zip(state.history, steps_time))
    assert train_time(state.history) == pytest.approx(sum(h["time_s"] for h in state.history))


def test_resume_from_any_epoch_gives_the_same_steps_csv(tmp_path):
    """The smoothed loss (a running average) continues exactly: resumed from the checkpoint of any epoch, a run
    writes the rows of the uninterrupted run, byte for byte."""
    train_data, _ = _data()
    epochs = 12

    def tiny():  # one step per epoch, so that every step is a possible resume point
        data = Batches(train_data.subset(64, seed=0), 64, drop_last=True, flip=True, seed=1)
        torch.manual_seed(1)
        model = nn.Sequential(nn.Flatten(), nn.Linear(64, 10))
        opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
        return TrainState(model, opt, OneCycleScheduler(opt, max_lr=0.1, total_steps=epochs), data, epochs)

    class KeepEvery:
        def on_epoch_end(self, state, metrics):
            rundir.save_checkpoint(tmp_path / f"epoch{state.epoch}.pt", state)
            return False

    (tmp_path / "full").mkdir()
    train(tiny(), hooks=[rundir.MetricsHook(tmp_path / "full"), KeepEvery()], progress=False)
    header, *rows = (tmp_path / "full" / rundir.STEPS_CSV).read_text().splitlines()
    for k in range(1, epochs):
        (tmp_path / f"from{k}").mkdir()
        state = rundir.load_checkpoint(tmp_path / f"epoch{k}.pt", tiny())
        train(state, hooks=[rundir.MetricsHook(tmp_path / f"from{k}")], progress=False)
        assert (tmp_path / f"from{k}" / rundir.STEPS_CSV).read_text().splitlines() == [header, *rows[k:]], k


def test_checkpoint_of_an_older_version_still_resumes(tmp_path):
    """Checkpoints once held only the bias-corrected smoothed loss; they resume with it (to within rounding)."""
    state = _state(epochs=2)
    state.epochs = 1
    train(state, hooks=[rundir.CheckpointHook(tmp_path)], progress=False)
    ckpt = rundir.read_checkpoint(tmp_path / rundir.CHECKPOINT)
    ckpt["smoothed_loss"] = state.smoothed_loss
    for key in ("loss_ema", "best_loss", "totals", "initial_loss"):
        del ckpt[key]
    ckpt["rng"].pop("mps")
    torch.save(ckpt, tmp_path / "old.pt")
    resumed = rundir.load_checkpoint(tmp_path / "old.pt", _state(epochs=2))
    assert resumed.smoothed_loss == pytest.approx(state.smoothed_loss, rel=1e-12)
    train(resumed, progress=False)
    assert resumed.epoch == 2
    assert resumed.initial_loss is None  # unknown: not taken from the step it resumed at


def _least_squares_run(lr_times_l, divergence_factor, epochs=200):
    """Gradient descent at ``lr_times_l / L`` on full-batch least squares (one step an epoch): it diverges above
    2 / L, slowly at first, with finite losses for hundreds of steps."""
    model, data, lipschitz = least_squares()
    opt = torch.optim.SGD(model.parameters(), lr=lr_times_l / lipschitz)
    losses = []

    class Record:
        def on_steps(self, state, rows):
            losses.extend(row["loss"] for row in rows)

    state = train(TrainState(model, opt, None, data, epochs), loss_fn=half_mse, hooks=[Record()],
                  divergence_factor=divergence_factor, progress=False)
    return state, losses


def _first_diverged_step(losses, factor=4.0, beta=0.98):
    """The range test's rule written out: the first step after the warm-up whose bias-corrected EMA exceeds
    ``factor`` x the lowest before it."""
    avg, best = 0.0, math.inf
    for step, loss in enumerate(losses, 1):
        avg = beta * avg + (1 - beta) * loss
        smoothed = avg / (1 - beta**step)
        if step > DIVERGENCE_WARMUP and smoothed > factor * best:
            return step
        best = min(best, smoothed)
    return None


def test_a_diverging_loss_stops_training_before_it_is_non_finite():
    """Above 2 / L the loss grows without bound yet stays finite for the whole run: without the divergence factor
    training "succeeds"; with it, training stops at the step where the smoothed loss passes 4x its lowest,
    without taking that step, and says where and at which lr."""
    unchecked, losses = _least_squares_run(2.05, None)
    assert unchecked.stopped is None and unchecked.epoch == 200 and math.isfinite(losses[-1])
    assert losses[-1] > 1e8 * min(losses)
    expected = _first_diverged_step(losses)
    assert expected is not None and expected > DIVERGENCE_WARMUP + 1
    state, _ = _least_squares_run(2.05, 4.0)
    assert state.diverged and state.step == expected - 1 and state.epoch == expected - 1
    assert re.fullmatch(rf"at step {expected} \(epoch {expected}, lr=\S+\) the smoothed training loss \(\S+\) "
                        rf"exceeded 4x its lowest \(\S+\): it diverged", state.stopped)
    assert all(torch.isfinite(p).all() for p in state.model.parameters())
    # below 2 / L it converges: no stop
    stable, losses = _least_squares_run(1.9, 4.0)
    assert stable.stopped is None and losses[-1] < losses[0]


def test_divergence_is_checked_after_the_warm_up_only():
    state, _ = _least_squares_run(20.0, 4.0)  # diverges from the first step
    assert state.diverged and f"at step {DIVERGENCE_WARMUP + 1} " in state.stopped


def test_a_run_that_ends_above_its_first_loss_is_told_though_the_divergence_stop_never_fired():
    """At 2.05 / L gradient descent on least squares diverges slowly: the loss dips, then passes the loss of the
    first step (the untrained model's) long before the smoothed loss passes 4x its lowest. A run that ends there is
    not stopped, and :func:`losses_above_start` names its final training loss; one that ends before has none, and
    so has one at a stable lr."""
    _, losses = _least_squares_run(2.05, None, epochs=60)
    above = next(step for step, loss in enumerate(losses, 1) if step > 1 and loss >= losses[0])
    stop = _first_diverged_step(losses)
    assert 2 < above < stop - 1
    for epochs in (above - 1, above, stop - 1):
        state, _ = _least_squares_run(2.05, 4.0, epochs=epochs)
        assert state.stopped is None and state.initial_loss == losses[0]
        assert state.history[-1]["train_loss"] == losses[epochs - 1]  # one step an epoch: its loss
        expected = {"train_loss": losses[epochs - 1]} if epochs >= above else {}
        assert losses_above_start(state.initial_loss, state.history[-1]) == expected
    stable, losses = _least_squares_run(1.9, 4.0, epochs=60)
    assert stable.initial_loss == losses[0] and losses_above_start(stable.initial_loss, stable.history[-1]) == {}


@pytest.mark.parametrize(("metrics", "expected"), [
    ({"train_loss": 0.9, "val_loss": 1.2}, {}),
    ({"train_loss": 0.9, "val_loss": 336.5}, {"val_loss": 336.5}),  # a test loss ruined at a high lr
    ({"train_loss": 2.5, "val_loss": 2.6}, {"train_loss": 2.5, "val_loss": 2.6}),  # at the start's loss: no better
    ({"train_loss": 5.5}, {"train_loss": 5.5}),  # no test data
    ({"train_loss": 0.9, "val_loss": None}, {}),
])
def test_losses_above_start_on_exact_values(metrics, expected):
    assert losses_above_start(2.5, {"epoch": 4, "step": 20, **metrics}) == expected
    assert losses_above_start(None, metrics) == {}  # an older checkpoint's run: the first loss is unknown


def test_a_test_loss_that_is_not_a_number_is_above_the_start():
    assert list(losses_above_start(2.5, {"train_loss": 0.9, "val_loss": math.nan})) == ["val_loss"]


# ------------------------------------------------------------------------------------- reads every log_every steps


def _scripted_run(losses, steps_per_epoch, log_every, divergence_factor):
    """Training whose step ``i`` has the loss ``losses[i]`` exactly (a zero-gradient loss plus the value): what the
    loop makes of a loss sequence, read every ``log_every`` steps. Returns the state and the rows the hooks got."""
    model = nn.Linear(1, 1)
    values = iter(losses)

    def loss_fn(out, y):
        return (out * 0).sum() + torch.tensor(next(values))

    rows = []

    class Rows:
        def on_steps(self, state, got):
            rows.extend(got)

    data = [(torch.zeros(1, 1), torch.zeros(1))] * steps_per_epoch
    state = TrainState(model, torch.optim.SGD(model.parameters(), lr=0.1), None, data, len(losses) // steps_per_epoch)
    train(state, loss_fn=loss_fn, hooks=[Rows()], divergence_factor=divergence_factor, progress=False,
          log_every=log_every)
    return state, rows


def _same(a, b):
    return a == b or (isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b))


LOSS = st.one_of(st.floats(0.015625, 128.0, width=32), st.sampled_from([math.nan, math.inf, 1e30]))


@settings(max_examples=150, deadline=None)
@given(st.data())
def test_losses_read_in_bulk_give_what_a_read_per_step_gives(data):
    """For any loss sequence and any log_every: the same smoothed loss, lowest, first loss, divergence stop (the
    same step named), epoch totals and per-step rows as a read every step; a stop found at a read comes after at
    most log_every - 1 more updates."""
    steps_per_epoch = data.draw(st.integers(1, 9), "steps per epoch")
    epochs = data.draw(st.integers(1, 6), "epochs")
    losses = data.draw(st.lists(st.floats(0.5, 3.0, width=32), min_size=epochs * steps_per_epoch,
                                max_size=epochs * steps_per_epoch), "losses")
    for _ in range(data.draw(st.integers(0, 3), "changes")):  # spikes, non-finite losses, slow climbs
        i = data.draw(st.integers(0, len(losses) - 1))
        losses[i] = data.draw(LOSS)
    log_every = data.draw(st.integers(2, 20), "log_every")
    factor = data.draw(st.sampled_from([None, 1.5, 4.0]), "divergence_factor")
    each, each_rows = _scripted_run(losses, steps_per_epoch, 1, factor)
    bulk, bulk_rows = _scripted_run(losses, steps_per_epoch, log_every, factor)
    assert bulk.stopped == each.stopped and bulk.diverged == each.diverged
    assert bulk.loss_ema.state_dict() == each.loss_ema.state_dict() or all(
        _same(bulk.loss_ema.state_dict()[k], each.loss_ema.state_dict()[k]) for k in ("avg", "count"))
    assert _same(bulk.best_loss, each.best_loss) and _same(bulk.initial_loss, each.initial_loss)
    assert len(bulk_rows) == len(each_rows) and all(
        _same(a[k], b[k]) for a, b in zip(bulk_rows, each_rows) for k in a)
    assert [{k: v for k, v in h.items() if k not in ("time_s", "images_per_s")} for h in bulk.history] == [
        {k: v for k, v in h.items() if k not in ("time_s", "images_per_s")} for h in each.history]
    if each.stopped is None:
        assert bulk.step == each.step == len(losses)
    else:
        stop = int(re.search(r"at step (\d+) ", each.stopped).group(1))
        assert each.step == stop - 1  # read every step: the update of the bad loss is never taken
        assert stop - 1 <= bulk.step <= stop - 1 + log_every - 1


def _nan_at(step):
    calls = {"n": 0}

    def loss_fn(out, y, reduction="mean"):
        calls["n"] += 1
        loss = nn.functional.cross_entropy(out, y, reduction=reduction)
        return loss * float("nan") if calls["n"] == step else loss

    return loss_fn


@pytest.mark.parametrize(("every_steps", "taken"), [(None, 3), (2, 1)], ids=["worst case", "checkpoint due"])
def test_a_non_finite_loss_between_reads_stops_at_the_next_read_with_the_last_good_checkpoint(tmp_path, every_steps,
                                                                                            taken):
    """Read every 4 steps, a NaN at step 29, just after the read at step 28, is found at the next read: at step 32,
    after 3 more updates (the worst case, log_every - 1), or at step 30 when checkpoints every 2 steps make a read
    there; the message names the step of the NaN, and the last checkpoint is of a read before it."""
    state = _state(epochs=3)
    steps = len(state.data)  # 22: the NaN is in the second epoch
    nan_at = 29
    train(state, loss_fn=_nan_at(nan_at), hooks=[rundir.CheckpointHook(tmp_path, every_steps=every_steps)],
          progress=False, log_every=4)
    assert state.diverged and f"non-finite loss (nan) at step {nan_at} (epoch 2, lr=" in state.stopped
    assert state.step == nan_at - 1 + taken and state.epoch == 1
    assert not all(torch.isfinite(p).all() for p in state.model.parameters())  # the updates of a NaN loss
    ckpt = rundir.read_checkpoint(tmp_path / rundir.CHECKPOINT)
    assert ckpt["step"] == (steps if every_steps is None else 28)
    assert all(torch.isfinite(t).all() for t in ckpt["model"].values())
    assert ckpt["loss_ema"]["count"] == ckpt["step"] and math.isfinite(ckpt["loss_ema"]["avg"])


def test_the_loop_reads_from_the_device_only_at_its_reads(monkeypatch):
    """Nothing in the loop brings a tensor's value to the host between reads: at log_every 4, over 3 epochs of 22
    steps, the reads are at every 4th step and at each epoch's end, one transfer each."""
    state = _state(epochs=3)
    steps = len(state.data)
    reads = []
    for name in ("item", "tolist", "__float__", "__int__", "__bool__"):
        real = getattr(torch.Tensor, name)

        def counted(self, *args, _real=real, _name=name, **kwargs):
            reads.append((_name, state.step))
            return _real(self, *args, **kwargs)

        monkeypatch.setattr(torch.Tensor, name, counted)
    train(state, progress=False, log_every=4)
    monkeypatch.undo()
    at = sorted({*range(4, 3 * steps + 1, 4), steps, 2 * steps, 3 * steps})
    assert reads == [("tolist", step - 1) for step in at]  # each before its step's update


def test_checkpoints_fall_on_their_steps_between_reads(tmp_path):
    """Read every 50 steps, checkpoints every 3 steps are still written after steps 3, 6, 9...: the hook asks for a
    read there; after step 8 the epoch's own follows (tiny epochs of 8 steps)."""
    train_data, _ = _data()
    data = Batches(train_data.subset(256, seed=0), 32, drop_last=True, seed=1)
    model = nn.Sequential(nn.Flatten(), nn.Linear(64, 10))
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    state = TrainState(model, opt, None, data, 3)
    seen = []

    class Seen:
        def on_steps(self, state, rows):
            seen.append((state.step, [r["step"] for r in rows],
                         rundir.read_checkpoint(tmp_path / rundir.CHECKPOINT)["step"]))

    train(state, hooks=[rundir.CheckpointHook(tmp_path, every_steps=3), Seen()], progress=False, log_every=50)
    reads = [3, 6, 8, 9, 12, 15, 16, 18, 21, 24]
    assert [s for s, _, _ in seen] == reads
    assert [rows for _, rows, _ in seen] == [list(range(a + 1, b + 1)) for a, b in zip([0, *reads], reads)]
    assert [ckpt for _, _, ckpt in seen] == [3, 6, 6, 9, 12, 15, 15, 18, 21, 21]


def _one_shot_run(log_every):
    """Two epochs over data without a length (an iterable that is not a sequence), read every ``log_every`` steps:
    the epochs' metrics (times aside), the rows the hooks got and the steps taken."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(64, 10))
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    batches = list(Batches(_data()[0], 64, shuffle=False))
    rows = []

    class NoLength:
        def __iter__(self):
            return iter(batches)

    class Rows:
        def on_steps(self, state, got):
            rows.extend(got)

    state = train(TrainState(model, opt, None, NoLength(), 2), hooks=[Rows()], progress=False, log_every=log_every)
    history = [{k: v for k, v in h.items() if k not in ("time_s", "images_per_s")} for h in state.history]
    return history, rows, state.step


def test_data_without_a_length_is_read_at_the_end_of_each_epoch():
    """The loop cannot tell the last batch of data without a length: the steps after its last read are read once
    taken, and the epoch's totals and rows are those of a read every step."""
    every, bulk = _one_shot_run(1), _one_shot_run(5)
    assert bulk == every and every[2] == 2 * 23 and len(every[1]) == 2 * 23  # 1437 images in batches of 64
