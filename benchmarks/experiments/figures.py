"""The twins' figures (matplotlib, Agg), drawn from the analysed results only."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from onecycle.plots import plt, save

NAMES = {"onecycle": "1cycle (tuned)", "step": "step (tuned)", "linear": "linear to zero (tuned)",
         "cosine": "cosine (tuned)", "onecycle@range-test": "1cycle at the range test's lr"}
COLORS = {"onecycle": "tab:red", "step": "tab:gray", "linear": "tab:blue", "cosine": "tab:green",
          "onecycle@range-test": "tab:orange"}
FIGURES = {"budget": "twins-budget.png", "momentum": "twins-momentum.png", "finder": "twins-finder.png",
           "superconvergence": "twins-superconvergence.png", "short_cycle": "twins-short-cycle.png",
           "weight_decay": "twins-weight-decay.png"}
"""Each figure's file name, by the section of the results it draws."""


def _pct(v: float | None) -> float:
    return float("nan") if v is None else 100 * v


def budget(results: dict[str, Any], targets: list[float], out: Path) -> None:
    """Test accuracy against the training budget, mean ± std over the seeds, per schedule at its best grid lr,
    and 1cycle at the range test's lr; the targets dotted."""
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    for name, points in results["budget"]["rows"].items():
        pts = [p for p in points if p["mean"] is not None]
        if not pts:
            continue
        ax.errorbar([p["epochs"] for p in pts], [_pct(p["mean"]) for p in pts],
                    yerr=[_pct(p["std"] or 0.0) for p in pts], label=NAMES.get(name, name), color=COLORS.get(name),
                    capsize=3, marker="o", ms=4, ls="--" if name == "onecycle@range-test" else "-")
    for t in targets:
        ax.axhline(100 * t, color="0.6", lw=0.8, ls=":")
    ax.set_xscale("log", base=2)
    budgets = sorted({p["epochs"] for p in results["budget"]["recommended"]})
    ax.set_xticks(budgets, [str(b) for b in budgets])
    ax.set(xlabel="training budget (epochs)", ylabel="test accuracy (%)",
           title="Accuracy against budget (mean ± std over seeds)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    save(fig, out)


def momentum(results: dict[str, Any], out: Path) -> None:
    """1cycle's accuracy against max_lr with cyclical and with constant momentum."""
    m = results["momentum"]
    fig, ax = plt.subplots(figsize=(5.6, 3.8))
    for name, color in (("cyclical", "tab:red"), ("constant", "tab:blue")):
        rows = [r for r in m["rows"] if r[name]["mean"] is not None]
        label = "cyclical 0.95 → 0.85 → 0.95" if name == "cyclical" else f"constant {m['constant_momentum']:g}"
        ax.errorbar([r["lr"] for r in rows], [_pct(r[name]["mean"]) for r in rows],
                    yerr=[_pct(r[name]["std"] or 0.0) for r in rows], label=label, color=color, capsize=3,
                    marker="o", ms=4)
    ax.set_xscale("log")
    ax.set(xlabel="max_lr", ylabel="test accuracy (%)", title=f"1cycle, {m['epochs']} epochs: momentum")
    ax.legend(fontsize=8)
    fig.tight_layout()
    save(fig, out)


def finder(results: dict[str, Any], out: Path) -> None:
    """The range test (zero-phase-smoothed loss) with the learning rates read off it."""
    f = results["finder"]
    fig, ax = plt.subplots(figsize=(5.6, 3.8))
    ax.plot(f["lrs"][: len(f["filtered"])], f["filtered"], color="tab:blue")
    styles = {"recommended": "tab:orange", "minimum": "tab:red", "moderate": "tab:green"}
    for name, lr in results["lrs"].items():
        ax.axvline(lr, color=styles.get(name, "0.5"), ls="--", lw=1, label=f"{name} {lr:.3g}")
    finite = [v for v in f["filtered"] if v == v]
    if finite:
        ax.set_ylim(min(finite) * 0.9, min(max(finite), 4 * min(finite)))
    ax.set_xscale("log")
    ax.set(xlabel="learning rate", ylabel="loss (smoothed)", title="Range test")
    ax.legend(fontsize=8)
    fig.tight_layout()
    save(fig, out)


def _loss_panel(ax: Any, curve: dict[str, Any], title: str) -> None:
    """Train and test loss per epoch (mean ± std band), the lr on a second axis."""
    end = curve["epoch"]
    middle = [e - 0.5 for e in end]
    for name, color, label, x in (("train_loss", "tab:blue", "train loss (mean over the epoch)", middle),
                                  ("val_loss", "tab:orange", "test loss (after the epoch)", end)):
        mean, std = curve[name], [s or 0.0 for s in curve[f"{name}_std"]]
        ax.plot(x, mean, color=color, marker="o", ms=3, label=label)
        ax.fill_between(x, [m - s for m, s in zip(mean, std)], [m + s for m, s in zip(mean, std)], color=color,
                        alpha=0.2)
    ax.set(xlabel="epoch", ylabel="loss", title=title)
    lr = ax.twinx()
    lr.plot(curve["lr_curve"]["epoch"], curve["lr_curve"]["lr"], color="0.5", lw=1, ls="--", label="lr")
    lr.set_ylabel("learning rate", color="0.4")
    lines = ax.get_legend_handles_labels()
    more = lr.get_legend_handles_labels()
    ax.legend(lines[0] + more[0], lines[1] + more[1], fontsize=8)


def _loss_panels(curves: list[tuple[dict[str, Any], str]], out: Path) -> None:
    fig, axes = plt.subplots(1, len(curves), figsize=(5.4 * len(curves), 3.8), squeeze=False)
    for ax, (curve, title) in zip(axes[0], curves):
        _loss_panel(ax, curve, title)
    fig.tight_layout()
    save(fig, out)


def _title(name: str, curve: dict[str, Any]) -> str:
    acc = curve["accuracy"]
    spread = f" ± {100 * acc['std']:.1f}" if acc.get("std") is not None else ""
    return f"{name}: max_lr {curve['max_lr']:.3g}, {_pct(acc['mean']):.1f}{spread}%"


def superconvergence(results: dict[str, Any], out: Path) -> None:
    curves = results["superconvergence"]["curves"]
    _loss_panels([(curves[n], _title(f"{n} lr", curves[n])) for n in ("minimum", "moderate") if curves.get(n)], out)


def short_cycle(results: dict[str, Any], out: Path) -> None:
    sc = results["short_cycle"]
    names = {"standard": "standard split", "short": f"cycle ends at epoch {sc['cycle_epochs']}"}
    _loss_panels([(sc["curves"][n], _title(names[n], sc["curves"][n])) for n in ("standard", "short")
                  if sc["curves"].get(n)], out)


def weight_decay(results: dict[str, Any], out: Path) -> None:
    """The sweep's range tests overlaid (each value's recommended max_lr marked), and each value trained."""
    wd = results["weight_decay"]
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 3.8))
    values = wd["sweep"]["values"]
    for i, (value, curve, lr) in enumerate(zip(values, wd["curves"], wd["sweep"]["max_lrs"])):
        color = plt.get_cmap("viridis")(i / max(1, len(values) - 1))
        left.plot(curve["lrs"][: len(curve["filtered"])], curve["filtered"], color=color,
                  label=f"wd {value:g}{' (pick)' if value == wd['sweep']['pick'] else ''}")
        if lr is not None:
            left.axvline(lr, color=color, ls=":", lw=1)
    finite = [v for c in wd["curves"] for v in c["filtered"] if v == v]
    if finite:
        left.set_ylim(min(finite) * 0.9, min(max(finite), 4 * min(finite)))
    left.set_xscale("log")
    left.set(xlabel="learning rate", ylabel="loss (smoothed)", title="Range tests per weight decay")
    left.legend(fontsize=8)
    trained = [t for t in wd["trained"] if t["mean"] is not None]
    x = list(range(len(trained)))
    right.errorbar(x, [_pct(t["mean"]) for t in trained], yerr=[_pct(t["std"] or 0.0) for t in trained],
                   color="tab:blue", capsize=3, marker="o", ls="none")
    for i, t in enumerate(trained):
        if t["weight_decay"] == wd["sweep"]["pick"]:
            right.plot([i], [_pct(t["mean"])], marker="*", ms=14, color="tab:red", ls="none", label="sweep's pick")
    right.set_xticks(x, [f"{t['weight_decay']:g}\nlr {t['lr']:.2g}" for t in trained], fontsize=8)
    right.set(xlabel="weight decay (trained at its own recommended max_lr)", ylabel="test accuracy (%)",
              title=f"Trained {wd['epochs']} epoch(s) (mean ± std)")
    if right.get_legend_handles_labels()[0]:
        right.legend(fontsize=8)
    fig.tight_layout()
    save(fig, out)


