"""Presets: run configurations shipped beside this module. The CIFAR-10 / ResNet-56 runs of the 1cycle article
(``r56-*``), and recipes this project measured itself, whose figures come from one of its benchmarks (the
Fashion-MNIST recipe of ``python -m benchmarks.time_to_accuracy``).

Each ``NAME.toml`` holds the settings under ``[onecycle]``, in the format of a ``--config`` file (``onecycle train
--config r56-95ep.toml`` reads them and leaves the rest alone), and under ``[preset]`` what was published:
``description``, ``source`` (where the numbers come from: the article, or the benchmark and its results file),
``job`` (``train``, or ``sweep`` for range tests over a setting) and ``published_accuracy`` (percent; a benchmark's
mean over its seeds) or, for a sweep, ``published_pick``. The files are the only place these numbers live (a
benchmark's preset is checked against its results file by the tests). :func:`summarize` puts the runs of a preset
over several seeds beside the published figure.
"""

from __future__ import annotations

import difflib
import statistics
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from onecycle import rundir
from onecycle.config import RunConfig, from_dict
from onecycle.experiment import JOBS

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

DIRECTORY = Path(__file__).parent
"""Where the preset files are."""

_META: dict[str, tuple[type, ...]] = {"description": (str,), "source": (str,), "job": (str,),
                                      "published_accuracy": (int, float), "published_pick": (int, float)}


@dataclass(frozen=True)
class Preset:
    """One preset file: the run's settings and what the article published."""

    name: str
    description: str
    source: str
    job: str  # one of experiment.JOBS
    settings: dict[str, Any]
    path: Path
    published_accuracy: float | None = None  # percent
    published_pick: float | None = None  # a sweep's: the value the article picked

    def config(self, **overrides: Any) -> RunConfig:
        """The run's settings, with ``overrides`` (where and how it runs), validated."""
        return from_dict({**self.settings, **overrides}, source=str(self.path))

    @property
    def published(self) -> str:
        """What the article published, in a few words."""
        if self.published_accuracy is not None:
            return f"{self.published_accuracy:.2f}%"
        if self.published_pick is not None:
            return f"{self.config().sweep_param} {self.published_pick:g}"
        return "-"


def names() -> list[str]:
    """The presets, by name."""
    return sorted(path.stem for path in DIRECTORY.glob("*.toml"))


def load(name: str) -> Preset:
    """The preset ``name``; an unknown name is a ``ValueError`` with the closest one and the list, a damaged file
    one naming the file."""
    known = names()
    if name not in known:
        close = difflib.get_close_matches(name, known, n=1)
        hint = f" (did you mean {close[0]}?)" if close else ""
        raise ValueError(f"unknown preset {name!r}{hint}; the presets are {', '.join(known)}")
    path = DIRECTORY / f"{name}.toml"
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as err:
        raise ValueError(f"{path} cannot be read: {err.strerror or err}") from None
    except ValueError as err:  # not UTF-8, not TOML
        raise ValueError(f"{path} is not a valid preset file: {err}") from None
    meta, settings = data.get("preset"), data.get("onecycle")
    if not isinstance(meta, dict) or not isinstance(settings, dict) or set(data) != {"preset", "onecycle"}:
        raise ValueError(f"{path}: a preset file holds a [preset] and an [onecycle] table, and nothing else")
    for key, value in meta.items():
        if key not in _META or isinstance(value, bool) or not isinstance(value, _META[key]):
            raise ValueError(f"{path}: [preset] {key} = {value!r} is not one of {', '.join(_META)} with its type")
    if not {"description", "source"} <= set(meta):
        raise ValueError(f"{path}: [preset] needs a description and a source")
    preset = Preset(name, meta["description"], meta["source"], meta.get("job", "train"), settings, path,
                    meta.get("published_accuracy"), meta.get("published_pick"))
    if preset.job not in JOBS:
        raise ValueError(f"{path}: [preset] job must be one of {', '.join(JOBS)}, got {preset.job!r}")
    cfg = preset.config()
    if preset.job == "train" and (cfg.max_lr is None or cfg.weight_decay is None):
        raise ValueError(f"{path}: a training preset sets max_lr and weight_decay")
    return preset


def summarize(preset: Preset, run_dir: Path, runs: list[Path]) -> dict[str, Any]:
    """What the runs of ``preset`` in ``run_dir`` (one per seed) found, beside what the article published:
    training's final test accuracies (percent), their mean and sample standard deviation (``None`` for one run),
    or a sweep's picks. A record without them is a ``ValueError`` naming the file."""
    record: dict[str, Any] = {
        "preset": preset.name, "description": preset.description, "source": preset.source, "job": preset.job,
        "published_accuracy": preset.published_accuracy, "published_pick": preset.published_pick,
        "runs": [str(path.relative_to(run_dir)) for path in runs],
    }
    if preset.job == "sweep":
        sweeps = [(path / rundir.SWEEP_JSON, rundir.read_json(path / rundir.SWEEP_JSON)) for path in runs]
        return {**record, "seeds": [_field(p, s, "settings", "seed") for p, s in sweeps],
                "picks": [_field(p, s, "pick", optional=True) for p, s in sweeps]}
    accuracies = [100 * _field(path / rundir.SUMMARY_JSON, rundir.read_json(path / rundir.SUMMARY_JSON), "final",
                               "val_accuracy") for path in runs]
    seeds = [_field(path / rundir.CONFIG, rundir.read_json(path / rundir.CONFIG), "seed") for path in runs]
    return {**record, "seeds": seeds, "test_accuracy": accuracies, "mean": statistics.fmean(accuracies),
            "std": statistics.stdev(accuracies) if len(accuracies) > 1 else None}


def _field(path: Path, data: Any, *keys: str, optional: bool = False) -> Any:
    """``data[keys[0]][keys[1]]...``, a number (or, when ``optional``, ``None`` held under that key); anything
    else is a ``ValueError`` naming ``path``, the file ``data`` was read from."""
    value, held = data, True
    for key in keys:
        held = isinstance(value, dict) and key in value
        value = value[key] if held else None
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    if not (number or (optional and held and value is None)):
        raise ValueError(f"{path} is damaged: it holds no number at {'.'.join(keys)}")
    return value
