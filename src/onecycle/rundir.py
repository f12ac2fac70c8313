"""Run directories: ``config.json``, ``metrics.jsonl``/``metrics.csv``/``steps.csv``, plots, and an atomically
written ``checkpoint.pt`` from which a killed run resumes exactly."""

from __future__ import annotations

import csv
import errno
import io
import json
import os
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import torch

from onecycle import rng
from onecycle.engine import TrainState
from onecycle.scheduler import PolicyScheduler

CONFIG = "config.json"
CHECKPOINT = "checkpoint.pt"
METRICS_JSONL = "metrics.jsonl"
METRICS_CSV = "metrics.csv"
STEPS_CSV = "steps.csv"
SCHEDULE_PNG = "schedule.png"
SUMMARY_JSON = "summary.json"
TRAIN_FILES = (CONFIG, METRICS_JSONL, METRICS_CSV, STEPS_CSV, SCHEDULE_PNG, SUMMARY_JSON, CHECKPOINT)
"""What training writes to its run directory (TensorBoard logs aside)."""
FINDER_JSON = "finder.json"
SWEEP_JSON = "sweep.json"
REPRODUCE_JSON = "reproduce.json"  # the summary of a preset's runs over seeds (onecycle reproduce)


def atomic_write(path: Path, write: Any) -> None:
    """Call ``write(file_object)`` on a temporary file beside ``path``, then rename it over ``path``; the file
    and then the directory are synced, so ``path`` holds the old or the new contents even after a crash. The file
    gets the permissions a plain ``open`` would give it (0666 less the umask), not the temporary file's 0600."""
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(errno.EISDIR, "is a directory, not a file", str(path))
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        _chmod_as_open(fd)
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        try:
            os.replace(tmp, path)
        except OSError as err:  # name the file asked for, not the temporary one
            raise OSError(err.errno, err.strerror, str(path)) from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _sync_directory(path.parent)


def _chmod_as_open(fd: int) -> None:
    """Set the mode of ``fd`` to 0666 less the process's umask (where files have POSIX modes: not on Windows)."""
    if not hasattr(os, "fchmod"):
        return
    umask = os.umask(0)
    os.umask(umask)
    os.fchmod(fd, 0o666 & ~umask)


def _sync_directory(directory: Path) -> None:
    """Make a rename in ``directory`` durable (where directories can be opened: not on Windows)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_text(path: Path, text: str) -> None:
    """Write ``text`` (UTF-8) atomically."""
    atomic_write(path, lambda f: f.write(text.encode()))


def write_json(path: Path, data: Any) -> None:
    """Write ``data`` as JSON atomically."""
    write_text(path, json.dumps(data, indent=1))


def csv_text(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """A CSV file's contents: the header, then one line per row."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue()


def read_json(path: Path) -> Any:
    """The contents of a JSON file; a missing or malformed file is one clear error naming it."""
    path = Path(path)
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise FileNotFoundError(f"{path} does not exist") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ValueError(f"{path} is not valid JSON ({err})") from None


def save_checkpoint(path: Path, state: TrainState) -> None:
    """Everything needed to continue ``state`` exactly, written atomically (temp file + rename)."""
    payload = {
        "model": state.model.state_dict(),
        "optimizer": state.optimizer.state_dict(),
        "scheduler": state.scheduler.state_dict() if state.scheduler is not None else None,
        "data": state.data.state_dict() if hasattr(state.data, "state_dict") else None,
        "scaler": state.scaler.state_dict() if state.scaler is not None else None,
        "epoch": state.epoch,
        "step": state.step,
        "loss_ema": state.loss_ema.state_dict(),
        "history": state.history,
        "rng": rng.get_state(),
    }
    atomic_write(path, lambda f: torch.save(payload, f))


def read_checkpoint(path: Path) -> dict[str, Any]:
    """What :func:`save_checkpoint` wrote (only plain data is unpickled); a missing or unreadable file is one
    clear error naming it."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise FileNotFoundError(f"no checkpoint to resume from: {path} does not exist") from None
    except Exception as err:  # a truncated or corrupt file: say which, not where torch failed
        raise ValueError(f"{path} is not a readable checkpoint ({type(err).__name__}: {err})") from None


_SCHEDULED = {"params", "lr", "initial_lr", "momentum", "betas"}  # param-group keys a policy writes


def _differences(ckpt: dict[str, Any], state: TrainState) -> list[str]:
    """The settings of ``state`` that differ from those of the run that wrote ``ckpt``: the schedule and the
    optimizer's fixed hyper-parameters (loading the checkpoint would silently put the old ones back)."""
    found = []
    if isinstance(state.scheduler, PolicyScheduler) and ckpt["scheduler"] is not None:
        saved, now = (PolicyScheduler.settings(s) for s in (ckpt["scheduler"], state.scheduler.state_dict()))
        found += [(k, saved.get(k), v) for k, v in now.items() if saved.get(k) != v]
    scheduled = _SCHEDULED | set(getattr(state.scheduler, "extra_schedules", {}))
    for saved, group in zip(ckpt["optimizer"]["param_groups"], state.optimizer.param_groups):
        found += [(k, saved.get(k), v) for k, v in group.items()
                  if k not in scheduled and not isinstance(v, torch.Tensor) and saved.get(k) != v]
    return list(dict.fromkeys(f"{k} {old} (checkpoint) vs {new} (now)" for k, old, new in found))


