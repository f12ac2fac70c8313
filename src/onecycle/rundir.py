"""Run directories: ``config.json``, ``metrics.jsonl``/``metrics.csv``/``steps.csv``, plots, and an atomically
written, hashed ``checkpoint.pt`` from which a killed run resumes exactly."""

from __future__ import annotations

import contextlib
import csv
import errno
import hashlib
import io
import json
import logging
import math
import os
import pickle
import re
import shutil
import stat
import tempfile
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import torch

from onecycle import distributed, rng
from onecycle.engine import Totals, TrainState
from onecycle.interrupt import StopRequest
from onecycle.scheduler import RETRIES, PolicyScheduler

log = logging.getLogger("onecycle")

CONFIG = "config.json"
CHECKPOINT = "checkpoint.pt"
METRICS_JSONL = "metrics.jsonl"
METRICS_CSV = "metrics.csv"
STEPS_CSV = "steps.csv"
STEP_COLUMNS = ("step", "loss", "smoothed_loss", "lr", "momentum")
"""The columns of steps.csv: what a step row of metrics.jsonl holds besides its kind."""
SCHEDULE_PNG = "schedule.png"
SUMMARY_JSON = "summary.json"
TRAIN_FILES = (CONFIG, METRICS_JSONL, METRICS_CSV, STEPS_CSV, SCHEDULE_PNG, SUMMARY_JSON, CHECKPOINT)
"""What training writes to its run directory (TensorBoard logs aside)."""
TENSORBOARD = "tensorboard"  # the directory of TensorBoard logs, where the package is installed
RUN_FILES = (*TRAIN_FILES, TENSORBOARD)
"""What makes a directory hold a run: anything training writes. The results of find-lr and sweep do not: they are
measurements that training reads (and measures again when asked)."""
FINDER_JSON = "finder.json"
SWEEP_JSON = "sweep.json"
BATCH_SIZE_JSON = "batch_size.json"  # the largest batch that fits, and every size tried (onecycle find-batch-size)
SHARPNESS_JSON = "sharpness.json"
MEASURED_FILES = (SHARPNESS_JSON,)
"""Measurements of a run's trained weights (``onecycle sharpness``): they belong to the run, and go with it."""
REPRODUCE_JSON = "reproduce.json"  # the summary of a preset's runs over seeds (onecycle reproduce)
REPORT_HTML, REPORT_MD = "report.html", "report.md"
CURVES_PNG, FINDER_TRAINED_PNG = "curves.png", "finder-trained.png"  # figures a report draws
REPORT_FILES = (REPORT_HTML, REPORT_MD, CURVES_PNG, FINDER_TRAINED_PNG)
"""What a report of a run written into its own directory adds there (its other figures are the run's own)."""
_TEMPORARY = re.compile(r"\..+\.[a-z0-9_]{8}\.tmp")
"""The names of :func:`atomic_write`'s temporary files: ``.NAME.XXXXXXXX.tmp`` (``tempfile.mkstemp``)."""


def run_files(run_dir: Path) -> list[str]:
    """The files of :data:`RUN_FILES` in ``run_dir``: none when it holds no run."""
    return [name for name in RUN_FILES if (Path(run_dir) / name).exists()]


def remove_run(run_dir: Path) -> None:
    """Remove the run in ``run_dir`` (:data:`RUN_FILES`, the :data:`MEASURED_FILES` of its weights, and a report of
    it written there), to start over; the results of find-lr and sweep stay."""
    run_dir = Path(run_dir)
    for name in (*RUN_FILES, *MEASURED_FILES, *REPORT_FILES):
        path = run_dir / name
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink(missing_ok=True)


def remove_temporaries(directory: Path) -> list[str]:
    """Remove the temporary files of :func:`atomic_write` left in ``directory`` by a process killed while
    writing (call it only where no other process writes); returns their names."""
    found = sorted(p.name for p in Path(directory).iterdir() if _TEMPORARY.fullmatch(p.name) and p.is_file())
    for name in found:
        (Path(directory) / name).unlink(missing_ok=True)
    return found


def atomic_write(path: Path, write: Any) -> None:
    """Call ``write(file_object)`` on a temporary file beside ``path``, then rename it over ``path``; the file
    and then the directory are synced, so ``path`` holds the old or the new contents even after a crash. The file
    gets the permissions a plain ``open`` would give it (0666 less the umask), not the temporary file's 0600."""
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(errno.EISDIR, "is a directory, not a file", str(path))
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")  # see _TEMPORARY
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


