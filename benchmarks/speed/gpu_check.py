"""The GPU side of the speed benchmark, as one prepared script of a few minutes on one GPU
(``benchmarks/gpu_check.sh``): ResNet-56 on random 32x32x3 images at batch 512, the bare loop against
``onecycle train`` with and without compile, bf16 and channels-last (each against a bare loop with the same
option); the range test against bare steps; and the time ``onecycle train`` takes to reach 93% test accuracy on
Fashion-MNIST (after its range test), within a bounded number of epochs. Every figure is a median of interleaved
repeats, each measurement in a fresh process, as in :mod:`benchmarks.speed`.

It writes its figures to ``$OUT/gpu_check.json`` when ``$OUT`` is set, else ``benchmarks/results/gpu_check.json``
(``--out`` names another file; a dry run's go to ``gpu_check-quick.json``). ``--dry-run`` runs the same steps on
the CPU in seconds, on tiny data, to show that it works end to end."""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import os
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks.common.cli import run_main
from benchmarks.common.paths import RESULTS_DIR
from benchmarks.speed import data as images
from benchmarks.speed.cli import machine
from benchmarks.speed.plan import comparisons, train_options, variants
from benchmarks.speed.runs import measure_all
from benchmarks.speed.settings import Settings
from benchmarks.speed.stats import compare, summary

COMMAND = "bash benchmarks/gpu_check.sh"
GPU_OPTIONS: tuple[dict[str, Any], ...] = (
    {"amp": True}, {"channels_last": True}, {"amp": True, "channels_last": True}, {"compile": True},
    {"compile": True, "amp": True, "channels_last": True}, {"cudnn_benchmark": True},
)
"""The options of ``onecycle train`` measured (bf16 is ``amp`` on a GPU that supports it)."""

GPU = Settings(dataset="cifar10", train_subset=None, test_subset=None, augment="crop+flip", model="resnet56",
               batch_size=512, epochs=1, max_lr=0.05, repeats=3, device="cuda", options=GPU_OPTIONS)
"""The throughput runs: random CIFAR-shaped images (:data:`RANDOM`), ResNet-56, batch 512 (a low max_lr: random
labels at a high one could make ``onecycle train`` stop for a diverged loss)."""
RANDOM = {"train": 512 * 40, "test": 2_048, "shape": (3, 32, 32), "classes": 10}
"""How many random images the throughput runs train and test on, and their shape."""
TO_TARGET = {"dataset": "fashion-mnist", "model": "resnet20", "batch_size": 512, "augment": "crop+flip",
             "epochs": 12, "target": 0.93}
"""The run to a target accuracy: at most ``epochs`` of 1cycle at the range test's max_lr."""

DRY_GPU = dataclasses.replace(GPU, model="resnet20", batch_size=8, range_steps=4, repeats=1, device="cpu",
                              options=({"amp": True, "channels_last": True},))
DRY_RANDOM = {"train": 64, "test": 8, "shape": (3, 32, 32), "classes": 10}
DRY_TO_TARGET = {"dataset": "digits", "model": "small-cnn", "batch_size": 32, "augment": "none", "epochs": 2,
                 "target": 0.5, "train_subset": 256, "test_subset": 128}
"""``--dry-run``: the same steps on the CPU, tiny, with one combination of options (compile is left out: it takes
minutes on a CPU)."""


def default_out(dry_run: bool = False) -> Path:
    """``$OUT/gpu_check.json`` when ``$OUT`` is set, else under ``benchmarks/results/`` (a dry run's in
    ``gpu_check-quick.json``, git-ignored like every smoke run's)."""
    name = "gpu_check-quick.json" if dry_run else "gpu_check.json"
    return Path(os.environ["OUT"]) / name if os.environ.get("OUT") else RESULTS_DIR / name


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=COMMAND, description=__doc__.split("\n\n")[0])
    parser.add_argument("--dry-run", action="store_true", help="the same steps on the CPU in seconds, tiny data")
    parser.add_argument("--out", type=Path, help="the JSON file of the figures (default $OUT/gpu_check.json, "
                                                 "else benchmarks/results/gpu_check.json; --dry-run: "
                                                 "gpu_check-quick.json)")
    return parser


