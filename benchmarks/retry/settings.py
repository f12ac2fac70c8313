"""What the retry benchmark trains: the recipe, the multiples of the recommended max_lr, the ``on_diverge`` modes
compared and the seeds, for the measurement and for ``--quick``."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from onecycle.retry import ON_DIVERGE


@dataclass(frozen=True)
class Settings:
    """The runs. ``recipe`` holds the :class:`onecycle.config.RunConfig` keys of every run and range test but the
    seed and ``on_diverge``; each run trains at max_lr = the range test's recommendation (at ``finder_seed``) times
    one of ``multiples``, once per mode of :data:`onecycle.retry.ON_DIVERGE` and seed. A run *failed* when it stopped
    or ended below ``failed_below`` times the mean accuracy of the stop runs at the first multiple (the sane
    accuracy); a mode *holds* at a multiple when every run of it there ends within ``within`` of the sane accuracy."""

    recipe: dict[str, Any] = field(default_factory=lambda: {
        "dataset": "digits", "model": "mlp", "augment": "none", "optimizer": "sgd", "batch_size": 256,
        "weight_decay": 5e-4, "label_smoothing": 0.0, "epochs": 20, "device": "cpu", "threads": 1,
        "download": False, "progress": False})  # one thread a run, two runs at a time (--jobs 2): the two cores
    multiples: tuple[float, ...] = (1.0, 3.0, 10.0, 15.0, 30.0)
    seeds: tuple[int, ...] = (0, 1, 2)
    finder_seed: int = 0
    failed_below: float = 0.5
    within: float = 0.05

    def config(self, **changes: Any) -> dict[str, Any]:
        """The RunConfig keys of one run or range test: the recipe, then ``changes``."""
        return {**self.recipe, **changes}


MODES = ON_DIVERGE
"""The modes compared, in the order the report shows them: ``stop`` (the default) and ``retry``."""

FULL = Settings()

QUICK = Settings(
    recipe={"dataset": "digits", "train_subset": 256, "test_subset": 128, "model": "mlp", "augment": "none",
            "optimizer": "sgd", "batch_size": 32, "weight_decay": 5e-4, "label_smoothing": 0.0, "epochs": 2,
            "device": "cpu", "threads": 1, "download": False, "progress": False, "num_steps": 20},
    multiples=(1.0, 30.0), seeds=(0,))
"""A smoke run of seconds: tiny subsets of the digits, two epochs, the recommendation and 30 times it, one seed."""