def json_kind(value: Any) -> str:
    """What JSON calls the kind of ``value`` as :func:`json.loads` returns it: null, boolean, number, string, array or
    object (for messages about a file holding the wrong kind)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    return {str: "string", list: "array", dict: "object"}.get(type(value), type(value).__name__)


def read_json(path: Path) -> Any:
    """The contents of a JSON file; a missing or malformed file is one clear error naming it."""
    path = Path(path)
    try:
        text = read_text(path)  # bytes that are not UTF-8: "is not UTF-8 text"
    except FileNotFoundError:
        raise FileNotFoundError(f"{path} does not exist") from None
    try:
        return json.loads(text)
    except (ValueError, RecursionError) as err:  # not JSON, nested too deeply, an endless number
        raise ValueError(f"{path} is not valid JSON ({type(err).__name__}: {err})") from None


CHECKPOINT_FORMAT = 2
"""The format :func:`save_checkpoint` writes: one header line, ``onecycle checkpoint format 2 sha256 <hex>``, then
the bytes of ``torch.save(payload)``, whose SHA-256 the header holds. Older versions wrote the ``torch.save``
bytes alone (format 1): they are read without an integrity check, and a warning says so."""
_HEADER = re.compile(rb"onecycle checkpoint format (\d{1,6}) sha256 ([0-9a-f]{64})")


def save_checkpoint(path: Path, state: TrainState) -> None:
    """Everything needed to continue ``state`` exactly, at the end of an epoch or in the middle of one
    (:func:`checkpoint_payload`), written atomically (temp file + rename) with its hash (:data:`CHECKPOINT_FORMAT`)."""
    write_checkpoint(path, checkpoint_payload(state))


def checkpoint_payload(state: TrainState, kept: bool = True) -> dict[str, Any]:
    """What a checkpoint of ``state`` holds: tensors and plain data, the tensors the state's own (not copies);
    ``kept``: with the states kept for a retry (``state.kept_states``, each a payload without them), so that a
    resumed run goes back where the uninterrupted one would."""
    return {
        "model": distributed.unwrap(state.model).state_dict(),
        "optimizer": state.optimizer.state_dict(),
        "scheduler": state.scheduler.state_dict() if state.scheduler is not None else None,
        "data": state.data.state_dict() if hasattr(state.data, "state_dict") else None,
        "scaler": state.scaler.state_dict() if state.scaler is not None else None,
        "epoch": state.epoch,
        "step": state.step,
        "loss_ema": state.loss_ema.state_dict(),
        "best_loss": state.best_loss,
        "initial_loss": state.initial_loss,
        "totals": state.totals.state_dict(),
        "history": state.history,
        "retries": state.retries,
        "kept_states": state.kept_states if kept else [],
        "rng": rng.get_state(),
    }


def write_checkpoint(path: Path, payload: Any) -> None:
    """Write ``payload`` (tensors and plain data) in the checkpoint format :data:`CHECKPOINT_FORMAT`, atomically."""
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    body = buffer.getbuffer()
    header = f"onecycle checkpoint format {CHECKPOINT_FORMAT} sha256 {hashlib.sha256(body).hexdigest()}\n"

    def write(f: Any) -> None:
        f.write(header.encode())
        f.write(body)

    atomic_write(path, write)


CHECKPOINT_KEYS = ("model", "optimizer", "scheduler", "data", "scaler", "epoch", "step", "loss_ema", "history",
                   "rng")
"""What every checkpoint holds (those of older versions hold ``smoothed_loss`` for ``loss_ema``); those of this
version also hold ``best_loss``, ``totals``, ``initial_loss``, ``retries`` and ``kept_states``
(:func:`save_checkpoint`)."""
_CHECKPOINT_TYPES: dict[str, tuple[type, ...]] = {
    "model": (dict,), "optimizer": (dict,), "scheduler": (dict, type(None)), "data": (dict, type(None)),
    "scaler": (dict, type(None)), "epoch": (int,), "step": (int,), "loss_ema": (dict,), "history": (list,),
    "rng": (dict,), "best_loss": (float, type(None)), "totals": (dict, type(None)),
    "initial_loss": (float, type(None)), "retries": (list,), "kept_states": (list,),
}


def read_checkpoint(path: Path) -> dict[str, Any]:
    """What :func:`save_checkpoint` wrote, its hash verified and its keys and types checked (only plain data is
    unpickled); a missing, unreadable, damaged or foreign file is one clear error naming it."""
    ckpt = _read_payload(Path(path))
    _check_checkpoint(path, ckpt)
    return ckpt


def _read_payload(path: Path) -> Any:
    """The payload of the checkpoint file at ``path``, its hash verified (a file of an older version, without
    one, is read with a warning)."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise FileNotFoundError(f"no checkpoint to resume from: {path} does not exist") from None
    if stat.S_ISDIR(mode):
        raise ValueError(f"{path} is a directory, not a checkpoint")
    if not stat.S_ISREG(mode):
        raise ValueError(f"{path} is not a regular file: not a checkpoint")
    data = path.read_bytes()
    line, _, body = data.partition(b"\n")
    header = _HEADER.fullmatch(line)
    if header is None:
        if b"onecycle checkpoint" in data[:100] or b" sha256 " in data[:100]:  # one changed byte leaves one
            raise ValueError(f"{path} is damaged: its first line is not a checkpoint header "
                             f"({line[:100].decode('ascii', 'replace')!r})")
        payload = _torch_load(path, data)
        log.warning("%s has no content hash (an older version of onecycle wrote it): read without an integrity "
                    "check", path)
        return payload
    version = int(header.group(1))
    if version != CHECKPOINT_FORMAT:
        raise ValueError(f"{path} is in checkpoint format {version}, and this version of onecycle reads format "
                         f"{CHECKPOINT_FORMAT}: a newer version wrote it, or it is damaged")
    if hashlib.sha256(body).hexdigest() != header.group(2).decode():
        raise ValueError(f"{path} is damaged: its contents do not match the SHA-256 it was written with (a byte "
                         "changed, or the file was cut short or added to)")
    return _torch_load(path, body)


