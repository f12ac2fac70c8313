"""Images per second of ``onecycle train`` in one process and in several under ``torchrun``, side by side.

    python -m benchmarks.scaling [--processes 2] [--repeats 3] [--quick] [--out docs/BENCHMARKS.md]

Each repeat trains the same run (the same settings and global batch) once in one process with all the CPU threads and
once in N processes sharing them (``batch_size`` and ``threads`` each: the global batch and the cores / N), in
alternation, so that both see the same machine. The figure is each run's training images/s (its steps' images over
their time on rank 0's clock, test evaluation excluded), read from its epochs' metrics. The medians and their ratio
go to the ``scaling`` section of the report. On one machine's cores no gain is expected: the point of several
processes there is that they train correctly together (the tests check that they train as one process does).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks.common.cli import SMOKE_WARNING, BenchmarkError, markdown_path, run_main
from benchmarks.common.section import Section

COMMAND = "python -m benchmarks.scaling"
SECTION = Section("scaling", COMMAND)
DEFAULT_OUT = Path("docs/BENCHMARKS.md")
SETTINGS = {"dataset": "fashion-mnist", "model": "small-cnn", "epochs": "1", "train-subset": "20000",
            "test-subset": "2000", "max-lr": "0.1", "weight-decay": "5e-4"}
"""The run timed, as ``onecycle train`` flags, at a global batch of :data:`GLOBAL_BATCH`."""
QUICK = {"dataset": "digits", "model": "mlp", "epochs": "1", "max-lr": "0.1", "weight-decay": "5e-4"}
GLOBAL_BATCH, QUICK_BATCH = 256, 32


def train_command(flags: dict[str, str], batch: int, processes: int, threads: int, run_dir: Path) -> list[str]:
    """``onecycle train`` with ``flags`` at the global batch ``batch``, in one process or under ``torchrun`` in
    ``processes``."""
    words = [word for k, v in flags.items() for word in (f"--{k}", v)]
    words += ["--batch-size", str(batch // processes), "--threads", str(threads), "--run-dir", str(run_dir),
              "--quiet", "--overwrite"]
    if processes == 1:
        return [sys.executable, "-m", "onecycle", "train", *words]
    return [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={processes}",
            "-m", "onecycle", "train", *words]


def images_per_s(command: list[str], run_dir: Path) -> float:
    """Run ``command`` (a training run in ``run_dir``) and return its training images/s."""
    from onecycle.rundir import read_metrics

    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        last = done.stderr.strip().splitlines()[-1:] or ["no message"]
        raise BenchmarkError(f"`{' '.join(command)}` failed: {last[0]}")
    return statistics.mean(row["images_per_s"] for row in read_metrics(run_dir) if row["kind"] == "epoch")


def measure(flags: dict[str, str], batch: int, processes: int, repeats: int, cores: int,
            say: Any = print) -> dict[str, Any]:
    """``repeats`` alternations of the run at the global batch ``batch`` in one process (``cores`` threads) and in
    ``processes``."""
    runs: dict[int, list[float]] = {1: [], processes: []}
    load = [os.getloadavg()[0]]
    with tempfile.TemporaryDirectory(prefix="onecycle-scaling-") as tmp:
        for r in range(repeats):
            for n in (1, processes):
                run_dir = Path(tmp) / f"p{n}"
                runs[n].append(images_per_s(train_command(flags, batch, n, max(1, cores // n), run_dir), run_dir))
                say(f"repeat {r + 1}/{repeats}, {n} process(es): {runs[n][-1]:.0f} images/s")
    load.append(os.getloadavg()[0])
    return {"settings": flags, "global_batch": batch, "processes": processes, "cores": cores, "repeats": repeats,
            "load": load,
            "images_per_s": {str(n): v for n, v in runs.items()}}


def report(result: dict[str, Any], quick: bool) -> str:
    """The ``scaling`` section."""
    one, many = (statistics.median(result["images_per_s"][str(n)]) for n in (1, result["processes"]))
    n, cores = result["processes"], result["cores"]
    flags = " ".join(f"--{k} {v}" for k, v in result["settings"].items())
    lines = [SMOKE_WARNING, ""] if quick else []
    lines += [
        f"`onecycle train {flags}` at a global batch of {result['global_batch']} on {cores} CPU core(s) "
        f"({platform.processor() or platform.machine()}), median of {result['repeats']} alternating repeat(s): one "
        f"process with `--batch-size {result['global_batch']} --threads {cores}`, then {n} processes under "
        f"`torchrun --standalone --nproc_per_node {n}` with `--batch-size {result['global_batch'] // n} --threads "
        f"{max(1, cores // n)}` each. The machine's load average (1 min) was {result['load'][0]:.1f} as it began "
        f"and {result['load'][1]:.1f} as it ended: above {cores}, other work shared the cores.",
        "",
        "| processes | training images/s | runs | ratio to one process |",
        "|---|---|---|---|",
        f"| 1 | {one:.0f} | {', '.join(f'{v:.0f}' for v in result['images_per_s']['1'])} | 1.00 |",
        f"| {n} | {many:.0f} | {', '.join(f'{v:.0f}' for v in result['images_per_s'][str(n)])} | "
        f"{'-' if quick else f'{many / one:.2f}'} |",
        "",
        "On one machine's CPU cores the processes only share the cores one process already used, and add the "
        "gradients' all-reduce at every step, so no gain is expected. Where several processes can gain, more "
        "machines or one GPU per process, was not measured here. A multi-GPU run needs nothing else from onecycle: "
        "`torchrun --nproc_per_node <GPUs> -m onecycle train ...` puts each process on the GPU of its local rank and "
        "reduces over nccl; `sync_batchnorm = true` makes BatchNorm use the global batch.",
    ]
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=COMMAND, description=__doc__.split("\n\n")[0])
    p.add_argument("--processes", type=int, default=2, help="processes under torchrun (default: 2)")
    p.add_argument("--repeats", type=int, default=3, help="alternations of one and N processes (default: 3)")
    p.add_argument("--quick", action="store_true", help="a smoke run on scikit-learn's digits (a minute or two: it "
                   "starts torchrun; its figures mean nothing)")
    p.add_argument("--out", type=markdown_path, default=None, help=f"report (default: {DEFAULT_OUT})")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)

    def body() -> int:
        if args.processes < 2 or not 1 <= args.repeats <= 100:
            raise BenchmarkError(f"--processes must be >= 2 and --repeats 1 to 100, got {args.processes} and "
                                 f"{args.repeats}")
        out = args.out or DEFAULT_OUT
        SECTION.check(out, default=args.out is None)
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
        flags, batch = (QUICK, QUICK_BATCH) if args.quick else (SETTINGS, GLOBAL_BATCH)
        result = measure(flags, batch, args.processes, 1 if args.quick else args.repeats, cores)
        SECTION.write(out, report(result, args.quick), default=args.out is None)
        print(f"wrote the {SECTION.name} section of {out}")
        return 0

    return run_main(COMMAND, body)


if __name__ == "__main__":
    sys.exit(main())
