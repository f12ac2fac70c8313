"""Which runs to train. The time to a target accuracy of a 1cycle run depends on its budget (the schedule spans the
whole run), so the measure is the shortest budget whose run ends at the target: every seed is trained at a first
budget, then at longer ones until every seed reaches the target and at shorter ones until none does
(:func:`searched_budgets`), and at the longest budget always. Learning rates may come from the range test, so
:func:`plan` is a function of what is measured so far (``lookup``), and grows as results come in."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from benchmarks.common.training import rounded
from benchmarks.time_to_accuracy.runs import Task, key
from benchmarks.time_to_accuracy.settings import Settings

Lookup = Callable[[Task], Any]
"""The measurement of a task, ``None`` while it is not measured."""


def first_reaching(accuracies: Sequence[float | None], target: float) -> int | None:
    """The index of the first of ``accuracies`` (one per budget, ascending; ``None``: not measured) that is at least
    ``target``, when it is known to be the first: it is the shortest budget, or the one before it was measured and
    fell short (a longer budget is taken to do no worse, so those before it fell short too). ``None`` when no
    measured budget reaches ``target``, or when the one before the first that does was not measured."""
    for i, accuracy in enumerate(accuracies):
        if accuracy is not None and accuracy >= target:
            before = accuracies[i - 1] if i else None
            return i if i == 0 or (before is not None and before < target) else None
    return None


def searched_budgets(budgets: Sequence[int], target: float, accuracies: Mapping[int, Sequence[float | None]],
                     start: int | None = None) -> list[int]:
    """The budgets to train every seed at, ascending, given the final ``accuracies`` measured so far (budget → one
    per seed, ``None`` for a run not measured): from ``start`` (default the shortest budget) up to the first budget
    at which every seed reaches ``target``, and down to the first at which none does, so that each seed's shortest
    budget reaching it is known (:func:`first_reaching`); each step waits for the budget before it to be measured.
    The longest budget is always among them."""
    ordered = sorted(set(budgets))
    if not ordered:
        return []
    if start is not None and start not in ordered:
        raise ValueError(f"start {start} is not one of the budgets {ordered}")
    first = 0 if start is None else ordered.index(start)

    def reached(i: int) -> list[bool] | None:
        measured = accuracies.get(ordered[i])
        if not measured or any(a is None for a in measured):
            return None
        return [a >= target for a in measured]  # type: ignore[operator]

    chosen = {first}
    up = first
    while up + 1 < len(ordered) and (seen := reached(up)) is not None and not all(seen):
        up += 1
        chosen.add(up)
    down = first
    while down > 0 and (seen := reached(down)) is not None and any(seen):
        down -= 1
        chosen.add(down)
    chosen.add(len(ordered) - 1)
    return [ordered[i] for i in sorted(chosen)]


def finder_task(s: Settings) -> Task:
    """The range test (``onecycle find-lr`` under the recipe, at its weight decay) the trained max_lr comes from."""
    return Task("range_test", s.config(seed=s.finder_seed), weight_decay=s.recipe["weight_decay"])


def trained_lr(s: Settings, finder: dict[str, Any] | None) -> float | None:
    """The max_lr every run trains at: the settings' own, else the range test's recommendation in ``finder``
    (:func:`~benchmarks.common.training.rounded`; ``None`` before the range test is measured, or when it recommends
    none)."""
    if s.max_lr is not None:
        return s.max_lr
    recommended = None if finder is None else finder["recommendation"].get("max_lr")
    return None if recommended is None else rounded(recommended)


def train_task(s: Settings, max_lr: float, epochs: int, seed: int) -> Task:
    """One 1cycle run of the recipe for ``epochs`` epochs at ``max_lr``."""
    return Task("train", s.config(epochs=epochs, seed=seed), max_lr=max_lr, weight_decay=s.recipe["weight_decay"])


def accuracies(s: Settings, max_lr: float, lookup: Lookup) -> dict[int, list[float | None]]:
    """Each budget's final test accuracy per seed (``None``: not measured)."""
    found: dict[int, list[float | None]] = {}
    for budget in s.budgets:
        runs = [lookup(train_task(s, max_lr, budget, seed)) for seed in s.seeds]
        found[budget] = [None if run is None else run["accuracy"] for run in runs]
    return found


def plan(s: Settings, lookup: Lookup) -> list[Task]:
    """Every task whose inputs are measured (``lookup``), once each: the range test first (its recommendation is
    reported even when the settings give max_lr), then the runs of :func:`searched_budgets`, shortest first, seed by
    seed."""
    tasks = [finder_task(s)]
    max_lr = trained_lr(s, lookup(finder_task(s)))
    if max_lr is not None:
        for budget in searched_budgets(s.budgets, s.target, accuracies(s, max_lr, lookup), s.start):
            tasks += [train_task(s, max_lr, budget, seed) for seed in s.seeds]
    unique: dict[str, Task] = {}
    for task in tasks:
        unique.setdefault(key(task), task)
    return list(unique.values())
