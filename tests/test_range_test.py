"""The range test: a quadratic with a known divergent lr, bitwise restore, stop rules, results I/O."""

import copy
import itertools
import json
import math
import random

import numpy as np
import pytest
import torch
from torch import nn

from onecycle.range_test import RANGE_TEST, RangeTestResult, lr_at, range_test, standard_step
from onecycle.suggestions import MIN_POINTS, ema
from tests.quadratic import half_mse, least_squares
from tests.restore import assert_same_state, bn_model, small_batches, state_of, trained


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("num_steps", [100, 300])
def test_quadratic_never_stops_below_2_over_L_and_recommends_below_it(seed, num_steps):
    model, data, L = least_squares(seed)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    res = range_test(model, opt, data, half_mse, start_lr=1e-5, end_lr=100.0, num_steps=num_steps)
    assert res.diverged
    assert res.curves[0].stop_lr >= 2 / L
    # Plain gradient descent lowers the loss at every step below 2/L: the recorded curve agrees.
    below = [loss for lr, loss in zip(res.lrs, res.losses) if lr < 2 / L]
    assert all(b < a for a, b in itertools.pairwise(below))
    assert 2 / (30 * L) <= res.max_lr <= 2 / L
    assert math.isclose(res.recommendation.min_lr, res.max_lr / 10)


def test_a_loss_below_zero_stops_where_the_same_loss_above_zero_does():
    """The quadratic shifted down by 10 (its loss starts near -9) diverges at the same 2/L: the stop rule does not
    fire at the first step of a negative loss."""
    model, data, L = least_squares(0)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    res = range_test(model, opt, data, lambda out, y: half_mse(out, y) - 10.0, start_lr=1e-5, end_lr=100.0,
                     num_steps=100)
    assert res.diverged and res.curves[0].stop_lr >= 2 / L
    assert len(res.lrs) > 50


@pytest.mark.parametrize(
    "opt_kind,accumulation,amp,repeats",
    [
        ("sgd", 1, None, 1),
        ("sgd", 3, None, 1),
        ("adamw", 1, torch.bfloat16, 1),
        ("sgd", 2, torch.float16, 1),
        ("sgd", 1, None, 2),  # a repeat starts from the snapshot, and must not change it
        ("adamw", 1, None, 3),
    ],
)
def test_model_optimizer_and_rngs_restored_bitwise(opt_kind, accumulation, amp, repeats):
    model, opt, data = trained(opt_kind, steps=3)
    np.random.seed(7)
    random.seed(7)
    model.eval()  # the test must put train/eval modes back too
    before = state_of(model, opt)
    res = range_test(model, opt, data, nn.functional.cross_entropy, num_steps=30, end_lr=1.0,
                     accumulation_steps=accumulation, amp_dtype=amp, extend=False, repeats=repeats)
    assert len(res.lrs) >= 2
    assert_same_state(before, state_of(model, opt))
    assert all(p.grad is None for p in model.parameters())


@pytest.mark.parametrize("accumulation", [1, 3])
def test_a_step_reads_its_loss_once_the_sum_of_its_micro_batches_in_order(accumulation, monkeypatch):
    """The loss of a step of several micro-batches is the float64 sum, in order, of each one's loss divided by their
    number, as when each was read on its own; it comes back from the device in one read, after the update."""
    model = bn_model()
    reference = copy.deepcopy(model)
    batches = small_batches(accumulation)
    torch.manual_seed(5)  # the same dropout masks for both
    expected = 0.0
    for x, y in batches:
        expected += float(nn.functional.cross_entropy(reference(x), y).detach() / accumulation)
    reads = []
    for name in ("item", "tolist", "__float__"):
        real = getattr(torch.Tensor, name)
        monkeypatch.setattr(torch.Tensor, name,
                            lambda t, *a, _real=real, _name=name: reads.append(_name) or _real(t, *a))
    torch.manual_seed(5)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    got = standard_step(model, opt, nn.functional.cross_entropy, iter(batches), accumulation, torch.device("cpu"), None,
                        None)
    monkeypatch.undo()
    assert got == expected and type(got) is float
    assert reads == (["__float__"] if accumulation == 1 else ["tolist"])


