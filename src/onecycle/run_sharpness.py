"""The sharpness of a trained run (``onecycle sharpness``): the top eigenvalues of the Hessian of its training loss
at the weights of its checkpoint, on a fixed, seeded subset of its training images, written to ``sharpness.json``
with the settings it was measured under and the checkpoint it read."""

from __future__ import annotations

import functools
import hashlib
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any

from onecycle import records, rundir
from onecycle.experiment import prepare, saved_settings
from onecycle.loader import Batches
from onecycle.sharpness import LANCZOS, SharpnessResult, check_lanczos, top_eigenvalues


@dataclass(frozen=True)
class SharpnessSettings:
    """What a measurement of a run's sharpness is made under: ``images`` training images drawn with ``seed`` (which
    also draws the Lanczos start), in batches of ``batch_size`` (memory only: the Hessian is that of the mean over
    all of them), and :func:`~onecycle.sharpness.top_eigenvalues`'s ``k``, ``tol`` and ``max_iter``."""

    images: int = 1024
    k: int = LANCZOS.k
    tol: float = LANCZOS.tol
    max_iter: int = LANCZOS.max_iter
    batch_size: int = 256
    seed: int = LANCZOS.seed

    def __post_init__(self) -> None:
        for name in ("images", "batch_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be an integer >= 1, got {records.shown(value)}")
        check_lanczos(self.k, self.tol, self.max_iter, self.seed)

    @classmethod
    def given(cls, values: Mapping[str, Any], origins: records.Origins) -> SharpnessSettings:
        """The settings of ``values`` (each field's), a ``ValueError`` naming the first that is not one and where
        its value came from (``origins``: ``from --k``; a setting not in it took its default)."""
        check_lanczos(values["k"], values["tol"], values["max_iter"], values["seed"], origins)
        return cls(**values)

    @classmethod
    def from_dict(cls, data: Any, where: str) -> SharpnessSettings:
        """The settings recorded in a sharpness.json, every value checked (a ``ValueError`` naming the key)."""
        names = [f.name for f in fields(cls)]
        d = records.table(data, where, names, names)
        try:
            return cls(**d)
        except ValueError as err:
            raise ValueError(f"{where}.{err}") from None


@dataclass(frozen=True)
class Measured:
    """A run's sharpness as sharpness.json holds it: the result, the settings, the checkpoint measured (its epoch,
    step and the SHA-256 of its file) and the wall time the measurement took."""

    result: SharpnessResult
    settings: SharpnessSettings
    checkpoint: dict[str, Any]
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        return {**self.result.to_dict(), "settings": asdict(self.settings), "checkpoint": self.checkpoint,
                "seconds": self.seconds}

    @classmethod
    def load_json(cls, path: Path) -> Measured:
        """The measurement in ``path``; a file that is not JSON, or not one :meth:`to_dict` writes, is one
        ``ValueError`` naming the file and the key."""
        data = rundir.read_json(path)
        try:
            d = records.table(data, "the file", ("settings", "checkpoint", "seconds"))
            result = SharpnessResult.from_dict({k: v for k, v in d.items()
                                                if k not in ("settings", "checkpoint", "seconds")})
            checkpoint = records.table(d["checkpoint"], "checkpoint", ("epoch", "step", "sha256"))
            for name in ("epoch", "step"):
                records.integer(checkpoint[name], f"checkpoint.{name}")
            records.text(checkpoint["sha256"], "checkpoint.sha256")
            return cls(result, SharpnessSettings.from_dict(d["settings"], "settings"), checkpoint,
                       records.number(d["seconds"], "seconds", at_least=0.0))  # type: ignore[arg-type]
        except ValueError as err:
            raise ValueError(f"{path} is damaged: {err}; remove it to measure again") from None

    def __str__(self) -> str:
        c = self.checkpoint
        return f"{self.result} at epoch {c['epoch']} (step {c['step']})"


