"""Bad inputs, tried as a hostile user would: each case damages a small workspace (a run directory stopped after
its first epoch, a finished one, tiny Fashion-MNIST and CIFAR-10 directories), runs one ``onecycle`` command and
says what the command should answer: one line on stderr naming the setting or file, with both run directories left
byte for byte as they were, or, for the few inputs that are fine (a metrics line torn by a kill), success.

``python -m benchmarks.robustness`` runs every case as its own process, under a memory cap and a time limit, and
writes ``docs/ROBUSTNESS.md``: the table of what was tried and what came back, and the counts (inputs tried,
tracebacks, silently wrong, damaged run directories, crashes, hangs). ``tests/test_robustness_inputs.py`` runs the
same table in-process.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import pickle
import resource
import shutil
import struct
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parent.parent
DOC = REPO / "docs" / "ROBUSTNESS.md"
MEMORY_CAP = 3 << 30  # address space of each command: the memory bombs of the issue asked for 2.8 GiB and more
TIME_LIMIT = 300  # seconds per command

# Every command below runs on these: digits (always there), tiny, the CPU.
TINY = ("--dataset", "digits", "--train-subset", "64", "--test-subset", "32", "--batch-size", "16", "--quiet")
TRAIN = ("train", "--run-dir", "{ws}/new", "--max-lr", "0.1", "--weight-decay", "0", "--epochs", "1", *TINY)
RESUME = ("train", "--resume", "--run-dir", "{ws}/run", "--quiet")
REPORT = ("report", "{ws}/run", "--out", "{ws}/report")


def fashion(data_dir: str = "{ws}/fashion") -> tuple[str, ...]:
    """train on Fashion-MNIST from ``data_dir``."""
    return ("train", "--run-dir", "{ws}/new", "--max-lr", "0.1", "--weight-decay", "0", "--epochs", "1",
            "--dataset", "fashion-mnist", "--data-dir", data_dir, "--batch-size", "16", "--quiet")


FASHION = fashion()
CIFAR = ("train", "--run-dir", "{ws}/new", "--max-lr", "0.1", "--weight-decay", "0", "--epochs", "1",
         "--dataset", "cifar10", "--data-dir", "{ws}/cifar", "--batch-size", "16", "--quiet")


@dataclass(frozen=True)
class Case:
    """One bad input: ``damage`` prepares the workspace, ``argv`` (``{ws}``: the workspace) is the command, and
    its one-line error must contain ``expect`` (``ok``: the command must succeed instead)."""

    section: str
    name: str
    argv: Sequence[str]
    expect: str
    damage: Callable[[Path], None] | None = None
    ok: bool = False
    needs_no_cuda: bool = False

    def command(self, ws: Path) -> list[str]:
        return [a.replace("{ws}", str(ws)) for a in self.argv]


# --------------------------------------------------------------------------------------------- the workspace

def write_gz(path: Path, raw: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(path, "wb") as f:
        f.write(raw)


def idx_bytes(array: np.ndarray, magic: int) -> bytes:
    return struct.pack(f">I{array.ndim}I", magic, *array.shape) + array.astype(np.uint8).tobytes()


def write_fashion(directory: Path, n_train: int = 64, n_test: int = 16, seed: int = 0) -> None:
    """The four Fashion-MNIST IDX files with random 28x28 images."""
    rng = np.random.default_rng(seed)
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        images = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        write_gz(directory / f"{prefix}-images-idx3-ubyte.gz", idx_bytes(images, 2051))
        write_gz(directory / f"{prefix}-labels-idx1-ubyte.gz", idx_bytes(rng.integers(0, 10, n), 2049))


def cifar_batch(n: int, seed: int = 0) -> dict[bytes, object]:
    rng = np.random.default_rng(seed)
    return {b"batch_label": b"a batch", b"labels": [int(v) for v in rng.integers(0, 10, n)],
            b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8), b"filenames": [b"%d.png" % i for i in range(n)]}


def write_cifar(directory: Path, per_batch: int = 8) -> None:
    """A cifar-10-batches-py directory of random images."""
    directory.mkdir(parents=True, exist_ok=True)
    for i in range(1, 6):
        (directory / f"data_batch_{i}").write_bytes(pickle.dumps(cifar_batch(per_batch, i)))
    (directory / "test_batch").write_bytes(pickle.dumps(cifar_batch(per_batch, 9)))
    names = [b"airplane", b"automobile", b"bird", b"cat", b"deer", b"dog", b"frog", b"horse", b"ship", b"truck"]
    (directory / "batches.meta").write_bytes(pickle.dumps({b"label_names": names, b"num_vis": 3072}))


class _StopAfterOneEpoch:
    def on_epoch_end(self, state: object, metrics: object) -> bool:
        return True


RUNS = ("run", "done")
"""The run directories of the workspace: ``run``, a run of 2 epochs stopped after its first; ``done``, the same
run finished. A command that fails must leave both byte for byte as they were. Both train 64 steps an epoch
(128 digits, 2 at a time): a run shorter than a range test is warned about, and the warning is not the answer
looked for."""


def make_runs(template: Path) -> None:
    """``template/run`` (config.json, checkpoint.pt at epoch 1 of 2, metrics) and ``template/done`` (a finished
    run: every file of training)."""
    from onecycle.config import from_dict
    from onecycle.experiment import prepare, train_run

    cfg = from_dict({"dataset": "digits", "train_subset": 128, "test_subset": 32, "batch_size": 2, "epochs": 2,
                     "max_lr": 0.1, "weight_decay": 0.0, "progress": False})
    setup = prepare(cfg, say=lambda _: None)
    train_run(setup, template / "run", 0.1, 0.0, extra_hooks=[_StopAfterOneEpoch()])
    train_run(setup, template / "done", 0.1, 0.0)


def make_workspace(ws: Path, template: Path) -> None:
    """The run directories of ``template`` (:data:`RUNS`), ``ws/fashion``, ``ws/cifar`` and ``ws/notes.txt`` (a
    file)."""
    for name in RUNS:
        shutil.copytree(template / name, ws / name)
    write_fashion(ws / "fashion")
    write_cifar(ws / "cifar")
    (ws / "notes.txt").write_text("a file, not a directory\n")


def snapshot(ws: Path) -> dict[str, bytes]:
    """Every file of the workspace's run directories and its bytes."""
    return {str(p.relative_to(ws)): p.read_bytes() for name in RUNS for p in sorted((ws / name).rglob("*"))
            if p.is_file()}


