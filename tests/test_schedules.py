"""Schedules: closed forms, golden values against torch's OneCycleLR, and properties of the 1cycle policy."""

import itertools
import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from onecycle.schedules import Join, constant, cosine, exponential, join, linear, one_cycle


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
    ],
)
def test_bad_arguments_name_themselves(kwargs, name):
    with pytest.raises(ValueError, match=name):
        one_cycle(**kwargs)


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
