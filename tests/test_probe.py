"""The stability probe: a quadratic whose divergent lr is known, the pure pick rule, bitwise restore, cost."""

import math
import random

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from torch import nn

from onecycle.probe import (
    MIN_STEPS,
    ProbeResult,
    candidates_below,
    final_loss,
    learned,
    pick,
    probe,
    steps_per_candidate,
)
from tests.quadratic import half_mse, least_squares
from tests.restore import assert_same_state, state_of, trained


@pytest.mark.parametrize("seed", range(4))
def test_quadratic_rejects_the_candidate_past_2_over_L(seed):
    # Gradient descent on a quadratic diverges above 2/L: the cycle from 2/L up to 3/L (div_factor 1.5, so the
    # top direction has no time to converge first) blows up, the ones peaking below 2/L converge, and the faster
    # of those (the higher lr) is the pick.
    model, data, L = least_squares(seed)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    cands = [3.0 / L, 1.5 / L, 0.75 / L]
    res = probe(model, opt, data, half_mse, cands, steps=60, schedule={"cycle_momentum": False, "div_factor": 1.5})
    assert res.pick == pytest.approx(1.5 / L)
    assert res.final[0] is None or res.final[0] > 100 * res.final[1]
    assert res.final[1] < res.final[2]
    assert res.cost_steps == sum(len(losses) for losses in res.losses) <= 3 * 60


def test_the_probe_trains_the_schedule_it_is_given():
    # A constant lr past 2/L diverges on the quadratic: the probe of a constant schedule picks the candidate below,
    # while a 1cycle peaking there (briefly, then annealed) converges and keeps the higher one.
    model, data, L = least_squares(0)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    cands = [2.4 / L, 1.2 / L]
    res = probe(model, opt, data, half_mse, cands, steps=60, schedule={"schedule": "constant"})
    assert res.pick == pytest.approx(1.2 / L) and (res.final[0] is None or res.final[0] > 100 * res.final[1])
    res = probe(model, opt, data, half_mse, cands, steps=60, schedule={"schedule": "onecycle", "cycle_momentum": False})
    assert res.pick == pytest.approx(2.4 / L)


def test_quadratic_all_below_2_over_L_picks_the_highest():
    model, data, L = least_squares(1)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    res = probe(model, opt, data, half_mse, candidates_below(1.8 / L), steps=40, schedule={"cycle_momentum": False})
    assert res.pick == pytest.approx(1.8 / L)
    assert all(f is not None for f in res.final)


def test_every_candidate_diverging_gives_no_pick():
    model, data, L = least_squares(2)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    res = probe(model, opt, data, half_mse, [400.0 / L, 200.0 / L], steps=200, schedule={"cycle_momentum": False})
    assert res.pick is None and res.final == [None, None]
    assert any("diverged" in note for note in res.notes)
    assert all(len(losses) < 200 for losses in res.losses)  # a non-finite loss ends a candidate at once


@pytest.mark.parametrize("opt_kind", ["sgd", "adamw"])
def test_state_restored_bitwise_and_candidates_see_the_same_batches(opt_kind):
    model, opt, data = trained(opt_kind, steps=2)
    np.random.seed(3)
    random.seed(3)
    model.eval()
    before = state_of(model, opt)
    res = probe(model, opt, data, nn.functional.cross_entropy, [0.1, 0.1], steps=9, seed=5)
    # The same lr twice from the same state, seed and batches gives the same losses exactly.
    assert res.losses[0] == res.losses[1] and len(res.losses[0]) == 9
    assert_same_state(before, state_of(model, opt))


def test_pick_rule_exact_cases():
    assert pick([3.0, 2.0, 1.0], [0.98, 0.95, 0.9], tolerance=0.1) == 3.0  # 0.98 <= 0.9 * 1.1
    assert pick([3.0, 2.0, 1.0], [1.2, 0.95, 0.9], tolerance=0.1) == 2.0
    assert pick([3.0, 2.0, 1.0], [None, 2.0, 0.9], tolerance=0.1) == 1.0
    assert pick([3.0, 2.0, 1.0], [None, None, None]) is None
    assert pick([3.0, 1.0], [0.5, 0.5], tolerance=0.0) == 3.0
    assert pick([3.0, 1.0], [-1.0, -1.05], tolerance=0.1) == 3.0  # negative losses: tolerance on |best|
    with pytest.raises(ValueError, match="2 candidates but 1"):
        pick([1.0, 2.0], [0.5])


@given(st.lists(st.tuples(st.floats(1e-6, 10.0), st.one_of(st.none(), st.floats(0.0, 100.0))), min_size=1,
                max_size=6), st.floats(0.0, 1.0))
def test_pick_is_within_tolerance_and_the_highest_such(pairs, tolerance):
    cands, finals = [p[0] for p in pairs], [p[1] for p in pairs]
    chosen = pick(cands, finals, tolerance)
    scored = [(lr, f) for lr, f in pairs if f is not None]
    if not scored:
        assert chosen is None
        return
    best = min(f for _, f in scored)
    ok = [lr for lr, f in scored if f <= best + tolerance * abs(best)]
    assert chosen == max(ok)