# ------------------------------------------------------------------------------------------------ damage

def _write(name: str, data: bytes | str) -> Callable[[Path], None]:
    def damage(ws: Path) -> None:
        path = ws / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data.encode() if isinstance(data, str) else data)
    return damage


def _checkpoint(change: Callable[[dict], object], hashed: bool = True) -> Callable[[Path], None]:
    """Change the contents of the run's checkpoint, written again with its hash (``hashed``) so that the
    change reaches the checks of its contents, or as older versions wrote it."""
    def damage(ws: Path) -> None:
        from onecycle import rundir

        path = ws / "run" / "checkpoint.pt"
        ckpt = change(rundir.read_checkpoint(path))
        if hashed:
            rundir.write_checkpoint(path, ckpt)
        else:
            torch.save(ckpt, path)
    return damage


def _checkpoint_bytes(change: Callable[[bytes], bytes]) -> Callable[[Path], None]:
    def damage(ws: Path) -> None:
        path = ws / "run" / "checkpoint.pt"
        path.write_bytes(change(path.read_bytes()))
    return damage


def _flip_middle_byte(data: bytes) -> bytes:
    middle = len(data) // 2
    return data[:middle] + bytes([data[middle] ^ 1]) + data[middle + 1:]


def _scheduler_ahead(ckpt: dict) -> dict:
    ckpt["scheduler"]["last_epoch"] += 1
    return ckpt


def _without(key: str) -> Callable[[dict], dict]:
    return lambda c: {k: v for k, v in c.items() if k != key}


def _with(**changes: object) -> Callable[[dict], dict]:
    return lambda c: {**c, **changes}


def _other_model(ckpt: dict) -> dict:
    name = next(iter(ckpt["model"]))
    ckpt["model"][name] = torch.zeros(3, 3)
    return ckpt


def _config(change: Callable[[dict], object]) -> Callable[[Path], None]:
    def damage(ws: Path) -> None:
        path = ws / "run" / "config.json"
        path.write_text(json.dumps(change(json.loads(path.read_text()))))
    return damage


def _resolved(**changes: object) -> Callable[[dict], dict]:
    return lambda c: {**c, "resolved": {**c["resolved"], **changes}}


def _metrics(change: Callable[[list[str]], list[str]], end: str = "\n") -> Callable[[Path], None]:
    def damage(ws: Path) -> None:
        path = ws / "run" / "metrics.jsonl"
        path.write_text("\n".join(change(path.read_text().splitlines())) + end)
    return damage


def _fashion_file(name: str, raw: bytes, gz: bool = True) -> Callable[[Path], None]:
    def damage(ws: Path) -> None:
        path = ws / "fashion" / name
        if gz:
            write_gz(path, raw)
        else:
            path.write_bytes(raw)
    return damage


def _zeros_after(header: bytes, gib: int) -> bytes:
    """A gzip of ``header`` then ``gib`` GiB of zeros, a few MB: one member of 16 MiB of zeros, repeated."""
    member = gzip.compress(bytes(16 << 20), compresslevel=9)
    return gzip.compress(header) + member * (gib * 64)


def _cifar_file(name: str, obj: object = None, raw: bytes | None = None) -> Callable[[Path], None]:
    return _write(f"cifar/{name}", raw if raw is not None else pickle.dumps(obj))


def _ndarray_call(shape: tuple[int, ...]) -> bytes:
    """A pickle whose b'data' is ``numpy.ndarray(shape)``: an allow-listed class called with a huge shape."""
    dims = b"".join(b"J" + struct.pack("<i", d) for d in shape)
    return (b"\x80\x03}(C\x04data" + b"cnumpy\nndarray\n(" + dims + b"t\x85R" + b"C\x06labels]u.")


