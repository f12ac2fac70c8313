"""Schedules: closed forms, golden values against torch's OneCycleLR and MultiStepLR, and properties of the 1cycle
policy and of the baselines."""

import itertools
import math
import re

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from onecycle.config import from_dict
from onecycle.schedules import (
    ONE_CYCLE_ONLY,
    POLICIES,
    STEP_GAMMA,
    STEP_MILESTONES,
    WARM_STARTS,
    WARMUP_PCT,
    Join,
    Restart,
    constant,
    constant_lr,
    cosine,
    cosine_decay,
    exponential,
    join,
    linear,
    linear_decay,
    one_cycle,
    policy,
    restarted,
    step_decay,
)


def test_primitives_closed_form():
    assert [linear(1.0, 3.0, 4)(t) for t in range(6)] == [1.0, 1.5, 2.0, 2.5, 3.0, 3.0]
    c = cosine(2.0, 0.0, 2)
    assert c(0) == 2.0 and c(1) == pytest.approx(1.0) and c(2) == pytest.approx(0.0)
    e = exponential(1e-4, 1.0, 4)
    assert [e(t) for t in range(5)] == pytest.approx([1e-4, 1e-3, 1e-2, 1e-1, 1.0])
    assert constant(0.3)(10**9) == 0.3


def test_join_rebases_each_segment():
    s = join([linear(0.0, 1.0, 2), linear(1.0, 1.0, 3), cosine(1.0, 0.0, 2)])
    assert s.boundaries == (2.0, 5.0, 7.0)
    expected = [0.0, 0.5, 1.0, 1.0, 1.0, 1.0, 0.5, 0.0, 0.0, 0.0]
    assert [s(t) for t in range(10)] == pytest.approx(expected)


@pytest.mark.parametrize(
    "bad",
    [
        lambda: linear(0, 1, 0),
        lambda: exponential(0.0, 1.0, 5),
        lambda: Join((linear(0, 1, 1), linear(0, 1, 1)), (2.0, 1.0)),
        lambda: Join((linear(0, 1, 1),), ()),
    ],
)
def test_invalid_segments_raise(bad):
    with pytest.raises(ValueError):
        bad()


def _torch_values(total, kwargs, optimizer_cls):
    p = torch.nn.Parameter(torch.zeros(1))
    opt = optimizer_cls([p], lr=0.1)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, total_steps=total, **kwargs)
    key = "betas" if "betas" in opt.defaults else "momentum"
    out = []
    for _ in range(total):
        g = opt.param_groups[0]
        out.append((g["lr"], g[key][0] if key == "betas" else g[key]))
        opt.step()
        sched.step()
    return out


GRID = list(
    itertools.product(
        [2 * 7, 100, 1003],  # total_steps
        [0.25, 0.3, 0.45],  # pct_start
        ["linear", "cos"],
        [True, False],  # three_phase
        [(10.0, 100.0, 0.85, 0.95), (25.0, 1e4, 0.8, 0.9)],  # div, final_div, base_m, max_m
        [torch.optim.SGD, torch.optim.Adam],
    )
)


@pytest.mark.parametrize("total,pct,strategy,three,factors,opt_cls", GRID)
def test_golden_against_torch_onecyclelr(total, pct, strategy, three, factors, opt_cls):
    div, final_div, base_m, max_m = factors
    kwargs = dict(
        max_lr=0.4,
        pct_start=pct,
        anneal_strategy=strategy,
        three_phase=three,
        div_factor=div,
        final_div_factor=final_div,
        base_momentum=base_m,
        max_momentum=max_m,
    )
    ours = one_cycle(total_steps=total, **kwargs)
    for step, (lr, mom) in enumerate(_torch_values(total, kwargs, opt_cls)):
        assert ours.lr(step) == pytest.approx(lr, rel=1e-9, abs=0)
        assert ours.momentum(step) == pytest.approx(mom, rel=1e-9, abs=0)


def test_defaults_are_the_article_policy():
    cyc = one_cycle(1.0, total_steps=1000)
    ref = one_cycle(
        1.0, 1000, pct_start=0.45, anneal_strategy="linear", div_factor=10, final_div_factor=100,
        base_momentum=0.85, max_momentum=0.95, three_phase=True,
    )
    assert [cyc.lr(t) for t in range(1000)] == [ref.lr(t) for t in range(1000)]
    assert cyc.lr(0) == pytest.approx(0.1)
    assert cyc.lr(449) == pytest.approx(1.0)
    assert cyc.lr(999) == pytest.approx(1e-3)
    assert cyc.momentum(0) == 0.95 and cyc.momentum(449) == pytest.approx(0.85)