def test_too_short_to_learn_keeps_the_first_candidate_with_a_note():
    # A constant model cannot lower its loss: the probe cannot tell the candidates apart and says so.
    x, y = torch.randn(16, 3), torch.randint(0, 3, (16,))
    model = nn.Linear(3, 3)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    res = probe(model, opt, [(x, y)], lambda out, t: nn.functional.cross_entropy(out * 0.0, t) + 0.0 * out.sum(),
                [0.3, 0.2, 0.1], steps=10)
    assert res.pick == 0.3 and any("too short to tell" in note for note in res.notes)
    assert learned([[2.0, 2.0, 1.0, 1.0]], [1.0]) and not learned([[2.0, 2.0, 2.0, 1.95]], [1.95])
    assert not learned([[2.0, math.nan]], [None])


def test_final_loss_is_the_tail_mean_and_none_when_not_finite():
    assert final_loss([4.0, 3.0, 2.0, 1.0]) == 1.0
    assert final_loss([8.0, 6.0, 4.0, 2.0, 2.0, 4.0, 6.0, 2.0]) == 4.0  # last 2 of 8
    assert final_loss([1.0, math.nan]) is None and final_loss([1.0, math.inf]) is None and final_loss([]) is None


def test_candidates_and_steps():
    assert candidates_below(0.9) == pytest.approx([0.9, 0.6, 0.4])
    assert candidates_below(1.0, n=2, step_down=2.0) == [1.0, 0.5]
    assert steps_per_candidate(1000, 3) == 50  # 15% of 1000, in three
    assert steps_per_candidate(1000, 3, fraction=0.3) == 100
    assert steps_per_candidate(40, 3) == MIN_STEPS
    for bad in (0.0, -1.0, math.inf, math.nan, "1"):
        with pytest.raises(ValueError, match="max_lr"):
            candidates_below(bad)
    with pytest.raises(ValueError, match="step_down"):
        candidates_below(1.0, step_down=1.0)
    with pytest.raises(ValueError, match="n must"):
        candidates_below(1.0, n=0)
    with pytest.raises(ValueError, match="total_steps"):
        steps_per_candidate(0, 3)
    with pytest.raises(ValueError, match="fraction"):
        steps_per_candidate(100, 3, fraction=0.0)


@pytest.mark.parametrize("kwargs,match", [
    ({"candidates": []}, "candidates"),
    ({"candidates": [0.1, -1.0]}, "candidates"),
    ({"candidates": [math.nan]}, "candidates"),
    ({"steps": 1}, "steps"),
    ({"steps": 2.5}, "steps"),
    ({"tolerance": -0.1}, "tolerance"),
])
def test_bad_arguments(kwargs, match):
    model, data, _ = least_squares()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    args = {"candidates": [0.1], "steps": 10, **kwargs}
    with pytest.raises(ValueError, match=match):
        probe(model, opt, data, half_mse, args.pop("candidates"), **args)


def test_cost_against_the_planned_training_is_noted():
    model, data, L = least_squares(0)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    res = probe(model, opt, data, half_mse, [1.0 / L, 0.5 / L], steps=10, planned_steps=200)
    assert "the probe cost 10% of the 200 planned training steps" in res.notes
    res = probe(model, opt, data, half_mse, [1.0 / L, 0.5 / L], steps=10, planned_steps=40)
    assert any(n.startswith("the probe cost 50% of the 40 planned") and "over the 15% budget" in n for n in res.notes)


def test_one_shot_iterator_is_refused():
    model, data, _ = least_squares()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    with pytest.raises(ValueError, match="iterate again"):
        probe(model, opt, iter(data), half_mse, [0.1], steps=5)


def test_result_round_trip_and_summary():
    res = ProbeResult([0.3, 0.2], [[2.0, 1.0], [2.0, 1.5]], [1.0, 1.5], 0.3, 2, ["a note"])
    again = ProbeResult.from_dict(res.to_dict())
    assert again == res and again.cost_steps == 4
    text = str(res)
    assert "0.3: final loss 1.0000  <- pick" in text and "note: a note" in text and "(4 steps)" in text


@pytest.mark.parametrize(("change", "message"), [
    ({"pick": 0.25}, "probe.pick 0.25 is not one of the candidates"),
    ({"pick": "0.3"}, "probe.pick must be a finite number > 0 or null, got '0.3'"),
    ({"candidates": [0.3, -0.2]}, r"probe.candidates\[1\] must be a finite number > 0, got -0.2"),
    ({"final": [1.0]}, "must be of one length, got 2, 2 and 1"),
    ({"losses": [[2.0, "x"], [2.0]]}, r"probe.losses\[0\]\[1\] must be a number, got 'x'"),
    ({"steps": 0}, "probe.steps must be an integer >= 1, got 0"),
    ({"tolerance": -1}, "probe.tolerance must be a finite number >= 0, got -1"),
    ({"cost": 3}, "probe has unknown key"),
])
def test_a_damaged_result_is_one_value_error_naming_the_key(change, message):
    good = ProbeResult([0.3, 0.2], [[2.0, 1.0], [2.0, 1.5]], [1.0, 1.5], 0.3, 2).to_dict()
    with pytest.raises(ValueError, match=message):
        ProbeResult.from_dict({**good, **change})
    with pytest.raises(ValueError, match="probe must be an object, got"):
        ProbeResult.from_dict([good])
