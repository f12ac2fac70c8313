"""The torch adapter: :class:`PolicyScheduler` writes a :class:`~onecycle.schedules.Policy` (1cycle or a baseline)
into an optimizer's param groups at every step; :class:`OneCycleScheduler` is the same for the 1cycle policy, with
the arguments of ``torch.optim.lr_scheduler.OneCycleLR``."""

from __future__ import annotations

import numbers
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch.optim import Optimizer
from torch.optim.lr_scheduler import LRScheduler

from onecycle.schedules import ONE_CYCLE, POLICIES, AnnealStrategy, Policy, Restart, Schedule, policy, restarted

# The settings that define the schedules; they travel in state_dict() so a resumed run rebuilds the same ones.
_SETTINGS = (
    "schedule",
    "momentums",
    "max_lrs",
    "total_steps",
    "pct_start",
    "anneal_strategy",
    "cycle_momentum",
    "base_momentums",
    "max_momentums",
    "div_factor",
    "final_div_factor",
    "three_phase",
    "annihilation_pct",
    "retries",
)
_COUNTERS = ("last_epoch", "_step_count", "_warned_no_momentum", "_warned_past_end")
LEGACY_STATE: dict[str, Any] = {"schedule": "onecycle", "momentums": None, "retries": []}
"""The settings a state_dict() of an older version lacks, with the values it meant (it knew 1cycle only, and no
retries)."""
RETRIES = "retries"
"""The setting that holds the restarts of the cycle made after a diverged loss (:meth:`PolicyScheduler.retry`):
``[step, warmup_stretch, lr_scale]`` each, in order. A run's own record, not one of the settings it was started with."""
_PER_GROUP = ("max_lrs", "base_momentums", "max_momentums")  # and momentums, which may be None
_FLAGS = ("cycle_momentum", "three_phase", "_warned_no_momentum", "_warned_past_end")
_NUMBERS = ("div_factor", "final_div_factor")
_OPTIONAL_NUMBERS = ("pct_start", "annihilation_pct")