def _torch_load(path: Path, data: bytes) -> Any:
    """``torch.load`` of ``data`` (read from ``path``) with ``weights_only``; its refusals and failures are one
    ``ValueError`` naming ``path``."""
    try:
        return torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except EOFError:
        raise ValueError(f"{path} is empty or cut short: not a checkpoint") from None
    except pickle.UnpicklingError as err:  # torch's refusal, ten lines that suggest weights_only=False
        found = re.search(r"Unsupported global: GLOBAL (\S+)", str(err))
        if found:
            raise ValueError(f"{path} holds a {found.group(1)} object, which no onecycle checkpoint holds: refused "
                             "unread (a checkpoint is loaded as tensors and plain data only, so it can run no "
                             "code)") from None
        reason = str(err).rpartition("WeightsUnpickler error:")[2].split("Check the documentation")[0]
        raise ValueError(f"{path} is not a checkpoint written by onecycle ({' '.join(reason.split())})") from None
    except Exception as err:  # a truncated or corrupt file: say which, not where torch failed
        raise ValueError(f"{path} is not a readable checkpoint ({type(err).__name__}: {err})") from None


def _check_checkpoint(path: Path, ckpt: Any) -> None:
    """Raise a ``ValueError`` naming ``path`` unless ``ckpt`` has the keys and types :func:`save_checkpoint`
    writes (an older version's are given what it lacks)."""
    if not isinstance(ckpt, dict):
        raise ValueError(f"{path} is not a onecycle checkpoint: it holds a value of type {type(ckpt).__name__}, not "
                         "a dict")
    if "loss_ema" not in ckpt and "smoothed_loss" in ckpt:  # an older version's
        ckpt["loss_ema"] = {"value": ckpt["smoothed_loss"], "count": ckpt.get("step")}
    missing = [k for k in CHECKPOINT_KEYS if k not in ckpt]
    if missing:
        raise ValueError(f"{path} is not a complete onecycle checkpoint: it lacks {', '.join(missing)}")
    ckpt.setdefault("best_loss", None)  # older versions: from the smoothed loss
    ckpt.setdefault("totals", None)  # older versions checkpointed at the ends of epochs only
    ckpt.setdefault("initial_loss", None)  # older versions: unknown, so not compared with the final losses
    ckpt.setdefault("retries", [])  # older versions never retried
    ckpt.setdefault("kept_states", [])  # older versions kept none: a retry goes back no further than the resume
    for key, types in _CHECKPOINT_TYPES.items():
        value = ckpt[key]
        if not isinstance(value, types) or isinstance(value, bool):
            expected = " or ".join("None" if t is type(None) else t.__name__ for t in types)
            raise ValueError(f"{path} is damaged: its {key} is of type {type(value).__name__}, expected {expected}")
    if not all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in ckpt["model"].items()):
        raise ValueError(f"{path} is damaged: its model weights are not all named tensors")
    optimizer = ckpt["optimizer"]
    if not (isinstance(optimizer.get("state"), dict) and isinstance(optimizer.get("param_groups"), list)
            and all(isinstance(g, dict) for g in optimizer["param_groups"])):
        raise ValueError(f"{path} is damaged: its optimizer is not an optimizer state (state, param_groups)")
    if not all(isinstance(h, dict) for h in ckpt["history"]):
        raise ValueError(f"{path} is damaged: its history is not a list of epoch metrics")
    problems = [_row_problem({"kind": "retry", **r}) if isinstance(r, dict) else "not a table" for r in ckpt["retries"]]
    if any(problems):
        raise ValueError(f"{path} is damaged: its retries are not all retry records "
                         f"({next(p for p in problems if p)})")
    restarts = [retry[0] for retry in _get(ckpt["scheduler"], RETRIES) or [] if isinstance(retry, (list, tuple))]
    if isinstance(ckpt["scheduler"], dict) and restarts != [r["restored_step"] for r in ckpt["retries"]]:
        raise ValueError(f"{path} is damaged: its scheduler restarted at steps {restarts} and its retries record "
                         f"restarts at {[r['restored_step'] for r in ckpt['retries']]}")
    for kept in ckpt["kept_states"]:
        _check_checkpoint(path, kept)  # its messages name the checkpoint that holds it
        if kept["kept_states"] or kept["step"] > ckpt["step"]:
            raise ValueError(f"{path} is damaged: a state it keeps for a retry is at step {kept['step']}, after "
                             f"its own step {ckpt['step']}, or holds states of its own")


