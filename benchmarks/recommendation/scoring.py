"""Scoring a case: ground truth from an lr grid, each rule's and candidate's regret against it, summaries."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sklearn.isotonic import isotonic_regression

from benchmarks.recommendation.candidates import margin_answers, variant_answers
from benchmarks.recommendation.rules import Finder, rule_answers


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

    def accuracies_by_lr(self) -> dict[float, list[float]]:
        """The test accuracy of every run so far, grouped by (rounded) lr."""
        by_lr: dict[float, list[float]] = {}
        for (lr, _seed), run in self.runs.items():
            by_lr.setdefault(lr, []).append(run.accuracy)
        return by_lr


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


def score_rules(trials: Trials, answers: dict[str, float | None], best: float,
                trained: Sequence[str] | None = None) -> dict[str, dict[str, Any]]:
    """Train each rule's answer and score it; a rule without an answer scores ``None``. With ``trained``, only
    the rules it names are trained: the others are marked ``estimated`` and scored by :func:`add_estimates`."""
    out: dict[str, dict[str, Any]] = {}
    for name, lr in answers.items():
        if lr is None:
            out[name] = {"lr": None, "accuracy": None, "regret": None, "diverged": False}
            continue
        if trained is not None and name not in trained:
            out[name] = {"lr": lr, "accuracy": None, "regret": None, "diverged": False, "estimated": True}
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


def monotone_fit(y: np.ndarray, w: np.ndarray, increasing: bool) -> np.ndarray:
    """Weighted least-squares fit of ``y`` by a non-decreasing (or non-increasing) sequence."""
    return isotonic_regression(y, sample_weight=w, increasing=increasing) if len(y) else np.empty(0)


def unimodal_fit(y: Sequence[float], w: Sequence[float]) -> np.ndarray:
    """Weighted least-squares fit of ``y`` (ordered by lr) by a sequence that rises to one peak, then falls:
    the best split into a non-decreasing left part and a non-increasing right part."""
    y, w = np.asarray(y, dtype=float), np.asarray(w, dtype=float)
    best: tuple[float, np.ndarray] | None = None
    for split in range(len(y) + 1):
        fit = np.concatenate([monotone_fit(y[:split], w[:split], increasing=True),
                              monotone_fit(y[split:], w[split:], increasing=False)])
        sse = float(np.sum(w * (y - fit) ** 2))
        if best is None or sse < best[0] - 1e-15:
            best = (sse, fit)
    return best[1] if best is not None else np.empty(0)


def add_denoised(result: dict[str, Any], trials: Trials) -> None:
    """Regrets read off a unimodal fit of mean accuracy against lr over every lr trained in the case (grid and
    rules): accuracy is assumed to rise to one best lr and fall after it, so neighbouring lrs share their
    seeds' noise. The best of the fit does not suffer the grid maximum's upward bias (the largest of several
    noisy means); the rules' and candidates' regrets are ``fit(lr) - max(fit)``."""
    by_lr = trials.accuracies_by_lr()
    lrs = sorted(by_lr)
    fit = unimodal_fit([float(np.mean(by_lr[lr])) for lr in lrs], [len(by_lr[lr]) for lr in lrs])
    at = dict(zip(lrs, fit.tolist()))
    peak = int(np.argmax(fit))
    result["denoised_best"] = {"lr": lrs[peak], "accuracy": float(fit[peak])}
    fitted = [{"lr": lr, "accuracy": a} for lr, a in zip(lrs, fit.tolist())]
    for entries in (result["rules"], result.get("trained_variants", {})):
        for entry in entries.values():
            lr = entry.get("lr")
            if lr is None:
                entry["denoised_regret"] = None
            elif entry.get("estimated"):
                acc = interpolated_accuracy(fitted, lr)
                entry["denoised_regret"] = None if acc is None else regret_points(acc, float(fit[peak]))
            else:
                entry["denoised_regret"] = regret_points(at[lr_key(lr)], float(fit[peak]))


def add_estimates(result: dict[str, Any], trials: Trials) -> None:
    """Raw regrets of the rules that were not trained (``estimated``): the mean accuracy of every lr trained in
    the case, interpolated in log lr (``None`` outside them)."""
    by_lr = trials.accuracies_by_lr()
    points = [{"lr": lr, "accuracy": float(np.mean(by_lr[lr]))} for lr in sorted(by_lr)]
    for entry in result["rules"].values():
        if entry.get("estimated"):
            entry["accuracy"] = interpolated_accuracy(points, entry["lr"])
            entry["regret"] = (None if entry["accuracy"] is None
                               else regret_points(entry["accuracy"], result["best"]["accuracy"]))


def evaluate_case(train: TrainFn, seeds: Sequence[int], grid: Sequence[float], finder: Finder,
                  extend: int = 0, extra: dict[str, float | None] | None = None,
                  trained_rules: Sequence[str] | None = None) -> dict[str, Any]:
    """Ground truth, every rule and every variant for one case, given its trainer and range-test curve
    (``finder``); only ``trained_rules`` are trained when given (the others are estimated)."""
    trials = Trials(train, seeds)
    points = grid_search(trials, grid, extend)
    best = best_point(points)
    rules = score_rules(trials, rule_answers(finder), best["accuracy"], trained_rules)
    for entry in rules.values():
        if entry["lr"] is not None:
            acc = interpolated_accuracy(points, entry["lr"])
            entry["interpolated_regret"] = None if acc is None else regret_points(acc, best["accuracy"])
    variants = score_variants(points, variant_answers(finder["recommendation"]), best["accuracy"])
    result = {"grid": points, "best": best, "rules": rules, "variants": variants}
    add_trained_variants(result, trials, finder, extra)
    add_estimates(result, trials)
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


def score_weight_decay(grid: Sequence[dict[str, Any]], pick: float | None, lr: float,
                       max_lrs: Sequence[float | None] = ()) -> dict[str, Any]:
    """The pick's regret against the best trained weight decay (``None`` when the sweep picks nothing)."""
    best = max(grid, key=lambda g: g["accuracy"])
    picked = next((g for g in grid if pick is not None and math.isclose(g["weight_decay"], pick)), None)
    return {"lr": lr, "grid": list(grid), "pick": pick, "sweep_max_lrs": list(max_lrs),
            "best_weight_decay": best["weight_decay"], "best_accuracy": best["accuracy"],
            "regret": None if picked is None else regret_points(picked["accuracy"], best["accuracy"])}