def load_checkpoint(path: Path, state: TrainState) -> TrainState:
    """Restore ``state`` (built as for a fresh run of the same settings) from a checkpoint; a checkpoint of a
    run with another schedule or other optimizer settings is a ``ValueError`` naming each difference."""
    ckpt = read_checkpoint(path)
    differences = _differences(ckpt, state)
    if differences:
        raise ValueError(f"{path} was written by a run with other settings: {', '.join(differences)}")
    state.model.load_state_dict(ckpt["model"])
    state.optimizer.load_state_dict(ckpt["optimizer"])
    if state.scheduler is not None and ckpt["scheduler"] is not None:
        state.scheduler.load_state_dict(ckpt["scheduler"])
    if ckpt["data"] is not None and hasattr(state.data, "load_state_dict"):
        state.data.load_state_dict(ckpt["data"])
    if ckpt["scaler"] is not None:
        state.scaler = torch.amp.GradScaler()
        state.scaler.load_state_dict(ckpt["scaler"])
    state.epoch, state.step = ckpt["epoch"], ckpt["step"]
    # older checkpoints hold the bias-corrected smoothed loss only
    state.loss_ema.load_state_dict(ckpt.get("loss_ema") or {"value": ckpt["smoothed_loss"], "count": ckpt["step"]})
    state.history = list(ckpt["history"])
    rng.set_state(ckpt["rng"])
    return state


class CheckpointHook:
    """Writes ``checkpoint.pt`` at the end of every epoch."""

    def __init__(self, run_dir: Path) -> None:
        self.path = Path(run_dir) / CHECKPOINT

    def on_epoch_end(self, state: TrainState, metrics: dict[str, Any]) -> bool:
        save_checkpoint(self.path, state)
        return False


class MetricsHook:
    """Appends step and epoch metrics to ``metrics.jsonl`` and the CSV files of the run directory."""

    def __init__(self, run_dir: Path, every: int = 1) -> None:
        self.dir = Path(run_dir)
        self.every = every

    def _append_csv(self, name: str, row: dict[str, Any]) -> None:
        path = self.dir / name
        new = not path.exists()
        with open(path, "a", newline="") as f:
            w = csv.DictWriter(f, fieldnames=list(row))
            if new:
                w.writeheader()
            w.writerow(row)

    def _append_jsonl(self, row: dict[str, Any]) -> None:
        with open(self.dir / METRICS_JSONL, "a") as f:
            f.write(json.dumps(row) + "\n")

    def on_step(self, state: TrainState, metrics: dict[str, Any]) -> None:
        if metrics["step"] % self.every == 0:
            self._append_jsonl({"kind": "step", **metrics})
            self._append_csv(STEPS_CSV, metrics)

    def on_epoch_end(self, state: TrainState, metrics: dict[str, Any]) -> bool:
        self._append_jsonl({"kind": "epoch", **metrics})
        self._append_csv(METRICS_CSV, metrics)
        return False


class TensorBoardHook:
    """Logs the same metrics to TensorBoard (needs the ``tensorboard`` package)."""

    def __init__(self, run_dir: Path) -> None:
        from torch.utils.tensorboard import SummaryWriter

        self.writer = SummaryWriter(str(Path(run_dir) / "tensorboard"))

    def on_step(self, state: TrainState, metrics: dict[str, Any]) -> None:
        for key in ("smoothed_loss", "lr", "momentum"):
            if metrics.get(key) is not None:
                self.writer.add_scalar(f"step/{key}", metrics[key], metrics["step"])

    def on_epoch_end(self, state: TrainState, metrics: dict[str, Any]) -> bool:
        for key, value in metrics.items():
            if key != "epoch" and isinstance(value, (int, float)):
                self.writer.add_scalar(f"epoch/{key}", value, metrics["epoch"])
        return False

    def on_train_end(self, state: TrainState) -> None:
        self.writer.close()


def read_metrics(run_dir: Path) -> list[dict[str, Any]]:
    """The rows of ``metrics.jsonl`` (none when it is missing), up to a last line cut short by a kill; any other
    line that is not a JSON object is a ``ValueError`` naming the file."""
    path = Path(run_dir) / METRICS_JSONL
    if not path.exists():
        return []
    lines = [line for line in read_text(path).splitlines() if line.strip()]
    rows = []
    for i, line in enumerate(lines):
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            if i == len(lines) - 1:  # the last line, cut short when the run was killed
                break
            raise ValueError(f"{path} is damaged: line {i + 1} is not JSON") from None
        if not isinstance(row, dict) or "kind" not in row:
            raise ValueError(f"{path} is damaged: line {i + 1} is not a metrics row")
        rows.append(row)
    return rows


def read_text(path: Path) -> str:
    """The UTF-8 text of ``path``; bytes that are not UTF-8 are a ``ValueError`` naming it."""
    try:
        return Path(path).read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ValueError(f"{path} is not UTF-8 text") from None


def truncate_metrics(run_dir: Path, epoch: int) -> None:
    """On resume, drop metric rows written after the checkpoint's epoch (a run killed mid-epoch, perhaps in the
    middle of a line)."""
    run_dir = Path(run_dir)
    jsonl = run_dir / METRICS_JSONL
    if not jsonl.exists():
        return
    rows = read_metrics(run_dir)
    last_step = max((r["step"] for r in rows if r["kind"] == "epoch" and r["epoch"] <= epoch), default=0)
    keep = [r for r in rows if (r["kind"] == "epoch" and r["epoch"] <= epoch) or
            (r["kind"] == "step" and r["step"] <= last_step)]
    write_text(jsonl, "".join(json.dumps(r) + "\n" for r in keep))
    for name, kind in ((METRICS_CSV, "epoch"), (STEPS_CSV, "step")):
        path = run_dir / name
        rows_k = [{k: v for k, v in r.items() if k != "kind"} for r in keep if r["kind"] == kind]
        if rows_k:
            write_text(path, csv_text(list(rows_k[0]), ([r[k] for k in rows_k[0]] for r in rows_k)))
        else:
            path.unlink(missing_ok=True)