def check_position(path: Path, ckpt: dict[str, Any], epochs: int, steps_per_epoch: int | None = None) -> None:
    """Raise a ``ValueError`` naming ``path`` unless the checkpoint's counters agree with each other and with a
    schedule of ``epochs`` epochs (of ``steps_per_epoch`` steps, when given): the epoch, the step, the epochs of
    its history and the steps they end at, and the steps counted by the smoothed loss, the scheduler, the epoch
    in progress and the data position. One from another run would train past its end; a damaged one would
    resume somewhere else than it says."""
    epoch, step, history = ckpt["epoch"], ckpt["step"], ckpt["history"]
    if not 0 <= epoch <= epochs:
        raise ValueError(f"{path} is at epoch {epoch}, outside this run's 0..{epochs}: it is not this run's "
                         "checkpoint, or it is damaged")
    if len(history) != epoch:
        raise ValueError(f"{path} is at epoch {epoch} but holds the metrics of {len(history)} epochs: it is "
                         "damaged")
    if steps_per_epoch is not None and not epoch * steps_per_epoch <= step < (epoch + 1) * steps_per_epoch:
        raise ValueError(f"{path} is at step {step} of epoch {epoch}, but this run's epochs are {steps_per_epoch} "
                         "steps long: it is not this run's checkpoint, or it is damaged")
    if steps_per_epoch is not None and epoch == epochs and step != epoch * steps_per_epoch:
        raise ValueError(f"{path} is at step {step}, past the end of this run's {epochs} epochs of "
                         f"{steps_per_epoch} steps: it is damaged")
    ends = [h.get("step") for h in history]
    expected = [(i + 1) * steps_per_epoch for i in range(epoch)] if steps_per_epoch is not None else None
    if [h.get("epoch") for h in history] != list(range(1, epoch + 1)) or not _counts(*ends, step) or (
            expected is not None and ends != expected):
        raise ValueError(f"{path} is damaged: the metrics it holds are of epochs {[h.get('epoch') for h in history]}"
                         f" ending at steps {ends}, which do not lead to step {step} of epoch {epoch}")
    in_epoch = step - (ends[-1] if ends else 0)
    counted = {
        "its smoothed loss has averaged": (ckpt["loss_ema"].get("count"), step, "losses"),
        "its scheduler has taken": (_get(ckpt["scheduler"], "last_epoch"), step, "steps"),
        "its epoch totals count": (_get(ckpt["totals"], "steps"), in_epoch, "steps of the epoch in progress"),
        "its data position is": (_get(ckpt["data"], "batch"), in_epoch, "batches into the epoch"),
    }
    for what, (found, wanted, unit) in counted.items():
        if found is not None and found != wanted:
            raise ValueError(f"{path} is damaged: it is at step {step}, {in_epoch} into epoch {epoch + 1}, but {what} "
                             f"{found!r} {unit}, not {wanted}")


