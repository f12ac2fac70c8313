"""Sweeps: the documented pick rule on constructed cases, identical conditions per value, restore, plots."""

import json
import math

import pytest
import torch
from torch import nn

from onecycle.sweep import SWEEPABLE, SweepResult, pick, reached_loss, sweep
from tests.quadratic import half_mse, least_squares


def test_pick_takes_the_largest_value_within_tolerance_of_the_best():
    values = [1e-5, 1e-4, 1e-3, 1e-2]
    max_lrs = [1.0, 0.9, 0.6, 0.1]
    reached = [0.50, 0.52, 0.54, 0.90]
    chosen, eligible = pick(values, max_lrs, reached)
    assert chosen == 1e-3 and eligible == [True, True, True, False]
    # The lr condition alone excludes a value: 0.45 < 1.0 / 2.
    assert pick(values, [1.0, 0.9, 0.45, 0.1], reached)[0] == 1e-4
    # The loss condition alone excludes a value: 0.56 > 0.50 * 1.1.
    assert pick(values, max_lrs, [0.50, 0.52, 0.56, 0.5])[0] == 1e-4
    # Order of the values does not matter; the largest eligible value wins.
    assert pick(values[::-1], max_lrs[::-1], reached[::-1])[0] == 1e-3
    # Wider tolerances pick a larger value.
    assert pick(values, max_lrs, reached, lr_tolerance=20, loss_tolerance=1.0)[0] == 1e-2


def test_pick_degenerate_inputs():
    assert pick([1, 2], [None, None], [0.1, 0.2]) == (None, [False, False])
    assert pick([1, 2], [0.1, None], [0.1, float("inf")]) == (1, [True, False])
    with pytest.raises(ValueError, match="same length"):
        pick([1, 2], [0.1], [0.1, 0.2])
    with pytest.raises(ValueError, match="lr_tolerance"):
        pick([1], [0.1], [0.1], lr_tolerance=0.5)


def test_weight_decay_sweep_on_the_quadratic():
    model, data, L = least_squares(0)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, weight_decay=0.0)
    w0 = model.weight.detach().clone()
    values = [0.0, 0.01, 1.0, 30.0]
    res = sweep("weight_decay", values, model, opt, data, half_mse, start_lr=1e-5, end_lr=100.0, num_steps=100)
    assert opt.param_groups[0]["weight_decay"] == 0.0 and torch.equal(model.weight, w0)
    # Identical conditions: same initial weights and first batch, so the first losses agree exactly.
    assert len({r.losses[0] for r in res.results}) == 1
    # Weight decay raises the Hessian's top eigenvalue to L + wd: divergence comes earlier.
    for wd, r in zip(values, res.results):
        assert r.curves[0].stop_lr >= 2 / (L + wd)
        assert r.max_lr <= 2 / (L + wd)
    expected, eligible = pick(values, res.max_lrs, [reached_loss(r) for r in res.results])
    assert res.pick == expected and res.eligible == eligible
    assert eligible[0] and not eligible[-1]
    assert res.recommended is res.results[values.index(res.pick)]


def test_build_callback_sweeps_what_needs_a_rebuild():
    initial = []
    data = [(torch.randn(16, 4), torch.randn(16, 1)) for _ in range(3)]

    def build(p):
        model = nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Dropout(p), nn.Linear(16, 1))
        initial.append(model[0].weight.detach().clone())
        return model, torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9), data

    res = sweep("dropout", [0.0, 0.2, 0.5], build=build, loss_fn=nn.functional.mse_loss, num_steps=40)
    assert all(torch.equal(initial[0], w) for w in initial[1:])
    assert len(res.results) == 3 and res.param == "dropout"