def draw(results: dict[str, Any], targets: list[float], images: Path) -> dict[str, str]:
    """Every figure the results can fill, into ``images``; returns the file name of each by section."""
    images.mkdir(parents=True, exist_ok=True)
    drawn = {}
    if any(p["mean"] is not None for points in results["budget"]["rows"].values() for p in points):
        budget(results, targets, images / FIGURES["budget"])
        drawn["budget"] = FIGURES["budget"]
    if any(r["cyclical"]["mean"] is not None for r in results["momentum"]["rows"]):
        momentum(results, images / FIGURES["momentum"])
        drawn["momentum"] = FIGURES["momentum"]
    if results["finder"]:
        finder(results, images / FIGURES["finder"])
        drawn["finder"] = FIGURES["finder"]
    if any(results["superconvergence"]["curves"].get(n) for n in ("minimum", "moderate")):
        superconvergence(results, images / FIGURES["superconvergence"])
        drawn["superconvergence"] = FIGURES["superconvergence"]
    if any(results["short_cycle"]["curves"].values()):
        short_cycle(results, images / FIGURES["short_cycle"])
        drawn["short_cycle"] = FIGURES["short_cycle"]
    if results["weight_decay"].get("trained"):
        weight_decay(results, images / FIGURES["weight_decay"])
        drawn["weight_decay"] = FIGURES["weight_decay"]
    return drawn
