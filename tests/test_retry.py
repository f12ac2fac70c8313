"""Divergence-aware 1cycle: a diverged loss puts back a state kept in memory and restarts the cycle (a longer warm-up,
then a lower peak), recorded in metrics.jsonl, summary.json, the report and the checkpoint; a run killed after a
retry resumes exactly; with on_diverge stop (the default) nothing changes."""

import json
import logging
import math
import re

import pytest
import torch

from onecycle import experiment, rundir
from onecycle.cli import main
from onecycle.config import ConfigError, from_dict
from onecycle.engine import TrainState, train
from onecycle.retry import LR_DIVISOR, MAX_RETRIES, SNAPSHOT_LEAST, RetryOnDivergence, retry_plan, snapshot_every
from onecycle.scheduler import OneCycleScheduler
from onecycle.suggestions import COLLAPSE_DROP
from tests.quadratic import half_mse, least_squares

SETTINGS = dict(dataset="digits", model="small-cnn", train_subset=384, test_subset=128, batch_size=32, epochs=4,
                progress=False)  # 12 steps an epoch
RUN = ["--dataset", "digits", "--model", "small-cnn", "--train-subset", "384", "--test-subset", "128", "--batch-size",
       "32", "--epochs", "4", "--weight-decay", "5e-4", "--max-lr", "0.1", "--quiet"]


def _least_squares(max_lr_times_l, steps=300, hooks_for=None):
    """1cycle gradient descent on full-batch least squares, one step an epoch, peaking at ``max_lr_times_l / L``:
    it diverges once the lr passes 2 / L."""
    model, data, lipschitz = least_squares()
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.0)
    sched = OneCycleScheduler(opt, max_lr=max_lr_times_l / lipschitz, total_steps=steps, cycle_momentum=False)
    state = TrainState(model, opt, sched, data, steps)
    train(state, loss_fn=half_mse, hooks=hooks_for(state) if hooks_for else [], divergence_factor=4.0,
          progress=False)
    return state, lipschitz


def test_the_constants_and_the_plan():
    assert snapshot_every(100) == SNAPSHOT_LEAST and snapshot_every(10_000) == 200
    assert [retry_plan(n) for n in (1, 2, 3)] == [(2.0, 1.0), (2.0, 1 / LR_DIVISOR), (2.0, 1 / LR_DIVISOR)]
    assert retry_plan(1, past_peak=True) == (2.0, 1 / LR_DIVISOR)  # past the peak, a longer warm-up climbs back


class Schedules:
    """A hook that keeps the schedule followed before each retry (asked before RetryOnDivergence, it puts nothing
    back)."""

    def __init__(self):
        self.before = []

    def on_diverged(self, state):
        self.before.append(state.scheduler.policies[0])
        return False


def test_a_run_that_diverges_retries_with_a_longer_warm_up_then_a_lower_peak_and_ends_as_a_sane_run():
    """At 4 / L the lr passes 2 / L before its peak at step 134: retry 1 (from step 110, the same peak, a warm-up of
    twice the 24 steps left) diverges again past its peak, so retry 2 re-rises to 1/1.5 of the lr it had there; it
    ends where a run at 1.5 / L does."""
    stopped, _ = _least_squares(4.0)
    assert stopped.diverged and stopped.step == 124 and stopped.retries == []
    spy = Schedules()
    state, lipschitz = _least_squares(4.0, hooks_for=lambda s: [spy, RetryOnDivergence(s)])
    sane, _ = _least_squares(1.5)
    assert state.stopped is None and state.step == 300 and len(state.retries) == 2
    first, second = state.retries
    assert (first["step"], first["restored_step"], first["warmup_steps"]) == (125, 110, 48)
    assert first["max_lr"] == pytest.approx(4 / lipschitz)
    assert second["restored_step"] > 110 + 48 and second["max_lr"] == pytest.approx(
        spy.before[1].lr(second["restored_step"]) / LR_DIVISOR)
    for retry in state.retries:
        assert 0 < retry["step"] - retry["restored_step"] <= 2 * SNAPSHOT_LEAST + 1
        assert "it diverged" in retry["reason"]
    assert state.history[-1]["train_loss"] == pytest.approx(sane.history[-1]["train_loss"], rel=1e-6)
    assert state.scheduler.retries == [[110, 2.0, 1.0], [second["restored_step"], 2.0, 1 / LR_DIVISOR]]