def test_restored_even_when_the_step_raises():
    model = bn_model()
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    before = state_of(model, opt)
    calls = []

    def step(batch):
        calls.append(1)
        x, y = batch
        opt.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
        if len(calls) == 5:
            raise RuntimeError("boom")
        return 1.0

    with pytest.raises(RuntimeError, match="boom"):
        range_test(model, opt, small_batches(), step=step)
    assert_same_state(before, state_of(model, opt))


class _StatefulData:
    """An iterable with a position, like a seeded loader; the range test must put its state back."""

    def __init__(self, batches):
        self.batches, self.epoch = batches, 0

    def __iter__(self):
        self.epoch += 1
        return iter(self.batches)

    def state_dict(self):
        return {"epoch": self.epoch}

    def load_state_dict(self, state):
        self.epoch = state["epoch"]


def test_data_state_restored_and_data_cycled():
    data = _StatefulData(small_batches(2))
    model = bn_model()
    res = range_test(model, torch.optim.SGD(model.parameters(), lr=0.1), data, nn.functional.cross_entropy,
                     num_steps=9, end_lr=1e-3, extend=False)
    assert len(res.lrs) == 9 and data.epoch == 0


def test_schedule_and_online_ema():
    assert lr_at(0, 1e-7, 10.0, 100, "exp") == pytest.approx(1e-7)
    assert lr_at(99, 1e-7, 10.0, 100, "exp") == pytest.approx(10.0)
    assert lr_at(198, 1e-7, 10.0, 100, "exp") == pytest.approx(1e9)
    assert lr_at(50, 0.0 + 1e-3, 1.0, 101, "linear") == pytest.approx(0.5005)
    model, data, _ = least_squares()
    res = range_test(model, torch.optim.SGD(model.parameters(), lr=0.1), data, half_mse, end_lr=100.0,
                     beta=0.9)
    assert np.allclose(res.smoothed, ema(res.losses, 0.9), rtol=1e-12, equal_nan=True)
    assert len(res.lrs) == len(res.losses) == len(res.smoothed)
    assert res.lrs == [lr_at(i, RANGE_TEST.start_lr, 100.0, RANGE_TEST.num_steps, "exp") for i in range(len(res.lrs))]


def test_never_diverging_curve_is_extended_then_flagged():
    model = nn.Linear(2, 1)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    data = [(torch.zeros(4, 2), torch.zeros(4, 1))]

    def flat_loss(out, y):  # gradient-free in effect: the loss never changes
        return (out * 0).sum() + 1.0

    res = range_test(model, opt, data, flat_loss, start_lr=1e-7, num_steps=50, end_lr=1.0,
                     max_extend_factor=100.0)
    curve = res.curves[0]
    assert not res.diverged and curve.extended
    assert curve.stop_lr == pytest.approx(100.0)
    assert curve.stop_reason == "not diverged by the last step under the cap 100 x end_lr = 100"
    assert any("diverge" in n for n in res.recommendation.notes)
    assert str(res).splitlines()[0] == (f"range test of {len(res.lrs)} steps, stopped: {curve.stop_reason}; extended "
                                        "to lr 100: the loss had not diverged by end_lr 1")

    res = range_test(model, opt, data, flat_loss, num_steps=50, end_lr=1.0, extend=False)
    assert len(res.lrs) == 50 and not res.curves[0].extended
    assert any("diverge" in n for n in res.recommendation.notes) and "extended" not in str(res)


def _flat_step(batch):
    return 1.0


def test_an_extension_of_a_narrow_range_stops_after_its_step_cap():
    """start 1e-5 and end 1.00001e-5: the cap 1000 x end_lr lies millions of steps away; the extension stops after
    EXTEND_STEPS x num_steps steps and says so."""
    from onecycle.range_test import EXTEND_STEPS

    model = nn.Linear(2, 1)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    res = range_test(model, opt, [(torch.zeros(4, 2), torch.zeros(4, 1))], None, step=_flat_step, start_lr=1e-5,
                     end_lr=1.00001e-5, num_steps=10)
    curve = res.curves[0]
    assert len(curve.lrs) == 10 * (1 + EXTEND_STEPS) and curve.extended and not res.diverged
    assert curve.stop_reason == (f"not diverged after 20 steps past end_lr, the most an extension takes "
                                 f"({EXTEND_STEPS:g} x num_steps), at lr {curve.lrs[-1]:.3g}")