def _reconstruct(shape: tuple[int, ...]) -> bytes:
    """A pickle whose b'data' is numpy's ``_reconstruct(ndarray, shape, b'B')``, which allocates ``shape``."""
    dims = b"".join(b"J" + struct.pack("<i", d) for d in shape)
    return (b"\x80\x03}(C\x04data" + b"cnumpy.core.multiarray\n_reconstruct\ncnumpy\nndarray\n(" + dims
            + b"tC\x01B\x87R" + b"C\x06labels]u.")


def _shared_labels() -> dict:
    """Labels that are lists of the same list, a thousand deep three times: 10**9 numbers when flattened."""
    inner = [0] * 1000
    middle = [inner] * 1000
    return {b"data": np.zeros((2, 3072), np.uint8), b"labels": [middle] * 1000}


def _memo_index_bomb() -> bytes:
    """Five bytes that make the C unpickler size its memo to 2**28 entries."""
    return b"\x80\x02Nr\x00\x00\x00\x10."


def _zero_variance(ws: Path) -> None:
    write_gz(ws / "fashion" / "train-images-idx3-ubyte.gz", idx_bytes(np.full((64, 28, 28), 7, np.uint8), 2051))


def _empty_test_set(ws: Path) -> None:
    write_gz(ws / "fashion" / "t10k-images-idx3-ubyte.gz", idx_bytes(np.zeros((0, 28, 28), np.uint8), 2051))
    write_gz(ws / "fashion" / "t10k-labels-idx1-ubyte.gz", idx_bytes(np.zeros(0, np.uint8), 2049))


def _deep_toml() -> str:
    return "seed = " + "[" * 100_000 + "]" * 100_000 + "\n"


DEVICES, CONFIG, RUN_DIR, SIZES = "Devices", "Settings files", "Run directories", "Sizes"
CHECKPOINTS, RUN_FILES, IDX, PICKLES, DATA = ("Checkpoints", "config.json and metrics.jsonl", "IDX files (memory)",
                                               "CIFAR pickles (memory and values)", "Data directories and contents")
KEPT = "A finished run directory kept as it was"
DONE = ("train", "--run-dir", "{ws}/done", "--max-lr", "0.1", "--weight-decay", "0", "--epochs", "1", *TINY)
OVER = (*DONE, "--overwrite")  # a fresh start that may replace the finished run, once every check passed

