"""What the benchmark trains: the recipe (the settings of every run), the budgets searched, the target and the
seeds, for the measurement and for ``--quick``."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

SUBSET_SEED = 0
"""The seed that draws the fixed training and test subsets of ``--quick`` (the runs' own seeds vary
initialisation, batch order and augmentation only)."""


@dataclass(frozen=True)
class Settings:
    """The recipe and the search. ``recipe`` holds the :class:`onecycle.config.RunConfig` keys of every run but
    its ``epochs`` and ``seed``; its ``max_lr`` is the range test's recommendation (measured at ``finder_seed``)
    when ``max_lr`` is ``None`` here."""

    recipe: dict[str, Any] = field(default_factory=lambda: {
        "dataset": "fashion-mnist", "augment": "flip", "model": "resnet9", "optimizer": "sgd",
        "batch_size": 256, "weight_decay": 5e-4, "label_smoothing": 0.0, "channels_last": True, "device": "cpu",
        "threads": 1, "progress": False})  # one thread a run, two runs at a time (--jobs 2): the two cores
    max_lr: float | None = None  # None: the range test's recommendation, to 3 significant digits
    target: float = 0.93  # test accuracy: "time to accuracy" is the time to this
    goal: float = 0.94  # the accuracy hoped for within the longest budget
    budgets: tuple[int, ...] = (6, 8, 10)  # epochs searched; the longest always trained
    start: int | None = 8  # the budget the search starts at (None: the shortest), one of budgets
    seeds: tuple[int, ...] = (0, 1, 2)
    finder_seed: int = 0
    preset: str | None = "fmnist-93"  # the preset (src/onecycle/presets/) that publishes the recipe

    def config(self, **changes: Any) -> dict[str, Any]:
        """The RunConfig keys of one run or range test: the recipe, then ``changes``."""
        return {**self.recipe, **changes}


FULL = Settings()

QUICK = Settings(
    recipe={"dataset": "digits", "train_subset": 256, "test_subset": 128, "augment": "flip", "model": "small-cnn",
            "optimizer": "sgd", "batch_size": 32, "weight_decay": 5e-4, "label_smoothing": 0.0,
            "channels_last": False, "device": "cpu", "threads": 1, "download": False, "progress": False,
            "num_steps": 20},
    target=0.5, goal=0.8, budgets=(1, 2), start=None, seeds=(0,), preset=None)
"""A smoke run of seconds: scikit-learn's 8x8 digits (always available), tiny subsets, one seed."""
