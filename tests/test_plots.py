"""Plots read results only: built here from hand-made results, checked through the matplotlib objects."""

import math
import tracemalloc

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from onecycle.plots import plot_history, plot_range_test, plot_schedule, plot_sweep, plotted_steps
from onecycle.range_test import Curve, RangeTestResult
from onecycle.schedules import POLICIES, policy
from onecycle.suggestions import recommend, zero_phase_smooth
from onecycle.sweep import SweepResult


def _result(shift=0.0, val=False):
    lrs = np.logspace(-5, 1, 80)
    x = np.log10(lrs)
    losses = 2.3 - 1.5 / (1 + np.exp(-(x + 2.5 - shift) / 0.3)) + np.exp((x - 0.5) / 0.2)
    curve = Curve(lrs.tolist(), losses.tolist(), losses.tolist(), "smoothed loss exceeded 4x its best", True,
                  filtered=zero_phase_smooth(lrs, losses).tolist())
    if val:
        curve.val_steps, curve.val_losses = [0, 40], [2.3, 1.0]
    return RangeTestResult([curve], recommend(lrs, losses))


def _labels(ax):
    return [t.get_text() for t in ax.get_legend().get_texts()]


def test_range_test_legend_names_the_recommended_max_lr_and_the_test_loss():
    result = _result(val=True)
    labels = _labels(plot_range_test(result).axes[0])
    assert f"max_lr {result.max_lr:.3g} (recommended)" in labels
    assert "test loss" in labels and not any("validation" in label for label in labels)


def test_sweep_draws_the_picked_curve_thick_and_on_top():
    results = [_result(), _result(), _result()]  # identical curves: the pick must not hide under the others
    sweep = SweepResult("weight_decay", [1e-3, 1e-4, 1e-5], results, 1e-4, [True, True, True])
    ax = plot_sweep(sweep).axes[0]
    lines = {line.get_label(): line for line in ax.get_lines() if not line.get_label().startswith("_")}
    picked = lines["weight_decay=0.0001 (pick)"]
    others = [line for label, line in lines.items() if "(pick)" not in label]
    assert len(others) == 2
    assert all(picked.get_zorder() > o.get_zorder() and picked.get_linewidth() > o.get_linewidth() for o in others)
    assert "weight_decay=0.0001 (pick)" in _labels(ax)


def _history(epochs, accuracy=True):
    rows = []
    for e in range(1, epochs + 1):
        row = {"epoch": e, "train_loss": 1.0 / e, "val_loss": 1.1 / e}
        if accuracy:
            row.update(train_accuracy=0.5 + 0.1 * e, val_accuracy=0.45 + 0.1 * e)
        rows.append(row)
    return rows


@pytest.mark.parametrize("epochs", [2, 3, 7])
def test_history_has_integer_epoch_ticks_and_says_test(epochs):
    fig = plot_history({"a": _history(epochs), "b": _history(epochs)})
    assert len(fig.axes) == 2
    for ax in fig.axes:
        ticks = [t for t in ax.get_xticks() if 1 <= t <= epochs]
        assert ticks and all(float(t).is_integer() for t in ticks)
        assert _labels(ax) == ["a train", "a test", "b train", "b test"]


def test_history_without_accuracy_plots_the_loss_only():
    fig = plot_history({"regression": _history(3, accuracy=False)})
    assert len(fig.axes) == 1 and fig.axes[0].get_title() == "Loss"
    assert _labels(fig.axes[0]) == ["train", "test"]


def test_range_test_marks_the_max_lr_trained_at_when_given():
    result = _result()
    assert not any("(trained)" in label for label in _labels(plot_range_test(result).axes[0]))
    ax = plot_range_test(result, trained_max_lr=0.05).axes[0]
    assert "max_lr 0.05 (trained)" in _labels(ax)
    assert any(line.get_label() == "max_lr 0.05 (trained)" and line.get_xdata()[0] == 0.05 for line in ax.get_lines())