def test_epochs_and_steps_per_epoch_and_annihilation_pct():
    a = one_cycle(0.1, epochs=5, steps_per_epoch=20)
    assert a.total_steps == 100
    b = one_cycle(0.1, total_steps=100, annihilation_pct=0.1)
    c = one_cycle(0.1, total_steps=100, pct_start=0.45)
    assert [b.lr(t) for t in range(100)] == [c.lr(t) for t in range(100)]
    # The article's 95-epoch run: pct_start=0.4316 leaves 13.68% for annihilation.
    d = one_cycle(0.8, total_steps=10000, annihilation_pct=0.1368)
    assert d.phase_ends[0] == pytest.approx(0.4316 * 10000 - 1)


@pytest.mark.parametrize(
    "kwargs,name",
    [
        (dict(max_lr=0.1, total_steps=1), "total_steps"),
        (dict(max_lr=0.1, total_steps=10.5), "total_steps"),
        (dict(max_lr=0.1), "total_steps"),
        (dict(max_lr=0.1, epochs=0, steps_per_epoch=10), "epochs"),
        (dict(max_lr=0.0, total_steps=100), "max_lr"),
        (dict(max_lr=-1.0, total_steps=100), "max_lr"),
        (dict(max_lr=float("nan"), total_steps=100), "max_lr"),
        (dict(max_lr=0.1, total_steps=100, pct_start=0.0), "pct_start"),
        (dict(max_lr=0.1, total_steps=100, pct_start=1.0), "pct_start"),
        (dict(max_lr=0.1, total_steps=100, pct_start=0.6), "pct_start"),
        (dict(max_lr=0.1, total_steps=100, div_factor=1.0), "div_factor"),
        (dict(max_lr=0.1, total_steps=100, final_div_factor=0.5), "final_div_factor"),
        (dict(max_lr=0.1, total_steps=100, base_momentum=1.0), "base_momentum"),
        (dict(max_lr=0.1, total_steps=100, max_momentum=-0.1), "max_momentum"),
        (dict(max_lr=0.1, total_steps=100, anneal_strategy="step"), "anneal_strategy"),
        (dict(max_lr=0.1, total_steps=100, pct_start=0.3, annihilation_pct=0.1), "annihilation_pct"),
        (dict(max_lr=0.1, total_steps=100, annihilation_pct=1.2), "annihilation_pct"),
        (dict(max_lr=True, total_steps=100), "^max_lr must be a number, got True$"),
        (dict(max_lr="0.1", total_steps=100), "^max_lr must be a number, got '0.1'$"),
        (dict(max_lr=0.1, total_steps=100, pct_start="0.3"), "^pct_start must be a number, got '0.3'$"),
        (dict(max_lr=0.1, total_steps=100, base_momentum=0.95, max_momentum=0.85),
         r"^base_momentum must be <= max_momentum \(momentum is lowest where the lr peaks\)$"),
        (dict(max_lr=0.1, total_steps=100, cycle_momentum="no"), "^cycle_momentum must be True or False, got 'no'$"),
    ],
)
def test_bad_arguments_name_themselves(kwargs, name):
    with pytest.raises(ValueError, match=name):
        one_cycle(**kwargs)


def test_momentum_bounds_matter_only_where_momentum_is_cycled():
    p = one_cycle(0.1, total_steps=100, base_momentum=0.95, max_momentum=0.85, cycle_momentum=False)
    assert p.momentum is None
    flat = one_cycle(0.1, total_steps=100, base_momentum=0.9, max_momentum=0.9)  # equal: momentum held
    assert {flat.momentum(t) for t in range(100)} == {0.9}