def test_a_run_that_keeps_diverging_stops_after_the_most_retries_saying_so(caplog):
    state, _ = _least_squares(12.0, hooks_for=lambda s: [RetryOnDivergence(s)])
    assert state.diverged and len(state.retries) == MAX_RETRIES
    assert state.stopped.endswith(f", after {MAX_RETRIES} retries (the most on_diverge retry makes)")
    said = [r.getMessage() for r in caplog.records if "retry" in r.getMessage()]
    assert [m.split(":")[1].strip() for m in said] == [f"retry {n} of {MAX_RETRIES}" for n in (1, 2, 3)]


def test_a_scheduler_that_cannot_restart_is_refused():
    model, data, _ = least_squares()
    state = TrainState(model, torch.optim.SGD(model.parameters(), lr=0.1), None, data, 3)
    with pytest.raises(TypeError, match="restarts the scheduler's cycle, and a NoneType cannot"):
        RetryOnDivergence(state)


class Rows:
    """A hook that keeps the metrics rows of every step read."""

    def __init__(self):
        self.rows = []

    def on_steps(self, state, rows):
        self.rows += rows
        return False


def _least_squares_rows(collapse):
    """Gradient descent at 4 / L without a divergence factor, and the rows of the steps it read."""
    model, data, lipschitz = least_squares()
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.0)
    sched = OneCycleScheduler(opt, max_lr=4.0 / lipschitz, total_steps=300, cycle_momentum=False)
    state, seen = TrainState(model, opt, sched, data, 300), Rows()
    train(state, loss_fn=half_mse, hooks=[seen], stop_at_collapse=collapse, progress=False)
    return state, seen.rows


def test_stop_at_collapse_stops_at_the_first_smoothed_loss_back_at_the_untrained_one():
    """At 4 / L the loss falls, then climbs once the lr passes 2 / L. Without ``stop_at_collapse`` the run goes on;
    with it training stops at the first step (after the first 10) whose smoothed loss is back at the first step's
    loss after falling below :data:`COLLAPSE_DROP` x it."""
    free, rows = _least_squares_rows(False)
    assert free.stopped is None and free.step == 300
    first, smoothed = rows[0]["loss"], [r["smoothed_loss"] for r in rows]
    back = next(i for i, v in enumerate(smoothed)
                if i >= 10 and v >= first and min(smoothed[:i]) < COLLAPSE_DROP * first)
    state, seen = _least_squares_rows(True)
    assert state.diverged and state.diverged_step == back + 1 == len(seen) + 1
    assert state.stopped == (f"at step {back + 1} (epoch {back + 1}, lr={rows[back]['lr']:.4g}) the smoothed "
                             f"training loss ({smoothed[back]:.4g}) was back at the untrained model's ({first:.4g}) "
                             f"after falling to {min(smoothed[:back]):.4g}: it diverged")