def to_target(settings: Settings, run: dict[str, Any], say: Any) -> dict[str, Any]:
    """``onecycle train`` of ``run`` (see :data:`TO_TARGET`) after its range test, on ``settings``' device: the
    range test's time and max_lr, each epoch's test accuracy and time, and the training time until the first
    epoch at or above the target (``None`` when none reached it), or why it could not run."""
    from onecycle.config import ConfigError, from_dict
    from onecycle.datasets import DatasetError, DatasetNotFound
    from onecycle.experiment import DEFAULT_WEIGHT_DECAY, find_lr, prepare, train_run

    keys = {k: v for k, v in run.items() if k != "target"}
    cfg = from_dict({**keys, "device": settings.device, "download": False, "progress": False,
                     "seed": settings.seed}, "the GPU check's settings")
    try:
        setup = prepare(cfg, say=say)
    except (DatasetNotFound, DatasetError, ConfigError, OSError) as err:  # no dataset here: said, the rest kept
        return {"error": str(err)}
    weight_decay = DEFAULT_WEIGHT_DECAY[cfg.optimizer] if cfg.weight_decay is None else cfg.weight_decay
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        finder = find_lr(setup, Path(tmp), weight_decay)
        range_s = time.perf_counter() - start
        max_lr = finder.max_lr or settings.max_lr
        state = train_run(setup, Path(tmp), max_lr, weight_decay)
    elapsed, reached = 0.0, None
    for h in state.history:
        elapsed += h["time_s"]
        if reached is None and h.get("val_accuracy", 0.0) >= run["target"]:
            reached = elapsed
    return {"target": run["target"], "range_test_s": range_s, "max_lr": max_lr, "seconds_to_target": reached,
            "epochs": [{"epoch": h["epoch"], "accuracy": h.get("val_accuracy"), "time_s": h["time_s"]}
                       for h in state.history]}


def run(args: argparse.Namespace) -> int:
    """:func:`main` once its arguments are checked."""
    from onecycle.rundir import write_json

    settings, random, target = (DRY_GPU, DRY_RANDOM, DRY_TO_TARGET) if args.dry_run else (GPU, RANDOM, TO_TARGET)
    out = args.out or default_out(args.dry_run)

    def say(text: str) -> None:
        print(text, file=sys.stderr, flush=True)

    start = time.perf_counter()
    options, skipped = train_options(settings)
    for note in skipped:
        say(f"skipped {note['name']}: {note['reason']}")
    measured = variants(options)
    names = ["ours_train", "bare_train", *measured, "ours_range", "bare_steps"]
    fields = {k: v for k, v in dataclasses.asdict(settings).items() if k != "options"}
    specs = {n: {**fields, "options": measured.get(n, {}), "config": settings.config(**measured.get(n, {}))}
             for n in names}
    with tempfile.TemporaryDirectory() as tmp:
        data_file = Path(tmp) / "images.pt"
        images.save(images.random_images(random["train"], random["test"], random["shape"], random["classes"],
                                         settings.seed), data_file)
        runs = measure_all(names, specs, dict.fromkeys(names, str(data_file)), settings.repeats, 1,
                           dict.fromkeys(names), say)
    say(f"to {target['target']:.0%} on {target['dataset']}")
    reached = to_target(settings, target, say)
    data = {"meta": {"command": f"{COMMAND}{' --dry-run' if args.dry_run else ''}",
                     "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
                     "machine": machine(settings.device), "wall_time_s": time.perf_counter() - start,
                     "random_images": {**random, "shape": list(random["shape"])}, "dry_run": args.dry_run},
            "settings": fields, "skipped": skipped, "runs": runs, "measurements": summary(runs, names),
            "comparisons": [compare(c, runs) for c in comparisons(names) if c.theirs in names],
            "to_target": reached}
    write_json(out, data)
    for row in data["comparisons"]:
        ratio = "—" if row["ratio"] is None else f"{row['ratio']:.2f}x"
        say(f"{row['name']}: {ratio} (target {'>=' if row['at_least'] else '<='} {row['target']:g}x)")
    say(f"wrote {out} ({time.perf_counter() - start:.0f} s)")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Measure the GPU side and write its figures."""
    args = build_parser().parse_args(argv)
    return run_main(COMMAND, lambda: run(args))


if __name__ == "__main__":
    raise SystemExit(main())