def test_a_range_extended_to_just_below_its_cap_says_where_it_stopped():
    """end_lr 1e-3 x 1000 = a cap of 1 that the grid (x1.047 a step) steps over: the last step is at 0.977, and
    neither the stop reason nor the extension line claims the cap was reached."""
    model = nn.Linear(2, 1)
    res = range_test(model, torch.optim.SGD(model.parameters(), lr=0.1), [None], step=_flat_step, end_lr=1e-3)
    curve = res.curves[0]
    assert curve.extended and curve.stop_lr == pytest.approx(0.977, abs=5e-4) and curve.stop_lr < 1.0
    assert str(res).splitlines()[0] == (
        f"range test of {len(curve.lrs)} steps, stopped: not diverged by the last step under the cap 1000 x end_lr = "
        "1; extended to lr 0.977: the loss had not diverged by end_lr 0.001")


@pytest.mark.parametrize("kwargs", [dict(num_steps=2), dict(start_lr=1e-30, num_steps=10)])
def test_a_range_whose_next_step_passes_the_cap_says_it_was_not_extended(kwargs):
    """With steps of 6 or more decades, the first step past end_lr lies past the cap (1000 x end_lr) at once: the
    test ends at end_lr, unextended, and says why."""
    model = nn.Linear(2, 1)
    res = range_test(model, torch.optim.SGD(model.parameters(), lr=0.1), [None], step=_flat_step, **kwargs)
    curve = res.curves[0]
    assert not curve.extended and curve.stop_lr == pytest.approx(10.0) and len(curve.lrs) == kwargs["num_steps"]
    assert curve.stop_reason == ("reached end_lr without diverging; not extended: the next step passes the cap 1000 x "
                                 "end_lr")
    assert str(res).splitlines()[0] == f"range test of {len(curve.lrs)} steps, stopped: {curve.stop_reason}"


def test_the_lr_schedule_past_the_float_range_is_infinite_not_an_error():
    assert lr_at(10, 1e-30, 1e270, 10, "exp") == math.inf
    model = nn.Linear(2, 1)
    res = range_test(model, torch.optim.SGD(model.parameters(), lr=0.1), [None], step=_flat_step, start_lr=1e-30,
                     end_lr=1e270, num_steps=10)
    assert len(res.lrs) == 10 and "not extended: the next step passes the cap" in res.stop_reason


def test_a_curve_extended_until_it_diverged_says_how_far_it_went():
    model = nn.Linear(2, 1)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)

    def step(batch):
        lr = opt.param_groups[0]["lr"]
        return 1.0 / (1.0 + lr) if lr < 5.0 else math.inf

    res = range_test(model, opt, [None], step=step, start_lr=1e-3, end_lr=1.0, num_steps=31, repeats=2)
    for i, curve in enumerate(res.curves):
        assert curve.extended and res.diverged and 5.0 <= curve.stop_lr < 5.0 * 10 ** 0.1
        assert str(res).splitlines()[i] == (f"repeat {i + 1}: range test of {len(curve.lrs)} steps, stopped: "
                                            f"non-finite loss at lr={curve.stop_lr:.3g}; extended to lr "
                                            f"{curve.stop_lr:.3g}: the loss had not diverged by end_lr 1")
    back = RangeTestResult.from_dict(json.loads(json.dumps(res.to_dict())))
    assert str(back) == str(res)


def test_non_finite_loss_stops_at_once():
    model = nn.Linear(2, 1)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    seen = []

    def step(batch):
        lr = opt.param_groups[0]["lr"]
        seen.append(lr)
        return float("nan") if lr > 1e-2 else 1.0 / (1.0 + len(seen))

    res = range_test(model, opt, [None], step=step, num_steps=100)
    assert res.diverged and "non-finite loss" in res.stop_reason
    assert math.isnan(res.losses[-1]) and res.lrs[-1] > 1e-2 and res.lrs[-2] <= 1e-2
    assert len(seen) == len(res.lrs)
    res.recommendation  # noqa: B018 - computed without error
    assert res.max_lr is None or res.max_lr <= 1e-2