def test_a_loss_that_collapses_without_exploding_is_retried_and_the_run_learns(tmp_path):
    """The MLP on the 8x8 digits at max_lr 0.5 (the range test recommends about 0.03), at the edge: its loss climbs
    back to a uniform guess's, under 4x its lowest (or, the arithmetic of another thread count, past it). Under stop
    the run ends far below a sane one's accuracy with a warning at its end (or stops); under retry it is caught and
    the restarted run ends as a sane one does."""
    flags = ["--dataset", "digits", "--model", "mlp", "--epochs", "20", "--max-lr", "0.5", "--threads", "1", "--quiet"]
    code = main(["train", "--run-dir", str(tmp_path / "stop"), *flags])
    assert main(["train", "--run-dir", str(tmp_path / "retry"), *flags, "--on-diverge", "retry"]) == 0
    stop, retry = (json.loads((tmp_path / name / rundir.SUMMARY_JSON).read_text()) for name in ("stop", "retry"))
    assert stop["retries"] == []
    if code == 0:
        assert stop["stopped"] is None and stop["final"]["val_accuracy"] < 0.5
        [warning] = [w for w in stop["warnings"] if w.startswith("training failed")]
        assert "more than halfway back from its lowest" in warning and warning.endswith(
            "or train with --on-diverge retry, which restarts the cycle from a state kept before such a collapse")
    else:
        assert code == 2 and "it diverged" in stop["stopped"]
    assert retry["retries"] and all("it diverged" in r["reason"] for r in retry["retries"])
    assert retry["final"]["val_accuracy"] > 0.85 and not any("failed" in w for w in retry["warnings"])


class Fault:
    """A transient fault: the loss of one training step (the ``at``-th computed, counting retried steps too) is NaN;
    or, given ``to``, a lasting one: that loss and every one after it read ``to`` (their gradients the true ones)."""

    def __init__(self, at, to=None):
        self.at, self.to, self.calls = at, to, 0

    def install(self, monkeypatch):
        real = experiment.Setup.loss_fn

        def loss_fn(setup):
            inner = real(setup)

            def loss(out, y, reduction="mean"):
                value = inner(out, y, reduction)
                if torch.is_grad_enabled():  # training, not the test evaluation
                    self.calls += 1
                    if self.to is not None and self.calls >= self.at:
                        return value - value.detach() + self.to
                    return value * float("nan") if self.calls == self.at else value
                return value

            return loss

        monkeypatch.setattr(experiment.Setup, "loss_fn", loss_fn)


class Said(logging.Handler):
    def __init__(self):
        super().__init__()
        self.lines = []

    def emit(self, record):
        self.lines.append(record.getMessage())


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """The digits run of 48 steps whose loss is NaN at step 30, with on_diverge stop and retry (``said``: what the
    retried one logged), and the same run without the fault."""
    root = tmp_path_factory.mktemp("retry")
    codes, said = {}, Said()
    logging.getLogger("onecycle").addHandler(said)
    try:
        for name, flags in (("stop", []), ("retry", ["--on-diverge", "retry"]), ("clean", [])):
            with pytest.MonkeyPatch.context() as mp:
                if name != "clean":
                    Fault(30).install(mp)
                codes[name] = main(["train", "--run-dir", str(root / name), *RUN, *flags])
    finally:
        logging.getLogger("onecycle").removeHandler(said)
    return root, codes, said.lines


def test_with_on_diverge_stop_a_diverged_run_stops_as_it_always_did(runs):
    root, codes, _ = runs
    summary = json.loads((root / "stop" / rundir.SUMMARY_JSON).read_text())
    assert codes["stop"] == 2 and summary["retries"] == [] and summary["epochs_completed"] == 2
    assert summary["stopped"].startswith("non-finite loss (nan) at step 30 (epoch 3, lr=")
    assert ("; lower --max-lr (it was 0.1), or run `onecycle find-lr --run-dir "
            f"{root / 'stop'}` to measure it; the last good checkpoint is {root / 'stop' / rundir.CHECKPOINT}, at the "
            "end of epoch 2 (step 24), but resumed with these settings it would diverge the same way"
            ) in summary["stopped"]
    assert {r["kind"] for r in rundir.read_metrics(root / "stop")} == {"step", "epoch"}


