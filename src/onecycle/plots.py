"""Plots (matplotlib, Agg backend). Plotting reads results; it never computes them."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from onecycle import rundir
from onecycle.schedules import POLICIES, WARM_STARTS, Policy, one_cycle

if TYPE_CHECKING:
    from onecycle.range_test import RangeTestResult
    from onecycle.sweep import SweepResult


def save(fig: Figure, out: str | Path | None) -> Figure:
    """Write ``fig`` to ``out`` (format from the suffix: .png, .svg, .pdf) atomically if given, then close it."""
    if out is not None:
        out = Path(out)
        fmt = out.suffix[1:].lower() or None
        rundir.atomic_write(out, lambda f: fig.savefig(f, format=fmt, dpi=120, bbox_inches="tight"))
    plt.close(fig)
    return fig


def plotted_steps(total_steps: int, corners: Sequence[float] = (), points: int = 2000) -> list[int]:
    """The steps a schedule's plot draws: every step up to ``points`` of them, else ``points`` evenly spaced ones
    and the steps either side of each ``corner`` (phase end), so a schedule of any length plots in constant
    memory with its corners sharp."""
    if total_steps <= points:
        return list(range(total_steps))
    last = total_steps - 1
    steps = {round(i * last / (points - 1)) for i in range(points)}
    steps |= {min(max(math.floor(c) + d, 0), last) for c in corners for d in (0, 1)}
    return sorted(steps)


def plot_schedule(cycle: Policy | None = None, out: str | Path | None = None, **one_cycle_kwargs: Any) -> Figure:
    """Two panels, learning rate and momentum against iteration, like the article's schedule figure (one when
    the policy leaves momentum to the optimizer), titled with the policy's name.

    Pass a :class:`~onecycle.schedules.Policy` or the arguments of :func:`~onecycle.schedules.one_cycle`.
    """
    if cycle is None:
        cycle = one_cycle(**one_cycle_kwargs)
    steps = plotted_steps(cycle.total_steps, cycle.phase_ends)
    panels = 2 if cycle.momentum is not None else 1
    fig, axes = plt.subplots(1, panels, figsize=(5 * panels, 3.6), squeeze=False)
    ax = axes[0][0]
    ax.plot(steps, [cycle.lr(t) for t in steps], color="tab:blue")
    ax.set(title=f"Learning rate ({POLICIES[cycle.name]})", xlabel="iteration", ylabel="learning rate")
    for end in cycle.phase_ends[:-1]:
        for a in axes[0]:
            a.axvline(end, color="0.8", lw=0.8, ls="--")
    if cycle.momentum is not None:
        ax = axes[0][1]
        ax.plot(steps, [cycle.momentum(t) for t in steps], color="tab:orange")
        ax.set(title="Momentum", xlabel="iteration", ylabel="momentum")
    fig.tight_layout()
    return save(fig, out)


_RULE_STYLE = {"valley": "tab:green", "steepest": "tab:purple", "minimum_div10": "tab:brown"}


def _loss_ylim(curves: list) -> tuple[float, float]:
    """A y-range that shows the useful part of the curves, not the explosion at the end."""
    finite = [v for c in curves for v in c.filtered if math.isfinite(v)]
    if not finite:
        return (0.0, 1.0)
    low, start = min(finite), max(c.filtered[0] for c in curves if c.filtered)
    high = max(start, low) * 1.25
    pad = 0.05 * (high - low) or 0.1 * abs(high) or 1.0
    return (low - pad, high + pad)


def plot_range_test(result: RangeTestResult, out: str | Path | None = None,
                    trained_max_lr: float | None = None) -> Figure:
    """Loss against learning rate (log x): raw points, the online EMA, the unshifted (zero-phase) smoothing,
    each rule's suggestion, the recommended max_lr with the ``[max_lr/div, max_lr]`` band that the schedule in the
    result's settings rises through (1cycle when they name none; no band for one that starts at max_lr), the stop
    point and, when recorded, test losses (``val_data``). ``trained_max_lr``: the max_lr a run trained at, marked
    when given."""
    fig, ax = plt.subplots(figsize=(10, 4.5))
    low, high = _loss_ylim(result.curves)
    for i, c in enumerate(result.curves):
        first = i == 0
        ax.scatter(c.lrs, c.losses, s=6, color="0.6", alpha=0.6 if first else 0.3,
                   label="loss (raw)" if first else None)
        ax.plot(c.lrs, c.smoothed, color="tab:blue", lw=1, alpha=0.8 if first else 0.3, ls=":",
                label="EMA (online, stop rule)" if first else None)
        ax.plot(c.lrs[: len(c.filtered)], c.filtered, color="tab:blue", lw=2, alpha=1.0 if first else 0.35,
                label="zero-phase smoothed" if first else None)
        if c.val_steps:
            ax.plot([c.lrs[s] for s in c.val_steps], c.val_losses, "o-", color="tab:orange", ms=3,
                    alpha=1.0 if first else 0.35, label="test loss" if first else None)
        ax.plot([c.stop_lr], [high if not math.isfinite(c.smoothed[-1]) else min(c.smoothed[-1], high)], "x",
                color="tab:red", ms=9, clip_on=False, label=f"stop: {c.stop_reason}" if first else None)
    rec = result.recommendation
    for name, lr in rec.suggestions.items():
        if lr is not None:
            ax.axvline(lr, color=_RULE_STYLE.get(name, "0.4"), ls="--", lw=1, label=f"{name}: {lr:.2g}")
    schedule = result.settings.get("schedule") or "onecycle"
    if rec.max_lr is not None and schedule in WARM_STARTS:  # the lrs the schedule runs at, up to its peak
        span = "1cycle range" if schedule == "onecycle" else "warm-up range"
        ax.axvspan(rec.min_lr, rec.max_lr, color="tab:green", alpha=0.12,
                   label=f"{span} {rec.min_lr:.3g} – {rec.max_lr:.3g} ({rec.confidence} confidence)")
    if rec.max_lr is not None:
        ax.axvline(rec.max_lr, color="tab:green", lw=2, label=f"max_lr {rec.max_lr:.3g} (recommended)")
    if trained_max_lr is not None:
        ax.axvline(trained_max_lr, color="black", lw=2, ls="-.", label=f"max_lr {trained_max_lr:.3g} (trained)")
    ax.set_xscale("log")
    ax.set_ylim(low, high)
    ax.set(xlabel="learning rate", ylabel="loss", title="Learning-rate range test")
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
    ax.grid(True, which="both", alpha=0.2)
    fig.tight_layout()
    return save(fig, out)


def plot_sweep(result: SweepResult, out: str | Path | None = None) -> Figure:
    """The range-test curves of a sweep overlaid (zero-phase smoothed), each value's recommended max_lr marked,
    like the article's "LR Finder for various weight decay values". The picked value's curve is drawn thick, on
    top of the others (which are thinner and dashed, so it shows even where the curves coincide) and marked
    "(pick)" in the legend."""
    fig, ax = plt.subplots(figsize=(9, 4.5))
    colors = plt.cm.viridis([0.85 * i / max(len(result.values) - 1, 1) for i in range(len(result.values))])
    for value, res, color, ok in zip(result.values, result.results, colors, result.eligible):
        c = res.curves[0]
        picked = value == result.pick
        label = f"{result.param}={value:g}" if isinstance(value, (int, float)) else f"{result.param}={value}"
        label += " (pick)" if picked else ("" if ok else " (not eligible)")
        style = dict(lw=3.0, zorder=4) if picked else dict(lw=1.2, ls="--", alpha=0.8, zorder=3)
        ax.plot(c.lrs[: len(c.filtered)], c.filtered, color=color, label=label, **style)
        if res.max_lr is not None:
            ax.axvline(res.max_lr, color=color, ls=":", lw=2 if picked else 1)
    ax.set_xscale("log")
    ax.set_ylim(*_loss_ylim([r.curves[0] for r in result.results]))
    ax.set(xlabel="learning rate", ylabel="loss (smoothed)", title=f"Range test for various {result.param}")
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
    ax.grid(True, which="both", alpha=0.2)
    fig.tight_layout()
    return save(fig, out)


_SPLITS = (("train", "train", "-o"), ("test", "val", "--s"))
"""Each split's name on the plots, the prefix of its keys in the metrics (``val_*`` holds the test split), style."""


