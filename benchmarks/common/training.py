"""One training run of a benchmark: the settings of a :class:`~onecycle.config.RunConfig`, its schedule
(1cycle or a baseline), the library's own data, model, optimizer, scheduler and training loop; and the settings a
measurement is made under (:func:`measured_settings`), which name it in a run cache."""

from __future__ import annotations

import datetime
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from onecycle.engine import TrainState

NOT_MEASURED = ("data_dir", "download", "progress", "log_every", "cudnn_benchmark")
"""RunConfig keys that say where the data is read from, what is shown and how often the loss is read, not what is
measured (and cuDNN's algorithm search, which does nothing on CPU, where the benchmarks run)."""

LEFT_OUT_AT_DEFAULT = ("compile", "optimizer_impl", "sync_batchnorm")
"""RunConfig keys left out of a measurement's settings at their defaults: they change a run's numbers in the last bits
only when set (compiled kernels and foreach or fused optimizers round differently), and the runs cached before they
existed ran at their defaults, so their keys stay what they were."""


def rounded(lr: float) -> float:
    """A learning rate derived from a measurement, to 3 significant digits: the lr trained is the one recorded."""
    return float(f"{lr:.3g}")


def range_test_keys() -> set[str]:
    """The RunConfig keys of the range-test and sweep groups: how a range test measures, which a training run
    does not depend on."""
    from onecycle.config import FIELDS, Group

    return {name for name, f in FIELDS.items() if f.metadata["group"] in (Group.RANGE_TEST, Group.SWEEP)}


def measured_settings(config: dict[str, Any], training: bool) -> dict[str, Any]:
    """Every RunConfig key of ``config`` that can change what is measured, defaults filled in: all but
    :data:`NOT_MEASURED`, :data:`LEFT_OUT_AT_DEFAULT` at their defaults and, for ``training``, how range tests
    measure (:func:`range_test_keys`). Numbers are normalised (1 and 1.0 are one setting); the values are not
    validated."""
    from onecycle.config import RunConfig, field_type

    left_out = set(NOT_MEASURED) | (range_test_keys() if training else set())
    defaults = RunConfig().to_dict()
    settings = {k: v for k, v in {**defaults, **config}.items()
                if k not in left_out and not (k in LEFT_OUT_AT_DEFAULT and v == defaults[k])}
    for k, v in settings.items():
        kind = field_type(k)[0]
        if kind is float and v is not None and not isinstance(v, bool):
            settings[k] = float(v)
        elif kind is list and isinstance(v, (list, tuple)):
            settings[k] = [float(x) for x in v]
    return settings


def make_setup(settings: dict[str, Any]) -> Any:
    """The library's :class:`onecycle.experiment.Setup` for ``settings`` (:class:`~onecycle.config.RunConfig`
    keys): data loaded once, subsets drawn with ``settings``' seed."""
    from onecycle.config import from_dict
    from onecycle.experiment import prepare

    return prepare(from_dict(settings))


def train_policy(setup: Any, max_lr: float, weight_decay: float, evaluate_each_epoch: bool = False) -> TrainState:
    """Train ``setup.cfg.epochs`` epochs of ``setup.cfg``'s schedule peaking at ``max_lr`` (with its seed:
    initialisation and batch order); with ``evaluate_each_epoch`` every epoch's history holds the test loss and
    accuracy (``val_loss``, ``val_accuracy``)."""
    from onecycle.engine import train
    from onecycle.scheduler import PolicyScheduler

    cfg = setup.cfg
    data = setup.batches()
    model = setup.model()
    optimizer = setup.optimizer(model, max_lr, weight_decay)
    scheduler = PolicyScheduler(optimizer, max_lr=max_lr, epochs=cfg.epochs, steps_per_epoch=len(data),
                                **cfg.policy_kwargs())
    val = setup.batches(train=False) if evaluate_each_epoch else None
    return train(TrainState(model, optimizer, scheduler, data, cfg.epochs), loss_fn=setup.loss_fn(), val_data=val,
                 amp_dtype=setup.amp_dtype, clip_grad_norm=cfg.clip_grad_norm, progress=False,
                 log_every=cfg.log_every, compile=cfg.compile)


def in_run_dir(prefix: str, measure: Callable[[Path], dict[str, Any]], start: float) -> dict[str, Any]:
    """What ``measure`` returns for a temporary run directory (named with ``prefix``, removed after), with the wall
    time since ``start`` (a :func:`time.perf_counter` reading) in ``seconds`` and the ``date`` it ended."""
    with tempfile.TemporaryDirectory(prefix=prefix) as tmp:
        out = measure(Path(tmp))
    return {**out, "seconds": round(time.perf_counter() - start, 2),
            "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}


def final_accuracy(setup: Any, state: TrainState) -> float:
    """The test accuracy a run of ``setup`` ended at: its last epoch's, or for a run stopped by a diverged loss that
    of the weights it stopped at (the non-finite step is not taken)."""
    from onecycle.engine import evaluate

    if state.stopped is None:
        return state.history[-1]["val_accuracy"]
    return evaluate(state.model, setup.batches(train=False), setup.loss_fn())["accuracy"]