def _counts(*values: Any) -> bool:
    """Whether ``values`` are non-negative integers in non-decreasing order."""
    ints = [v for v in values if isinstance(v, int) and not isinstance(v, bool)]
    return len(ints) == len(values) and all(0 <= a <= b for a, b in zip([0, *ints], ints))


def _get(state: dict[str, Any] | None, key: str) -> Any:
    """``state[key]`` when ``state`` is a dict that holds it, else ``None`` (nothing to cross-check)."""
    return state.get(key) if isinstance(state, dict) else None


_SCHEDULED = {"params", "lr", "initial_lr", "momentum", "betas"}  # param-group keys a policy writes


def _differences(ckpt: dict[str, Any], state: TrainState) -> list[str]:
    """The settings of ``state`` that differ from those of the run that wrote ``ckpt``: the schedule and the
    optimizer's fixed hyper-parameters (loading the checkpoint would silently put the old ones back)."""
    found = []
    if isinstance(state.scheduler, PolicyScheduler) and ckpt["scheduler"] is not None:
        saved, now = (PolicyScheduler.settings(s) for s in (ckpt["scheduler"], state.scheduler.state_dict()))
        found += [(k, saved.get(k), v) for k, v in now.items() if k != RETRIES and saved.get(k) != v]  # a record
    scheduled = _SCHEDULED | set(getattr(state.scheduler, "extra_schedules", {}))
    for saved, group in zip(ckpt["optimizer"]["param_groups"], state.optimizer.param_groups):
        found += [(k, saved.get(k), v) for k, v in group.items()
                  if k not in scheduled and not isinstance(v, torch.Tensor) and saved.get(k) != v]
    return list(dict.fromkeys(f"{k} {old} (checkpoint) vs {new} (now)" for k, old, new in found))


def load_checkpoint(path: Path | str, state: TrainState, ckpt: dict[str, Any] | None = None) -> TrainState:
    """Restore ``state`` (built as for a fresh run of the same settings) from a checkpoint; a checkpoint of a
    run with another schedule or other optimizer settings is a ``ValueError`` naming each difference. ``ckpt``:
    what :func:`read_checkpoint` gave for ``path`` already (the file is read once, and not again here), or a
    :func:`checkpoint_payload` kept in memory (``path`` then says which, for messages); its tensors become the
    state's, so it is not to be used again."""
    if ckpt is None:
        ckpt = read_checkpoint(path)
    steps_per_epoch = len(state.data) if hasattr(state.data, "__len__") else None
    check_position(path, ckpt, state.epochs, steps_per_epoch)
    if len(ckpt["optimizer"]["param_groups"]) != len(state.optimizer.param_groups):
        raise ValueError(f"{path} holds {len(ckpt['optimizer']['param_groups'])} optimizer parameter groups, this "
                         f"run has {len(state.optimizer.param_groups)}: it is another model's checkpoint")
    with _loading(path, "scheduler settings"):
        differences = _differences(ckpt, state)
    if differences:
        raise ValueError(f"{path} was written by a run with other settings: {', '.join(differences)}")
    load_weights(path, distributed.unwrap(state.model), ckpt["model"], "this run's model")
    with _loading(path, "optimizer state"):
        state.optimizer.load_state_dict(ckpt["optimizer"])
    if state.scheduler is not None and ckpt["scheduler"] is not None:
        with _loading(path, "scheduler state"):
            state.scheduler.load_state_dict(ckpt["scheduler"])
    resumable = ckpt["data"] is not None and hasattr(state.data, "load_state_dict")
    if resumable:
        with _loading(path, "data position"):
            state.data.load_state_dict(ckpt["data"])
    if not resumable and ckpt["step"] != (ckpt["history"][-1]["step"] if ckpt["history"] else 0):
        raise ValueError(f"{path} is in the middle of an epoch (step {ckpt['step']}), and this run's data cannot "
                         "resume there (it records no position)")
    if ckpt["scaler"] is not None:
        with _loading(path, "gradient scaler state"):
            state.scaler = torch.amp.GradScaler()
            state.scaler.load_state_dict(ckpt["scaler"])
    state.epoch, state.step = ckpt["epoch"], ckpt["step"]
    with _loading(path, "smoothed loss"):
        state.loss_ema.load_state_dict(ckpt["loss_ema"])
        best = ckpt["best_loss"]  # older versions: the lowest is counted from here
        state.best_loss = best if best is not None else state.smoothed_loss if state.loss_ema.count else math.inf
    state.totals = Totals()
    if ckpt["totals"] is not None:
        with _loading(path, "epoch totals"):
            state.totals.load_state_dict(ckpt["totals"])
    state.history = list(ckpt["history"])
    state.retries = list(ckpt["retries"])
    state.kept_states = list(ckpt.get("kept_states", []))
    state.initial_loss = ckpt["initial_loss"]
    with _loading(path, "random number generator states"):
        rng.set_state(ckpt["rng"])
    return state


