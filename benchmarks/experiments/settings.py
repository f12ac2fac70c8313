"""What the twins train: the data, network and budgets of each experiment, for the full suite and for ``--quick``."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

SUBSET_SEED = 0
"""The seed that draws the fixed training and test subsets (the runs' own seeds vary initialisation and batch
order only)."""

BASELINES = ("step", "linear", "cosine")
SCHEDULES = ("onecycle", *BASELINES)


@dataclass(frozen=True)
class Settings:
    """Everything the five experiments train. ``base`` holds the :class:`onecycle.config.RunConfig` keys shared by
    every run and range test; the rest says what each experiment varies."""

    base: dict[str, Any] = field(default_factory=lambda: {
        "dataset": "fashion-mnist", "train_subset": 5_000, "test_subset": 2_000, "augment": "none",
        "model": "small-cnn", "optimizer": "sgd", "batch_size": 128, "momentum": 0.9, "channels_last": True,
        "device": "cpu", "download": True, "progress": False})
    seeds: tuple[int, ...] = (0, 1, 2)
    weight_decay: float = 5e-4  # every run of experiments 1-4 (the library's default for SGD)
    # 1. epochs to accuracy: each schedule at each budget over one lr grid; 1cycle also at the range test's lr
    budgets: tuple[int, ...] = (1, 2, 4, 8)
    schedules: tuple[str, ...] = SCHEDULES
    grid: tuple[float, ...] = (0.05, 0.15, 0.45)
    targets: tuple[float, ...] = (0.84, 0.86, 0.88)  # test accuracies; "epochs to target" reads them off the budgets
    # 2. cyclical (max_momentum -> base_momentum -> max_momentum) vs constant momentum, 1cycle over the grid
    momentum_epochs: int = 4
    constant_momentum: float = 0.9
    # 3. super-convergence: max_lr at the range test's smoothed minimum vs a moderate one (minimum / divisor)
    long_epochs: int = 8  # also the budget of experiment 4
    moderate_divisor: float = 10.0
    # 4. short cycle + long annihilation: the cycle ends with this epoch (of long_epochs)
    cycle_epochs: int = 4
    # 5. the sweep's weight decay vs every other swept value, each trained at its own recommended max_lr
    sweep_values: tuple[float, ...] = (1e-3, 3e-4, 1e-4, 3e-5, 1e-5, 0.0)
    sweep_epochs: int = 4
    # range tests (the library's defaults), all at seed finder_seed
    start_lr: float = 1e-5
    end_lr: float = 10.0
    num_steps: int = 100
    finder_seed: int = 0
    threads: int = 1  # torch CPU threads per run

    def config(self, **changes: Any) -> dict[str, Any]:
        """The RunConfig keys of one run or range test: ``base``, the threads, then ``changes``."""
        return {**self.base, "threads": self.threads, **changes}


FULL = Settings()

QUICK = Settings(
    base={"dataset": "digits", "train_subset": 256, "test_subset": 128, "augment": "none", "model": "small-cnn",
          "optimizer": "sgd", "batch_size": 32, "momentum": 0.9, "channels_last": False, "device": "cpu",
          "download": False, "progress": False},
    seeds=(0,), budgets=(1, 2), grid=(0.1, 0.3), targets=(0.5, 0.8), momentum_epochs=1, long_epochs=2,
    cycle_epochs=1, sweep_values=(1e-3, 0.0), sweep_epochs=1, num_steps=20)
"""A smoke run of seconds: scikit-learn's 8x8 digits (always available), tiny subsets, one seed."""