def test_with_on_diverge_retry_the_run_finishes_and_records_its_retry_everywhere(runs):
    root, codes, said = runs
    run = root / "retry"
    summary = json.loads((run / rundir.SUMMARY_JSON).read_text())
    assert codes["retry"] == 0 and summary["stopped"] is None and summary["epochs_completed"] == 4
    [retry] = summary["retries"]
    # kept at steps 10 and 20 (every 10 at least): the older is put back; 1cycle peaks at step 20.6, so the
    # warm-up is twice the 10.6 steps it had left to rise, to the same max_lr
    assert {k: retry[k] for k in ("step", "restored_step", "warmup_steps")} == {"step": 30, "restored_step": 10,
                                                                                "warmup_steps": 21}
    assert retry["max_lr"] == pytest.approx(0.1) and retry["reason"].startswith("non-finite loss (nan) at step 30")
    assert f"warning: retry 1 of {MAX_RETRIES}: {retry['reason']}; went on from step 10 with a 21-step warm-up to " \
           "max_lr 0.1" in said
    rows = rundir.read_metrics(run)
    assert [r for r in rows if r["kind"] == "retry"] == [{"kind": "retry", **retry}]
    assert [r["step"] for r in rows if r["kind"] == "step"] == list(range(1, 49))  # steps 11-29 of the first try cut
    at = next(i for i, r in enumerate(rows) if r["kind"] == "retry")
    assert rows[at - 1]["step"] == 10 and rows[at + 1]["step"] == 11
    ckpt = rundir.read_checkpoint(run / rundir.CHECKPOINT)
    assert ckpt["retries"] == [retry] and ckpt["scheduler"]["retries"] == [[10, 2.0, 1.0]]
    ours = summary["final"]["val_accuracy"]
    clean = json.loads((root / "clean" / rundir.SUMMARY_JSON).read_text())["final"]["val_accuracy"]
    assert ours > 0.5 and ours > clean - 0.2, (ours, clean)  # 20 of its 48 steps trained again, on 128 test images
    assert main(["report", str(run)]) == 0
    report = (run / rundir.REPORT_MD).read_text()
    assert "### Retries after a diverged loss" in report
    assert f"| 1 | 30 | 10 | 21 | 0.1 | {retry['reason']} |" in report
    assert "Retries after a diverged loss" in (run / rundir.REPORT_HTML).read_text()


def test_a_run_whose_retries_all_collapse_names_the_last_peak_and_lr_and_does_not_call_its_checkpoint_good(
        tmp_path, monkeypatch):
    """From step 30 on every loss reads 100, far above the untrained model's and under the divergence factor given:
    each try collapses. The hint names the peak the last retry tried and the lr its loss diverged at, not the run's
    max_lr; the last checkpoint was written before the collapse was found, and is not called good."""
    Fault(30, to=100.0).install(monkeypatch)
    run = tmp_path / "run"
    assert main(["train", "--run-dir", str(run), *RUN, "--on-diverge", "retry", "--divergence-factor", "10000"]) == 2
    summary = json.loads((run / rundir.SUMMARY_JSON).read_text())
    stopped, peak = summary["stopped"], summary["retries"][-1]["max_lr"]
    assert len(summary["retries"]) == MAX_RETRIES and peak < 0.1
    lr = re.match(r"at step \d+ \(epoch \d+, lr=(\S+)\) the smoothed training loss \(\S+\) was back at the untrained "
                  r"model's", stopped).group(1)
    assert (f", after {MAX_RETRIES} retries (the most on_diverge retry makes); the last retry's peak was max_lr "
            f"{peak:.4g} (the run's was 0.1), and its loss diverged at lr {lr}: train with a --max-lr below {lr}, or "
            f"run `onecycle find-lr --run-dir {run}` to measure it; the last checkpoint is "
            f"{run / rundir.CHECKPOINT}, at ") in stopped
    assert stopped.endswith(", written before the collapse was found (its loss may already have been climbing "
                            "back), and resumed with these settings it would diverge the same way")
    assert "good" not in stopped and "it was 0.1" not in stopped


class KillAfterRetry:
    """Stops training at the first read after a retry, as if killed there: its last checkpoint is the retry's."""

    def on_steps(self, state, rows):
        return bool(state.retries)