def load_weights(path: Path, model: torch.nn.Module, weights: Mapping[str, torch.Tensor], into: str) -> None:
    """Load ``weights``, the model weights of the checkpoint at ``path``, into ``model`` (``into``: what it is, for
    the message). Another model's (names missing or unexpected, tensors of other shapes) are one ``ValueError``
    naming the file and the first few of each, never torch's list of every tensor."""
    own = model.state_dict()
    missing = [k for k in own if k not in weights]
    unexpected = [k for k in weights if k not in own]
    shapes = [f"{k} {list(weights[k].shape)} (the model's {list(own[k].shape)})" for k in own
              if k in weights and weights[k].shape != own[k].shape]
    if missing or unexpected or shapes:
        found = f"{_names('missing', missing)}{_names('unexpected', unexpected)}{_names('of other shapes', shapes)}"
        raise ValueError(f"{path} holds the weights of another model than {into}: {found.rstrip('; ')}")
    with _loading(path, "model weights"):
        model.load_state_dict(weights)


def _names(kind: str, names: Sequence[str], shown: int = 3) -> str:
    if not names:
        return ""
    more = f" and {len(names) - shown} more" if len(names) > shown else ""
    return f"{kind} {', '.join(names[:shown])}{more}; "


@contextlib.contextmanager
def _loading(path: Path, part: str) -> Iterator[None]:
    """Report a failure to load ``part`` of the checkpoint at ``path`` as one ``ValueError`` naming both (torch's
    messages run to many lines: size mismatch for each tensor...)."""
    try:
        yield
    except (ValueError, TypeError, KeyError, IndexError, AttributeError, RuntimeError, OverflowError) as err:
        reason = " ".join(str(err).split())
        reason = reason if len(reason) <= 300 else reason[:297] + "..."
        raise ValueError(f"{path}: cannot load its {part} into this run ({reason})") from None


def position(state: TrainState) -> str:
    """Where ``state`` is in training, as messages say it: ``the end of epoch 2 (step 88)``, or ``step 100, in
    epoch 3``."""
    if state.totals.steps == 0:
        return f"the end of epoch {state.epoch} (step {state.step})"
    return f"step {state.step}, in epoch {state.epoch + 1}"


class CheckpointHook:
    """Writes ``checkpoint.pt`` at the end of every epoch and, with ``every_steps`` or ``every_minutes``, after a
    step in the middle of one too (not after an epoch's last step: the epoch's own checkpoint follows). When
    ``stop`` is requested (a signal, see :mod:`onecycle.interrupt`) it writes one after the current step and ends
    training. Checkpoints are written at the training loop's reads only, where its state is whole, and not at one
    that stopped training; the hook asks for a read at each step one is due (:meth:`wants_read`), so they fall on
    the steps they would without reads in between. Checkpoints in the middle of an epoch need data that has a length
    and records its position (``state_dict``), as :class:`~onecycle.loader.Batches` does; without, a stop waits for
    the end of the epoch."""

    def __init__(self, run_dir: Path, every_steps: int | None = None, every_minutes: float | None = None,
                 stop: StopRequest | None = None, clock: Any = time.monotonic) -> None:
        self.path = Path(run_dir) / CHECKPOINT
        self.every_steps, self.every_minutes, self.stop, self.clock = every_steps, every_minutes, stop, clock
        self.saved_at = clock()
        self.written: str | None = None  # where the last checkpoint written is (:func:`position`)

    def save(self, state: TrainState) -> None:
        """Write the checkpoint of ``state`` now (a state at a read whose check passed, or restored)."""
        save_checkpoint(self.path, state)
        self.saved_at, self.written = self.clock(), position(state)

    def _due(self, steps: Iterable[int]) -> bool:
        """Whether a checkpoint is due after ``steps``: a stop requested, a multiple of ``every_steps`` among them,
        or ``every_minutes`` gone by since the last one."""
        return (self.stop is not None and self.stop.requested) or (
            self.every_steps is not None and any(step % self.every_steps == 0 for step in steps)) or (
            self.every_minutes is not None and self.clock() - self.saved_at >= 60 * self.every_minutes)

    def wants_read(self, state: TrainState) -> bool:
        """Whether the loop should read at the step being taken (``state.step + 1``): a checkpoint is due after it.
        Under data-parallel training a signal any process received counts (:meth:`StopRequest.sync`)."""
        if self.stop is not None:
            self.stop.sync()
        return self._due([state.step + 1])

    def on_steps(self, state: TrainState, rows: Sequence[dict[str, Any]]) -> bool:
        resumable = hasattr(state.data, "state_dict") and hasattr(state.data, "__len__")
        if not resumable and (self.every_steps or self.every_minutes):
            raise ValueError("checkpoints in the middle of an epoch need data that has a length and records its "
                             "position (a state_dict), such as onecycle.loader.Batches")
        if state.stopped is not None or not resumable or state.step == (state.epoch + 1) * len(state.data):
            return False
        stop = self.stop is not None and self.stop.requested
        if not self._due(row["step"] for row in rows):
            return False
        self.save(state)
        return stop

    def on_epoch_end(self, state: TrainState, metrics: dict[str, Any]) -> bool:
        self.save(state)
        return self.stop is not None and self.stop.requested