@pytest.mark.parametrize("finite_steps", [0, 1, 3])
def test_a_test_that_stops_before_it_has_enough_points_gives_no_recommendation(finite_steps):
    model = nn.Linear(2, 1)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    losses = iter([*(1.0 - 0.1 * k for k in range(finite_steps)), float("inf")])
    res = range_test(model, opt, [None], step=lambda batch: next(losses), num_steps=100)
    assert len(res.lrs) == finite_steps + 1 and res.diverged
    rec = res.recommendation
    assert rec.max_lr is None and res.max_lr is None and rec.confidence == "low"
    assert rec.notes == [f"the range test stopped after {finite_steps + 1} step(s) ({res.stop_reason}): too few "
                         f"points, need at least {MIN_POINTS}: no recommendation"]


def test_custom_step_sees_the_scheduled_lr_and_param_group_ratios():
    model = nn.Sequential(nn.Linear(2, 2), nn.Linear(2, 1))
    opt = torch.optim.SGD([{"params": model[0].parameters(), "lr": 0.01},
                           {"params": model[1].parameters(), "lr": 0.1}])
    seen = []

    def step(batch):
        seen.append((opt.param_groups[0]["lr"], opt.param_groups[1]["lr"]))
        return 1.0

    range_test(model, opt, [None], step=step, start_lr=1e-4, end_lr=1e-2, num_steps=5, extend=False)
    assert [a for a, _ in seen] == pytest.approx([1e-4, 10**-3.5, 1e-3, 10**-2.5, 1e-2])
    assert all(b == pytest.approx(10 * a) for a, b in seen)
    assert opt.param_groups[0]["lr"] == 0.01 and opt.param_groups[1]["lr"] == 0.1


def test_validation_losses_on_fixed_batches():
    model = bn_model()
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    val = small_batches(5, seed=3)
    res = range_test(model, opt, small_batches(), nn.functional.cross_entropy, num_steps=40, end_lr=1e-2,
                     extend=False, val_data=val, val_every=10, val_batches=2)
    curve = res.curves[0]
    assert curve.val_steps == [0, 10, 20, 30]
    assert all(math.isfinite(v) for v in curve.val_losses)


def test_repeats_combine_and_result_round_trips(tmp_path):
    model, data, L = least_squares()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    res = range_test(model, opt, data, half_mse, start_lr=1e-5, end_lr=100.0, repeats=3, seed=0)
    assert len(res.curves) == 3
    assert res.recommendation.max_lr is not None and res.recommendation.max_lr <= 2 / L
    path = tmp_path / "finder.json"
    res.save_json(path)
    back = RangeTestResult.load_json(path)
    assert back.to_dict() == json.loads(path.read_text())
    assert back.lrs == res.lrs and back.max_lr == res.max_lr
    res.to_csv(tmp_path / "finder.csv")
    rows = (tmp_path / "finder.csv").read_text().splitlines()
    assert rows[0] == "repeat,step,lr,loss,smoothed_loss"
    assert len(rows) == 1 + sum(len(c.lrs) for c in res.curves)
    (tmp_path / "bad.json").write_text("{}")
    with pytest.raises(ValueError, match=r"bad.json is not a valid range-test result: the result is missing the "
                                         r"key\(s\) curves, recommendation"):
        RangeTestResult.load_json(tmp_path / "bad.json")


