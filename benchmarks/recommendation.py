"""Recommendation quality: how much test accuracy each learning-rate rule leaves on the table.

For every case (dataset, network, optimizer, batch size, training budget) the ground truth is the best
``max_lr`` of a log-spaced grid of 1cycle runs (mean test accuracy over seeds). One range test under the same
conditions then gives every rule's answer: the library's recommendation, its individual suggestion rules and
the published rules of fastai, pytorch-lr-finder and PyTorch Lightning (re-implemented below from their
descriptions). Each answer is trained with 1cycle over the same seeds and scored by its regret::

    regret = mean accuracy at the rule's lr - mean accuracy at the best grid lr     (accuracy points)

0 is as good as the grid's best; negative is accuracy lost; slightly positive is possible (a rule landing
between grid points, or seed noise). A rule whose lr makes training diverge keeps the accuracy it reaches.

The weight-decay part compares the pick of :func:`onecycle.sweep.sweep` with the best of a trained
weight-decay grid at the case's best lr.

Regrets are also read off a unimodal fit of accuracy against lr (see :func:`add_denoised`), which shares the
seeds' noise between neighbouring lrs.

Run ``python benchmarks/recommendation.py --jobs 2`` (about 65 minutes of one-thread training from an empty run
cache, two cases at a time); ``--quick`` is a smoke run of a few seconds. Finished runs are cached in
``benchmarks/results/recommendation-runs.json``, so a rerun (another rule, another seed) trains only what is
new. Results are written after every case: raw JSON under ``benchmarks/results/`` and the Markdown report
(``docs/BENCHMARKS.md`` unless ``--out``).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import platform
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
RESULTS_DIR = ROOT / "benchmarks" / "results"
NOTES = ROOT / "benchmarks" / "recommendation-notes.md"
RUNS_FILE = RESULTS_DIR / "recommendation-runs.json"

# ------------------------------------------------------------------------------------------------- cases


def half_decades(lo: int, hi: int) -> tuple[float, ...]:
    """``10 ** (k / 2)`` for ``k = lo..hi``: the grid of learning rates, half a decade apart."""
    return tuple(float(10 ** (k / 2)) for k in range(lo, hi + 1))


SGD_GRID = half_decades(-5, 1)  # 3.2e-3 .. 3.2
ADAMW_GRID = half_decades(-8, -2)  # 1e-4 .. 1e-1
SGD_WDS = (1e-3, 1e-4, 1e-5)  # the library's default sweep values
ADAMW_WDS = (1e-1, 1e-2, 1e-3)


@dataclass(frozen=True)
class Case:
    """One benchmark case: what is trained, for how long, and the grid its ground truth comes from."""

    name: str
    dataset: str
    model: str
    optimizer: str
    batch_size: int
    epochs: int
    train_subset: int | None = None
    test_subset: int | None = None
    held_out: bool = False  # not looked at when choosing the library's defaults
    grid: tuple[float, ...] = SGD_GRID
    weight_decays: tuple[float, ...] = ()  # trained weight-decay grid and sweep values; empty: skipped
    augment: str = "none"
    nesterov: bool = False
    label_smoothing: float = 0.0
    finder_variants: bool = True  # also train the rule on the FINDER_VARIANTS range tests

    def settings(self) -> dict[str, Any]:
        """The :class:`onecycle.config.RunConfig` keys of this case."""
        return {"dataset": self.dataset, "model": self.model, "optimizer": self.optimizer,
                "batch_size": self.batch_size, "epochs": self.epochs, "train_subset": self.train_subset,
                "test_subset": self.test_subset, "augment": self.augment, "nesterov": self.nesterov,
                "label_smoothing": self.label_smoothing, "download": False, "progress": False}


CASES: tuple[Case, ...] = (  # in running order: cheapest first, so a cut run loses the dearest cases
    Case("digits-cnn-sgd-3ep", "digits", "small-cnn", "sgd", 32, 3, weight_decays=SGD_WDS),
    Case("digits-resnet20-sgd-3ep", "digits", "resnet20", "sgd", 32, 3, weight_decays=SGD_WDS),
    Case("digits-nobn-adamw-3ep", "digits", "small-cnn-nobn", "adamw", 32, 3, grid=ADAMW_GRID,
         weight_decays=ADAMW_WDS),
    Case("digits-cnn-adamw-1ep", "digits", "small-cnn", "adamw", 32, 1, grid=ADAMW_GRID, weight_decays=ADAMW_WDS),
    Case("digits-nobn-sgd-5ep", "digits", "small-cnn-nobn", "sgd", 32, 5, held_out=True, weight_decays=SGD_WDS),
    Case("digits-resnet20-adamw-5ep", "digits", "resnet20", "adamw", 32, 5, held_out=True, grid=ADAMW_GRID,
         weight_decays=ADAMW_WDS),
    Case("fmnist5k-cnn-sgd-1ep", "fashion-mnist", "small-cnn", "sgd", 128, 1, 5000, 2000, weight_decays=SGD_WDS),
    Case("fmnist5k-cnn-adamw-1ep", "fashion-mnist", "small-cnn", "adamw", 128, 1, 5000, 2000, held_out=True,
         grid=ADAMW_GRID),
    Case("fmnist5k-nobn-sgd-3ep", "fashion-mnist", "small-cnn-nobn", "sgd", 128, 3, 5000, 2000),
    Case("fmnist5k-nobn-adamw-1ep", "fashion-mnist", "small-cnn-nobn", "adamw", 128, 1, 5000, 2000, held_out=True,
         grid=ADAMW_GRID),
    Case("fmnist5k-cnn-sgd-3ep", "fashion-mnist", "small-cnn", "sgd", 128, 3, 5000, 2000),
    # Second round: MLPs, full Fashion-MNIST, augmentation, label smoothing, Nesterov, batches 64 and 512,
    # budgets up to 10 epochs. No range-test variants (the first round measured them).
    Case("digits-mlp-adamw-1ep", "digits", "mlp", "adamw", 64, 1, held_out=True, grid=ADAMW_GRID,
         finder_variants=False),
    Case("digits-mlp-nesterov-10ep", "digits", "mlp", "sgd", 64, 10, nesterov=True, finder_variants=False),
    Case("fmnist5k-cnn-ls-nesterov-b64-2ep", "fashion-mnist", "small-cnn", "sgd", 64, 2, 5000, 2000,
         augment="flip", nesterov=True, label_smoothing=0.1, finder_variants=False),
    Case("fmnist-mlp-adamw-b512-3ep", "fashion-mnist", "mlp", "adamw", 512, 3, held_out=True, grid=ADAMW_GRID,
         finder_variants=False),
    Case("fmnist5k-resnet20-aug-2ep", "fashion-mnist", "resnet20", "sgd", 128, 2, 5000, 2000, held_out=True,
         augment="crop+flip", finder_variants=False),
    Case("fmnist10k-nobn-adamw-b512-5ep", "fashion-mnist", "small-cnn-nobn", "adamw", 512, 5, 10000, 2000,
         held_out=True, grid=ADAMW_GRID, finder_variants=False),
    Case("fmnist-nobn-sgd-b256-1ep", "fashion-mnist", "small-cnn-nobn", "sgd", 256, 1, finder_variants=False),
)

QUICK_CASE = Case("quick-digits-cnn-sgd-1ep", "digits", "small-cnn", "sgd", 32, 1, 512, None,
                  grid=(0.1, 1.0), weight_decays=(1e-3, 1e-5))


@dataclass(frozen=True)
class Settings:
    """How each case is measured."""

    seeds: tuple[int, ...] = (0, 1, 2)
    start_lr: float = 1e-5
    end_lr: float = 10.0
    num_steps: int = 100
    extend_grid: int = 2  # extra grid points tried past an edge when the best lr lies on it
    finder_seed: int = 0
    finder_variants: bool = True  # also train the rule on the FINDER_VARIANTS range tests


QUICK_SETTINGS = Settings(seeds=(0,), num_steps=20, extend_grid=0, finder_variants=False)

# ------------------------------------------------------------------------------ published rules (re-implemented)


def _finite_prefix(lrs: Sequence[float], losses: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    lr, y = np.asarray(lrs, dtype=float), np.asarray(losses, dtype=float)
    bad = np.flatnonzero(~np.isfinite(y))
    n = int(bad[0]) if len(bad) else len(y)
    return lr[:n], y[:n]


def debiased_ema(losses: np.ndarray, beta: float = 0.98) -> np.ndarray:
    """The running average fastai and Lightning record during their range tests (bias-corrected EMA)."""
    out, avg = np.empty(len(losses)), 0.0
    for i, value in enumerate(losses):
        avg = beta * avg + (1 - beta) * value
        out[i] = avg / (1 - beta ** (i + 1))
    return out


def seeded_ema(losses: np.ndarray, smooth_f: float = 0.05) -> np.ndarray:
    """pytorch-lr-finder's smoothing: the first loss as is, then ``smooth_f * loss + (1 - smooth_f) * prev``."""
    out = np.empty(len(losses))
    for i, value in enumerate(losses):
        out[i] = value if i == 0 else smooth_f * value + (1 - smooth_f) * out[i - 1]
    return out