def test_a_run_killed_after_its_retry_resumes_exactly(runs, tmp_path, monkeypatch, capsys):
    root, _, _ = runs
    Fault(30).install(monkeypatch)
    cfg = from_dict(dict(SETTINGS, on_diverge="retry"))
    state = experiment.train_run(experiment.prepare(cfg, say=lambda _: None), tmp_path, 0.1, 5e-4,
                                 extra_hooks=[KillAfterRetry()])
    assert state.stopped and len(state.retries) == 1
    assert rundir.read_checkpoint(tmp_path / rundir.CHECKPOINT)["step"] == 10
    capsys.readouterr()
    assert main(["train", "--resume", "--run-dir", str(tmp_path), "--quiet"]) == 0
    assert capsys.readouterr().out.startswith("resuming at step 10, after epoch 0/4: max_lr 0.1, weight decay 0.0005; "
                                              f"1 retry so far, {MAX_RETRIES - 1} left\n")
    ours, theirs = (rundir.read_checkpoint(d / rundir.CHECKPOINT) for d in (tmp_path, root / "retry"))
    assert all(torch.equal(ours["model"][k], theirs["model"][k]) for k in theirs["model"])
    assert ours["retries"] == theirs["retries"]
    untimed = [{k: v for k, v in r.items() if k not in ("time_s", "images_per_s")} for r in (
        *rundir.read_metrics(tmp_path), *rundir.read_metrics(root / "retry"))]
    assert untimed[:len(untimed) // 2] == untimed[len(untimed) // 2:]


@pytest.mark.parametrize("values, message", [
    ({"on_diverge": "retri"}, "on_diverge must be one of stop, retry; got 'retri' (did you mean retry?)"),
    ({"on_diverge": True}, "on_diverge must be a string, got True"),
    ({"on_diverge": "retry", "schedule": "step"},
     "on_diverge 'retry' restarts the schedule's warm-up, and schedule 'step' has none"),
])
def test_a_bad_on_diverge_is_one_error_naming_it(values, message):
    with pytest.raises(ConfigError) as err:
        from_dict(values)
    assert message in str(err.value) and "\n" not in str(err.value)


def test_the_flag_names_its_choices(capsys):
    assert main(["train", "--on-diverge", "again", "--run-dir", "unused"]) == 2
    err = capsys.readouterr().err
    assert "--on-diverge" in err and "stop, retry" in err and len(err.strip().splitlines()) <= 2


def test_an_older_checkpoint_without_retries_loads_as_one_that_never_retried(runs, tmp_path):
    root, _, _ = runs
    ckpt = rundir.read_checkpoint(root / "clean" / rundir.CHECKPOINT)
    del ckpt["retries"], ckpt["scheduler"]["retries"]
    rundir.write_checkpoint(tmp_path / rundir.CHECKPOINT, ckpt)
    assert rundir.read_checkpoint(tmp_path / rundir.CHECKPOINT)["retries"] == []


def test_a_checkpoint_whose_retries_disagree_with_its_scheduler_is_damaged(runs, tmp_path):
    root, _, _ = runs
    ckpt = rundir.read_checkpoint(root / "retry" / rundir.CHECKPOINT)
    ckpt["scheduler"]["retries"] = []
    rundir.write_checkpoint(tmp_path / rundir.CHECKPOINT, ckpt)
    with pytest.raises(ValueError, match=r"is damaged: its scheduler restarted at steps \[\] and its retries record "
                                         r"restarts at \[10\]"):
        rundir.read_checkpoint(tmp_path / rundir.CHECKPOINT)
    assert math.isfinite(ckpt["retries"][0]["max_lr"])


def _steps(run_dir, smoothed):
    run_dir.mkdir()
    rows = [{"kind": "step", "step": i + 1, "loss": v, "smoothed_loss": v, "lr": 0.1 * (i + 1), "momentum": 0.9}
            for i, v in enumerate(smoothed)]
    (run_dir / rundir.METRICS_JSONL).write_text("".join(json.dumps(r) + "\n" for r in rows))


@pytest.mark.parametrize("final, warned", [(1.7, True), (1.6, True), (1.5, False)])
def test_a_run_fails_when_it_ends_more_than_halfway_back_from_its_lowest_loss_to_the_first(tmp_path, final, warned):
    _steps(tmp_path / "run", [2.0] * 5 + [1.8, 1.6, 1.4, 1.3, 1.25, 1.2, 2.0, 2.1, 1.9])  # lowest 1.2: halfway 1.6
    text = experiment.collapse_warning(2.0, [{"train_loss": final}], tmp_path / "run", 0.5)
    assert (text is not None) is warned
    if warned:
        assert text.startswith(f"training failed: the run ended with a training loss of {final:g}, more than halfway "
                               "back from its lowest (1.2) to the untrained model's (2) (its smoothed training loss "
                               "was back at the untrained model's at step 12, lr=1.2); lower --max-lr (it was 0.5)")
        assert text.endswith("or train with --on-diverge retry, which restarts the cycle from a state kept before "
                             "such a collapse")
        assert "--on-diverge" not in experiment.collapse_warning(2.0, [{"train_loss": final}], tmp_path / "run", 0.5,
                                                                 "retry")


def test_a_collapse_in_the_first_steps_is_not_named_and_a_run_that_never_learned_did_not_fail(tmp_path):
    _steps(tmp_path / "early", [2.0, 1.7, 2.0, 1.0, 1.0])  # back at 2.0 at step 3: before the first 10 steps
    text = experiment.collapse_warning(2.0, [{"train_loss": 1.7}], tmp_path / "early", 0.5)
    assert "more than halfway back" in text and "was back at" not in text
    _steps(tmp_path / "flat", [2.0, 1.9, 1.85, 1.95])  # never below 0.9 x 2.0
    assert experiment.collapse_warning(2.0, [{"train_loss": 1.99}], tmp_path / "flat", 0.5) is None


class StopAt:
    """Stops training at the end of epoch ``step`` (least squares: one step an epoch), as a kill after a checkpoint
    there would."""

    def __init__(self, step):
        self.step = step

    def on_epoch_end(self, state, metrics):
        return state.step == self.step


class SaveAt:
    """Writes a checkpoint at the end of epoch ``step`` (least squares: one step an epoch), from a hook before
    RetryOnDivergence: the state kept at that step is kept after the checkpoint is written."""

    def __init__(self, step, path):
        self.step, self.path = step, path

    def on_epoch_end(self, state, metrics):
        if state.step == self.step:
            rundir.save_checkpoint(self.path, state)
        return False


def _resumed_least_squares(path):
    """Gradient descent at 4 / L with retries, resumed from the checkpoint at ``path``."""
    model, data, lipschitz = least_squares()
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.0)
    sched = OneCycleScheduler(opt, max_lr=4.0 / lipschitz, total_steps=300, cycle_momentum=False)
    state = rundir.load_checkpoint(path, TrainState(model, opt, sched, data, 300))
    return train(state, loss_fn=half_mse, hooks=[RetryOnDivergence(state)], divergence_factor=4.0, progress=False)


