"""Divergence-aware 1cycle: on a diverged loss, put back a state kept in memory a little earlier and restart the
cycle with a longer warm-up (the article's advice for a max_lr at the edge of stability), then, if it diverges
again, at a lower max_lr; at most :data:`MAX_RETRIES` times (``on_diverge = "retry"``).

:class:`RetryOnDivergence` is a hook of :func:`onecycle.engine.train`: it keeps a copy of everything a checkpoint
holds (:func:`onecycle.rundir.checkpoint_payload`) every :func:`snapshot_every` steps, the last
:data:`SNAPSHOTS_KEPT` of them, in ``state.kept_states`` (which checkpoints hold, so that a resumed run goes back where
the uninterrupted one would), and when the loop finds a diverged loss (``on_diverged``) it loads the older one
(:func:`onecycle.rundir.load_checkpoint`, from memory), restarts the scheduler's cycle there
(:meth:`onecycle.scheduler.PolicyScheduler.retry`) and records the retry in ``state.retries``.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable
from typing import Any

from onecycle import rundir
from onecycle.engine import TrainState
from onecycle.schedules import rise_end

log = logging.getLogger("onecycle")

ON_DIVERGE = ("stop", "retry")
"""What training does at a diverged loss (the ``on_diverge`` setting): stop, or retry from a state kept in memory."""
MAX_RETRIES = 3
"""The most retries of a run; at the next divergence it stops."""
WARMUP_STRETCH = 2.0
"""How much longer each retry's warm-up is than what the cycle still had to rise (the article's advice)."""
LR_DIVISOR = 1.5
"""What each retry after the first divides the peak by: retry ``n`` of a run that diverged in its warm-up each time
peaks at ``max_lr / LR_DIVISOR ** (n - 1)``."""
SNAPSHOT_PCT = 0.02
"""How often a state is kept in memory, as a share of the planned steps (at least every :data:`SNAPSHOT_LEAST`)."""
SNAPSHOT_LEAST = 10
"""The fewest steps between two states kept: the smoothed loss finds a loss that climbs over several steps only
steps after it began to, and a state kept fewer steps before it is already on the way up (a retry from it diverged
again at once on the 8x8 digits)."""
SNAPSHOTS_KEPT = 2
"""How many kept states are held; a retry puts back the older, 1 to 2 snapshot intervals before the divergence was
found: the newer may already be on its way up."""


def snapshot_every(total_steps: int) -> int:
    """Steps between two states kept in memory in a run of ``total_steps`` steps (:data:`SNAPSHOT_PCT`)."""
    return max(SNAPSHOT_LEAST, round(SNAPSHOT_PCT * total_steps))


def retry_plan(number: int, past_peak: bool = False) -> tuple[float, float]:
    """The warm-up stretch and the lr scale (of the peak before it) of retry ``number`` (from 1): a longer warm-up
    first, then a lower peak as well (:class:`~onecycle.schedules.Restart`). From a state at or past the peak of
    the schedule it followed (``past_peak``) the peak is lowered at once: there a longer warm-up would only climb
    back to the lr that diverged."""
    return WARMUP_STRETCH, 1.0 if number == 1 and not past_peak else 1 / LR_DIVISOR


class RetryOnDivergence:
    """A hook that keeps a state in memory every ``every`` steps (default :func:`snapshot_every` of the scheduler's
    steps) and, at a diverged loss, puts back the older of the last :data:`SNAPSHOTS_KEPT` and restarts the cycle there
    (:func:`retry_plan`), up to ``max_retries`` times; then the loop stops as without it, its reason saying how many
    retries were made. The state it is built with is the first kept (the start of training, or where it resumed from a
    checkpoint that keeps none); one resumed from a checkpoint that keeps states goes on with them. Each retry is
    appended to ``state.retries`` (:data:`onecycle.rundir.RETRY_KEYS`), logged as a warning and handed to
    ``on_retry(state, record)``, which a run directory uses to cut its metrics back to the restored step and write a
    checkpoint. Needs a scheduler with ``retry`` (:class:`~onecycle.scheduler.PolicyScheduler`); states in the middle of
    an epoch are kept only for data that records its position (:class:`~onecycle.loader.Batches`), else at the ends of
    epochs."""

    def __init__(self, state: TrainState, every: int | None = None, max_retries: int = MAX_RETRIES,
                 on_retry: Callable[[TrainState, dict[str, Any]], None] | None = None) -> None:
        if not callable(getattr(state.scheduler, "retry", None)):
            raise TypeError(f"retrying after a diverged loss restarts the scheduler's cycle, and a "
                            f"{type(state.scheduler).__name__} cannot: use a PolicyScheduler")
        self.every = every if every is not None else snapshot_every(state.scheduler.total_steps)
        self.max_retries, self.on_retry = max_retries, on_retry
        if state.kept_states:  # resumed from a checkpoint that holds them: the uninterrupted run's
            self.next_at = self._after(state.kept_states[-1]["step"])
            if state.step >= self.next_at:  # a checkpoint written at a step whose state was kept after it
                self._keep(state)
        else:
            self._keep(state)

    def _after(self, step: int) -> int:
        """The step at which the state after the one kept at ``step`` is due."""
        return (step // self.every + 1) * self.every

    def _keep(self, state: TrainState) -> None:
        kept = state.kept_states
        kept.append(copy.deepcopy(rundir.checkpoint_payload(state, kept=False)))
        del kept[:-SNAPSHOTS_KEPT]
        self.next_at = self._after(state.step)

    def wants_read(self, state: TrainState) -> bool:
        """A read at each step a state is due to be kept."""
        return (state.step + 1) % self.every == 0

    def on_steps(self, state: TrainState, rows: Any) -> bool:
        resumable = hasattr(state.data, "state_dict") and hasattr(state.data, "__len__")
        epoch_end = resumable and state.step == (state.epoch + 1) * len(state.data)  # kept at on_epoch_end
        if state.stopped is None and resumable and not epoch_end and state.step >= self.next_at:
            self._keep(state)
        return False

    def on_epoch_end(self, state: TrainState, metrics: dict[str, Any]) -> bool:
        if state.step >= self.next_at:
            self._keep(state)
        return False

    def on_diverged(self, state: TrainState) -> bool:
        """Put back the older state kept and restart the cycle from it; ``False`` (training stops) after
        ``max_retries`` retries, or when too few steps are left after that state to restart in (the state is then
        the one put back)."""
        number, reason = len(state.retries) + 1, state.stopped or ""
        if number > self.max_retries:
            state.stopped = f"{reason}, after {number - 1} retries (the most on_diverge retry makes)"
            return False
        if state.diverged_step == 1:
            state.stopped = (f"{reason}; no retry: the untrained model's loss is not finite, which no learning rate "
                             "causes (look at the data and the loss)")
            return False
        older, records, detected = state.kept_states[0], state.retries, state.diverged_step
        rundir.load_checkpoint(f"the state kept in memory at step {older['step']}", state, copy.deepcopy(older))
        stretch, scale = retry_plan(number, state.step >= rise_end(state.scheduler.policies[0]))
        try:
            warmup = state.scheduler.retry(stretch, scale)
        except ValueError as err:
            state.stopped = f"{reason}; no retry: {err}"
            return False
        record = {"step": detected, "restored_step": state.step, "warmup_steps": warmup, "reason": reason,
                  "max_lr": state.scheduler.policies[0].lr(state.step + warmup)}
        state.retries = [*records, record]
        state.kept_states = []  # the state put back, restarted, is the one to go back to next
        self._keep(state)
        log.warning("warning: %s", retry_text(record, number, self.max_retries))
        if self.on_retry is not None:
            self.on_retry(state, record)
        return True


def retry_text(record: dict[str, Any], number: int, most: int = MAX_RETRIES) -> str:
    """A retry as the log and the report say it."""
    return (f"retry {number} of {most}: {record['reason']}; went on from step {record['restored_step']} with a "
            f"{record['warmup_steps']}-step warm-up to max_lr {record['max_lr']:.4g}")
