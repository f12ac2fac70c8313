"""One measurement in a fresh process: ``python -m benchmarks.speed.worker TASK.json RESULT.json``. The task names
the kind of measurement (:data:`benchmarks.speed.plan.KINDS`), its spec (the settings, and the RunConfig keys of
``onecycle train``) and the data file; the result holds the seconds it took (the function alone: not starting
Python, importing torch or loading the data), images and steps, the accuracy where it trains, and the process's
peak memory: its resident set's high-water mark on the CPU (the whole process), the most CUDA memory allocated on a
GPU (the measurement alone)."""

from __future__ import annotations

import gc
import importlib
import itertools
import json
import resource
import sys
import time
from pathlib import Path
from typing import Any

import torch

from benchmarks.speed import data as images
from benchmarks.speed import loops
from benchmarks.speed.plan import KINDS


def peak_memory_mib(device: str) -> float:
    """The peak memory of this process so far, in MiB (see the module's text)."""
    if device.startswith("cuda"):
        return torch.cuda.max_memory_allocated() / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def warm_up(spec: dict[str, Any], data: dict[str, Any]) -> None:
    """One training step and one evaluation of the network on the data, thrown away: the first use of each
    kernel in a process costs seconds (finding and preparing it), which every measurement would pay once
    otherwise, whatever it measures."""
    model = loops.network(spec, data)
    x, y = next(loops.bare_batches(spec, data, torch.Generator().manual_seed(spec["seed"])))
    torch.nn.functional.cross_entropy(model(x), y).backward()
    loops.sgd(model, spec, spec["start_lr"]).step()
    loops.accuracy(model, itertools.islice(loops.bare_test_batches(spec, data), 1))


def measure(kind: str, spec: dict[str, Any], data: dict[str, Any]) -> dict[str, Any]:
    """Run the measurement ``kind`` under ``spec`` on ``data`` (already on the device) and time it: its modules
    imported and the process warmed up (:func:`warm_up`) first."""
    for module in KINDS[kind].imports:
        importlib.import_module(module)
    module, name = KINDS[kind].function.split(":")
    function = getattr(importlib.import_module(module), name)
    torch.set_num_threads(spec["threads"])
    warm_up(spec, data)
    cuda = spec["device"].startswith("cuda")
    gc.collect()
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    result = function(spec, data)
    if cuda:
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    return {**result, "seconds": seconds, "images_per_s": result["images"] / seconds,
            "seconds_per_step": seconds / result["steps"], "peak_memory_mib": peak_memory_mib(spec["device"]),
            "threads": torch.get_num_threads(), "torch": torch.__version__}


def main(argv: list[str]) -> int:
    """Read the task, measure, write the result (atomically)."""
    from onecycle.rundir import write_json

    task_file, result_file = (Path(a) for a in argv)
    task = json.loads(task_file.read_text())
    data = images.load(Path(task["data"]), task["spec"]["device"])
    write_json(result_file, measure(task["kind"], task["spec"], data))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