def test_a_run_stopped_between_two_retries_resumes_to_the_same_second_retry_bitwise(tmp_path):
    """The checkpoint holds the states kept for a retry: resumed at step 145, after retry 1 (from step 110), the run
    goes back to step 160 at its second retry as the uninterrupted one does, and ends with the same weights. From a
    checkpoint without them (an older version's) it can go back no further than where it resumed."""
    whole, _ = _least_squares(4.0, hooks_for=lambda s: [RetryOnDivergence(s)])
    stopped, _ = _least_squares(4.0, hooks_for=lambda s: [RetryOnDivergence(s), StopAt(145)])
    assert stopped.step == 145 and len(stopped.retries) == 1
    assert [k["step"] for k in stopped.kept_states] == [130, 140]
    rundir.save_checkpoint(tmp_path / "ckpt.pt", stopped)
    resumed = _resumed_least_squares(tmp_path / "ckpt.pt")
    assert resumed.retries == whole.retries and resumed.retries[1]["restored_step"] == 160
    assert torch.equal(resumed.model.weight, whole.model.weight)
    older = rundir.read_checkpoint(tmp_path / "ckpt.pt")
    del older["kept_states"]
    rundir.write_checkpoint(tmp_path / "older.pt", older)
    resumed = _resumed_least_squares(tmp_path / "older.pt")
    assert resumed.retries[0] == whole.retries[0] and resumed.retries[1]["restored_step"] >= 145