def test_sweep_result_round_trip_and_plot(tmp_path):
    model, data, _ = least_squares(1)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.5)
    res = sweep("momentum", [0.0, 0.5, 0.9], model, opt, data, half_mse, start_lr=1e-4, end_lr=10.0)
    assert opt.param_groups[0]["momentum"] == 0.5
    res.save_json(tmp_path / "sweep.json")
    back = SweepResult.load_json(tmp_path / "sweep.json")
    assert back.pick == res.pick and back.max_lrs == res.max_lrs
    for suffix in ("png", "svg"):
        back.plot(tmp_path / f"sweep.{suffix}")
        assert (tmp_path / f"sweep.{suffix}").stat().st_size > 1000


def _no_build(value):
    pytest.fail("a range test ran")


@pytest.mark.parametrize(("param", "values", "kwargs", "message"), [
    ("dropout", [0.1], {}, r"^the optimizer's param groups have no number 'dropout' to set \(on any torch "
                           r"optimizer: weight_decay, momentum; momentum is beta1 in the Adam family\); pass build=... "
                           "to sweep it$"),
    ("betas", [0.9], {}, "^the optimizer's param groups have no number 'betas' to set"),
    ("weight_decay", [0.1, 0.1], {}, r"^values must be distinct, got \[0.1, 0.1\]$"),
    ("weight_decay", [1, 1.0], {}, r"^values must be distinct, got \[1, 1.0\]$"),
    ("weight_decay", [1e-3, 0.001], {"build": _no_build}, "^values must be distinct"),
    ("weight_decay", "abc", {}, "^values must be a list of finite numbers, got 'abc'$"),
    ("weight_decay", (v for v in [1e-3]), {}, "^values must be a list of finite numbers, got <generator"),
    ("weight_decay", [math.nan, 1e-3], {}, r"^values must be a list of finite numbers, got \[nan, 0.001\]$"),
    ("weight_decay", [True], {}, r"^values must be a list of finite numbers, got \[True\]$"),
    ("weight_decay", [], {}, "^values must not be empty$"),
    (3, [1e-3], {}, "^param must be the name of a hyper-parameter, got 3$"),
    ("", [1e-3], {"build": _no_build}, "^param must be the name of a hyper-parameter, got ''$"),
    ("lr", [0.1], {"build": _no_build}, "sets the learning rate itself"),
    ("weight_decay", [1e-3], {"seed": "a"}, "^seed must be None or an integer"),
    ("weight_decay", [1e-3], {"lr_tolerance": "2"}, "^lr_tolerance must be a finite number >= 1, got '2'$"),
    ("weight_decay", [1e-3], {"loss_tolerance": -1}, "^loss_tolerance must be a finite number >= 0, got -1$"),
])
def test_sweep_refuses_what_it_cannot_sweep_before_any_test(param, values, kwargs, message):
    model, data, _ = least_squares(0)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    given = {"build": kwargs["build"], "loss_fn": half_mse} if "build" in kwargs else {
        "model": model, "optimizer": opt, "data": data, "loss_fn": lambda *a: pytest.fail("a range test ran")}
    with pytest.raises(ValueError, match=message):
        sweep(param, values, **given, **{k: v for k, v in kwargs.items() if k != "build"})


def test_sweep_bad_input():
    model, _, _ = least_squares(0)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    with pytest.raises(ValueError, match="build"):
        sweep("weight_decay", [0.1], model, opt)


def _saved_sweep():
    model, data, _ = least_squares(1)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.5)
    return sweep("weight_decay", [1e-1, 1e-2, 1e-3], model, opt, data, half_mse, end_lr=10.0, num_steps=30).to_dict()