@pytest.mark.parametrize(
    "kwargs,match",
    [
        (dict(start_lr=0.0), "start_lr"),
        (dict(start_lr=1e-300), r"^start_lr must be a number >= 1.175e-38 \(the smallest normal float32"),
        (dict(start_lr=1e-45), r"^start_lr must be a number >= 1.175e-38 \(the smallest normal float32"),
        (dict(end_lr=1e-9), "end_lr"),
        (dict(num_steps=1), "num_steps"),
        (dict(growth="cubic"), "growth"),
        (dict(beta=1.0), "beta"),
        (dict(diverge_factor=1.0), "diverge_factor"),
        (dict(accumulation_steps=0), "accumulation_steps"),
        (dict(repeats=0), "repeats"),
        (dict(max_extend_factor="x"), r"^max_extend_factor must be a number >= 1 \(and end_lr x max_extend_factor "
                                      r"finite\), got 'x'$"),
        (dict(max_extend_factor=math.inf), "^max_extend_factor must be a number >= 1 .*, got inf$"),
        (dict(max_extend_factor=True), "^max_extend_factor must be a number >= 1 .*, got True$"),
        (dict(end_lr=1e306), "^max_extend_factor must be a number >= 1 .*, got 1000.0$"),
        (dict(seed="a"), r"^seed must be None or an integer from -2\*\*63 to 2\*\*64 - 1, got 'a'$"),
        (dict(seed=1.5), "^seed must be None or an integer from .*, got 1.5$"),
        (dict(seed=True), "^seed must be None or an integer from .*, got True$"),
        (dict(seed=2**64 - 2, repeats=3), r"^seed must be None or an integer from -2\*\*63 to 2\*\*64 - 3, got "),
        (dict(amp_dtype="bfloat16"), "^amp_dtype must be None, torch.float16 or torch.bfloat16, got 'bfloat16'$"),
        (dict(amp_dtype=torch.float32), "^amp_dtype must be None, torch.float16 or torch.bfloat16, got torch.float32$"),
        (dict(start_lr="1e-3"), "^start_lr must be a number >= 1.175e-38 .*, got '1e-3'$"),
        (dict(start_lr=True), "^start_lr must be a number >= 1.175e-38 .*, got True$"),
        (dict(end_lr="10"), "^end_lr must be a finite number > start_lr, got '10'$"),
        (dict(num_steps=10.0), "^num_steps must be an integer >= 2, got 10.0$"),
        (dict(growth=["exp"]), r"^growth must be 'exp' or 'linear', got \['exp'\]$"),
        (dict(beta="0.9"), r"^beta must be a number in \[0, 1\), got '0.9'$"),
        (dict(diverge_factor=math.inf), "^diverge_factor must be a finite number > 1, got inf$"),
        (dict(extend="no"), "^extend must be True or False, got 'no'$"),
        (dict(val_every=0), "^val_every must be an integer >= 1, got 0$"),
        (dict(val_batches="x"), "^val_batches must be an integer >= 1, got 'x'$"),
        (dict(repeats=True), "^repeats must be an integer >= 1, got True$"),
        (dict(div_factor="x"), "^div_factor must be a finite number >= 1, got 'x'$"),
        (dict(div_factor=0.5), "^div_factor must be a finite number >= 1, got 0.5$"),
        (dict(progress="no"), "^progress must be True or False, got 'no'$"),
    ],
)
def test_bad_arguments(kwargs, match):
    """Each bad argument is one ValueError naming it, before any step (the step below fails the test)."""
    model = nn.Linear(2, 1)
    with pytest.raises(ValueError, match=match):
        range_test(model, torch.optim.SGD(model.parameters(), lr=0.1), [None], half_mse, **kwargs)


@pytest.mark.parametrize(("kwargs", "match"), [
    (dict(data=5), r"^data must be an iterable of batches \(a list, a DataLoader, a generator...\), got 5$"),
    (dict(val_data=5), "^val_data must be an iterable of batches .*, got 5$"),
    (dict(loss_fn="mse"), r"^loss_fn must be a function \(output, target\) -> loss, got 'mse'$"),
    (dict(loss_fn=None, step=1), r"^step must be a function \(batch\) -> loss, got 1$"),
])
def test_data_and_functions_of_the_wrong_kind_are_named(kwargs, match):
    model = nn.Linear(2, 1)
    args = {"data": [None], "loss_fn": half_mse, **kwargs}
    with pytest.raises(ValueError, match=match):
        range_test(model, torch.optim.SGD(model.parameters(), lr=0.1), **args)


def test_empty_data_is_a_clear_error():
    model = nn.Linear(2, 1)
    with pytest.raises(ValueError, match="yielded no batches"):
        range_test(model, torch.optim.SGD(model.parameters(), lr=0.1), [], half_mse)


def test_plot_png_and_svg_mark_suggestions(tmp_path):
    model = bn_model()
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    res = range_test(model, opt, small_batches(), nn.functional.cross_entropy, num_steps=60,
                     val_data=small_batches(2, seed=5), val_every=10)
    fig = res.plot(tmp_path / "finder.png")
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert any(label.startswith("stop:") for label in labels)
    assert "test loss" in labels
    if res.max_lr is not None:
        assert any(label.startswith("1cycle range") for label in labels)
    assert (tmp_path / "finder.png").read_bytes()[:4] == b"\x89PNG"
    res.plot(tmp_path / "finder.svg")
    assert "<svg" in (tmp_path / "finder.svg").read_text()[:500]