def _is_number(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _per_group(name: str, value: float | Sequence[float], n_groups: int) -> list[float]:
    """``value`` for each of ``n_groups`` param groups: one number for all, or a list of one per group."""
    values = list(value) if isinstance(value, (list, tuple)) else [value] * n_groups
    if not all(_is_number(v) for v in values):
        raise ValueError(f"{name} must be a number, or a list of one number per param group, got {value!r}")
    if len(values) != n_groups:
        raise ValueError(f"{name} has {len(values)} values but the optimizer has {n_groups} param groups")
    return [float(v) for v in values]


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _state_problem(state: Mapping[str, Any], n_groups: int, schedules: Sequence[str]) -> str | None:
    """What is wrong with the keys, types and lengths of a :meth:`PolicyScheduler.state_dict` for an optimizer of
    ``n_groups`` param groups and a scheduler that runs ``schedules`` (``None``: nothing); the values' ranges are
    checked by building the policies."""
    unknown = set(state) - {*_SETTINGS, *_COUNTERS}
    if unknown:
        return f"unexpected keys {sorted(unknown, key=str)}"
    missing = [k for k in (*_SETTINGS, *_COUNTERS) if k not in state and k not in LEGACY_STATE]
    if missing:
        return f"missing keys {missing}"
    schedule = state.get("schedule", LEGACY_STATE["schedule"])
    if not isinstance(schedule, str) or schedule not in POLICIES:
        return f"schedule must be one of {', '.join(POLICIES)}, got {schedule!r}"
    if schedule not in schedules:
        return (f"schedule must be {' or '.join(map(repr, schedules))}, got {schedule!r} (the state of a "
                f"PolicyScheduler of another schedule: load it into a PolicyScheduler)")
    lists = {k: state[k] for k in _PER_GROUP}
    if state.get("momentums") is not None:
        lists["momentums"] = state["momentums"]
    for key, value in lists.items():
        if not isinstance(value, (list, tuple)) or not all(_is_number(v) for v in value):
            return f"{key} must be a list of numbers, got {value!r}"
        if len(value) != n_groups:
            return f"{key} has {len(value)} values but the optimizer has {n_groups} param groups"
    for key in _FLAGS:
        if not isinstance(state[key], bool):
            return f"{key} must be true or false, got {state[key]!r}"
    for key in (*_NUMBERS, *_OPTIONAL_NUMBERS):
        if not (_is_number(state[key]) or (key in _OPTIONAL_NUMBERS and state[key] is None)):
            return f"{key} must be a number, got {state[key]!r}"
    retries = state.get(RETRIES, LEGACY_STATE[RETRIES])
    if not (isinstance(retries, (list, tuple)) and all(
            isinstance(r, (list, tuple)) and len(r) == 3 and _is_int(r[0]) and all(map(_is_number, r[1:]))
            for r in retries)):
        return f"retries must be a list of [step, warmup_stretch, lr_scale], got {retries!r}"
    if not isinstance(state["anneal_strategy"], str):
        return f"anneal_strategy must be a string, got {state['anneal_strategy']!r}"
    if not _is_int(state["total_steps"]):
        return f"total_steps must be an integer, got {state['total_steps']!r}"
    if not (_is_int(state["last_epoch"]) and state["last_epoch"] >= -1):
        return f"last_epoch must be an integer >= -1, got {state['last_epoch']!r}"
    if not (_is_int(state["_step_count"]) and state["_step_count"] >= 0):
        return f"_step_count must be an integer >= 0, got {state['_step_count']!r}"
    return None


def _policies(settings: Mapping[str, Any], epochs: int | None = None,
              steps_per_epoch: int | None = None) -> list[Policy]:
    """One policy per param group from the scheduler settings (:data:`_SETTINGS`), restarted as its
    :data:`RETRIES` say (:func:`~onecycle.schedules.restarted`)."""
    momentums = settings["momentums"] or [None] * len(settings["max_lrs"])
    restarts = [Restart(*retry) for retry in settings[RETRIES]]
    return [
        restarted(policy(
            settings["schedule"],
            max_lr=max_lr,
            total_steps=settings["total_steps"],
            epochs=epochs,
            steps_per_epoch=steps_per_epoch,
            pct_start=settings["pct_start"],
            anneal_strategy=settings["anneal_strategy"],
            cycle_momentum=settings["cycle_momentum"],
            base_momentum=base_m,
            max_momentum=max_m,
            div_factor=settings["div_factor"],
            final_div_factor=settings["final_div_factor"],
            three_phase=settings["three_phase"],
            annihilation_pct=settings["annihilation_pct"],
            momentum=m,
        ), restarts)
        for max_lr, base_m, max_m, m in zip(settings["max_lrs"], settings["base_momentums"],
                                            settings["max_momentums"], momentums)
    ]


def momentum_key(group: Mapping[str, Any]) -> str | None:
    """The param-group key that holds momentum: ``betas`` (Adam family, beta1), ``momentum`` (SGD, RMSprop)."""
    if "betas" in group:
        return "betas"
    if "momentum" in group:
        return "momentum"
    return None


def set_group_value(group: dict[str, Any], key: str, value: float) -> None:
    """Write ``value`` into a param group; ``betas`` gets its first entry replaced, tensor values are filled."""
    if key == "betas":
        group["betas"] = (value, *tuple(group["betas"])[1:])
    elif isinstance(group.get(key), torch.Tensor):
        group[key].fill_(value)
    else:
        group[key] = value


class PolicyScheduler(LRScheduler):
    """A :func:`~onecycle.schedules.policy` as a torch LR scheduler; use it like any other scheduler::

        scheduler = PolicyScheduler(optimizer, max_lr=0.1, total_steps=len(loader) * epochs, schedule="cosine")
        for batch in loader:
            loss_fn(model(x), y).backward(); optimizer.step(); optimizer.zero_grad()
            scheduler.step()

    ``schedule`` names the policy (:data:`~onecycle.schedules.POLICIES`, 1cycle by default); the 1cycle arguments
    are those of ``torch.optim.lr_scheduler.OneCycleLR`` (with the reference article's defaults, see
    :func:`onecycle.schedules.one_cycle`) plus ``annihilation_pct``; the baselines use ``div_factor`` of them.
    ``momentum`` is the constant momentum of a policy that does not cycle it (``None``: leave the optimizer's).
    ``schedules`` maps any other param-group key (e.g. ``"weight_decay"``) to a schedule, or to a list with one
    schedule per group.

    Momentum is written to ``momentum`` (SGD, RMSprop) or ``betas[0]`` (Adam family); a group with neither gets
    only its learning rate scheduled, with a one-time warning. ``max_lr``, ``momentum``, ``base_momentum`` and
    ``max_momentum`` may be lists, one value per param group.

    The scheduler counts iterations: call ``step()`` once per iteration, also when a ``GradScaler`` skipped the
    optimizer update, and the schedule stays aligned with the iteration count. Unlike torch's schedulers it does
    not wrap ``optimizer.step`` (so it never warns about the call order), and past ``total_steps`` it holds the
    final values (with one warning) instead of raising.
    """

    SCHEDULES: tuple[str, ...] = tuple(POLICIES)
    """The policies it runs: :meth:`load_state_dict` refuses the state of another."""

    def __init__(
        self,
        optimizer: Optimizer,
        max_lr: float | Sequence[float],
        total_steps: int | None = None,
        epochs: int | None = None,
        steps_per_epoch: int | None = None,
        pct_start: float | None = ONE_CYCLE.pct_start,
        anneal_strategy: AnnealStrategy = ONE_CYCLE.anneal_strategy,
        cycle_momentum: bool = ONE_CYCLE.cycle_momentum,
        base_momentum: float | Sequence[float] = ONE_CYCLE.base_momentum,
        max_momentum: float | Sequence[float] = ONE_CYCLE.max_momentum,
        div_factor: float = ONE_CYCLE.div_factor,
        final_div_factor: float = ONE_CYCLE.final_div_factor,
        three_phase: bool = ONE_CYCLE.three_phase,
        annihilation_pct: float | None = ONE_CYCLE.annihilation_pct,
        schedules: Mapping[str, Schedule | Sequence[Schedule]] | None = None,
        last_epoch: int = -1,
        schedule: str = "onecycle",
        momentum: float | Sequence[float] | None = None,
    ) -> None:
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"{type(optimizer).__name__} is not a torch.optim.Optimizer")
        n = len(optimizer.param_groups)
        self.optimizer = optimizer
        self.max_lrs = _per_group("max_lr", max_lr, n)
        self.base_momentums = _per_group("base_momentum", base_momentum, n)
        self.max_momentums = _per_group("max_momentum", max_momentum, n)
        self.schedule = schedule
        # The constant momentum is a setting only where the policy does not cycle momentum.
        cycled = schedule == "onecycle" and cycle_momentum
        self.momentums = None if momentum is None or cycled else _per_group("momentum", momentum, n)
        self.total_steps = total_steps
        self.epochs, self.steps_per_epoch = epochs, steps_per_epoch
        self.pct_start = pct_start
        self.anneal_strategy = anneal_strategy
        self.cycle_momentum = cycle_momentum
        self.div_factor = div_factor
        self.final_div_factor = final_div_factor
        self.three_phase = three_phase
        self.annihilation_pct = annihilation_pct
        self.retries: list[list[Any]] = []
        self._build()
        self.total_steps = self.policies[0].total_steps
        self.extra_schedules = {
            key: list(s) if isinstance(s, (list, tuple)) else [s] * n for key, s in (schedules or {}).items()
        }
        for key, scheds in self.extra_schedules.items():
            if len(scheds) != n:
                raise ValueError(f"schedules[{key!r}] has {len(scheds)} entries for {n} param groups")
        self._warned_no_momentum = False
        self._warned_past_end = False
        self.base_lrs = [p.lr(0) for p in self.policies]
        for group, lr0 in zip(optimizer.param_groups, self.base_lrs):
            group.setdefault("initial_lr", lr0)
        # Like LRScheduler.__init__, minus the wrapping of optimizer.step.
        self.last_epoch = last_epoch
        self._initial_step()

    def _build(self) -> None:
        self.policies: list[Policy] = _policies({k: getattr(self, k) for k in _SETTINGS}, self.epochs,
                                                self.steps_per_epoch)

    def retry(self, warmup_stretch: float, lr_scale: float) -> int:
        """Restart the cycle at the current step after a diverged loss (the state restored to an earlier step
        first, this scheduler's among it): a longer warm-up from the lr of this step to ``max_lr x lr_scale``, then
        the phases after the peak compressed into the steps left (:func:`~onecycle.schedules.restarted`), written
        into the optimizer at once. Returns the steps of the new warm-up; a restart the steps left cannot hold is a
        ``ValueError``, and the schedule stays as it was."""
        step = self.last_epoch
        retries = [*self.retries, [step, float(warmup_stretch), float(lr_scale)]]
        policies = _policies({**{k: getattr(self, k) for k in _SETTINGS}, RETRIES: retries}, self.epochs,
                             self.steps_per_epoch)
        self.retries, self.policies = retries, policies
        self._apply(step)
        return round(next(end for end in policies[0].phase_ends if end > step) - step)

    def step(self, epoch: None = None) -> None:  # type: ignore[override]
        """Advance one iteration and write lr, momentum and any extra scheduled values into the optimizer."""
        if epoch is not None:
            raise TypeError(f"{type(self).__name__}.step() takes no epoch; it counts iterations")
        self._step_count += 1
        self.last_epoch += 1
        if self.last_epoch > self.total_steps and not self._warned_past_end:
            self._warned_past_end = True
            warnings.warn(
                f"{type(self).__name__} stepped past total_steps={self.total_steps}; holding the final values",
                UserWarning,
                stacklevel=2,
            )
        self._apply(self.last_epoch)

    def _apply(self, step: int) -> None:
        for i, (group, p) in enumerate(zip(self.optimizer.param_groups, self.policies)):
            set_group_value(group, "lr", p.lr(step))
            if p.momentum is not None:
                key = momentum_key(group)
                if key is not None:
                    set_group_value(group, key, p.momentum(step))
                elif not self._warned_no_momentum:
                    self._warned_no_momentum = True
                    warnings.warn(
                        f"{type(self.optimizer).__name__} has neither 'momentum' nor 'betas'; "
                        f"{type(self).__name__} schedules only its learning rate",
                        UserWarning,
                        stacklevel=3,
                    )
            for key, scheds in self.extra_schedules.items():
                set_group_value(group, key, scheds[i](step))
        self._last_lr = [group["lr"] for group in self.optimizer.param_groups]

    def get_lr(self) -> list[float]:
        """The learning rates for the current step (no side effects)."""
        return [p.lr(self.last_epoch) for p in self.policies]

    def get_last_momentum(self) -> list[float | None]:
        """The momentum (or beta1) values written at the current step, ``None`` where not scheduled."""
        return [None if p.momentum is None else p.momentum(self.last_epoch) for p in self.policies]

    def state_dict(self) -> dict[str, Any]:
        """Plain values only (loadable with ``torch.load(..., weights_only=True)``); extra schedules are not
        saved: pass the same ``schedules`` when you rebuild the scheduler."""
        return {key: getattr(self, key) for key in (*_SETTINGS, *_COUNTERS)}

    @staticmethod
    def settings(state_dict: Mapping[str, Any]) -> dict[str, Any]:
        """The settings held in a :meth:`state_dict` (an older version's too, see :data:`LEGACY_STATE`)."""
        unknown = set(state_dict) - {*_SETTINGS, *_COUNTERS}
        if unknown:
            raise ValueError(f"not a PolicyScheduler state: unexpected keys {sorted(unknown, key=str)}")
        return {**LEGACY_STATE, **{k: v for k, v in state_dict.items() if k in _SETTINGS}}

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """Restore the settings and the step count, and write the values of that step into the optimizer.

        The whole state is checked first (keys, types, one value per param group, values the policy accepts): a
        bad one is a ``ValueError`` that names the problem, and leaves the scheduler and the optimizer as they
        were."""
        name = type(self).__name__
        if not isinstance(state_dict, Mapping):
            raise ValueError(f"not a {name} state: expected a mapping, got {type(state_dict).__name__}")
        problem = _state_problem(state_dict, len(self.optimizer.param_groups), self.SCHEDULES)
        if problem is None:
            settings = self.settings(state_dict)
            try:
                policies = _policies(settings)
            except (TypeError, ValueError) as err:
                problem = str(err)
        if problem is not None:
            raise ValueError(f"not a valid {name} state: {problem}")
        for key, value in {**state_dict, **settings}.items():
            if key == RETRIES:
                value = [[int(step), float(stretch), float(scale)] for step, stretch, scale in value]
            elif isinstance(value, (list, tuple)):
                value = [float(v) for v in value]
            setattr(self, key, value)
        self.epochs = self.steps_per_epoch = None
        self.policies = policies
        self.base_lrs = [p.lr(0) for p in self.policies]
        self._apply(self.last_epoch)