def _fastai_curve(lrs: Sequence[float], losses: Sequence[float], num_steps: int) -> tuple[np.ndarray, np.ndarray]:
    """fastai reads its recorded (smoothed) losses without the first tenth of the planned steps and the last 5."""
    lr, y = _finite_prefix(lrs, losses)
    y = debiased_ema(y)
    skip = num_steps // 10
    return lr[skip:-5], y[skip:-5]


def fastai_minimum(lrs: Sequence[float], losses: Sequence[float], num_steps: int = 100) -> float | None:
    """fastai ``minimum``: the lr of the lowest recorded loss, divided by 10."""
    lr, y = _fastai_curve(lrs, losses, num_steps)
    return float(lr[int(np.argmin(y))] / 10) if len(y) else None


def fastai_steep(lrs: Sequence[float], losses: Sequence[float], num_steps: int = 100) -> float | None:
    """fastai ``steep``: the lr where the recorded loss falls fastest per unit of log lr (forward differences)."""
    lr, y = _fastai_curve(lrs, losses, num_steps)
    if len(y) < 2:
        return None
    slopes = np.diff(y) / np.diff(np.log(lr))
    return float(lr[int(np.argmin(slopes))])


def fastai_valley(lrs: Sequence[float], losses: Sequence[float], num_steps: int = 100) -> float | None:
    """fastai ``valley``: find the longest decreasing subsequence of the recorded loss, treat it as the span
    from its start to its end index, and take the lr half way along it (index
    ``start + floor(span / 3) + floor(span / 6)``)."""
    lr, y = _fastai_curve(lrs, losses, num_steps)
    n = len(y)
    if n < 2:
        return None
    length = np.ones(n, dtype=int)  # longest strictly decreasing subsequence ending at each point
    for i in range(1, n):
        before = length[:i][y[:i] > y[i]]
        if len(before):
            length[i] = before.max() + 1
    end = int(np.argmax(length))
    start = end - int(length[end]) + 1
    third = (end - start) / 3
    return float(lr[start + int(third) + int(third / 2)])


def fastai_slide(lrs: Sequence[float], losses: Sequence[float], num_steps: int = 100, lr_diff: int = 15,
                 thresh: float = 0.005, adjust_value: float = 1.0) -> float | None:
    """fastai ``slide``: slide a window of ``lr_diff`` points leftwards from the right end of the recorded loss
    until the loss gradients (per step) at its two ends agree within ``thresh``; the answer is the lr at the
    window's left end just before that (at the starting window if it already agrees)."""
    lr, y = _fastai_curve(lrs, losses, num_steps)
    if len(y) <= lr_diff:
        return None
    grad = np.gradient(y)
    right = len(y) - 1
    left = right - lr_diff
    answer = lr[left]
    while left >= 0 and abs(grad[right] - grad[left]) > thresh:
        answer = lr[left]
        right, left = right - 1, left - 1
    return float(answer * adjust_value)


def _steepest_per_step(lrs: Sequence[float], losses: Sequence[float], smooth: Callable[[np.ndarray], np.ndarray],
                       skip_start: int, skip_end: int) -> float | None:
    """The lr of the steepest per-step gradient of the smoothed finite prefix, after dropping ``skip_start``
    points at the start and ``skip_end`` at the end (the shared core of pytorch-lr-finder and Lightning)."""
    lr, y = _finite_prefix(lrs, losses)
    y = smooth(y)
    lr, y = lr[skip_start:len(lr) - skip_end], y[skip_start:len(y) - skip_end]
    if len(y) < 2:
        return None
    return float(lr[int(np.argmin(np.gradient(y)))])


def lr_finder_steepest(lrs: Sequence[float], losses: Sequence[float], skip_start: int = 10,
                       skip_end: int = 5) -> float | None:
    """pytorch-lr-finder's suggestion: the steepest per-step gradient of its smoothed loss after dropping the
    first ``skip_start`` and last ``skip_end`` points."""
    return _steepest_per_step(lrs, losses, seeded_ema, skip_start, skip_end)