class MetricsHook:
    """Appends step and epoch metrics to ``metrics.jsonl`` and the CSV files of the run directory (the rows of the
    steps read at once, in one write)."""

    def __init__(self, run_dir: Path, every: int = 1) -> None:
        self.dir = Path(run_dir)
        self.every = every

    def _append_csv(self, name: str, rows: Sequence[dict[str, Any]], columns: Sequence[str] | None = None) -> None:
        path = self.dir / name
        new = not path.exists()
        with open(path, "a", newline="") as f:
            w = csv.DictWriter(f, fieldnames=list(columns or rows[0]))
            if new:
                w.writeheader()
            w.writerows(rows)

    def _append_jsonl(self, kind: str, rows: Sequence[dict[str, Any]]) -> None:
        with open(self.dir / METRICS_JSONL, "a") as f:
            f.write("".join(json.dumps({"kind": kind, **row}) + "\n" for row in rows))

    def on_steps(self, state: TrainState, rows: Sequence[dict[str, Any]]) -> None:
        kept = [row for row in rows if row["step"] % self.every == 0]
        if kept:
            self._append_jsonl("step", kept)
            self._append_csv(STEPS_CSV, kept, STEP_COLUMNS)

    def on_epoch_end(self, state: TrainState, metrics: dict[str, Any]) -> bool:
        self._append_jsonl("epoch", [metrics])
        self._append_csv(METRICS_CSV, [metrics])
        return False


class RunFiles:
    """The files training writes to a run directory, in the order that keeps a resume exact and never trains a
    finished epoch again: after a read the steps' metrics rows, then the checkpoint if one is due (the rows of the
    steps a checkpoint holds are on disk before it); at the end of an epoch its checkpoint, then its metrics row (the
    epoch rows of a checkpoint are written again from it on resume, see :func:`truncate_metrics`)."""

    def __init__(self, metrics: MetricsHook, checkpoints: CheckpointHook) -> None:
        self.metrics, self.checkpoints = metrics, checkpoints

    def wants_read(self, state: TrainState) -> bool:
        return self.checkpoints.wants_read(state)

    def on_steps(self, state: TrainState, rows: Sequence[dict[str, Any]]) -> bool:
        self.metrics.on_steps(state, rows)
        return self.checkpoints.on_steps(state, rows)

    def on_epoch_end(self, state: TrainState, metrics: dict[str, Any]) -> bool:
        stop = self.checkpoints.on_epoch_end(state, metrics)
        self.metrics.on_epoch_end(state, metrics)
        return stop


class TensorBoardHook:
    """Logs the same metrics to TensorBoard (needs the ``tensorboard`` package)."""

    def __init__(self, run_dir: Path) -> None:
        from torch.utils.tensorboard import SummaryWriter

        self.writer = SummaryWriter(str(Path(run_dir) / TENSORBOARD))

    def on_steps(self, state: TrainState, rows: Sequence[dict[str, Any]]) -> None:
        for row in rows:
            for key in ("smoothed_loss", "lr", "momentum"):
                if row.get(key) is not None:
                    self.writer.add_scalar(f"step/{key}", row[key], row["step"])

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
    return read_metrics_rows(run_dir)[0]