@settings(max_examples=200, deadline=None)
@given(total=st.integers(2, 10**6), annihilation=st.floats(0.0, 1.0, exclude_min=True, exclude_max=True))
def test_an_annihilation_too_long_for_the_steps_is_named_with_the_range_that_fits(total, annihilation):
    """annihilation_pct leaves the rise and the fall (1 - annihilation_pct) / 2 of the steps each: one of less
    than a step is an error naming annihilation_pct (never the pct_start it makes) and the bound, 1 - 2/total."""
    bound = 1 - 2 / total
    try:
        one_cycle(0.1, total, annihilation_pct=annihilation)
    except ValueError as err:
        assert annihilation >= bound - 1e-12
        fits = f"it must be below 1 - 2/{total} ({bound:.4g})" if total > 2 else "it needs 3 steps or more"
        assert str(err) == (f"annihilation_pct={annihilation:.6g} leaves the rise and the fall less than a step each "
                            f"((1 - annihilation_pct) / 2 of total_steps={total} each); {fits}")
    else:
        assert annihilation < bound + 1e-12


def test_a_phase_of_no_steps_is_named_in_clean_numbers():
    with pytest.raises(ValueError) as err:
        one_cycle(0.1, 32, annihilation_pct=0.99)  # pct_start (1 - 0.99) / 2 is 0.0050000000000000044
    assert str(err.value) == ("annihilation_pct=0.99 leaves the rise and the fall less than a step each "
                              "((1 - annihilation_pct) / 2 of total_steps=32 each); it must be below 1 - 2/32 (0.9375)")
    with pytest.raises(ValueError) as err:
        one_cycle(0.1, 40, pct_start=1 / 60)
    assert str(err.value) == ("pct_start=0.0166667 leaves a phase with no steps for total_steps=40; it must be in "
                              "(1/40, 0.5125)")
    with pytest.raises(ValueError, match=r"^pct_start=0.3 leaves a phase with no steps for total_steps=3; it must be "
                                         r"in \(1/3, 0.6667\)$"):
        one_cycle(0.1, 3, pct_start=0.3)


def test_range_in_message():
    with pytest.raises(ValueError, match=r"max_lr must be in \(0.0, inf\)"):
        one_cycle(0.0, total_steps=10)


@settings(max_examples=150, deadline=None)
@given(
    total=st.integers(min_value=24, max_value=5000),
    max_lr=st.floats(min_value=1e-5, max_value=10.0),
    div=st.floats(min_value=1.5, max_value=100.0),
    final_div=st.floats(min_value=1.0, max_value=1e4),
    pct=st.floats(min_value=0.1, max_value=0.45),
    strategy=st.sampled_from(["linear", "cos"]),
    three=st.booleans(),
)
def test_one_cycle_properties(total, max_lr, div, final_div, pct, strategy, three):
    cyc = one_cycle(
        max_lr, total, pct_start=pct, anneal_strategy=strategy, div_factor=div,
        final_div_factor=final_div, three_phase=three,
    )
    lrs = [cyc.lr(t) for t in range(10 * total + 1)]
    moms = [cyc.momentum(t) for t in range(10 * total + 1)]
    assert all(math.isfinite(v) for v in lrs + moms)
    assert lrs[0] == pytest.approx(max_lr / div)
    peak = cyc.phase_ends[0]
    # The peak is exactly max_lr at the end of phase 1 (at an integer step when the boundary is one).
    assert cyc.lr.segments[0].at(peak) == pytest.approx(max_lr, rel=1e-12)
    assert max(lrs) <= max_lr * (1 + 1e-12)
    # Monotone within each phase; momentum moves the opposite way to lr.
    first = 0
    for i, end in enumerate(cyc.phase_ends):
        last = math.floor(end)
        d_lr = [lrs[t + 1] - lrs[t] for t in range(first, last)]
        d_m = [moms[t + 1] - moms[t] for t in range(first, last)]
        sign = 1 if i == 0 else -1  # lr rises in phase 1 and falls afterwards
        assert all(sign * d >= -1e-15 * max_lr for d in d_lr)
        assert all(sign * d <= 1e-15 for d in d_m)
        first = last + 1
    # The final value is the minimum, and it is held past the end.
    assert lrs[total - 1] == pytest.approx(min(lrs), rel=1e-12)
    assert lrs[total - 1] == pytest.approx(max_lr / div / final_div, rel=1e-9)
    assert lrs[-1] == lrs[total - 1]


def test_table_lists_phase_boundaries():
    rows = one_cycle(1.0, total_steps=200).table()
    assert [r[0] for r in rows] == ["warm-up", "cool-down", "annihilation"]
    assert rows[0][1] == 0 and rows[-1][2] == 199
    assert rows[0][4] == pytest.approx(1.0) and rows[-1][4] == pytest.approx(1e-3)
    assert all(rows[i][2] + 1 == rows[i + 1][1] for i in range(2))