def loss_at_lr_pick(values: Sequence[float], curves: Sequence[tuple[Sequence[float], Sequence[float]]],
                    max_lrs: Sequence[float | None], tolerance: float = 0.01) -> float | None:
    """An alternative reading of a weight-decay sweep: compare the values by the smoothed loss each curve reached
    at one learning rate, the lowest recommended ``max_lr`` of the sweep (where every curve still trains), and
    take the largest value whose loss there is within ``tolerance`` (relative) of the lowest. ``curves`` holds
    each value's ``(lrs, smoothed losses)``; ``None`` when no value has a recommendation."""
    answered = [lr for lr in max_lrs if lr is not None]
    if not answered:
        return None
    x = math.log10(min(answered))
    losses = []
    for lrs, smoothed in curves:
        finite = [(math.log10(lr), v) for lr, v in zip(lrs, smoothed) if math.isfinite(v)]
        losses.append(float(np.interp(x, [a for a, _ in finite], [b for _, b in finite])) if finite else math.inf)
    best = min(losses)
    return max(v for v, loss in zip(values, losses) if loss <= best + tolerance * abs(best))


def seed_noise(points: Sequence[dict[str, Any]], within: float = 0.05) -> float | None:
    """One standard error of a regret, in points: the seed-to-seed standard deviation pooled over grid points
    within ``within`` of the best accuracy, times ``sqrt(2 / seeds)`` (a difference of two means)."""
    best = max(p["accuracy"] for p in points)
    near = [p["accuracies"] for p in points if p["accuracy"] >= best - within and len(p["accuracies"]) > 1]
    if not near:
        return None
    variance = float(np.mean([np.var(a, ddof=1) for a in near]))
    return 100.0 * math.sqrt(variance * 2 / len(near[0]))


def rule_cost(case: dict[str, Any], name: str) -> float | None:
    """The training steps a rule needs before training, relative to the case's planned training steps: its
    range test (or tests) and, for the probed rule, the stability probe. ``None`` when the case does not record
    its planned steps."""
    from benchmarks.recommendation.rules import OURS_PROBED

    finder = case["finder"]
    total = finder.get("total_steps")
    if not total:
        return None
    variant = case.get("finder_variants", {}).get(name)
    steps = variant["points"] * variant["repeats"] if variant else len(finder["lrs"])
    if name == OURS_PROBED:
        probe = finder.get("probe") or {}
        steps += sum(len(losses) for losses in probe.get("losses", []))
    return steps / total


PROBE_CANDIDATE = "probe candidate {k}"
"""The trained variants that hold the stability probe's candidates (1 is the recommendation itself)."""

PROBE_TOLERANCES = (0.0, 0.02, 0.05, 0.1, 0.2)
"""Tolerances of the probe's pick rule scored from the trained candidates."""


def probe_candidates(probe: dict[str, Any]) -> dict[str, float]:
    """Every candidate of a case's stability probe, to be trained like a rule (so any pick rule can be scored)."""
    return {PROBE_CANDIDATE.format(k=k + 1): lr for k, lr in enumerate(probe.get("candidates", []))}


def probe_tolerance_regrets(case: dict[str, Any], regret: str = "regret") -> dict[float, float | None]:
    """The regret of the probe's pick at each of :data:`PROBE_TOLERANCES`, read off the trained candidates."""
    from onecycle.probe import decide

    probe = case["finder"].get("probe") or {}
    trained = case.get("trained_variants", {})
    out: dict[float, float | None] = {}
    for tol in PROBE_TOLERANCES:
        chosen = decide(probe["candidates"], probe["losses"], tol)[0] if probe else None
        k = None if chosen is None else probe["candidates"].index(chosen) + 1
        entry = trained.get(PROBE_CANDIDATE.format(k=k)) if k else None
        out[tol] = None if entry is None else entry.get(regret)
    return out
