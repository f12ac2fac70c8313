"""What one run of the speed benchmark measures: the kinds of measurement (which function, in which
environment), the options of ``onecycle train`` that can be measured here (the others skipped with a reason), and
the comparisons made of them, each with its target."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from benchmarks.speed.settings import CUDA_ONLY, Settings
from benchmarks.speed.stats import Comparison


@dataclass(frozen=True)
class Kind:
    """A kind of measurement: ``function`` (``module:name``, called with the spec and the data) in the ``peers``'
    environment or in this one, shown as ``label``; ``imports`` are imported before it is timed (a user's program
    imports them once, when it starts)."""

    function: str
    label: str
    peers: bool = False
    imports: tuple[str, ...] = ()


OURS = ("onecycle.experiment",)
FASTAI = ("fastai.basics", "fastai.callback.schedule", "fastai.callback.progress")
LR_FINDER = ("torch_lr_finder",)


KINDS = {
    "ours_train": Kind("benchmarks.speed.ours:ours_train", "`onecycle train`", imports=OURS),
    "bare_train": Kind("benchmarks.speed.loops:bare_train", "bare loop"),
    "typical_train": Kind("benchmarks.speed.loops:typical_train", "per-sample DataLoader + OneCycleLR"),
    "fastai_train": Kind("benchmarks.speed.peers:fastai_train", "fastai `fit_one_cycle`", peers=True,
                         imports=FASTAI),
    "ours_range": Kind("benchmarks.speed.ours:ours_range", "`onecycle` range test", imports=OURS),
    "bare_steps": Kind("benchmarks.speed.loops:bare_steps", "bare steps"),
    "lrfinder_range": Kind("benchmarks.speed.peers:lrfinder_range", "pytorch-lr-finder `range_test` + `reset`",
                           peers=True, imports=LR_FINDER),
    "fastai_range": Kind("benchmarks.speed.peers:fastai_range", "fastai `lr_find`", peers=True, imports=FASTAI),
}
"""Every kind of measurement, by name."""

TRAIN_TARGET = 0.97  # onecycle train's images/s over the bare loop's, at least
RANGE_TARGET = 1.10  # the range test's time per step over a bare step's, at most
PEER_TARGET = 0.8  # our wall time (per step for range tests) over a peer's, at most


def option_name(options: dict[str, Any], kind: str = "ours_train") -> str:
    """The name of the measurement ``kind`` made with ``options``: ``ours_train[key=value,...]``."""
    return kind + (f"[{','.join(f'{k}={v}' for k, v in options.items())}]" if options else "")


def variants(options: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The measurements of the ``options`` of ``onecycle train``, by name, with their options: each with ``onecycle
    train``, and with the bare loop where it applies one of them (:data:`~benchmarks.speed.loops.BARE_OPTIONS`)."""
    from benchmarks.speed.loops import BARE_OPTIONS

    named = {option_name(o): o for o in options}
    named.update({option_name(o, "bare_train"): o for o in options if set(o) & set(BARE_OPTIONS)})
    return named


def kind_of(name: str) -> str:
    """The kind of the measurement ``name`` (its options dropped)."""
    return name.split("[", 1)[0]


def label(name: str) -> str:
    """How the measurement ``name`` is shown: its kind's label, with the options of ``onecycle train``."""
    options = name[len(kind_of(name)):]
    return KINDS[kind_of(name)].label + (f" `{options}`" if options else "")


def unavailable(options: dict[str, Any], device: str) -> str | None:
    """Why ``onecycle train`` cannot be measured with ``options`` on ``device`` (a setting that
    :class:`onecycle.config.RunConfig` does not have, one that does nothing off CUDA, a value it refuses), or
    ``None`` when it can."""
    from onecycle.config import FIELDS, ConfigError, check_each

    missing = [k for k in options if k not in FIELDS]
    if missing:
        return f"onecycle.config.RunConfig has no setting {', '.join(missing)} (yet)"
    off_cuda = [k for k in options if k in CUDA_ONLY and not device.startswith("cuda")]
    if off_cuda:
        return f"{', '.join(off_cuda)} does nothing on {device}"
    try:
        check_each(options, "the option matrix")
    except ConfigError as err:
        return str(err)
    return None


def train_options(settings: Settings) -> tuple[list[dict[str, Any]], list[dict[str, str]]]:
    """The options of :attr:`Settings.options` that can be measured here, and a note for each that cannot (its
    ``name`` and ``reason``)."""
    measured, skipped = [], []
    for options in settings.options:
        reason = unavailable(options, settings.device)
        if reason is None:
            measured.append(options)
        else:
            skipped.append({"name": option_name(options), "reason": reason})
    return measured, skipped


def comparisons(names: list[str]) -> list[Comparison]:
    """The comparisons among the measurements ``names``: ``onecycle train`` (and each measured option of it)
    against the bare loop (with the same option, where it was measured) in images/s; the range test against bare
    steps, and against each peer's, in time per step (each tool stops where its own rule says the loss diverged);
    a 1cycle run against the loop most users write and fastai's, in wall time (accuracy beside). A comparison
    whose side was not measured stays, without a ratio."""

    def bare(name: str) -> str:  # the bare loop with the same options, where it was measured
        same = "bare_train" + name[len("ours_train"):]
        return same if same in names else "bare_train"

    wanted = [Comparison(f"{label(n)} / {label(bare(n))}", n, bare(n), "images_per_s", TRAIN_TARGET)
              for n in names if kind_of(n) == "ours_train"]
    wanted += [Comparison("range test / bare steps", "ours_range", "bare_steps", "seconds_per_step", RANGE_TARGET),
               Comparison("range test / pytorch-lr-finder", "ours_range", "lrfinder_range", "seconds_per_step",
                          PEER_TARGET),
               Comparison("range test / fastai lr_find", "ours_range", "fastai_range", "seconds_per_step",
                          PEER_TARGET),
               Comparison("1cycle run / per-sample DataLoader loop", "ours_train", "typical_train", "seconds",
                          PEER_TARGET),
               Comparison("1cycle run / fastai fit_one_cycle", "ours_train", "fastai_train", "seconds", PEER_TARGET)]
    return wanted
