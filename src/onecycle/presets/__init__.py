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
import math
import statistics
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from onecycle import records, rundir
from onecycle.config import ConfigError, RunConfig, from_dict, read_toml
from onecycle.experiment import JOBS

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

DIRECTORY = Path(__file__).parent
"""Where the preset files are."""

def _text(value: Any) -> bool:
    return isinstance(value, str) and bool(value.strip())


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


_META: dict[str, tuple[str, Callable[[Any], bool]]] = {
    "description": ("a non-empty string", _text),
    "source": ("a non-empty string", _text),
    "job": (f"one of {', '.join(JOBS)}", lambda value: value in JOBS),
    "published_accuracy": ("a finite percentage in (0, 100]", lambda value: _finite(value) and 0 < value <= 100),
    "published_pick": ("a finite number", _finite),
}
"""The keys of a preset file's ``[preset]`` table: what each value must be, and the test of it."""


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
    a :class:`~onecycle.config.ConfigError` naming the file (:func:`load_file`)."""
    known = names()
    if name not in known:
        close = difflib.get_close_matches(name, known, n=1)
        hint = f" (did you mean {close[0]}?)" if close else ""
        raise ValueError(f"unknown preset {name!r}{hint}; the presets are {', '.join(known)}")
    return load_file(DIRECTORY / f"{name}.toml")


def load_file(path: Path) -> Preset:
    """The preset in the file ``path`` (named after the file), checked: each ``[preset]`` value against what it
    must be (:data:`_META`) and the ``[onecycle]`` table as every run's settings are. Anything wrong is one
    :class:`~onecycle.config.ConfigError` naming the file, the key, the value and what was expected."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as err:
        raise ConfigError(f"{path} cannot be read: {err.strerror or err}") from None
    except ValueError as err:  # not UTF-8, not TOML
        raise ConfigError(f"{path} is not a valid preset file: {err}") from None
    meta, settings = data.get("preset"), data.get("onecycle")
    if not isinstance(meta, dict) or not isinstance(settings, dict) or set(data) != {"preset", "onecycle"}:
        raise ConfigError(f"{path}: a preset file holds a [preset] and an [onecycle] table, and nothing else")
    check_meta(path, meta)
    preset = Preset(path.stem, meta["description"], meta["source"], meta.get("job", "train"), settings, path,
                    meta.get("published_accuracy"), meta.get("published_pick"))
    try:
        cfg = from_dict(settings, source="this table")
    except ConfigError as err:
        raise ConfigError(f"{path} [onecycle]: {err}") from None
    if preset.job == "train" and (cfg.max_lr is None or cfg.weight_decay is None):
        raise ConfigError(f"{path}: a training preset sets max_lr and weight_decay in [onecycle]")
    return preset


def check_meta(path: Path, meta: Any) -> None:
    """Raise a :class:`~onecycle.config.ConfigError` naming ``path``, the key, the value and what was expected
    unless ``meta`` is a ``[preset]`` table a preset file may hold (:data:`_META`, a description and a source)."""
    if not isinstance(meta, dict):
        raise ConfigError(f"{path}: [preset] must be a table, got {records.shown(meta)}")
    for key, value in meta.items():
        if key not in _META:
            raise ConfigError(f"{path}: [preset] has an unknown key {records.shown(key)} (expected "
                              f"{', '.join(_META)})")
        expected, accepts = _META[key]
        if not accepts(value):
            raise ConfigError(f"{path}: [preset] {key} = {records.shown(value)}: expected {expected}")
    if not {"description", "source"} <= set(meta):
        raise ConfigError(f"{path}: [preset] needs a description and a source")


def check_config_file(path: str | Path) -> None:
    """Refuse a ``--config`` file holding a ``[preset]`` table (a copy of a preset file) that :func:`load_file`
    would refuse: :func:`check_meta`'s :class:`~onecycle.config.ConfigError`. Its settings are checked as every
    config file's are (:func:`onecycle.config.load_toml`)."""
    data = read_toml(path)
    if ("preset" in data and "onecycle" in data) or isinstance(data.get("preset"), dict):
        check_meta(Path(path), data["preset"])


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