def read_metrics_rows(run_dir: Path) -> tuple[list[dict[str, Any]], int | None]:
    """:func:`read_metrics`, and the number of the last line of ``metrics.jsonl`` when it was cut short (left out
    of the rows), else ``None``."""
    path = Path(run_dir) / METRICS_JSONL
    if not path.exists():
        return [], None
    lines = [line for line in read_text(path).splitlines() if line.strip()]
    rows = []
    for i, line in enumerate(lines):
        try:
            row = json.loads(line)
        except (ValueError, RecursionError):
            if i == len(lines) - 1:  # the last line, cut short when the run was killed
                return rows, i + 1
            raise ValueError(f"{path} is damaged: line {i + 1} is not JSON") from None
        problem = _row_problem(row)
        if problem:
            raise ValueError(f"{path} is damaged: line {i + 1} is not a metrics row ({problem})")
        rows.append(row)
    return rows, None


RETRY_KEYS = ("step", "restored_step", "max_lr", "warmup_steps", "reason")
"""What a retry row of metrics.jsonl holds (:class:`onecycle.retry.RetryOnDivergence`): the step of the loss that
diverged, the step training went on from, the peak and the steps of the new warm-up, and why it restarted."""
_ROW_KEYS = {"step": ("step",), "epoch": ("epoch", "step", "time_s"), "retry": RETRY_KEYS}
"""The keys every row of each kind holds (and the readers of metrics.jsonl rely on)."""
_TEXT_KEYS = {"retry": ("reason",)}
"""The keys of a row of each kind whose value is text, not a number."""


def _row_problem(row: Any) -> str | None:
    """What makes ``row`` not a row training writes, or ``None``: a JSON object whose ``kind`` is step, epoch or
    retry, with that kind's keys, numbers for values (``None`` where a metric is missing; text for a retry's
    reason), counts that are whole numbers."""
    if not isinstance(row, dict):
        return f"a JSON {type(row).__name__}, not an object"
    if row.get("kind") not in _ROW_KEYS:
        return f"its kind is not {', '.join(_ROW_KEYS)}" if "kind" in row else "no kind"
    missing = [k for k in _ROW_KEYS[row["kind"]] if k not in row]
    if missing:
        return f"no {', '.join(missing)}"
    texts = _TEXT_KEYS.get(row["kind"], ())
    for key, value in row.items():
        if key in texts:
            if not isinstance(value, str):
                return f"{key} is not text"
        elif key != "kind" and value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
            return f"{key} is not a number"
    for key in ("step", "epoch", "restored_step", "warmup_steps"):
        if key in row and not (isinstance(row[key], int) and row[key] >= 0):
            return f"{key} is not a count"
    return None


def read_text(path: Path) -> str:
    """The UTF-8 text of ``path``; bytes that are not UTF-8 are a ``ValueError`` naming it."""
    try:
        return Path(path).read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ValueError(f"{path} is not UTF-8 text") from None


def truncate_metrics(run_dir: Path, step: int, history: Sequence[dict[str, Any]],
                     retries: Sequence[dict[str, Any]] = ()) -> None:
    """On resume from a checkpoint at ``step`` holding the epoch metrics ``history`` and the retry records
    ``retries``, or after a retry that put back the state of ``step``: keep the step rows up to ``step`` (a run
    killed after its checkpoint wrote more, perhaps the last one cut short; a run that diverged after it) and make
    the epoch rows those of ``history`` (a run killed between an epoch's checkpoint and its row wrote one fewer) and
    the retry rows those of ``retries``, each where training went on from (its ``restored_step``)."""
    run_dir = Path(run_dir)
    jsonl = run_dir / METRICS_JSONL
    if not jsonl.exists() and not history and not retries:
        return
    steps = [r for r in read_metrics(run_dir) if r["kind"] == "step" and r["step"] <= step]
    order = {"step": 0, "epoch": 1, "retry": 2}
    keep = sorted([*steps, *({"kind": "epoch", **h} for h in history), *({"kind": "retry", **r} for r in retries)],
                  key=lambda r: (r["restored_step"] if r["kind"] == "retry" else r["step"], order[r["kind"]]))
    write_text(jsonl, "".join(json.dumps(r) + "\n" for r in keep))
    for name, kind in ((METRICS_CSV, "epoch"), (STEPS_CSV, "step")):
        path = run_dir / name
        rows_k = [{k: v for k, v in r.items() if k != "kind"} for r in keep if r["kind"] == kind]
        if rows_k:
            write_text(path, csv_text(list(rows_k[0]), ([r[k] for k in rows_k[0]] for r in rows_k)))
        else:
            path.unlink(missing_ok=True)