# ------------------------------------------------------------------------------------------------ baselines


def test_the_baselines_are_the_issue_s_numbers():
    assert STEP_MILESTONES == (0.5, 0.75) and STEP_GAMMA == 0.1 and WARMUP_PCT == 0.05
    assert tuple(POLICIES) == ("onecycle", "step", "linear", "cosine", "constant")


def test_step_decay_divides_by_10_at_50_and_75_percent():
    s = step_decay(0.4, total_steps=1000, momentum=0.9)
    # steps 0-499 (up to 49.9% done) at max_lr, 500-749 at max_lr/10, 750-999 (and past the end) at max_lr/100
    expected = {0: 0.4, 499: 0.4, 500: 0.04, 749: 0.04, 750: 0.004, 999: 0.004, 5000: 0.004}
    assert {t: s.lr(t) for t in expected} == pytest.approx(expected, rel=1e-15)
    assert {s.momentum(t) for t in range(0, 1200, 7)} == {0.9}
    assert s.phase_ends == (499.0, 749.0, 999.0)
    assert [r[:3] for r in s.table()] == [("initial", 0, 499), ("drop 1", 500, 749), ("drop 2", 750, 999)]
    # milestones between steps: a step runs at the lower rate once it is at or past the milestone (7 < 7.5 <= 8)
    s10 = step_decay(1.0, total_steps=10)
    assert [s10.lr(t) for t in range(10)] == pytest.approx([1.0] * 5 + [0.1] * 3 + [0.01] * 2, rel=1e-15)
    assert s10.momentum is None  # no momentum given: the optimizer's is left alone


@pytest.mark.parametrize("total", [4, 10, 11, 99, 390, 1001])
def test_step_decay_golden_against_torch_multisteplr(total):
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
    milestones = [math.ceil(m * total) for m in STEP_MILESTONES]
    ref = torch.optim.lr_scheduler.MultiStepLR(opt, milestones, gamma=STEP_GAMMA)
    s = step_decay(0.1, total_steps=total)
    for t in range(total):
        assert s.lr(t) == pytest.approx(ref.get_last_lr()[0], rel=1e-14, abs=0), t
        opt.step()
        ref.step()


def test_step_decay_too_short_or_bad_arguments():
    with pytest.raises(ValueError, match=r"leave a phase with no steps for total_steps=3"):
        step_decay(1.0, total_steps=3)
    with pytest.raises(ValueError, match=r"gamma must be in \(0.0, 1.0\]"):
        step_decay(1.0, total_steps=100, gamma=0.0)
    with pytest.raises(ValueError, match=r"momentum must be in \[0.0, 1.0\)"):
        step_decay(1.0, total_steps=100, momentum=1.0)


def test_linear_decay_warm_up_then_straight_to_zero():
    s = linear_decay(1.0, total_steps=1000, momentum=0.9, div_factor=10)
    # warm-up over the first 5% (50 steps) from max_lr/10; then max_lr * (1000 - t) / 950, zero at step 1000
    expected = {0: 0.1, 25: 0.55, 50: 1.0, 525: 0.5, 800: 200 / 950, 999: 1 / 950, 1000: 0.0, 3000: 0.0}
    assert {t: s.lr(t) for t in expected} == pytest.approx(expected, rel=1e-12, abs=1e-15)
    assert {s.momentum(t) for t in range(0, 1200, 7)} == {0.9}
    assert s.phase_ends == (50.0, 1000.0) and [r[0] for r in s.table()] == ["warm-up", "decay"]


def test_cosine_decay_closed_form():
    total, warmup = 1000, 50
    s = cosine_decay(2.0, total_steps=total, momentum=0.85, div_factor=20)
    assert s.lr(0) == pytest.approx(0.1) and s.lr(10) == pytest.approx(0.1 + 1.9 * 10 / 50)
    for t in (50, 51, 287, 525, 800, 999):
        want = 2.0 * (1 + math.cos(math.pi * (t - warmup) / (total - warmup))) / 2
        assert s.lr(t) == pytest.approx(want, rel=1e-12), t
    assert s.lr(525) == pytest.approx(1.0) and 0 < s.lr(999) < 1e-5 and s.lr(1000) == pytest.approx(0, abs=1e-15)
    assert {s.momentum(t) for t in range(0, 1200, 7)} == {0.85}