def test_history_overlays_the_learning_rate_on_the_loss_on_its_own_axis():
    epochs, lrs = [0.0, 0.5, 1.0, 1.5], [0.01, 0.1, 0.05, 0.001]
    fig = plot_history({"a": _history(2)}, lr=(epochs, lrs))
    loss, accuracy, lr_axis = fig.axes
    assert lr_axis.get_shared_x_axes().joined(loss, lr_axis) and lr_axis.get_ylabel() == "learning rate"
    (line,) = lr_axis.get_lines()
    assert list(line.get_xdata()) == epochs and list(line.get_ydata()) == lrs
    assert _labels(loss) == ["train", "test", "learning rate"] and _labels(accuracy) == ["train", "test"]


@pytest.mark.parametrize("total", [2, 1999, 2000, 2001, 20_000_000, 2**31 - 1])
def test_plotted_steps_are_bounded_and_hold_each_side_of_every_corner(total):
    corners = (0.45 * total - 1, 0.9 * total - 2, total - 1.0)
    steps = plotted_steps(total, corners, points=2000)
    assert steps == sorted(set(steps)) and steps[0] == 0 and steps[-1] == total - 1
    assert len(steps) <= 2000 + 2 * len(corners)
    for corner in corners:
        assert {min(max(math.floor(corner) + d, 0), total - 1) for d in (0, 1)} <= set(steps)
    if total <= 2000:
        assert steps == list(range(total))


_LINEAR_POLICIES = st.fixed_dictionaries({
    "schedule": st.sampled_from([name for name in POLICIES if name != "cosine"]),  # linear between corners
    "max_lr": st.floats(1e-3, 10.0),
    "total_steps": st.integers(20, 3000),
    "div_factor": st.floats(1.5, 100.0),
    "three_phase": st.booleans(),
    "momentum": st.just(0.9),
})


@settings(max_examples=30, deadline=None)
@given(kwargs=_LINEAR_POLICIES, points=st.integers(2, 100))
def test_the_drawn_line_of_a_piecewise_linear_schedule_is_exact(kwargs, points):
    """Drawn through the plotted steps only, a schedule whose phases are linear passes through its value at every
    step: no corner is cut, however few points are drawn."""
    schedule = policy(**kwargs)
    steps = plotted_steps(schedule.total_steps, schedule.phase_ends, points=points)
    every = np.arange(schedule.total_steps)
    for values in (schedule.lr, schedule.momentum):
        drawn = np.interp(every, steps, [values(t) for t in steps])
        exact = np.array([values(t) for t in every])
        np.testing.assert_allclose(drawn, exact, rtol=1e-9, atol=1e-12 * kwargs["max_lr"])


@pytest.mark.parametrize("name", list(POLICIES))
def test_plot_schedule_of_twenty_million_steps_draws_a_few_thousand_points(name):
    schedule = policy(name, max_lr=0.8, total_steps=20_000_000, momentum=0.9)
    tracemalloc.start()
    try:
        fig = plot_schedule(schedule)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 50 << 20  # every step would be hundreds of megabytes
    line = fig.axes[0].get_lines()[0]
    steps, lrs = line.get_xdata(), line.get_ydata()
    assert len(steps) <= 2000 + 2 * len(schedule.phase_ends)
    for _, first, last, lr_first, lr_last in schedule.table():  # each phase's first and last step, at its value
        assert {first, last} <= set(steps)
        assert lrs[list(steps).index(first)] == lr_first and lrs[list(steps).index(last)] == lr_last


@pytest.mark.parametrize(("schedule", "band"), [(None, "1cycle range"), ("onecycle", "1cycle range"),
                                                 ("cosine", "warm-up range"), ("linear", "warm-up range"),
                                                 ("step", None), ("constant", None)])
def test_range_test_band_is_the_range_the_schedule_rises_through(schedule, band):
    result = _result()
    if schedule is not None:
        result.settings["schedule"] = schedule
    labels = _labels(plot_range_test(result).axes[0])
    rec = result.recommendation
    spans = [label for label in labels if " range " in label]
    assert spans == ([] if band is None else
                     [f"{band} {rec.min_lr:.3g} – {rec.max_lr:.3g} ({rec.confidence} confidence)"])
    assert f"max_lr {result.max_lr:.3g} (recommended)" in labels