def measure_run(run_dir: Path, settings: SharpnessSettings, progress: bool = False,
                say: Callable[[str], None] = print, origins: records.Origins | None = None) -> tuple[Measured, bool]:
    """The sharpness of the run in ``run_dir`` under ``settings``, and whether it was reused: the sharpness.json
    there when it was measured under the same settings at the same checkpoint, else measured now and written there
    (``say`` is told which, and where the data was read from).

    The run is read as ``onecycle train --resume`` reads it (its config.json, by
    :func:`~onecycle.experiment.saved_settings`, and its checkpoint.pt, checked; a run trained by several processes
    is measured by one, on the same weights); its data is prepared as training prepared it, and the ``images`` are
    drawn from its training images (its ``train_subset`` when it has one) with ``settings.seed``, normalised as
    training normalises them, without augmentation. The loss is the one trained (label smoothing included) without
    weight decay's term, which would add the weight decay to every eigenvalue; the model is in eval mode
    (BatchNorm's running statistics). A run directory without a config.json or checkpoint.pt is a
    ``FileNotFoundError``; damaged files and more images than the run trained on are ``ValueError``\\ s naming
    them (and, given ``origins``, where the settings named came from: ``from --images``)."""
    run_dir = Path(run_dir)
    for name, what in ((rundir.CONFIG, "the settings of a run"), (rundir.CHECKPOINT, "its trained weights")):
        if not (run_dir / name).exists():
            raise FileNotFoundError(f"{run_dir / name} does not exist, and the sharpness of a run is measured from "
                                    f"{what}: train a run there first (`onecycle train` writes its checkpoint at the "
                                    "end of each epoch)")
    cfg, resolved = saved_settings(run_dir)
    weights = run_dir / rundir.CHECKPOINT
    ckpt = rundir.read_checkpoint(weights)
    rundir.check_position(weights, ckpt, cfg.epochs, resolved.get("steps_per_epoch"))
    checkpoint = {"epoch": ckpt["epoch"], "step": ckpt["step"],
                  "sha256": hashlib.sha256(weights.read_bytes()).hexdigest()}
    path, again = run_dir / rundir.SHARPNESS_JSON, None
    if path.exists():
        old = Measured.load_json(path)
        if replace(old.settings, batch_size=settings.batch_size) == settings and old.checkpoint == checkpoint:
            say(f"sharpness: reusing {path}, measured under these settings from this checkpoint")  # batches: memory
            return old, True
        changed = [f"{k} {v} (now {getattr(settings, k)})" for k, v in asdict(old.settings).items()
                   if getattr(settings, k) != v and k != "batch_size"]
        if old.checkpoint != checkpoint:
            changed.append("another checkpoint")
        again = f"sharpness: {path} was measured under other settings ({', '.join(changed)}): measuring again"
    setup = prepare(cfg, say)
    available = len(setup.train_data)
    said = records.naming(functools.partial(getattr, settings), origins)
    if settings.images > available:
        raise ValueError(f"{said('images')} is more than the {available} training images of the run in "
                         f"{run_dir}; use at most {available}")
    if again is not None:  # said once the settings are known to be measurable
        say(again)
    data = Batches(setup.train_data.subset(settings.images, seed=settings.seed), settings.batch_size, shuffle=False,
                   mean=setup.mean, std=setup.std, channels_last=cfg.channels_last)
    model = setup.model()
    rundir.load_weights(weights, model, ckpt["model"], f"the {cfg.model} its {rundir.CONFIG} names")
    say(f"sharpness: top {settings.k} Hessian eigenvalue(s) at epoch {ckpt['epoch']}/{cfg.epochs} (step "
        f"{ckpt['step']}) on {settings.images} training images (seed {settings.seed})")
    start = time.perf_counter()
    result = top_eigenvalues(model, setup.loss_fn(), data, k=settings.k, tol=settings.tol,
                             max_iter=settings.max_iter, seed=settings.seed, progress=progress, origins=origins)
    measured = Measured(result, settings, checkpoint, round(time.perf_counter() - start, 2))
    rundir.write_json(path, measured.to_dict())
    return measured, False