def test_constant_lr():
    s = constant_lr(0.3, epochs=3, steps_per_epoch=7, momentum=0.9)
    assert s.total_steps == 21 and {s.lr(t) for t in range(50)} == {0.3} and {s.momentum(t) for t in range(50)} == {0.9}
    assert s.table() == [("constant", 0, 20, 0.3, 0.3)]


def test_policy_builds_each_by_name():
    for name in POLICIES:
        p = policy(name, 0.5, total_steps=200, momentum=0.9)
        assert p.name == name and p.total_steps == 200 and p.lr(0) > 0
    assert policy("onecycle", 0.5, total_steps=200, momentum=0.9) == one_cycle(0.5, 200)  # cycled: not constant
    no_cycle = policy("onecycle", 0.5, total_steps=200, momentum=0.9, cycle_momentum=False)
    assert no_cycle.lr == one_cycle(0.5, 200).lr and {no_cycle.momentum(t) for t in range(300)} == {0.9}
    assert policy("linear", 0.5, total_steps=200, div_factor=25).lr(0) == pytest.approx(0.02)
    assert policy("step", 0.5, total_steps=200, base_momentum=0.5) == step_decay(0.5, 200)  # 1cycle-only: unused
    with pytest.raises(ValueError, match="schedule must be one of onecycle, step, linear, cosine, constant; got 'x'"):
        policy("x", 0.5, total_steps=200)
    with pytest.raises(TypeError, match="unexpected arguments"):
        policy("step", 0.5, total_steps=200, warmup=3)


@pytest.mark.parametrize("name", [n for n in POLICIES if n != "onecycle"])
@pytest.mark.parametrize("key", ONE_CYCLE_ONLY)
def test_a_baseline_refuses_the_arguments_that_place_1cycle_s_phases(name, key):
    with pytest.raises(ValueError) as err:
        policy(name, 0.5, total_steps=200, **{key: 0.25})
    assert str(err.value) == (f"{key}=0.25 applies to schedule 'onecycle' only, not to {name!r} ({POLICIES[name]}), "
                              "whose phases are fixed")
    assert policy(name, 0.5, total_steps=200, **{key: None}) == policy(name, 0.5, total_steps=200)  # not given


@settings(max_examples=200, deadline=None)
@given(name=st.sampled_from(list(POLICIES)), total=st.integers(2, 400), max_lr=st.floats(1e-4, 10.0),
       pct=st.one_of(st.none(), st.floats(0.01, 0.5)), three=st.booleans())
def test_peak_is_the_highest_lr_of_any_step(name, total, max_lr, pct, three):
    try:
        p = policy(name, max_lr, total_steps=total, **({"pct_start": pct, "three_phase": three}
                                                       if name == "onecycle" else {}))
    except ValueError:  # a phase of no steps
        return
    lrs = [p.lr(t) for t in range(total)]
    assert p.peak() == (lrs.index(max(lrs)), max(lrs)) and p.max_lr == max_lr
    assert max(lrs) <= max_lr * (1 + 1e-12)


def test_peak_of_a_few_steps_falls_short_of_max_lr():
    assert one_cycle(0.8, 10).peak() == (3, pytest.approx(0.08 + 0.72 * 3 / 3.5))
    assert one_cycle(0.8, 7000).peak() == (3149, pytest.approx(0.8, rel=1e-15))  # the top on a step
    assert policy("cosine", 0.8, total_steps=10).peak() == (1, pytest.approx(0.4 * (1 + math.cos(math.pi / 19))))
    assert policy("step", 0.8, total_steps=10).peak() == (0, 0.8)