def test_data_shorter_than_the_test_is_cycled_when_it_can_be():
    model = bn_model()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    res = range_test(model, opt, small_batches(16), nn.functional.cross_entropy, num_steps=50, end_lr=1e-3,
                     extend=False)
    assert len(res.lrs) == 50 and res.stop_reason == "reached end_lr without diverging"
    assert not any("ran out" in note for note in res.recommendation.notes)


def test_one_shot_iterator_that_runs_out_stops_the_curve_and_says_so():
    model = bn_model()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    batches = (b for b in small_batches(16))
    res = range_test(model, opt, batches, nn.functional.cross_entropy, num_steps=50)
    assert len(res.lrs) == 16 and not res.diverged
    assert res.stop_reason == ("the data ran out after 16 batches (a one-shot iterator, which cannot be cycled like a "
                               f"list or a DataLoader): 16 steps taken of 50 planned, up to lr {res.lrs[-1]:.3g}")
    notes = res.recommendation.notes
    assert notes[0] == f"the range test stopped early: {res.stop_reason}"  # first: it explains the rest
    assert sum(res.stop_reason in note for note in notes) == 1
    assert not any("end_lr" in note or "too high" in note for note in notes)  # neither applies to a cut curve
    assert str(res).splitlines()[0] == f"range test of 16 steps, stopped: {res.stop_reason}"
    few = range_test(model, opt, (b for b in small_batches(3)), nn.functional.cross_entropy, num_steps=50)
    assert few.recommendation.notes == [
        f"the range test stopped early: {few.stop_reason}",
        f"the range test stopped after 3 step(s): too few points, need at least {MIN_POINTS}: no recommendation"]
    with pytest.raises(ValueError, match=r"ran out after 10 batches .*: none left for repeat 2"):
        range_test(model, opt, iter(small_batches(10)), step=lambda batch: 1.0, num_steps=10, extend=False, repeats=2)


def test_result_prints_how_it_ended_and_the_recommendation():
    model, data, _ = least_squares()
    res = range_test(model, torch.optim.SGD(model.parameters(), lr=0.1), data, half_mse, end_lr=100.0)
    lines = str(res).splitlines()
    assert lines[0] == f"range test of {len(res.lrs)} steps, stopped: {res.stop_reason}"
    assert "\n".join(lines[1:]) == str(res.recommendation)
    res = range_test(model, torch.optim.SGD(model.parameters(), lr=0.1), data, half_mse, end_lr=100.0,
                     repeats=2)
    assert str(res).startswith("repeat 1: range test of ") and "\nrepeat 2: " in str(res)


class _CountingNet(nn.Module):
    """A model with a non-persistent buffer that training changes (left out of ``state_dict``)."""

    def __init__(self):
        super().__init__()
        self.body = bn_model()
        self.register_buffer("seen", torch.zeros(()), persistent=False)

    def forward(self, x):
        if self.training:
            self.seen += len(x)
        return self.body(x)


def test_non_persistent_buffers_restored():
    model = _CountingNet()
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    seen = model.seen
    range_test(model, opt, small_batches(), nn.functional.cross_entropy, num_steps=20, end_lr=1.0, extend=False)
    assert model.seen is seen and float(model.seen) == 0.0


def test_mps_generator_restored_where_present(monkeypatch):
    generator = {"state": torch.tensor([1, 2, 3], dtype=torch.uint8)}
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    monkeypatch.setattr(torch.mps, "get_rng_state", lambda: generator["state"].clone())
    monkeypatch.setattr(torch.mps, "set_rng_state", lambda state: generator.update(state=state.clone()))
    model = bn_model()
    opt = torch.optim.SGD(model.parameters(), lr=0.05)

    def step(batch):
        generator["state"] = torch.tensor([9, 9, 9], dtype=torch.uint8)  # as if dropout drew on the device
        x, y = batch
        opt.zero_grad()
        loss = nn.functional.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        return float(loss.detach())

    range_test(model, opt, small_batches(), step=step, num_steps=10, end_lr=1.0, extend=False)
    assert generator["state"].tolist() == [1, 2, 3]
