"""The benchmark's cases, their learning-rate grids and how each case is measured."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


def half_decades(lo: int, hi: int) -> tuple[float, ...]:
    """``10 ** (k / 2)`` for ``k = lo..hi``: the grid of learning rates, half a decade apart."""
    return tuple(float(10 ** (k / 2)) for k in range(lo, hi + 1))


SGD_GRID = half_decades(-5, 1)  # 3.2e-3 .. 3.2
ADAMW_GRID = half_decades(-8, -2)  # 1e-4 .. 1e-1
SGD_WDS = (1e-3, 1e-4, 1e-5)  # the library's default sweep values
ADAMW_WDS = (1e-1, 1e-2, 1e-3)
DEAR_CASE_RULES = ("ours", "ours + probe", "minimum_div10")
"""The rules trained on the dearest cases (minutes a run); the other rules' regrets there are estimated from the
runs around them (interpolated in log lr), and the report marks them."""


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
    trained_rules: tuple[str, ...] | None = None  # rules trained (None: all); the others are estimated from the runs

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
    Case("fmnist2k-resnet20-aug-b64-2ep", "fashion-mnist", "resnet20", "sgd", 64, 2, 2000, 2000, held_out=True,
         augment="crop+flip", finder_variants=False, trained_rules=DEAR_CASE_RULES),
    Case("fmnist10k-nobn-adamw-b512-5ep", "fashion-mnist", "small-cnn-nobn", "adamw", 512, 5, 10000, 2000,
         held_out=True, grid=ADAMW_GRID, finder_variants=False, trained_rules=DEAR_CASE_RULES),
    Case("fmnist-nobn-sgd-b256-1ep", "fashion-mnist", "small-cnn-nobn", "sgd", 256, 1, grid=half_decades(-4, 0),
         finder_variants=False, trained_rules=DEAR_CASE_RULES),  # about 2 minutes a run on one thread
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