@pytest.mark.parametrize(("change", "message"), [
    (dict(eligible=[False, False, False]), r"^pick is \S+, but no value is eligible \(eligible is all false\): it "
                                          "must be null$"),
    (dict(eligible=[True, True, True], pick=1e-3), "^pick is 0.001, but the largest eligible value is 0.1: the pick "
                                                   "is the largest eligible value$"),
    (dict(eligible=[False, True, True], pick=None), "^pick is null, but the largest eligible value is 0.01"),
    (dict(pick=0.5), "^pick 0.5 is not one of the values$"),
    (dict(values=[1e-2, 1e-2, 1e-3], pick=1e-2, eligible=[True, True, True]),
     r"^values must be distinct, got \[0.01, 0.01, 0.001\]: 0.01 more than once$"),
    (dict(param="dropout"), "^param must be one of weight_decay, momentum, got 'dropout'$"),
    (dict(param=""), "^param must be one of weight_decay, momentum, got ''$"),
])
def test_a_sweep_read_back_that_contradicts_itself_is_refused(tmp_path, change, message):
    data = _saved_sweep()
    data.update(pick=max(v for v, ok in zip(data["values"], data["eligible"]) if ok), **{
        k: v for k, v in change.items() if k != "pick"})
    if "pick" in change:
        data["pick"] = change["pick"]
    with pytest.raises(ValueError, match=message):
        SweepResult.from_dict(data, SWEEPABLE)
    path = tmp_path / "sweep.json"
    path.write_text(json.dumps(data))
    with pytest.raises(ValueError, match=f"^{path} is not a valid sweep result: {message.lstrip('^')}"):
        SweepResult.load_json(path, SWEEPABLE)


def test_a_sweep_of_any_param_reads_back_without_params():
    """A library sweep through build= (dropout) saves and loads; only a reader that needs one of SWEEPABLE (a run
    takes its weight decay from it) names them."""
    data = {**_saved_sweep(), "param": "dropout"}
    assert SweepResult.from_dict(data).param == "dropout"
    with pytest.raises(ValueError, match=r"^param must be one of weight_decay, momentum, got 'dropout'$"):
        SweepResult.from_dict(data, SWEEPABLE)


def test_momentum_sweep_sets_beta1_of_adam():
    model, data, _ = least_squares(2)
    opt = torch.optim.AdamW(model.parameters(), lr=0.1, betas=(0.9, 0.99))
    seen = set()

    def step(batch):
        x, y = batch
        opt.zero_grad()
        loss = half_mse(model(x), y)
        loss.backward()
        opt.step()
        seen.add(opt.param_groups[0]["betas"])
        return loss.item()

    res = sweep("momentum", [0.5, 0.8], model, opt, data, half_mse, step=step, end_lr=1e-3, num_steps=5,
                extend=False)
    assert seen == {(0.5, 0.99), (0.8, 0.99)}
    assert opt.param_groups[0]["betas"] == (0.9, 0.99) and len(res.results) == 2


def test_sweeping_the_learning_rate_is_refused():
    model, data, _ = least_squares(0)
    with pytest.raises(ValueError, match="sets the learning rate itself"):
        sweep("lr", [0.1, 0.2], model, torch.optim.SGD(model.parameters(), lr=0.1), data, half_mse)


def test_the_sweep_shows_how_each_range_test_ended_as_a_range_test_does():
    model, data, _ = least_squares(0)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, weight_decay=0.0)
    res = sweep("weight_decay", [0.0, 30.0], model, opt, data, half_mse, start_lr=1e-5, end_lr=1.0, num_steps=50,
                progress=False)
    free, decayed = (r.curves[0] for r in res.results)
    assert free.extended and not decayed.extended  # weight decay 30 diverges below end_lr, none does not
    lines = str(res).splitlines()
    assert lines[:2] == [
        f"weight_decay 0: range test of {len(free.lrs)} steps, stopped: {free.stop_reason}; extended to lr "
        f"{free.stop_lr:.3g}: the loss had not diverged by end_lr 1",
        f"weight_decay 30: range test of {len(decayed.lrs)} steps, stopped: {decayed.stop_reason}"]
    assert [line.split(": ", 1)[1] for line in lines[:2]] == [r.endings()[0] for r in res.results]
    assert str(res.results[0]).splitlines()[0] == res.results[0].endings()[0]  # what find-lr prints first
    assert lines[2].split() == ["weight_decay", "max_lr", "reached", "loss", "eligible"]
