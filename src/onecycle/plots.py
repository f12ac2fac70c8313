"""Plots (matplotlib, Agg backend). Plotting reads results; it never computes them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib.figure import Figure

from onecycle.schedules import OneCycle, one_cycle


def save(fig: Figure, out: str | Path | None) -> Figure:
    """Write ``fig`` to ``out`` (format from the suffix: .png, .svg, .pdf) if given, then close it."""
    if out is not None:
        out = Path(out)
        out.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(out, dpi=120, bbox_inches="tight")
    plt.close(fig)
    return fig


def plot_schedule(cycle: OneCycle | None = None, out: str | Path | None = None, **one_cycle_kwargs: Any) -> Figure:
    """Two panels, learning rate and momentum against iteration, like the article's schedule figure.

    Pass a :class:`~onecycle.schedules.OneCycle` or the arguments of :func:`~onecycle.schedules.one_cycle`.
    """
    if cycle is None:
        cycle = one_cycle(**one_cycle_kwargs)
    steps = list(range(cycle.total_steps))
    panels = 2 if cycle.momentum is not None else 1
    fig, axes = plt.subplots(1, panels, figsize=(5 * panels, 3.6), squeeze=False)
    ax = axes[0][0]
    ax.plot(steps, [cycle.lr(t) for t in steps], color="tab:blue")
    ax.set(title="Learning rate", xlabel="iteration", ylabel="learning rate")
    for end in cycle.phase_ends[:-1]:
        for a in axes[0]:
            a.axvline(end, color="0.8", lw=0.8, ls="--")
    if cycle.momentum is not None:
        ax = axes[0][1]
        ax.plot(steps, [cycle.momentum(t) for t in steps], color="tab:orange")
        ax.set(title="Momentum", xlabel="iteration", ylabel="momentum")
    fig.tight_layout()
    return save(fig, out)