def lightning_steepest(lrs: Sequence[float], losses: Sequence[float], skip_begin: int = 10,
                       skip_end: int = 1) -> float | None:
    """PyTorch Lightning's ``suggestion()``: the point of steepest negative per-step gradient of its smoothed
    loss after skipping ``skip_begin`` points at the start and ``skip_end`` at the end."""
    return _steepest_per_step(lrs, losses, debiased_ema, skip_begin, skip_end)


PUBLISHED_RULES: dict[str, Callable[[Sequence[float], Sequence[float], int], float | None]] = {
    "fastai valley": fastai_valley,
    "fastai slide": fastai_slide,
    "fastai minimum": fastai_minimum,
    "fastai steep": fastai_steep,
    "lr-finder": lambda lrs, losses, _n: lr_finder_steepest(lrs, losses),
    "lightning": lambda lrs, losses, _n: lightning_steepest(lrs, losses),
}

LIBRARY_RULES = ("valley", "steepest", "minimum_div10", "drop_fraction")
OURS = "ours"
RULES: tuple[str, ...] = (OURS, *LIBRARY_RULES, *PUBLISHED_RULES)


def rule_answers(lrs: Sequence[float], losses: Sequence[float], recommendation: dict[str, Any],
                 num_steps: int) -> dict[str, float | None]:
    """Every rule's lr for one range-test curve; the library's come from its recommendation."""
    answers: dict[str, float | None] = {OURS: recommendation["max_lr"]}
    answers.update({name: recommendation["suggestions"].get(name) for name in LIBRARY_RULES})
    answers.update({name: rule(lrs, losses, num_steps) for name, rule in PUBLISHED_RULES.items()})
    return answers


TRAINED_MARGINS: dict[str, float] = {"min/1.5": 1.5, "min/2": 2.0, "min/3": 3.0}
"""Candidates for the library's rule, trained like the rules: ``recommend(..., margin=m).max_lr`` (the smoothed
minimum / m, with the library's plateau cap). The other candidates are estimated from the grid."""


def margin_answers(finder: dict[str, Any]) -> dict[str, float | None]:
    """The :data:`TRAINED_MARGINS` candidates for one range-test curve."""
    from onecycle.suggestions import recommend

    return {name: recommend(finder["lrs"], finder["losses"], diverged=finder.get("diverged", True),
                            margin=m).max_lr for name, m in TRAINED_MARGINS.items()}


def variant_answers(recommendation: dict[str, Any]) -> dict[str, float | None]:
    """Candidate replacements for the library's rule, read off the same curve: other divisors of the smoothed
    minimum, and the median of the library's rules clamped between minimum/10 and minimum/3."""
    lr_min = recommendation.get("lr_at_minimum")
    if lr_min is None:
        return {}
    out: dict[str, float | None] = {f"min/{d:g}": lr_min / d for d in (1.5, 2, 3, 4, 5, 10)}
    rules = [v for k, v in recommendation["suggestions"].items() if v is not None and k in LIBRARY_RULES]
    if rules:
        median = float(10 ** np.median(np.log10(rules)))
        out["median clamped [min/10, min/3]"] = min(max(median, lr_min / 10), lr_min / 3)
    return out


# ---------------------------------------------------------------------------------------------- scoring


@dataclass
class Run:
    """A 1cycle run's outcome: test accuracy (0..1) and whether training hit a non-finite loss."""

    accuracy: float
    diverged: bool = False


TrainFn = Callable[[float, int], Run]
"""``train(max_lr, seed) -> Run`` for one case."""


def regret_points(accuracy: float, best: float) -> float:
    """Regret in accuracy points: ``100 * (accuracy - best)`` (0 best-possible, negative = accuracy lost)."""
    return 100.0 * (accuracy - best)


def lr_key(lr: float) -> float:
    """Learning rates equal to 6 significant digits share their runs."""
    return float(f"{lr:.6g}")


@dataclass
class Trials:
    """Memoised runs of one case, keyed by (lr, seed)."""

    train: TrainFn
    seeds: Sequence[int]
    runs: dict[tuple[float, int], Run] = field(default_factory=dict)

    def at(self, lr: float) -> dict[str, Any]:
        """Run (or reuse) every seed at ``lr``; the mean accuracy and whether any seed diverged."""
        runs = []
        for seed in self.seeds:
            key = (lr_key(lr), seed)
            if key not in self.runs:
                self.runs[key] = self.train(lr, seed)
            runs.append(self.runs[key])
        accs = [r.accuracy for r in runs]
        return {"lr": lr, "accuracies": accs, "accuracy": float(np.mean(accs)),
                "diverged": any(r.diverged for r in runs)}


def grid_search(trials: Trials, grid: Sequence[float], extend: int = 0) -> list[dict[str, Any]]:
    """Train every grid lr; while the best lies on an edge, add up to ``extend`` points past it (same ratio)."""
    lrs = sorted(grid)
    points = [trials.at(lr) for lr in lrs]
    ratio = lrs[1] / lrs[0] if len(lrs) > 1 else 10 ** 0.5
    for _ in range(extend):
        best = max(range(len(points)), key=lambda i: points[i]["accuracy"])
        if best == len(points) - 1:
            points.append(trials.at(points[-1]["lr"] * ratio))
        elif best == 0:
            points.insert(0, trials.at(points[0]["lr"] / ratio))
        else:
            break
    return points