CASES: tuple[Case, ...] = (
    Case(DEVICES, "--device cuda without CUDA", (*TRAIN, "--device", "cuda"), "device 'cuda'", needs_no_cuda=True),
    Case(DEVICES, "--device cuda:99", (*TRAIN, "--device", "cuda:99"), "device 'cuda:99'"),
    Case(DEVICES, "--device tpu", (*TRAIN, "--device", "tpu"), "device must be auto, cpu, cuda, cuda:N or mps"),
    Case(DEVICES, "--device meta", (*TRAIN, "--device", "meta"), "got 'meta'"),
    Case(DEVICES, "--device foo:bar", (*TRAIN, "--device", "foo:bar"), "got 'foo:bar'"),
    Case(DEVICES, "--device cpu:3", (*TRAIN, "--device", "cpu:3"), "got 'cpu:3'"),
    Case(DEVICES, "--device ''", (*TRAIN, "--device", ""), "device must be"),
    Case(CONFIG, "onecycle = 5", (*TRAIN, "--config", "{ws}/c.toml"), "onecycle must be a table",
         _write("c.toml", "onecycle = 5\n")),
    Case(CONFIG, "onecycle = [1, 2]", (*TRAIN, "--config", "{ws}/c.toml"), "onecycle must be a table",
         _write("c.toml", "onecycle = [1, 2]\n")),
    Case(CONFIG, "--config a directory", (*TRAIN, "--config", "{ws}/run"), "is a directory"),
    Case(CONFIG, "--config /dev/zero", (*TRAIN, "--config", "/dev/zero"), "/dev/zero is larger than 1 MiB"),
    Case(CONFIG, "--config not UTF-8", (*TRAIN, "--config", "{ws}/c.toml"), "c.toml is not UTF-8",
         _write("c.toml", b"seed = 1 # \xff\xfe\n")),
    Case(CONFIG, "--config missing", (*TRAIN, "--config", "{ws}/none.toml"), "none.toml does not exist"),
    Case(CONFIG, "--config ''", (*TRAIN, "--config", ""), "config file path is empty"),
    Case(CONFIG, "--config not TOML", (*TRAIN, "--config", "{ws}/c.toml"), "c.toml is not valid TOML",
         _write("c.toml", "seed = = 1\n")),
    Case(CONFIG, "--config 100,000 nested brackets", (*TRAIN, "--config", "{ws}/c.toml"), "nested too deeply",
         _write("c.toml", _deep_toml())),
    Case(CONFIG, "--config integer of 5,000 digits", (*TRAIN, "--config", "{ws}/c.toml"), "c.toml is not valid TOML",
         _write("c.toml", "seed = " + "9" * 5000 + "\n")),
    Case(CONFIG, "--config unknown key", (*TRAIN, "--config", "{ws}/c.toml"), "max_lrr (did you mean max_lr?)",
         _write("c.toml", "max_lrr = 0.1\n")),
    Case(CONFIG, "--config seed a table", (*TRAIN, "--config", "{ws}/c.toml"), "seed must be an integer",
         _write("c.toml", "[seed]\nx = 1\n")),
    Case(CONFIG, "--config dataset a date", (*TRAIN, "--config", "{ws}/c.toml"), "dataset must be a string",
         _write("c.toml", "dataset = 1979-05-27\n")),
    Case(RUN_DIR, "--run-dir a file", (*TRAIN[:2], "{ws}/notes.txt", *TRAIN[3:]), "notes.txt is a file"),
    Case(RUN_DIR, "--run-dir under a file", (*TRAIN[:2], "{ws}/notes.txt/run", *TRAIN[3:]),
         "notes.txt is a file, not a directory"),
    Case(RUN_DIR, "--run-dir ''", (*TRAIN[:2], "", *TRAIN[3:]), "expected a directory, got an empty string"),
    Case(RUN_DIR, "report --out under a file", ("report", "{ws}/run", "--out", "{ws}/notes.txt/out"),
         "notes.txt is a file"),
    Case(SIZES, "schedule --total-steps 10000000000", ("schedule", "--total-steps", "10000000000", "--max-lr", "0.1",
                                                         "--out", "{ws}/s.png"), "--total-steps"),
    Case(SIZES, "--epochs 99999999999999999999999", (*TRAIN, "--epochs", "99999999999999999999999"),
         "--epochs: expected a whole number from 1 to"),
    Case(SIZES, "max_lr = 1e308 in the config", (*TRAIN[:3], *TRAIN[5:], "--config", "{ws}/c.toml"), "max_lr must be",
         _write("c.toml", "max_lr = 1e308\n")),
    Case(SIZES, "--max-lr 1e7", (*TRAIN[:4], "1e7", *TRAIN[5:]), "max_lr must be at most"),
    Case(SIZES, "schedule --max-lr 1e308", ("schedule", "--total-steps", "100", "--max-lr", "1e308", "--out",
                                             "{ws}/s.png"), "max_lr must be"),
    Case(SIZES, "--seed beyond 64 bits", (*TRAIN, "--seed", str(2**64 + 1)), "--seed: expected a whole number"),
    Case(SIZES, "--threads 2**40", (*TRAIN, "--threads", str(2**40)), "--threads: expected a whole number"),
    Case(SIZES, "--threads 5000", (*TRAIN, "--threads", "5000"), "from 1 to 1024, got '5000'"),
    Case(SIZES, "--div-factor 1e300", (*TRAIN, "--div-factor", "1e300"), "div_factor must be at most"),
    Case(SIZES, "reproduce --seeds 10**20", ("reproduce", "r56-95ep", "--seeds", str(10**20)), "--seeds"),
    Case(SIZES, "reproduce a preset that is a path", ("reproduce", "../../etc/passwd"), "unknown preset"),
    Case(CHECKPOINTS, "a list", RESUME, "checkpoint.pt is not a onecycle checkpoint",
         _checkpoint(lambda c: [1, 2, 3])),
    Case(CHECKPOINTS, "no model", RESUME, "checkpoint.pt is not a complete onecycle checkpoint: it lacks model",
         _checkpoint(_without("model"))),
    Case(CHECKPOINTS, "no rng", RESUME, "lacks rng", _checkpoint(_without("rng"))),
    Case(CHECKPOINTS, "another model's weights (size mismatch)", RESUME, "holds the weights of another model than",
         _checkpoint(_other_model)),
    Case(CHECKPOINTS, "epoch a string", RESUME, "its epoch is of type str", _checkpoint(_with(epoch="1"))),
    Case(CHECKPOINTS, "optimizer a string", RESUME, "its optimizer is of type str", _checkpoint(_with(optimizer="x"))),
    Case(CHECKPOINTS, "rng state an int", RESUME, "its rng is of type int", _checkpoint(_with(rng=5))),
    Case(CHECKPOINTS, "rng state of other tensors", RESUME, "cannot load its random number generator states",
         _checkpoint(lambda c: {**c, "rng": {**c["rng"], "torch": torch.zeros(3, dtype=torch.uint8)}})),
    Case(CHECKPOINTS, "epoch 99 of 2", RESUME, "checkpoint.pt is at epoch 99", _checkpoint(_with(epoch=99))),
    Case(CHECKPOINTS, "epoch -5", RESUME, "checkpoint.pt is at epoch -5", _checkpoint(_with(epoch=-5))),
    Case(CHECKPOINTS, "step past the epoch", RESUME, "checkpoint.pt is at step 999", _checkpoint(_with(step=999))),
    Case(CHECKPOINTS, "counters that disagree (the scheduler's step)", RESUME, "but its scheduler has taken 65 steps",
         _checkpoint(_scheduler_ahead)),
    Case(CHECKPOINTS, "one byte changed", RESUME, "checkpoint.pt is damaged: its contents do not match the SHA-256",
         _checkpoint_bytes(_flip_middle_byte)),
    Case(CHECKPOINTS, "cut short", RESUME, "checkpoint.pt is damaged: its contents do not match the SHA-256",
         _checkpoint_bytes(lambda data: data[: len(data) // 2])),
    Case(CHECKPOINTS, "a newer format", RESUME, "checkpoint.pt is in checkpoint format 3",
         _checkpoint_bytes(lambda data: data.replace(b"format 2 ", b"format 3 ", 1))),
    Case(CHECKPOINTS, "an older version's, without a hash (read with a warning)", RESUME, "", ok=True,
         damage=_checkpoint(lambda c: c, hashed=False)),
    Case(CHECKPOINTS, "an unsafe object (builtins.print)", RESUME, "refused unread",
         _checkpoint(lambda c: {**c, "history": [print]})),
    Case(CHECKPOINTS, "empty file", RESUME, "checkpoint.pt is empty", _write("run/checkpoint.pt", b"")),
    Case(CHECKPOINTS, "garbage", RESUME, "checkpoint.pt is not a checkpoint written by onecycle",
         _write("run/checkpoint.pt", b"garbage" * 100)),
    Case(RUN_FILES, "config.json a list", RESUME, "config.json is not the settings file of a train run",
         _write("run/config.json", "[1, 2]")),
    Case(RUN_FILES, "config.json resolved a list", RESUME, "config.json is not the settings file",
         _config(lambda c: {**c, "resolved": [1]})),
    Case(RUN_FILES, "config.json resolved max_lr a string", RESUME, "config.json is damaged: its resolved max_lr",
         _config(_resolved(max_lr="x"))),
    Case(RUN_FILES, "config.json resolved max_lr null", RESUME, "config.json is damaged: its resolved max_lr is null",
         _config(_resolved(max_lr=None))),
    Case(RUN_FILES, "config.json resolved weight_decay -1", RESUME, "its resolved weight_decay must be >= 0",
         _config(_resolved(weight_decay=-1))),
    Case(RUN_FILES, "config.json resolved steps_per_epoch a list", RESUME, "its resolved steps_per_epoch",
         _config(_resolved(steps_per_epoch=[4]))),
    Case(RUN_FILES, "config.json a setting of the wrong type", RESUME, "epochs must be an integer",
         _config(lambda c: {**c, "epochs": "3"})),
    Case(RUN_FILES, "metrics.jsonl row an array", RESUME, "metrics.jsonl is damaged: line 1",
         _metrics(lambda lines: ["[1, 2]", *lines])),
    Case(RUN_FILES, "metrics.jsonl row without kind", RESUME, "metrics.jsonl is damaged: line 1 is not a metrics row",
         _metrics(lambda lines: ['{"step": 1}', *lines])),
    Case(RUN_FILES, "metrics.jsonl row with a string step", RESUME, "step is not a number",
         _metrics(lambda lines: ['{"kind": "step", "step": "1"}', *lines])),
    Case(RUN_FILES, "metrics.jsonl middle line cut short", RESUME, "metrics.jsonl is damaged: line 2 is not JSON",
         _metrics(lambda lines: [lines[0], lines[1][:20], *lines[2:]])),
    Case(RUN_FILES, "metrics.jsonl last line torn by a kill (dropped)", RESUME, "", ok=True,
         damage=_metrics(lambda lines: [*lines, lines[-1][:25]], end="")),
    Case(RUN_FILES, "report: config.json a list", REPORT, "config.json is damaged", _write("run/config.json", "[1]")),
    Case(RUN_FILES, "report: summary.json a list", REPORT, "summary.json is damaged",
         _write("run/summary.json", "[1]")),
    Case(RUN_FILES, "report: config.json schedule a list, momentum a string", REPORT,
         "config.json is damaged: momentum must be a number, got 'high'",
         _config(lambda c: {**c, "schedule": [1], "momentum": "high"})),
    Case(RUN_FILES, "report: config.json max_lr NaN", REPORT,
         "config.json is damaged: max_lr must be a number, got nan", _config(lambda c: {**c, "max_lr": float("nan")})),
    Case(RUN_FILES, "report: config.json resolved max_lr negative", REPORT,
         "config.json is damaged: resolved.max_lr must be > 0", _config(_resolved(max_lr=-5))),
    Case(RUN_FILES, "report: reproduce.json a list", REPORT, "reproduce.json is damaged",
         _write("run/reproduce.json", "[1]")),
    Case(RUN_FILES, "report: reproduce.json runs outside its directory", REPORT, "reproduce.json is damaged",
         _write("run/reproduce.json", json.dumps({"preset": "p", "description": "d", "source": "s", "job": "train",
                                                   "runs": ["../../etc"]}))),
    Case(RUN_FILES, "report: reproduce.json mean a string", REPORT,
         "reproduce.json is damaged: mean must be a finite number, got 'high'",
         _write("run/reproduce.json", json.dumps({"preset": "p", "description": "d", "source": "s", "job": "train",
                                                   "runs": [], "mean": "high", "std": None, "test_accuracy": [],
                                                   "published_accuracy": None}))),
    Case(RUN_FILES, "report: metrics.jsonl epoch row without time", REPORT, "no time_s",
         _metrics(lambda lines: ['{"kind": "epoch", "epoch": 1, "step": 4}', *lines])),
    Case(IDX, "valid header then 4 GiB of zeros (4 MB gzip)", FASHION, "has trailing bytes",
         _fashion_file("train-images-idx3-ubyte.gz", _zeros_after(struct.pack(">IIII", 2051, 64, 28, 28), 4), False)),
    Case(IDX, "header declaring 4,000,000 images", FASHION, "declares 4000000x28x28",
         _fashion_file("train-images-idx3-ubyte.gz", struct.pack(">IIII", 2051, 4_000_000, 28, 28) + bytes(3 << 20))),
    Case(IDX, "header declaring 2**32-1 labels", FASHION, "train-labels-idx1-ubyte.gz: the header declares",
         _fashion_file("train-labels-idx1-ubyte.gz", struct.pack(">II", 2049, 2**32 - 1))),
    Case(IDX, "truncated gzip", FASHION, "train-images-idx3-ubyte.gz: not a complete gzip file",
         lambda ws: (ws / "fashion/train-images-idx3-ubyte.gz").write_bytes(
             (ws / "fashion/train-images-idx3-ubyte.gz").read_bytes()[:-30])),
    Case(IDX, "not gzip", FASHION, "t10k-labels-idx1-ubyte.gz: not a complete gzip file",
         _fashion_file("t10k-labels-idx1-ubyte.gz", b"\x00\x00\x08\x01", False)),
    Case(PICKLES, "numpy.ndarray((1000000, 3072)) called in 60 bytes", CIFAR, "refusing to call numpy.ndarray",
         _cifar_file("data_batch_1", raw=_ndarray_call((1_000_000, 3072)))),
    Case(PICKLES, "_reconstruct of shape (1000000, 1000000)", CIFAR, "refusing numpy _reconstruct",
         _cifar_file("data_batch_1", raw=_reconstruct((1_000_000, 1_000_000)))),
    Case(PICKLES, "labels: lists of one shared list (10**9 numbers)", CIFAR, "label 0 is a list",
         _cifar_file("data_batch_2", _shared_labels())),
    Case(PICKLES, "memo index 2**28 in 10 bytes", CIFAR, "memo index", _cifar_file("data_batch_3",
                                                                                 raw=_memo_index_bomb())),
    Case(PICKLES, "an object array", CIFAR, "refusing numpy dtype", _cifar_file(
        "test_batch", {b"data": np.zeros((2, 3072), object), b"labels": [1, 2]})),
    Case(PICKLES, "10,001 images in a batch", CIFAR, "n from 1 to 10000", _cifar_file(
        "data_batch_4", {b"data": np.zeros((10_001, 3072), np.uint8), b"labels": [0] * 10_001})),
    Case(PICKLES, "label 1.7", CIFAR, "label 0 is a float", _cifar_file(
        "data_batch_5", {b"data": np.ones((2, 3072), np.uint8), b"labels": [1.7, 2]})),
    Case(PICKLES, "label 2**70", CIFAR, "label 1 is about 2**70, outside 0..9", _cifar_file(
        "data_batch_5", {b"data": np.ones((2, 3072), np.uint8), b"labels": [1, 2**70]})),
    Case(PICKLES, "label True", CIFAR, "label 0 is a bool", _cifar_file(
        "data_batch_5", {b"data": np.ones((2, 3072), np.uint8), b"labels": [True, 2]})),
    Case(PICKLES, "os.system", CIFAR, "refusing to load posix.system", _cifar_file(
        "data_batch_1", raw=b"\x80\x03cposix\nsystem\nX\x04\x00\x00\x00trueq\x00\x85R.")),
    Case(PICKLES, "a 65 MiB file", CIFAR, "larger than 64 MiB", _cifar_file("test_batch", raw=bytes(65 << 20))),
    Case(DATA, "--data-dir that does not exist", fashion("{ws}/nowhere"), "does not exist"),
    Case(DATA, "--data-dir a file", fashion("{ws}/notes.txt"), "is not a directory"),
    Case(DATA, "--data-dir missing a file (copies elsewhere)", FASHION, "lacks t10k-labels-idx1-ubyte.gz",
         lambda ws: (ws / "fashion/t10k-labels-idx1-ubyte.gz").unlink()),
    Case(DATA, "--data-dir with a wrong file", FASHION, "magic number is 2049",
         _fashion_file("train-images-idx3-ubyte.gz", struct.pack(">II", 2049, 3) + b"abc")),
    Case(DATA, "images of zero variance", FASHION, "zero variance", _zero_variance),
    Case(DATA, "empty test set", FASHION, "t10k-images-idx3-ubyte.gz: holds no images", _empty_test_set),
    Case(DATA, "label 10 in an IDX file", FASHION, "label 10 is outside 0..9", _fashion_file(
        "t10k-labels-idx1-ubyte.gz", idx_bytes(np.array([10] * 16), 2049))),
    Case(KEPT, "train in a directory holding a run", DONE, "done holds a run (config.json,"),
    Case(KEPT, "train --auto in a directory holding a run", (*DONE, "--auto"), "--overwrite to remove it and start"),
    Case(KEPT, "find-lr in a directory holding a run", ("find-lr", "--run-dir", "{ws}/done", *TINY),
         "done holds a run"),
    Case(KEPT, "sweep in a directory holding a run", ("sweep", "--run-dir", "{ws}/done", *TINY), "done holds a run"),
    Case(KEPT, "demo with other settings in a directory holding a run", ("demo", "--run-dir", "{ws}/done", *TINY),
         "done holds a run with other settings: train_subset 128 (saved) vs 64 (now)"),
    Case(KEPT, "--overwrite --epochs 0", (*OVER, "--epochs", "0"),
         "argument --epochs: expected a whole number from 1 to 2147483647, got '0'"),
    Case(KEPT, "--overwrite --batch-size 4096: more than the training images", (*OVER, "--batch-size", "4096"),
         "batch_size 4096 is larger than the 64 training images of digits (train_subset 64)"),
    Case(KEPT, "--overwrite --batch-size 64: no schedule", (*OVER, "--batch-size", "64"),
         "1cycle needs at least 2 steps"),
    Case(KEPT, "--overwrite --data-dir that does not exist",
         (*OVER, "--dataset", "fashion-mnist", "--data-dir", "{ws}/nowhere"), "does not exist"),
    Case(KEPT, "--overwrite --device cuda:99", (*OVER, "--device", "cuda:99"), "device 'cuda:99'"),
    Case(KEPT, "--overwrite --config not TOML", (*OVER, "--config", "{ws}/c.toml"), "c.toml is not valid TOML",
         _write("c.toml", "seed = = 1\n")),
    Case(KEPT, "--overwrite --config cycle_epochs beyond --epochs", (*OVER, "--config", "{ws}/c.toml"),
         "cycle_epochs 3 (from WS/c.toml) must be between 1 and epochs 1 (from --epochs)",
         _write("c.toml", "epochs = 4\ncycle_epochs = 3\n")),
    Case(KEPT, "--overwrite without a max_lr", (*OVER[:3], *OVER[5:]), "no max_lr: pass --max-lr"),
    Case(KEPT, "--overwrite --auto with --data-dir that does not exist",
         (*OVER[:3], *OVER[5:], "--auto", "--dataset", "fashion-mnist", "--data-dir", "{ws}/nowhere"),
         "does not exist"),
    Case(KEPT, "--resume with another --epochs", ("train", "--resume", "--run-dir", "{ws}/done", "--epochs", "9"),
         "epochs 2 (saved) vs 9 (given)"),
    Case(KEPT, "--resume --overwrite", ("train", "--resume", "--overwrite", "--run-dir", "{ws}/done"),
         "not allowed with argument --resume"),
    Case(KEPT, "--resume of a checkpoint cut short", ("train", "--resume", "--run-dir", "{ws}/done"),
         "checkpoint.pt is damaged",
         lambda ws: (ws / "done/checkpoint.pt").write_bytes((ws / "done/checkpoint.pt").read_bytes()[:4000])),
    Case(KEPT, "find-lr --overwrite --data-dir that does not exist",
         ("find-lr", "--run-dir", "{ws}/done", "--overwrite", "--dataset", "fashion-mnist", "--data-dir",
          "{ws}/nowhere"), "does not exist"),
    Case(KEPT, "sweep --overwrite --sweep-values 1e-3,1e-3",
         ("sweep", "--run-dir", "{ws}/done", "--overwrite", "--sweep-values", "1e-3,1e-3", *TINY),
         "sweep_values must be distinct"),
    Case(KEPT, "sweep --overwrite --sweep-values 1e-3,,1e-4",
         ("sweep", "--run-dir", "{ws}/done", "--overwrite", "--sweep-values", "1e-3,,1e-4", *TINY),
         "argument --sweep-values: expected comma-separated numbers, got '1e-3,,1e-4': item 2 of 3 is empty"),
    Case(KEPT, "sweep --overwrite --weight-decay while sweeping it",
         ("sweep", "--run-dir", "{ws}/done", "--overwrite", "--weight-decay", "0.1", *TINY),
         "--weight-decay 0.1 cannot be used: the sweep varies weight_decay"),
    Case(KEPT, "report into the run directory of a directory without results", ("report", "{ws}/fashion", "--out",
                                                                                  "{ws}/done"),
         "holds no onecycle results"),
)
"""The table: every case of issue 13's tracebacks, memory bombs, silently wrong results and damaged run directories
that this repository's commands answer (the checkpoint content hash, divergence and locking are tested
elsewhere)."""


# ------------------------------------------------------------------------------------------------ running

@dataclass
class Outcome:
    case: Case
    kind: str  # error, unclear error, traceback, silently wrong, crash, hang, damaged, ok, failed
    returncode: int | None
    stderr: str
    seconds: float


def classify(case: Case, returncode: int | None, stderr: str, damaged: bool = False) -> str:
    """``ok``/``error`` when the command answered as it should; otherwise what went wrong. ``damaged``: the
    command changed a run directory of the workspace (which only the commands that succeed may do)."""
    lines = [line for line in stderr.splitlines() if line.strip()]
    if returncode is None:
        return "hang"
    if "Traceback" in stderr:
        return "traceback"
    if case.ok:
        return "ok" if returncode == 0 else "failed"
    if returncode == 0:
        return "silently wrong"
    if returncode != 2:
        return "crash"
    if damaged:
        return "damaged"
    if len(lines) == 1 and ": error: " in lines[0] and case.expect in lines[0]:
        return "error"
    return "unclear error"


def _limit_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_CAP, MEMORY_CAP))


def run_case(case: Case, template: Path, src: Path = REPO / "src") -> Outcome:
    """``case`` in a fresh workspace, as its own process (the ``onecycle`` package in ``src``) under
    :data:`MEMORY_CAP` and :data:`TIME_LIMIT`."""
    with tempfile.TemporaryDirectory() as tmp:
        ws = Path(tmp)
        make_workspace(ws, template)
        if case.damage is not None:
            case.damage(ws)
        before = snapshot(ws)
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(src), os.environ.get("PYTHONPATH", "")])}
        env.pop("ONECYCLE_DEBUG", None)
        start = time.perf_counter()
        try:
            proc = subprocess.run([sys.executable, "-m", "onecycle", *case.command(ws)], capture_output=True, text=True,
                                  cwd=ws, env=env, timeout=TIME_LIMIT, preexec_fn=_limit_memory)
            returncode, stderr = proc.returncode, proc.stderr
        except subprocess.TimeoutExpired:
            returncode, stderr = None, ""
        seconds = time.perf_counter() - start
        stderr = stderr.replace(str(ws), "WS")
        damaged = snapshot(ws) != before
    return Outcome(case, classify(case, returncode, stderr, damaged), returncode, stderr, seconds)