def plot_history(histories: dict[str, list[dict[str, Any]]], out: str | Path | None = None,
                 lr: tuple[Sequence[float], Sequence[float]] | None = None) -> Figure:
    """Per-epoch train and test loss (left) and accuracy (right, when recorded), one colour per run; the epoch
    axes have integer ticks. ``lr``: the learning rate against the epoch (fractional: ``(epochs, lrs)``), drawn
    over the loss on an axis of its own, like the article's loss curves through a cycle."""
    with_accuracy = any("train_accuracy" in h for history in histories.values() for h in history)
    metrics = ["loss", "accuracy"] if with_accuracy else ["loss"]
    fig, axes = plt.subplots(1, len(metrics), figsize=(5 * len(metrics), 3.8), squeeze=False)
    panels = dict(zip(metrics, axes[0]))
    for (name, history), color in zip(histories.items(), plt.cm.tab10.colors):
        run = f"{name} " if len(histories) > 1 else ""
        for split, prefix, style in _SPLITS:
            for metric, ax in panels.items():
                key, scale = f"{prefix}_{metric}", 100 if metric == "accuracy" else 1
                points = [(h["epoch"], scale * h[key]) for h in history if key in h]
                if points:
                    ax.plot(*zip(*points), style, ms=3, color=color, label=f"{run}{split}")
    for metric, ax in panels.items():
        ax.set(xlabel="epoch", ylabel="accuracy (%)" if metric == "accuracy" else "loss", title=metric.capitalize())
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    if lr is not None:
        _overlay_lr(panels["loss"], *lr)
    fig.tight_layout()
    return save(fig, out)


def _overlay_lr(ax: Any, epochs: Sequence[float], lrs: Sequence[float]) -> None:
    """The learning rate on a second y axis of ``ax`` (grey), in the legend with ``ax``'s lines."""
    lr_ax = ax.twinx()
    lr_ax.plot(epochs, lrs, color="0.45", lw=1.2, label="learning rate")
    lr_ax.set_ylabel("learning rate")
    lr_ax.set_ylim(bottom=0)
    lines = ax.get_lines() + lr_ax.get_lines()
    ax.legend(lines, [line.get_label() for line in lines], fontsize=8)
