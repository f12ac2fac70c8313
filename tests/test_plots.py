"""Plots read results only: built here from hand-made results, checked through the matplotlib objects."""

import numpy as np
import pytest

from onecycle.plots import plot_history, plot_range_test, plot_sweep
from onecycle.range_test import Curve, RangeTestResult
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
