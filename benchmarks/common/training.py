"""One training run of a benchmark: the settings of a :class:`~onecycle.config.RunConfig`, its schedule
(1cycle or a baseline), the library's own data, model, optimizer, scheduler and training loop."""

from __future__ import annotations

from typing import Any

from onecycle.engine import TrainState


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