def test_a_checkpoint_keeping_a_state_after_its_own_step_is_damaged(tmp_path):
    stopped, _ = _least_squares(4.0, hooks_for=lambda s: [RetryOnDivergence(s), StopAt(145)])
    ckpt = rundir.checkpoint_payload(stopped)
    ckpt["kept_states"][0]["step"] = 150
    rundir.write_checkpoint(tmp_path / "ckpt.pt", ckpt)
    with pytest.raises(ValueError, match="is damaged: a state it keeps for a retry is at step 150, after its own "
                                         "step 145"):
        rundir.read_checkpoint(tmp_path / "ckpt.pt")
    ckpt["kept_states"][0]["history"] = "garbage"
    rundir.write_checkpoint(tmp_path / "ckpt.pt", ckpt)
    with pytest.raises(ValueError, match="is damaged: its history is of type str"):
        rundir.read_checkpoint(tmp_path / "ckpt.pt")


def test_a_loss_not_finite_at_the_first_step_is_not_retried():
    model, data, _ = least_squares()
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.0)
    state = TrainState(model, opt, OneCycleScheduler(opt, max_lr=0.1, total_steps=30), data, 30)
    train(state, loss_fn=lambda out, y: half_mse(out, y) * float("nan"), hooks=[RetryOnDivergence(state)],
          progress=False)
    assert state.diverged and state.retries == [] and state.step == 0
    assert state.stopped.startswith("non-finite loss (nan) at step 1") and state.stopped.endswith(
        "; no retry: the untrained model's loss is not finite, which no learning rate causes (look at the data and "
        "the loss)")


def test_a_checkpoint_written_before_its_step_was_kept_resumes_as_the_uninterrupted_run(tmp_path):
    """Step 160 is one whose state is kept: written by a hook before RetryOnDivergence's, the checkpoint keeps the
    states of steps 140 and 150 only; resumed, the state of step 160 is kept at once, as the uninterrupted run kept
    it, and the second retry (found at step 179) goes back to step 160 all the same, not to 161."""
    whole, _ = _least_squares(4.0, hooks_for=lambda s: [SaveAt(160, tmp_path / "ckpt.pt"), RetryOnDivergence(s)])
    assert [k["step"] for k in rundir.read_checkpoint(tmp_path / "ckpt.pt")["kept_states"]] == [140, 150]
    resumed = _resumed_least_squares(tmp_path / "ckpt.pt")
    assert resumed.retries == whole.retries and resumed.retries[1]["restored_step"] == 160
    assert torch.equal(resumed.model.weight, whole.model.weight)


def test_resume_names_the_peak_the_last_retry_lowered_max_lr_to():
    from types import SimpleNamespace

    from onecycle.cli.train import _retries_left
    cfg = from_dict({"on_diverge": "retry"})
    runs = [SimpleNamespace(cfg=cfg, max_lr=0.5, checkpoint={"retries": [{"max_lr": m} for m in peaks]})
            for peaks in ([], [0.5], [0.5, 1 / 3])]
    assert [_retries_left(r) for r in runs] == [
        f"; 0 retries so far, {MAX_RETRIES} left", f"; 1 retry so far, {MAX_RETRIES - 1} left",
        f"; 2 retries so far (the last lowered its peak to 0.3333), {MAX_RETRIES - 2} left"]
    assert _retries_left(SimpleNamespace(cfg=from_dict({}), max_lr=0.5, checkpoint={"retries": []})) == ""
