"""Run directories: ``config.json``, ``metrics.jsonl``/``metrics.csv``/``steps.csv``, plots, and an atomically
written ``checkpoint.pt`` from which a killed run resumes exactly."""

from __future__ import annotations

import csv
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import torch

from onecycle import rng
from onecycle.engine import TrainState

CONFIG = "config.json"
CHECKPOINT = "checkpoint.pt"
METRICS_JSONL = "metrics.jsonl"
METRICS_CSV = "metrics.csv"
STEPS_CSV = "steps.csv"
FINDER_JSON = "finder.json"
SWEEP_JSON = "sweep.json"


def atomic_write(path: Path, write: Any) -> None:
    """Call ``write(file_object)`` on a temporary file beside ``path``, then rename it over ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_json(path: Path, data: Any) -> None:
    atomic_write(path, lambda f: f.write(json.dumps(data, indent=1).encode()))


def read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise FileNotFoundError(f"{path} does not exist") from None
    except json.JSONDecodeError as err:
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


def load_checkpoint(path: Path, state: TrainState) -> TrainState:
    """Restore ``state`` (built as for a fresh run) from a checkpoint; only plain data is unpickled."""
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise FileNotFoundError(f"no checkpoint to resume from: {path} does not exist") from None
    except Exception as err:  # a truncated or corrupt file: say which, not where torch failed
        raise ValueError(f"{path} is not a readable checkpoint ({type(err).__name__}: {err})") from None
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
    # older checkpoints hold the bias-corrected value only
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


def truncate_metrics(run_dir: Path, epoch: int) -> None:
    """On resume, drop metric rows written after the checkpoint's epoch (a run killed mid-epoch)."""
    run_dir = Path(run_dir)
    jsonl = run_dir / METRICS_JSONL
    if jsonl.exists():
        rows = [json.loads(line) for line in jsonl.read_text().splitlines() if line.strip()]
        last_step = max((r["step"] for r in rows if r["kind"] == "epoch" and r["epoch"] <= epoch), default=0)
        keep = [r for r in rows if (r["kind"] == "epoch" and r["epoch"] <= epoch) or
                (r["kind"] == "step" and r["step"] <= last_step)]
        jsonl.write_text("".join(json.dumps(r) + "\n" for r in keep))
        for name, kind in ((METRICS_CSV, "epoch"), (STEPS_CSV, "step")):
            path = run_dir / name
            path.unlink(missing_ok=True)
            rows_k = [{k: v for k, v in r.items() if k != "kind"} for r in keep if r["kind"] == kind]
            if rows_k:
                with open(path, "w", newline="") as f:
                    w = csv.DictWriter(f, fieldnames=list(rows_k[0]))
                    w.writeheader()
                    w.writerows(rows_k)
