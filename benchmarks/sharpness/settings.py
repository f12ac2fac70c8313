"""What the sharpness benchmark trains and measures: the recipe, the schedules compared (:data:`ARMS`), the seeds and
the sharpness settings, for the measurement and for ``--quick``."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from onecycle.run_sharpness import SharpnessSettings


@dataclass(frozen=True)
class Arm:
    """One schedule compared: ``schedule`` (a :data:`onecycle.schedules.POLICIES` name) peaking at the ``peak``
    max_lr (``"high"``: the range test's recommendation; ``"moderate"``: that divided by ``moderate_divisor``)."""

    name: str
    schedule: str
    peak: str


ARMS = (Arm("1cycle, high max_lr", "onecycle", "high"), Arm("1cycle, moderate max_lr", "onecycle", "moderate"),
        Arm("step, moderate max_lr", "step", "moderate"))
"""The schedules compared, in the order the report shows them. The step schedule runs at the moderate max_lr: it
holds its peak for half the run, where the high one (which 1cycle visits for a moment) is near divergence."""
PEAKS = ("high", "moderate")


@dataclass(frozen=True)
class Settings:
    """The runs and their measurement. ``recipe`` holds the :class:`onecycle.config.RunConfig` keys of every run
    and range test but the schedule and the seed; no ``train_subset``, so that every run's sharpness is measured on
    the same images (a subset would be drawn with each run's seed)."""

    recipe: dict[str, Any] = field(default_factory=lambda: {
        "dataset": "fashion-mnist", "augment": "none", "model": "small-cnn", "optimizer": "sgd", "batch_size": 256,
        "weight_decay": 5e-4, "label_smoothing": 0.0, "channels_last": True, "epochs": 4, "device": "cpu",
        "threads": 1, "progress": False})  # one thread a run, two runs at a time (--jobs 2): the two cores
    seeds: tuple[int, ...] = (0, 1, 2)
    finder_seed: int = 0
    moderate_divisor: float = 10.0
    sharpness: SharpnessSettings = field(default_factory=lambda: SharpnessSettings(images=2048, k=3))

    def config(self, **changes: Any) -> dict[str, Any]:
        """The RunConfig keys of one run or range test: the recipe, then ``changes``."""
        return {**self.recipe, **changes}


FULL = Settings()

QUICK = Settings(
    recipe={"dataset": "digits", "train_subset": 256, "test_subset": 128, "augment": "none", "model": "mlp",
            "optimizer": "sgd", "batch_size": 32, "weight_decay": 5e-4, "label_smoothing": 0.0, "channels_last": False,
            "epochs": 1, "device": "cpu", "threads": 1, "download": False, "progress": False, "num_steps": 20},
    seeds=(0,), sharpness=SharpnessSettings(images=16, k=2, max_iter=25))
"""A smoke run of seconds: tiny subsets of scikit-learn's 8x8 digits (always available), the MLP (whose
Hessian-vector products cost the least), one epoch, one seed (whose subset is the only one drawn)."""