class OneCycleScheduler(PolicyScheduler):
    """The 1cycle policy as a torch LR scheduler (a :class:`PolicyScheduler` with ``schedule="onecycle"``)::

        scheduler = OneCycleScheduler(optimizer, max_lr=0.1, total_steps=len(loader) * epochs)

    Arguments are those of ``torch.optim.lr_scheduler.OneCycleLR`` (with the reference article's defaults, see
    :func:`onecycle.schedules.one_cycle`) plus ``annihilation_pct`` and ``schedules`` (see
    :class:`PolicyScheduler`); with the same arguments it writes exactly torch's values. With
    ``cycle_momentum=False`` momentum is left as the optimizer has it.
    """

    SCHEDULES = ("onecycle",)

    def __init__(
        self,
        optimizer: Optimizer,
        max_lr: float | Sequence[float],
        total_steps: int | None = None,
        epochs: int | None = None,
        steps_per_epoch: int | None = None,
        pct_start: float | None = ONE_CYCLE.pct_start,
        anneal_strategy: AnnealStrategy = ONE_CYCLE.anneal_strategy,
        cycle_momentum: bool = ONE_CYCLE.cycle_momentum,
        base_momentum: float | Sequence[float] = ONE_CYCLE.base_momentum,
        max_momentum: float | Sequence[float] = ONE_CYCLE.max_momentum,
        div_factor: float = ONE_CYCLE.div_factor,
        final_div_factor: float = ONE_CYCLE.final_div_factor,
        three_phase: bool = ONE_CYCLE.three_phase,
        annihilation_pct: float | None = ONE_CYCLE.annihilation_pct,
        schedules: Mapping[str, Schedule | Sequence[Schedule]] | None = None,
        last_epoch: int = -1,
    ) -> None:
        super().__init__(optimizer, max_lr, total_steps, epochs, steps_per_epoch, pct_start, anneal_strategy,
                         cycle_momentum, base_momentum, max_momentum, div_factor, final_div_factor, three_phase,
                         annihilation_pct, schedules, last_epoch)