def _cell(text: str, width: int = 160) -> str:
    text = " ".join(text.split()).replace("|", "\\|")
    return text if len(text) <= width else text[: width - 3] + "..."


def write_doc(outcomes: list[Outcome], path: Path = DOC) -> None:
    counts = Counter(o.kind for o in outcomes)
    bad = ("traceback", "silently wrong", "damaged", "crash", "hang", "unclear error", "failed")
    lines = [
        "# Robustness: bad inputs and what onecycle answers",
        "",
        "Generated by `python -m benchmarks.robustness` (do not edit by hand); `tests/test_robustness_inputs.py` runs "
        "the same table in CI, and `tests/test_fuzz_readers.py` adds generated inputs (hypothesis) for the "
        "settings parser, the IDX reader and the CIFAR-10 reader.",
        "",
        f"Each command ran as its own process under a {MEMORY_CAP >> 30} GiB address-space cap and a "
        f"{TIME_LIMIT} s limit, in a workspace holding a run stopped after its first epoch (`WS/run`), a finished "
        "run (`WS/done`) and tiny Fashion-MNIST and CIFAR-10 directories (`WS` below). Expected: exit status 2, "
        "one line on stderr that names the setting or file, and both run directories byte for byte as they were "
        "(*damaged* otherwise); for the inputs that are fine (a metrics line torn by a kill), success. One process "
        "per run directory (a second refused with the holder's pid, a "
        "killed holder blocking nothing) is tested in `tests/test_rundir_safety.py`.",
        "",
        f"**Inputs tried: {len(outcomes)}.** Answered as expected: {counts['error'] + counts['ok']}. "
        + ", ".join(f"{kind}: {counts[kind]}" for kind in bad) + ".",
        "",
        "| section | input | outcome | exit | s | stderr |",
        "|---|---|---|---|---|---|",
    ]
    for o in outcomes:
        lines.append(f"| {o.case.section} | {_cell(o.case.name, 70)} | {o.kind} | {o.returncode} | "
                     f"{o.seconds:.1f} | {_cell(o.stderr) or '-'} |")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.robustness", description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", help="run the cases whose name contains this text")
    parser.add_argument("--out", type=Path, default=DOC, help=f"the Markdown file (default: {DOC})")
    parser.add_argument("--src", type=Path, default=REPO / "src",
                        help="the directory holding the onecycle package to try (another checkout's, to compare)")
    args = parser.parse_args(argv)
    cases = [c for c in CASES if args.only is None or args.only in c.name]
    if torch.cuda.is_available():
        cases = [c for c in cases if not c.needs_no_cuda]
    with tempfile.TemporaryDirectory() as tmp:
        template = Path(tmp)
        make_runs(template)
        outcomes = []
        for case in cases:
            outcome = run_case(case, template, args.src)
            print(f"{outcome.kind:>15}  {outcome.seconds:5.1f}s  {case.section}: {case.name}", flush=True)
            outcomes.append(outcome)
    write_doc(outcomes, args.out)
    print(f"wrote {args.out}")
    return 0 if all(o.kind in ("error", "ok") for o in outcomes) else 1


if __name__ == "__main__":
    raise SystemExit(main())