def best_point(points: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The grid point of highest mean accuracy (the lower lr on ties)."""
    return max(points, key=lambda p: (p["accuracy"], -p["lr"]))


def interpolated_accuracy(points: Sequence[dict[str, Any]], lr: float) -> float | None:
    """Mean grid accuracy interpolated linearly in log lr; ``None`` outside the grid."""
    x = np.log10([p["lr"] for p in points])
    if not x[0] - 1e-9 <= math.log10(lr) <= x[-1] + 1e-9:
        return None
    return float(np.interp(math.log10(lr), x, [p["accuracy"] for p in points]))


def score_rules(trials: Trials, answers: dict[str, float | None], best: float) -> dict[str, dict[str, Any]]:
    """Train each rule's answer and score it; a rule without an answer scores ``None``."""
    out: dict[str, dict[str, Any]] = {}
    for name, lr in answers.items():
        if lr is None:
            out[name] = {"lr": None, "accuracy": None, "regret": None, "diverged": False}
            continue
        point = trials.at(lr)
        out[name] = {**point, "regret": regret_points(point["accuracy"], best)}
    return out


def score_variants(points: Sequence[dict[str, Any]], answers: dict[str, float | None],
                   best: float) -> dict[str, dict[str, Any]]:
    """Regret estimated from the grid (interpolated in log lr) for lrs that were not trained."""
    out = {}
    for name, lr in answers.items():
        acc = None if lr is None else interpolated_accuracy(points, lr)
        out[name] = {"lr": lr, "regret": None if acc is None else regret_points(acc, best)}
    return out


def summarize(cases: Sequence[dict[str, Any]], key: str = "rules",
              regret: str = "regret") -> dict[str, dict[str, dict[str, Any]]]:
    """Per rule, over tuning and held-out cases separately: mean and worst (lowest) regret (the ``regret``
    field of each entry), cases scored, cases without an answer, cases where the rule's lr diverged."""
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for group, held in (("tuning", False), ("held_out", True)):
        chosen = [c for c in cases if c["case"]["held_out"] == held]
        names = list(dict.fromkeys(n for c in chosen for n in c.get(key, {})))
        for name in names:
            entries = [c[key][name] for c in chosen if name in c.get(key, {})]
            regrets = [e[regret] for e in entries if e.get(regret) is not None]
            out.setdefault(name, {})[group] = {
                "mean": float(np.mean(regrets)) if regrets else None,
                "worst": float(min(regrets)) if regrets else None,
                "n": len(regrets),
                "no_answer": sum(e.get(regret) is None for e in entries),
                "diverged": sum(bool(e.get("diverged")) for e in entries),
            }
    return out


def increasing_fit(y: Sequence[float], w: Sequence[float]) -> np.ndarray:
    """Weighted least-squares fit of ``y`` by a non-decreasing sequence (pool adjacent violators)."""
    blocks: list[list[float]] = []  # [mean, weight, length]
    for value, weight in zip(y, w):
        blocks.append([float(value), float(weight), 1])
        while len(blocks) > 1 and blocks[-2][0] > blocks[-1][0]:
            m2, w2, n2 = blocks.pop()
            m1, w1, n1 = blocks.pop()
            blocks.append([(m1 * w1 + m2 * w2) / (w1 + w2), w1 + w2, n1 + n2])
    return np.concatenate([np.full(int(n), m) for m, _, n in blocks]) if blocks else np.empty(0)


def unimodal_fit(y: Sequence[float], w: Sequence[float]) -> np.ndarray:
    """Weighted least-squares fit of ``y`` (ordered by lr) by a sequence that rises to one peak, then falls:
    the best split into a non-decreasing left part and a non-increasing right part."""
    y, w = np.asarray(y, dtype=float), np.asarray(w, dtype=float)
    best: tuple[float, np.ndarray] | None = None
    for split in range(len(y) + 1):
        fit = np.concatenate([increasing_fit(y[:split], w[:split]),
                              increasing_fit(y[split:][::-1], w[split:][::-1])[::-1]])
        sse = float(np.sum(w * (y - fit) ** 2))
        if best is None or sse < best[0] - 1e-15:
            best = (sse, fit)
    return best[1] if best is not None else np.empty(0)


def add_denoised(result: dict[str, Any], trials: Trials) -> None:
    """Regrets read off a unimodal fit of mean accuracy against lr over every lr trained in the case (grid and
    rules): accuracy is assumed to rise to one best lr and fall after it, so neighbouring lrs share their
    seeds' noise. The best of the fit does not suffer the grid maximum's upward bias (the largest of several
    noisy means); the rules' and candidates' regrets are ``fit(lr) - max(fit)``."""
    by_lr: dict[float, list[float]] = {}
    for (lr, _seed), run in trials.runs.items():
        by_lr.setdefault(lr, []).append(run.accuracy)
    lrs = sorted(by_lr)
    fit = unimodal_fit([float(np.mean(by_lr[lr])) for lr in lrs], [len(by_lr[lr]) for lr in lrs])
    at = dict(zip(lrs, fit.tolist()))
    peak = int(np.argmax(fit))
    result["denoised_best"] = {"lr": lrs[peak], "accuracy": float(fit[peak])}
    for entries in (result["rules"], result.get("trained_variants", {})):
        for entry in entries.values():
            lr = entry.get("lr")
            entry["denoised_regret"] = None if lr is None else regret_points(at[lr_key(lr)], float(fit[peak]))


def evaluate_case(train: TrainFn, seeds: Sequence[int], grid: Sequence[float], finder: dict[str, Any],
                  extend: int = 0, extra: dict[str, float | None] | None = None) -> dict[str, Any]:
    """Ground truth, every rule and every variant for one case, given its trainer and range-test curve
    (``finder``: ``lrs``, ``losses``, ``recommendation`` dict, ``num_steps``)."""
    trials = Trials(train, seeds)
    points = grid_search(trials, grid, extend)
    best = best_point(points)
    answers = rule_answers(finder["lrs"], finder["losses"], finder["recommendation"], finder["num_steps"])
    rules = score_rules(trials, answers, best["accuracy"])
    for entry in rules.values():
        if entry["lr"] is not None:
            acc = interpolated_accuracy(points, entry["lr"])
            entry["interpolated_regret"] = None if acc is None else regret_points(acc, best["accuracy"])
    variants = score_variants(points, variant_answers(finder["recommendation"]), best["accuracy"])
    result = {"grid": points, "best": best, "rules": rules, "variants": variants}
    add_trained_variants(result, trials, finder, extra)
    add_denoised(result, trials)
    result["best_on_edge"] = best["lr"] in (points[0]["lr"], points[-1]["lr"])
    result["runs"] = len(trials.runs)
    return result


def add_trained_variants(result: dict[str, Any], trials: Trials, finder: dict[str, Any],
                         extra: dict[str, float | None] | None = None) -> None:
    """Train the :data:`TRAINED_MARGINS` candidates of a case and the ``extra`` answers, and score them like
    the rules, next to minimum/10 (the ``minimum_div10`` runs)."""
    trained = score_rules(trials, {**margin_answers(finder), **(extra or {})}, result["best"]["accuracy"])
    trained["min/10"] = result["rules"]["minimum_div10"]
    result["trained_variants"] = trained


# -------------------------------------------------------------------------------------------- training


def make_setup(case: Case) -> Any:
    """The library's :class:`onecycle.experiment.Setup` for a case (data loaded once)."""
    from onecycle.config import from_dict
    from onecycle.experiment import prepare

    return prepare(from_dict(case.settings()))


def default_weight_decay(case: Case) -> float:
    from onecycle.experiment import DEFAULT_WEIGHT_DECAY

    return DEFAULT_WEIGHT_DECAY[case.optimizer]


def one_cycle_run(setup: Any, max_lr: float, seed: int, weight_decay: float) -> Run:
    """A 1cycle run with the scheduler's defaults (the article's policy); test accuracy at the end."""
    from onecycle import OneCycleScheduler
    from onecycle.engine import TrainState, evaluate, train

    s = dataclasses.replace(setup, cfg=setup.cfg.replace(seed=seed))  # same data, other init and batch order
    data = s.batches()
    model = s.model()
    optimizer = s.optimizer(model, max_lr, weight_decay)
    scheduler = OneCycleScheduler(optimizer, max_lr=max_lr, epochs=s.cfg.epochs, steps_per_epoch=len(data))
    state = train(TrainState(model, optimizer, scheduler, data, s.cfg.epochs), loss_fn=s.loss_fn(), progress=False)
    acc = evaluate(model, s.batches(train=False), s.loss_fn())["accuracy"]
    return Run(acc, state.stopped is not None)


def finder_curve(setup: Any, settings: Settings, weight_decay: float, num_steps: int | None = None,
                 repeats: int = 1) -> dict[str, Any]:
    """A range test under the training conditions (batch size, optimizer, weight decay); with ``repeats``,
    the first curve and the combined recommendation."""
    from onecycle.range_test import range_test

    num_steps = num_steps or settings.num_steps
    s = dataclasses.replace(setup, cfg=setup.cfg.replace(seed=settings.finder_seed))
    model = s.model()
    result = range_test(model, s.optimizer(model, settings.start_lr, weight_decay), s.batches(), s.loss_fn(),
                        start_lr=settings.start_lr, end_lr=settings.end_lr, num_steps=num_steps,
                        seed=settings.finder_seed, repeats=repeats)
    return {"lrs": result.lrs, "losses": result.losses, "recommendation": result.recommendation.to_dict(),
            "num_steps": num_steps, "repeats": repeats, "diverged": result.diverged,
            "stop_reason": result.stop_reason}


FINDER_VARIANTS: dict[str, dict[str, int]] = {"ours, 300-step test": {"num_steps": 300},
                                              "ours, 3 tests combined": {"repeats": 3}}
"""The library's rule on other range tests of the same case: more steps, or repeats (seeds) combined."""


def finder_variants(setup: Any, settings: Settings, weight_decay: float) -> dict[str, dict[str, Any]]:
    """The recommendation of each :data:`FINDER_VARIANTS` range test (without its curve)."""
    out = {}
    for name, options in FINDER_VARIANTS.items():
        f = finder_curve(setup, settings, weight_decay, **options)
        out[name] = {"num_steps": f["num_steps"], "repeats": f["repeats"], "points": len(f["lrs"]),
                     "recommendation": f["recommendation"]}
    return out


def weight_decay_check(case: Case, settings: Settings, lr: float, setup: Any,
                       train: Callable[[float, int, float], Run]) -> dict[str, Any]:
    """The sweep's pick against the best of a trained weight-decay grid at ``lr`` (``train(lr, seed, wd)``)."""
    from onecycle.sweep import sweep

    s = dataclasses.replace(setup, cfg=setup.cfg.replace(seed=settings.finder_seed))
    model = s.model()
    result = sweep("weight_decay", list(case.weight_decays), model, s.optimizer(model, settings.start_lr, 0.0),
                   s.batches(), s.loss_fn(), seed=settings.finder_seed, start_lr=settings.start_lr,
                   end_lr=settings.end_lr, num_steps=settings.num_steps)
    grid = []
    for wd in case.weight_decays:
        runs = [train(lr, seed, wd) for seed in settings.seeds]
        grid.append({"weight_decay": wd, "accuracy": float(np.mean([r.accuracy for r in runs])),
                     "diverged": any(r.diverged for r in runs)})
    return score_weight_decay(grid, result.pick, lr, result.max_lrs)


def score_weight_decay(grid: Sequence[dict[str, Any]], pick: float | None, lr: float,
                       max_lrs: Sequence[float | None] = ()) -> dict[str, Any]:
    """The pick's regret against the best trained weight decay (``None`` when the sweep picks nothing)."""
    best = max(grid, key=lambda g: g["accuracy"])
    picked = next((g for g in grid if pick is not None and math.isclose(g["weight_decay"], pick)), None)
    return {"lr": lr, "grid": list(grid), "pick": pick, "sweep_max_lrs": list(max_lrs),
            "best_weight_decay": best["weight_decay"], "best_accuracy": best["accuracy"],
            "regret": None if picked is None else regret_points(picked["accuracy"], best["accuracy"])}


class RunCache:
    """Finished 1cycle runs by case, weight decay, lr, seed and CPU threads, so that a rerun (another rule,
    another seed) trains only what it has not seen. Runs on CPU with a fixed thread count are deterministic,
    so a cached run is the run."""

    def __init__(self, runs: dict[str, list[Any]] | None = None, threads: int = 1) -> None:
        self.runs: dict[str, list[Any]] = dict(runs or {})
        self.new: dict[str, list[Any]] = {}
        self.threads = threads

    @classmethod
    def load(cls, path: Path, threads: int) -> RunCache:
        return cls(json.loads(path.read_text())["runs"] if path.exists() else {}, threads)

    def save(self, path: Path) -> None:
        from onecycle.rundir import write_json

        write_json(path, {"runs": dict(sorted(self.runs.items()))})

    def key(self, case: Case, weight_decay: float, lr: float, seed: int) -> str:
        return f"{case.name}|wd={weight_decay:g}|lr={lr_key(lr):g}|seed={seed}|threads={self.threads}"

    def of_case(self, case: Case) -> dict[str, list[Any]]:
        return {k: v for k, v in self.runs.items() if k.startswith(f"{case.name}|")}

    def run(self, case: Case, setup: Any, lr: float, seed: int, weight_decay: float) -> Run:
        """The cached run, or a new one (recorded)."""
        key = self.key(case, weight_decay, lr, seed)
        if key not in self.runs:
            start = time.perf_counter()
            run = one_cycle_run(setup, lr, seed, weight_decay)
            self.runs[key] = self.new[key] = [run.accuracy, run.diverged, round(time.perf_counter() - start, 2)]
        accuracy, diverged = self.runs[key][:2]
        return Run(accuracy, diverged)


def run_case(case: Case, settings: Settings, cache: RunCache | None = None) -> dict[str, Any]:
    """Everything measured for one case, with its wall time; runs come from (and go to) ``cache``."""
    start = time.perf_counter()
    cache = cache if cache is not None else RunCache()
    setup = make_setup(case)
    wd = default_weight_decay(case)
    finder = finder_curve(setup, settings, wd)
    others = finder_variants(setup, settings, wd) if settings.finder_variants and case.finder_variants else {}
    result = evaluate_case(lambda lr, seed: cache.run(case, setup, lr, seed, wd), settings.seeds, case.grid,
                           finder, settings.extend_grid,
                           {name: f["recommendation"]["max_lr"] for name, f in others.items()})
    result["finder_variants"] = others
    if case.weight_decays:
        result["weight_decay"] = weight_decay_check(
            case, settings, result["best"]["lr"], setup,
            lambda lr, seed, w: cache.run(case, setup, lr, seed, w))
        result["runs"] += len(case.weight_decays) * len(settings.seeds)
    return {"case": dataclasses.asdict(case), "weight_decay_used": wd, "train_images": len(setup.train_data),
            "test_images": len(setup.test_data), "finder": finder, **result,
            "wall_time_s": time.perf_counter() - start}


def case_worker(case: Case, settings: Settings, runs: dict[str, list[Any]], threads: int
                ) -> tuple[dict[str, Any], dict[str, list[Any]]]:
    """One case in a worker process: its result and the runs it trained."""
    import torch

    torch.set_num_threads(threads)
    cache = RunCache(runs, threads)
    result = run_case(case, settings, cache)
    timed = [entry[2] for entry in cache.of_case(case).values() if len(entry) > 2]
    result["new_runs"] = len(cache.new)
    result["seconds_per_run"] = float(np.mean(timed)) if timed else None
    return result, cache.new


# ---------------------------------------------------------------------------------------------- report


def seed_noise(points: Sequence[dict[str, Any]], within: float = 0.05) -> float | None:
    """One standard error of a regret, in points: the seed-to-seed standard deviation pooled over grid points
    within ``within`` of the best accuracy, times ``sqrt(2 / seeds)`` (a difference of two means)."""
    best = max(p["accuracy"] for p in points)
    near = [p["accuracies"] for p in points if p["accuracy"] >= best - within and len(p["accuracies"]) > 1]
    if not near:
        return None
    variance = float(np.mean([np.var(a, ddof=1) for a in near]))
    return 100.0 * math.sqrt(variance * 2 / len(near[0]))


def _lr(v: float | None) -> str:
    return "—" if v is None else f"{v:.2g}"


def _pts(v: float | None) -> str:
    return "—" if v is None else f"{v:+.1f}"


def _acc(v: float | None) -> str:
    return "—" if v is None else f"{100 * v:.1f}"


def summary_table(cases: Sequence[dict[str, Any]], key: str, names: Sequence[str],
                  ratio_to_best: bool = False) -> list[str]:
    """Markdown rows: per rule, mean and worst regret over tuning and held-out cases, raw and denoised."""
    raw, den = summarize(cases, key), summarize(cases, key, "denoised_regret")
    lines = ["| rule | tuning mean | tuning worst | held-out mean | held-out worst | denoised: tuning worst | "
             "held-out worst | no answer | diverged | lr / best lr |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for name in names:
        t, h = raw.get(name, {}).get("tuning", {}), raw.get(name, {}).get("held_out", {})
        dt, dh = den.get(name, {}).get("tuning", {}), den.get(name, {}).get("held_out", {})
        ratios = [c[key][name]["lr"] / c["best"]["lr"] for c in cases
                  if name in c.get(key, {}) and c[key][name]["lr"] is not None]
        ratio = f"x{10 ** float(np.median(np.log10(ratios))):.2g}" if ratios and ratio_to_best else "—"
        lines.append(f"| {name} | {_pts(t.get('mean'))} | {_pts(t.get('worst'))} | {_pts(h.get('mean'))} | "
                     f"{_pts(h.get('worst'))} | {_pts(dt.get('worst'))} | {_pts(dh.get('worst'))} | "
                     f"{t.get('no_answer', 0) + h.get('no_answer', 0)} | "
                     f"{t.get('diverged', 0) + h.get('diverged', 0)} | {ratio} |")
    return lines


def render(data: dict[str, Any], notes: str | None = None) -> str:
    """The Markdown report of a results dict (as written to the JSON file)."""
    cases, settings = data["cases"], data["settings"]
    lines = [
        "# Benchmark: recommendation quality",
        "",
        "How much test accuracy each learning-rate rule leaves on the table. Generated by "
        f"`python benchmarks/recommendation.py{' --quick' if data.get('quick') else ''}`; raw results in "
        f"`{data['results_file']}`.",
        "",
        "**Method.** For each case the ground truth is a grid of 1cycle runs (`OneCycleScheduler` defaults: the "
        f"article's policy) over `max_lr`, half a decade apart, {len(settings['seeds'])} seed(s) each "
        f"(seeds {', '.join(map(str, settings['seeds']))}: initialisation and batch order; the data subsets are "
        "fixed); when the best lr is on an edge the grid is extended by up to "
        f"{settings['extend_grid']} points. One range test (start {settings['start_lr']:g}, end "
        f"{settings['end_lr']:g}, {settings['num_steps']} steps, seed {settings['finder_seed']}, same batch "
        "size, optimizer and weight decay as training) gives every rule's lr, which is then trained with the "
        "same seeds.",
        "",
        "**Regret** = mean test accuracy at the rule's lr − mean test accuracy at the best grid lr, in accuracy "
        "points. 0 is best-possible, negative is accuracy lost; a small positive value means the rule landed "
        "between grid points or in seed noise. A rule whose run diverged (non-finite loss) keeps the accuracy "
        "it reached and is marked †. \"—\" means the rule gave no answer.",
        "",
        "**Denoised regret** reads the same runs through a unimodal fit: the mean accuracy of every lr trained in "
        "the case (grid and rules together, weighted by seeds) is fitted by the closest sequence that rises to one "
        "peak and falls after it, and regret = fit at the rule's lr − the fit's peak. Neighbouring lrs then share "
        "their seeds' noise, and the best is no longer the largest of several noisy means, which is biased "
        "upwards (a rule exactly at the best lr scores below 0 on the raw regret, by about the seed noise).",
        "",
        "**Rules.** `ours` is `recommend(...).max_lr`: the lr of the zero-phase-smoothed minimum / `MARGIN`, "
        "capped on curves with a long flat floor (see `onecycle.suggestions.recommend`); "
        "`valley`, `steepest`, `minimum_div10`, `drop_fraction` are `onecycle.suggestions`. The others are "
        "re-implementations, from their documented descriptions, of the suggestions of popular tools, applied "
        "to the same curve with each tool's own smoothing and trimming: fastai `lr_find` (`valley`, `slide`, "
        "`minimum` = lr of the lowest loss / 10, `steep`; debiased EMA 0.98, first tenth of the steps and last 5 "
        "points dropped), pytorch-lr-finder (steepest per-step gradient of its EMA, first 10 and last 5 points "
        "dropped) and PyTorch Lightning's `Tuner` suggestion (steepest per-step gradient of its debiased EMA, "
        "first 10 and last point dropped). All read the library's range test, whose stop rule (EMA > 4x best) "
        "is close to, not identical with, each tool's own.",
        "",
        "Held-out cases are reported apart: they were not used to set the library's defaults.",
        "",
        "## Cases",
        "",
        "| case | data (train / test images) | network | optimizer (weight decay) | batch | epochs | grid lrs | "
        "held out |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for c in cases:
        k = c["case"]
        lines.append(
            f"| {k['name']} | {k['dataset']} ({c['train_images']} / {c['test_images']}) | {k['model']} | "
            f"{k['optimizer']} ({c['weight_decay_used']:g}) | {k['batch_size']} | {k['epochs']} | "
            f"{_lr(c['grid'][0]['lr'])} … {_lr(c['grid'][-1]['lr'])} ({len(c['grid'])}) | "
            f"{'yes' if k['held_out'] else 'no'} |")
    lines += ["", "SGD: momentum 0.9 in the range test (1cycle cycles 0.95 → 0.85 → 0.95), no Nesterov. AdamW: "
              "beta1 likewise, beta2 0.999. No augmentation.", ""]

    lines += ["## Summary: regret per rule (accuracy points)", ""]
    lines += summary_table(cases, "rules", RULES, ratio_to_best=True)
    n_t = sum(not c["case"]["held_out"] for c in cases)
    lines += ["", f"Over {n_t} tuning and {len(cases) - n_t} held-out cases; \"worst\" is the lowest regret; "
              "\"lr / best lr\" is the rule's lr over the best grid lr (geometric median over all cases: below x1 "
              "the rule errs low).", ""]

    lines += ["## Per case", "", "Best grid lr and its mean accuracy (%), the peak of the unimodal fit (lr: "
              "accuracy %), then each rule's lr and raw regret.", ""]
    lines += ["| case | best lr | best acc | fitted peak | " + " | ".join(RULES) + " |",
              "|---|---|---|---|" + "---|" * len(RULES)]
    for c in cases:
        cells = []
        for name in RULES:
            r = c["rules"].get(name)
            if r is None or r["lr"] is None:
                cells.append("—")
            else:
                cells.append(f"{_lr(r['lr'])}: {_pts(r['regret'])}{' †' if r['diverged'] else ''}")
        edge = " (edge)" if c["best_on_edge"] else ""
        fitted = c.get("denoised_best")
        peak = f"{_lr(fitted['lr'])}: {_acc(fitted['accuracy'])}" if fitted else "—"
        lines.append(f"| {c['case']['name']}{' (held out)' if c['case']['held_out'] else ''} | "
                     f"{_lr(c['best']['lr'])}{edge} | {_acc(c['best']['accuracy'])} | {peak} | "
                     + " | ".join(cells) + " |")
    noise = [(c["case"]["name"], seed_noise(c["grid"])) for c in cases]
    if any(v is not None for _, v in noise):
        lines += ["", "Seed noise: one standard error of a regret (seed-to-seed spread pooled over grid points within "
                  "5 points of the best): " + ", ".join(f"{n} ±{v:.1f}" for n, v in noise if v is not None) + "."]
    lines += ["", "Grid (mean accuracy % per lr; † = a seed diverged):", ""]
    for c in cases:
        pts = ", ".join(f"{_lr(p['lr'])}: {_acc(p['accuracy'])}{'†' if p['diverged'] else ''}" for p in c["grid"])
        f = c["finder"]
        lines.append(f"- {c['case']['name']}: {pts}. Range test stopped at lr {_lr(f['lrs'][-1])} after "
                     f"{len(f['lrs'])} steps ({f['stop_reason']}); smoothed minimum at "
                     f"{_lr(f['recommendation'].get('lr_at_minimum'))}, confidence "
                     f"{f['recommendation']['confidence']}.")

    errors = [abs(r["regret"] - r["interpolated_regret"]) for c in cases for r in c["rules"].values()
              if r.get("interpolated_regret") is not None and r["regret"] is not None]
    vsum = summarize(cases, "variants")
    lines += ["", "## Candidate rules for `recommend` (estimated)", "",
              "Answers read off the same curves and scored on the same grids by interpolating the grid's mean "
              "accuracy linearly in log lr (not trained; answers outside the grid are not scored). Interpolating "
              "across a cliff (an lr where training collapses) is badly wrong, so these only shortlist candidates "
              "for training."]
    if errors:
        lines += ["", f"Check of the estimate on the trained rules inside the grid: mean |trained − interpolated| "
                      f"regret {np.mean(errors):.1f} points, largest {max(errors):.1f} ({len(errors)} answers)."]
    lines += ["", "| candidate | tuning mean | tuning worst | held-out mean | held-out worst | not scored |",
              "|---|---|---|---|---|---|"]
    for name, s in vsum.items():
        t, h = s.get("tuning", {}), s.get("held_out", {})
        lines.append(f"| {name} | {_pts(t.get('mean'))} | {_pts(t.get('worst'))} | {_pts(h.get('mean'))} | "
                     f"{_pts(h.get('worst'))} | {t.get('no_answer', 0) + h.get('no_answer', 0)} |")

    variants = tuple(dict.fromkeys(n for c in cases for n in (*TRAINED_MARGINS, *c.get("finder_variants", {}),
                                                              "min/10")))
    if any(c.get("trained_variants") for c in cases):
        lines += ["", "Trained (like the rules, same seeds): `recommend(..., margin=m).max_lr` for the margins "
                  "nearest the library's (the smoothed minimum / m, with the plateau cap); the library's rule on "
                  "a range test of 300 steps instead of 100, and on 3 range tests (seeds 0-2) combined by "
                  "`onecycle.suggestions.combine`; and minimum/10 (the `minimum_div10` runs above):", ""]
        lines += summary_table(cases, "trained_variants", variants, ratio_to_best=True)
        lines += ["", "| case | " + " | ".join(variants) + " |", "|---|" + "---|" * len(variants)]
        for c in cases:
            tv = c.get("trained_variants", {})
            cells = [f"{_lr(tv[n]['lr'])}: {_pts(tv[n]['regret'])}{' †' if tv[n]['diverged'] else ''}"
                     if n in tv and tv[n]["lr"] is not None else "—" for n in variants]
            lines.append(f"| {c['case']['name']} | " + " | ".join(cells) + " |")

    wd_cases = [c for c in cases if c.get("weight_decay")]
    if wd_cases:
        lines += ["", "## Weight decay: sweep pick vs trained grid", "",
                  "`onecycle.sweep.sweep` (one range test per value, library defaults) against 1cycle runs at each "
                  "value at the case's best grid lr (mean over the seeds). Regret as above.", "",
                  "| case | lr | accuracy % per weight decay | sweep's max_lr per value | sweep pick | best | "
                  "regret |", "|---|---|---|---|---|---|---|"]
        for c in wd_cases:
            w = c["weight_decay"]
            accs = ", ".join(f"{g['weight_decay']:g}: {_acc(g['accuracy'])}{'†' if g['diverged'] else ''}"
                             for g in w["grid"])
            mlrs = ", ".join(_lr(v) for v in w["sweep_max_lrs"])
            pick = "none" if w["pick"] is None else f"{w['pick']:g}"
            lines.append(f"| {c['case']['name']} | {_lr(w['lr'])} | {accs} | {mlrs} | {pick} | "
                         f"{w['best_weight_decay']:g} | {_pts(w['regret'])} |")
        regrets = [c["weight_decay"]["regret"] for c in wd_cases if c["weight_decay"]["regret"] is not None]
        if regrets:
            lines += ["", f"Sweep pick: mean regret {_pts(float(np.mean(regrets)))}, worst {_pts(min(regrets))} "
                          f"points over {len(regrets)} cases; it picked the best value in "
                          f"{sum(r >= 0 for r in regrets)} of them."]

    total = sum(c["wall_time_s"] for c in cases)
    lines += ["", "## Wall time", "",
              f"{total / 60:.1f} minutes of case time in all, {data.get('jobs', 1)} case(s) at a time on "
              f"{data['threads']} CPU thread(s) each ({data['machine']}); per case: "
              + ", ".join(f"{c['case']['name']} {c['wall_time_s']:.0f} s ({c['runs']} runs)" for c in cases) + "."]
    if any(c.get("new_runs") != c["runs"] for c in cases):
        lines += ["", f"Runs are cached (`{RUNS_FILE.relative_to(ROOT)}`) and reused across invocations: this one "
                  f"trained {sum(c.get('new_runs', 0) for c in cases)} of the {sum(c['runs'] for c in cases)} runs "
                  "behind these tables, so the times above are not those of a run from an empty cache."]
        if all(c.get("seconds_per_run") for c in cases):
            est = sum(c["seconds_per_run"] * c["runs"] for c in cases)
            lines += [f"At the seconds per run measured, training every run would take about {est / 60:.0f} "
                      f"minutes on {data['threads']} thread(s)."]
    if data.get("missing"):
        lines += ["", f"Not run (cut or interrupted): {', '.join(data['missing'])}."]
    if notes:
        lines += ["", "## Findings", "", notes.strip()]
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------------------------------------- main


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark; write the JSON results, the run cache and the Markdown report after every case."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run of a few seconds on a tiny digits case")
    parser.add_argument("--cases", help="comma-separated case names (default: all)")
    parser.add_argument("--out", type=Path, help="Markdown report (default docs/BENCHMARKS.md; quick: results dir)")
    parser.add_argument("--results", type=Path, help="raw JSON results (default under benchmarks/results/)")
    parser.add_argument("--runs", type=Path,
                        help="cache of finished runs, reused by later invocations (default under benchmarks/results/; "
                             "quick: none)")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads per case (default 1)")
    parser.add_argument("--jobs", type=int, default=1, help="cases run side by side in worker processes (default 1)")
    parser.add_argument("--resume", action="store_true", help="keep the cases already in the results file")
    parser.add_argument("--render", action="store_true", help="only rewrite the report from the results file")
    args = parser.parse_args(argv)
    if args.threads < 1 or args.jobs < 1:
        parser.error("--threads and --jobs must be at least 1")

    import torch

    from onecycle.rundir import write_json

    cases = [QUICK_CASE] if args.quick else list(CASES)
    settings = QUICK_SETTINGS if args.quick else Settings()
    if args.cases:
        wanted = args.cases.split(",")
        known = {c.name: c for c in (*CASES, QUICK_CASE)}
        unknown = [n for n in wanted if n not in known]
        if unknown:
            parser.error(f"unknown case(s): {', '.join(unknown)}; known: {', '.join(known)}")
        cases = [known[n] for n in wanted]
    stem = "recommendation-quick" if args.quick else "recommendation"
    results_file = args.results or RESULTS_DIR / f"{stem}.json"
    runs_file = args.runs or (None if args.quick else RUNS_FILE)
    out = args.out or (RESULTS_DIR / f"{stem}.md" if args.quick else ROOT / "docs" / "BENCHMARKS.md")
    notes = None if args.quick or not NOTES.exists() else NOTES.read_text()

    if args.render:
        out.write_text(render(json.loads(results_file.read_text()), notes))
        print(f"wrote {out}", file=sys.stderr)
        return 0
    done: dict[str, dict[str, Any]] = {}
    if args.resume and results_file.exists():
        done = {c["case"]["name"]: c for c in json.loads(results_file.read_text())["cases"]}
    cache = RunCache.load(runs_file, args.threads) if runs_file else RunCache(threads=args.threads)
    try:
        shown = str(results_file.resolve().relative_to(ROOT))
    except ValueError:
        shown = str(results_file)
    data: dict[str, Any] = {"settings": dataclasses.asdict(settings), "quick": args.quick, "threads": args.threads,
                            "jobs": args.jobs, "machine": f"{platform.machine()}, torch {torch.__version__}",
                            "results_file": shown, "cases": []}
    results = {name: c for name, c in done.items() if name in {case.name for case in cases}}
    todo = [case for case in cases if case.name not in results]

    def publish() -> None:
        data["cases"] = [results[c.name] for c in cases if c.name in results]
        data["missing"] = [c.name for c in cases if c.name not in results]
        if runs_file:
            cache.save(runs_file)
        write_json(results_file, data)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(render(data, notes))

    def finished(case: Case, result: dict[str, Any], new_runs: dict[str, list[Any]]) -> None:
        results[case.name] = result
        cache.runs.update(new_runs)
        print(f"[{len(results)}/{len(cases)}] {case.name}: best lr {result['best']['lr']:.3g} "
              f"({100 * result['best']['accuracy']:.1f}%), ours {_lr(result['rules'][OURS]['lr'])}: "
              f"{_pts(result['rules'][OURS]['regret'])}, {len(new_runs)} new runs, {result['wall_time_s']:.0f} s",
              file=sys.stderr, flush=True)
        publish()

    print(f"{len(todo)} case(s) to run, {len(cache.runs)} cached runs", file=sys.stderr, flush=True)
    if args.jobs == 1:
        for case in todo:
            finished(case, *case_worker(case, settings, cache.of_case(case), args.threads))
    else:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor, as_completed

        with ProcessPoolExecutor(args.jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
            futures = {pool.submit(case_worker, case, settings, cache.of_case(case), args.threads): case
                       for case in reversed(todo)}  # dearest first: the workers finish closer together
            for future in as_completed(futures):
                finished(futures[future], *future.result())
    if not todo:
        publish()
    print(f"wrote {out} and {results_file}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
