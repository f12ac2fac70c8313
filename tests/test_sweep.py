"""Sweeps: the documented pick rule on constructed cases, identical conditions per value, restore, plots."""

import pytest
import torch
from torch import nn

from onecycle.sweep import SweepResult, pick, reached_loss, sweep
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


def test_sweep_bad_input():
    model, data, _ = least_squares(0)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    with pytest.raises(ValueError, match="no 'dropout'"):
        sweep("dropout", [0.1], model, opt, data, half_mse)
    with pytest.raises(ValueError, match="distinct"):
        sweep("weight_decay", [0.1, 0.1], model, opt, data, half_mse)
    with pytest.raises(ValueError, match="build"):
        sweep("weight_decay", [0.1], model, opt)


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