@settings(max_examples=100, deadline=None)
@given(
    name=st.sampled_from(["step", "linear", "cosine", "constant"]),
    total=st.integers(min_value=4, max_value=3000),
    max_lr=st.floats(min_value=1e-5, max_value=10.0),
    div=st.floats(min_value=1.0, max_value=100.0),
    momentum=st.floats(min_value=0.0, max_value=0.99),
)
def test_baseline_properties(name, total, max_lr, div, momentum):
    p = policy(name, max_lr, total_steps=total, momentum=momentum, div_factor=div)
    lrs = [p.lr(t) for t in range(2 * total)]
    # every step trains, at no more than max_lr; past the end the last value is held
    assert all(0 < v <= max_lr * (1 + 1e-12) for v in lrs[:total])
    assert lrs[total:] == [p.lr(total)] * total
    # momentum is constant
    assert {p.momentum(t) for t in range(0, 2 * total, max(1, total // 50))} == {momentum}
    # non-decreasing during the warm-up, non-increasing after it (the peak max_lr may fall between two steps)
    warmup = p.phase_ends[0] if name in ("linear", "cosine") else 0
    rise, fall = math.floor(warmup), math.ceil(warmup)
    assert all(b >= a - 1e-15 * max_lr for a, b in itertools.pairwise(lrs[:rise + 1]))
    assert all(b <= a + 1e-15 * max_lr for a, b in itertools.pairwise(lrs[fall:]))
    if warmup == rise:
        assert max(lrs) == pytest.approx(max_lr, rel=1e-12)


# ------------------------------------------------------------------------------------------------ cycle_epochs


def test_cycle_epochs_ends_the_cycle_there_then_decreases_linearly_to_the_final_lr():
    cfg = from_dict({"epochs": 10, "cycle_epochs": 4})
    spe, max_lr = 50, 0.8
    p = one_cycle(max_lr, epochs=cfg.epochs, steps_per_epoch=spe, **cfg.schedule_kwargs())
    start, final = max_lr / 10, max_lr / 10 / 100
    end = 4 * spe - 2  # the cycle ends with epoch 4 (torch's phase boundaries: 2 * pct_start * total - 2)
    assert p.phase_ends == pytest.approx((99, end, 499))
    assert p.lr(0) == pytest.approx(start) and p.lr(99) == pytest.approx(max_lr) and p.lr(end) == pytest.approx(start)
    for t in (end + 1, 300, 420, 499):
        assert p.lr(t) == pytest.approx(start + (final - start) * (t - end) / (499 - end), rel=1e-12), t
    assert p.momentum(99) == pytest.approx(0.85) and p.momentum(end) == pytest.approx(0.95)
    assert p.momentum(400) == pytest.approx(0.95)
    # the whole of training as the cycle: back at the start lr one step before the end, then the final lr
    whole = one_cycle(max_lr, epochs=10, steps_per_epoch=spe,
                      **from_dict({"epochs": 10, "cycle_epochs": 10}).schedule_kwargs())
    assert whole.lr(498) == pytest.approx(start) and whole.lr(499) == pytest.approx(final)


@pytest.mark.parametrize("name", list(POLICIES))
def test_warm_starts_are_the_policies_that_start_from_max_lr_over_div_factor(name):
    start = policy(name, max_lr=1.0, total_steps=100, div_factor=8.0).lr(0)
    assert start == (0.125 if name in WARM_STARTS else 1.0)


def test_a_restart_in_the_warm_up_rises_again_from_the_first_lr_over_twice_the_rise_left():
    """1cycle of 100 steps peaks at step 44, falls to step 88 and anneals to step 99. Restarted after step 10 with a
    warm-up stretched twice: 2 x 34 steps left to rise = 68, capped at 3/4 of the 89 steps left (66); the fall (44
    steps) and annihilation (11) share the 23 steps after the new peak as they shared 55."""
    base = one_cycle(1.0, total_steps=100)
    cycle = restarted(base, [Restart(10, 2.0, 1.0)])
    for s in range(10):
        assert cycle.lr(s) == base.lr(s) and cycle.momentum(s) == base.momentum(s)
    assert (cycle.lr(10), cycle.momentum(10)) == (0.1, 0.95)  # the first update after the state restored at 10
    squeeze = 23 / 55
    fall_end = 76 + 44 * squeeze
    expected = {
        11: 0.1 + 0.9 * 1 / 66, 40: 0.1 + 0.9 * 30 / 66, 76: 1.0,
        80: 1.0 - 0.9 * 4 / (44 * squeeze), 94: 1.0 - 0.9 * (94 - 76) / (44 * squeeze),
        97: 0.1 - 0.099 * (97 - fall_end) / (99 - fall_end), 99: 0.001,
    }
    for step, lr in expected.items():
        assert cycle.lr(step) == pytest.approx(lr, rel=1e-12), step
    assert cycle.momentum(11) == pytest.approx(0.95 - 0.1 / 66) and cycle.momentum(76) == pytest.approx(0.85)
    assert cycle.momentum(99) == pytest.approx(0.95)
    assert cycle.phase_ends == (9, 10, 76, fall_end, 99) and cycle.phases == (
        "warm-up", "restart 1", "warm-up (restart 1)", "cool-down (restart 1)", "annihilation (restart 1)")


def test_a_second_restart_at_a_lower_max_lr_and_one_after_the_peak():
    base = one_cycle(1.0, total_steps=100)
    twice = restarted(base, [Restart(10, 2.0, 1.0), Restart(10, 2.0, 1 / 1.5)])
    assert twice.lr(76) == pytest.approx(1 / 1.5) and twice.lr(11) == pytest.approx((0.1 + 0.9 / 66) / 1.5)
    assert twice.lr(99) == pytest.approx(0.001 / 1.5)
    # after the peak nothing is left to rise: the restart re-rises over 2 x 10% of the 49 steps left (10 steps),
    # to the lr it had at step 50 (not back up to max_lr), from a tenth of it
    late, at = restarted(base, [Restart(50, 2.0, 1.0)]), base.lr(50)
    assert at == pytest.approx(1 - 0.9 * 6 / 44) and late.lr(50) == pytest.approx(0.1 * at)
    assert late.lr(49) == base.lr(49) and late.phase_ends[3] == 60
    assert late.lr(51) == pytest.approx(at * (0.1 + 0.9 / 10)) and late.lr(60) == pytest.approx(at)
    assert late.lr(99) == pytest.approx(0.001 * at)
    # diverged again from there: on the rise to that peak, so 1/1.5 of it, over twice the 10 steps left to rise
    again = restarted(base, [Restart(50, 2.0, 1.0), Restart(50, 2.0, 1 / 1.5)])
    assert again.lr(70) == pytest.approx(at / 1.5) and again.phase_ends[3] == 70


@pytest.mark.parametrize("restarts, message", [
    ([Restart(98, 2.0, 1.0)], "leaves 1 step(s) of the 100"),
    ([Restart(20, 2.0, 1.0), Restart(10, 2.0, 1.0)], "in the order of their steps"),
])
def test_a_restart_that_cannot_be_made_is_a_value_error(restarts, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        restarted(one_cycle(1.0, total_steps=100), restarts)


@pytest.mark.parametrize("step, stretch, scale, message", [
    (-1, 2.0, 1.0, "step must be an integer >= 0"), (1.5, 2.0, 1.0, "step must be an integer >= 0"),
    (3, 0.5, 1.0, "warmup_stretch must be in [1.0, inf)"), (3, 2.0, 0.0, "lr_scale must be in (0.0, 1.0]"),
    (3, 2.0, 1.5, "lr_scale must be in (0.0, 1.0]"),
])
def test_a_bad_restart_is_a_value_error_naming_its_argument(step, stretch, scale, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        Restart(step, stretch, scale)


@settings(max_examples=200, deadline=None)
@given(name=st.sampled_from(WARM_STARTS), total=st.integers(20, 2000), max_lr=st.floats(1e-3, 10.0),
       data=st.data())
def test_a_restarted_schedule_keeps_the_past_ends_at_the_scaled_final_lr_and_never_passes_the_scaled_peak(
        name, total, max_lr, data):
    base = policy(name, max_lr, total_steps=total, momentum=0.9)
    last = int(base.lr.boundaries[-1])
    steps = sorted(data.draw(st.lists(st.integers(0, last - 2), min_size=1, max_size=3), "steps"))
    restarts = [Restart(s, data.draw(st.floats(1.0, 4.0)), data.draw(st.floats(0.1, 1.0))) for s in steps]
    before, (peak, highest) = base, (base.phase_ends[0], max_lr)
    for i, restart in enumerate(restarts, 1):
        after = restarted(base, restarts[:i])
        s = restart.step
        assert all(after.lr(t) == before.lr(t) for t in range(s))  # the past is kept
        assert after.lr(s) <= before.lr(s)  # the first update after the restored state: never a higher lr
        top = next(e for e in after.phase_ends if e > s)  # the end of the new warm-up: its peak
        # before the old peak, the old peak scaled; at or after it, the lr of step s scaled: never higher
        highest = restart.lr_scale * (highest if s < peak else before.lr(s))
        assert top == int(top) and after.lr(int(top)) == pytest.approx(highest)
        assert all(after.lr(t) <= highest * (1 + 1e-12) for t in range(s + 1, last + 1))
        assert after.lr(last) == pytest.approx(base.lr(last) * highest / max_lr, rel=1e-9, abs=1e-15)
        before, peak = after, top
