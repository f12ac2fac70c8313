"""``onecycle find-batch-size``: the largest batch that fits in memory, then the range test at that batch."""

from __future__ import annotations

import argparse
import shlex
from dataclasses import replace

import torch

from onecycle import memory, rundir
from onecycle.batch_size import MULTIPLE, SMALLEST, START, search
from onecycle.cli import find_lr
from onecycle.cli.common import CommandError, add_run_arguments, config_from_args, origin, show, whole
from onecycle.config import RunConfig, whole_range
from onecycle.engine import pick_device
from onecycle.experiment import find_lr as range_test_job
from onecycle.experiment import measuring, prepare, weight_decay_for
from onecycle.guard import check_fresh, locked

# find-lr's settings but the batch size, which this command finds.
SETTINGS = tuple(name for name in find_lr.SETTINGS if name != "batch_size")


def size(text: str) -> int:
    """An argument type: a size in bytes (:func:`onecycle.memory.parse_size`)."""
    try:
        return memory.parse_size(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("find-batch-size", help="find the largest batch that fits, then run the range test at it",
                       description=f"Train a few steps at batch sizes doubling from {START}, then bisecting to a "
                       f"multiple of {MULTIPLE}, to find the largest that fits in memory (CUDA: the device's; CPU: "
                       "--memory-budget, as the growth of resident memory), with the images/s of each; then run the "
                       "range test at that batch. Writes batch_size.json, finder.json, finder.csv and finder.png.")
    add_run_arguments(p, SETTINGS)
    p.usage = f"{p.usage} [--memory-budget SIZE] [--max-batch N]"
    p.add_argument("--memory-budget", type=size, metavar="SIZE",
                   help="the memory a training step may use, e.g. 2GiB: needed on the CPU; on CUDA, a limit below "
                   "the device's")
    p.add_argument("--max-batch", type=whole(whole_range("batch_size")[1]), metavar="N",
                   help="the largest batch size to try (default: the number of training images)")
    p.set_defaults(func=run)


def check_memory(device: torch.device, budget: int | None) -> None:
    """Raise a :class:`CommandError` unless the peak memory of training on ``device`` can be measured against
    ``budget`` (bytes; ``None``: the device's memory)."""
    if device.type not in ("cpu", "cuda"):
        raise CommandError(f"find-batch-size measures memory on cuda or the cpu, not on {device.type}; use "
                           "--device cpu with --memory-budget")
    if device.type == "cuda":
        return
    if budget is None:
        raise CommandError("on the cpu, give --memory-budget SIZE (e.g. --memory-budget 2GiB): the memory a training "
                           "step may use; nothing else says when a batch no longer fits")
    if not memory.cpu_peak_measurable():
        raise CommandError("measuring the peak memory of training on the cpu needs Linux's /proc/self/clear_refs, "
                           "which this system does not have; run it on a Linux machine or on cuda")
    free = memory.available()
    if free is not None and budget > free:
        raise CommandError(f"--memory-budget {memory.show_size(budget)} is more than the {memory.show_size(free)} of "
                           "memory this machine has available now; give at most that")


def run(args: argparse.Namespace) -> int:
    cfg = config_from_args(args)
    if origin(args, "batch_size") != "default":  # from the --config file: the flag is not taken
        print(f"note: batch_size {show(cfg.batch_size)} ({origin(args, 'batch_size')}) is not used: find-batch-size "
              "measures it")
    device = pick_device(cfg.device)
    check_memory(device, args.memory_budget)
    with locked(args.run_dir, args.command):
        if not args.overwrite:
            check_fresh(args.run_dir, "pass --overwrite to remove it and start over")
        setup = prepare(cfg.replace(batch_size=1))  # any batch of the training set: the search sets its own
        images = len(setup.train_data)
        limit = min(args.max_batch or images, images)
        if args.overwrite:  # after every check
            rundir.remove_run(args.run_dir)
        print(_searching(cfg, args.max_batch, images, limit, args.memory_budget))
        result = search(setup, limit, args.memory_budget)
        print(result)
        if result.largest is None:
            raise CommandError(f"no batch size fits, not even {SMALLEST} (see the sizes tried above): "
                               + ("give a larger --memory-budget or " if args.memory_budget else "")
                               + "use a smaller model")
        for name in (rundir.BATCH_SIZE_JSON, rundir.FINDER_JSON):  # results of their own, not a run: said, not refused
            if (args.run_dir / name).exists():
                print(f"note: {args.run_dir / name} is replaced by this search's (at batch size {result.largest})")
        rundir.write_json(args.run_dir / rundir.BATCH_SIZE_JSON, result.to_dict())
        at = replace(setup, cfg=cfg.replace(batch_size=result.largest))
        wd, source = weight_decay_for(at.cfg, args.run_dir)  # a sweep's pick serves the batch it was measured at
        print(f"{measuring(at.cfg, 'range test', wd, source)} and batch size {result.largest}")
        finder = range_test_job(at, args.run_dir, wd)
    print(finder)
    print(f"wrote {args.run_dir / rundir.BATCH_SIZE_JSON}, finder.png, finder.json, finder.csv")
    if finder.max_lr is None:
        print(f"the range test gave no recommendation (see finder.png): train at batch size {result.largest} with "
              f"--max-lr: `{train_command(args, result.largest)} --max-lr LR`")
    else:
        print(f"train at it with `{train_command(args, result.largest)}`")
    return 0


SEARCH_ONLY = ("--memory-budget", "--max-batch", "--overwrite", "--batch-size")
"""The flags of find-batch-size that the training it prepares does not take (``--batch-size``: the one it found)."""


def train_command(args: argparse.Namespace, batch_size: int) -> str:
    """``onecycle train`` with the settings this command was given (those of the range test it measured, which train
    reuses only under the same settings) at ``batch_size``."""
    words, given = [], list(args.argv[1:])
    while given:
        word = given.pop(0)
        name = word.split("=", 1)[0]
        if name in SEARCH_ONLY:
            if "=" not in word and name != "--overwrite" and given:
                given.pop(0)  # its value
            continue
        words.append(word)
    if "--run-dir" not in {w.split("=", 1)[0] for w in words}:
        words += ["--run-dir", str(args.run_dir)]
    return shlex.join(["onecycle", "train", *words, "--batch-size", str(batch_size)])


def _searching(cfg: RunConfig, max_batch: int | None, images: int, limit: int, budget: int | None) -> str:
    """The line that says what the search looks for: up to which batch size (and why) and within what memory."""
    within = "device memory" if budget is None else f"a budget of {memory.show_size(budget)}"
    bound = f"the {images} training images" if max_batch is None or max_batch > images else "--max-batch"
    return (f"batch size search: the largest that fits in {within}, up to {limit} ({bound}), {cfg.model} on "
            f"{cfg.dataset}")
