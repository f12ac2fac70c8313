"""Sweeps: one range test per value of a hyper-parameter (weight decay, dropout, momentum, batch size...), under
identical conditions, and the rule that picks a value.

The article's advice: run the finder for a few values of weight decay and take the largest one that still allows
training at a high learning rate. :func:`pick` makes that explicit:

1. ``best_lr`` is the highest recommended ``max_lr`` among the values, ``best_loss`` the lowest loss reached
   (the minimum of each curve's zero-phase smoothed loss);
2. a value is *eligible* when its recommended ``max_lr >= best_lr / lr_tolerance`` and its reached loss is
   ``<= best_loss + loss_tolerance * |best_loss|``;
3. the pick is the largest eligible value (values compare as numbers).

With the defaults (``lr_tolerance=2``, ``loss_tolerance=0.1``) a regulariser is raised as long as it costs at most
a factor of 2 in learning rate and 10% in reached loss.
"""

from __future__ import annotations

import math
import numbers
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import nn
from tqdm.auto import tqdm

from onecycle import records, rundir
from onecycle.range_test import RangeTestResult, check_seed, preserved, range_test
from onecycle.scheduler import momentum_key, set_group_value

if TYPE_CHECKING:
    from matplotlib.figure import Figure

Build = Callable[[Any], tuple[nn.Module, torch.optim.Optimizer, Iterable[Any]]]

SWEEPABLE = ("weight_decay", "momentum")
"""The hyper-parameters :func:`sweep` sets on every torch optimizer without ``build`` (``momentum`` is ``betas[0]``
in the Adam family); other param-group keys work where the optimizer has them."""


def reached_loss(result: RangeTestResult) -> float:
    """The lowest loss the first curve reached, read off its zero-phase smoothed (unshifted) losses."""
    filtered = result.curves[0].filtered
    return float(min(filtered)) if filtered else math.inf


@dataclass
class SweepResult:
    """One range-test result per value, and the value the rule picks (``None`` when none is eligible)."""

    param: str
    values: list[Any]
    results: list[RangeTestResult]
    pick: Any
    eligible: list[bool]
    rule: dict[str, float] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)  # what the sweep ran under, for reuse checks

    @property
    def max_lrs(self) -> list[float | None]:
        return [r.max_lr for r in self.results]

    @property
    def reached_losses(self) -> list[float]:
        return [reached_loss(r) for r in self.results]

    @property
    def recommended(self) -> RangeTestResult | None:
        """The range-test result of the picked value."""
        return None if self.pick is None else self.results[self.values.index(self.pick)]

    def __str__(self) -> str:
        """What a person reads: how each value's range test ended (``RangeTestResult.endings``), then a table of
        each value's recommended max_lr, reached loss and eligibility, and the pick."""
        lines = [f"{self.param} {value:g}: {line}" for value, result in zip(self.values, self.results)
                 for line in result.endings()]
        lines.append(f"{self.param:>14} {'max_lr':>9} {'reached loss':>13}  eligible")
        for value, lr, loss, ok in zip(self.values, self.max_lrs, self.reached_losses, self.eligible):
            mark = "  <- pick" if value == self.pick else ""
            lr_text = "-" if lr is None else f"{lr:.3g}"
            lines.append(f"{value:>14g} {lr_text:>9} {loss:>13.4f}  {'yes' if ok else 'no'}{mark}")
        lines.append(f"pick: {self.param}={self.pick}" if self.pick is not None else "pick: none eligible")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        return {"param": self.param, "values": self.values, "results": [r.to_dict() for r in self.results],
                "pick": self.pick, "eligible": self.eligible, "rule": self.rule, "settings": self.settings}

    @classmethod
    def from_dict(cls, data: Any, params: Sequence[str] | None = None) -> SweepResult:
        """The inverse of :meth:`to_dict`, every value checked: a damaged or hand-edited sweep raises one
        ``ValueError`` naming the key (``pick``, ``results[1].recommendation.max_lr``...). The values must be
        distinct, the pick the largest eligible value (``null`` when none is), and the param one of ``params`` when
        given (:data:`SWEEPABLE`: what a run can take from the sweep)."""
        d = records.table(data, "the sweep", ("param", "values", "results", "pick", "eligible"), ("rule", "settings"))
        param = records.text(d["param"], "param")
        if not param or (params is not None and param not in params):
            allowed = f"one of {', '.join(params)}" if params is not None else "the name of a hyper-parameter"
            raise ValueError(f"param must be {allowed}, got {records.shown(param)}")
        values = records.numbers_list(d["values"], "values")
        twice = sorted({v for v in values if values.count(v) > 1})
        if twice:
            raise ValueError(f"values must be distinct, got {records.shown(values)}: {', '.join(map(repr, twice))} "
                             "more than once")
        results = [RangeTestResult.from_dict(r, f"results[{i}]") for i, r in enumerate(records.items(d["results"],
                                                                                                   "results"))]
        eligible = [records.flag(v, f"eligible[{i}]") for i, v in enumerate(records.items(d["eligible"], "eligible"))]
        if not len(values) == len(results) == len(eligible):
            raise ValueError(f"values, results and eligible must be of one length, got {len(values)}, {len(results)} "
                             f"and {len(eligible)}")
        pick = records.number(d["pick"], "pick", optional=True)
        _check_pick(pick, values, eligible)
        rule = {name: records.number(v, f"rule.{name}") for name, v in records.table(d.get("rule", {}), "rule").items()}
        return cls(param, values, results, pick, eligible, rule, records.table(d.get("settings", {}), "settings"))

    def save_json(self, path: str | Path) -> None:
        rundir.write_json(Path(path), self.to_dict())

    @classmethod
    def load_json(cls, path: str | Path, params: Sequence[str] | None = None) -> SweepResult:
        """The sweep in ``path``; a file that is not JSON, or not a valid sweep (see :meth:`from_dict`, ``params``), is
        one ``ValueError`` naming the file (and the key)."""
        data = rundir.read_json(Path(path))
        try:
            return cls.from_dict(data, params)
        except ValueError as err:
            raise ValueError(f"{path} is not a valid sweep result: {err}") from None

    def plot(self, out: str | Path | None = None) -> Figure:
        """All curves overlaid; see :func:`onecycle.plots.plot_sweep`."""
        from onecycle.plots import plot_sweep

        return plot_sweep(self, out)


def _check_pick(chosen: float | None, values: list[float], eligible: list[bool]) -> None:
    """Raise ``ValueError`` unless ``chosen`` is what the rule picks given ``eligible``: the largest eligible value,
    ``None`` when no value is eligible."""
    candidates = [v for v, ok in zip(values, eligible) if ok]
    expected = max(candidates) if candidates else None
    if chosen is not None and chosen not in values:
        raise ValueError(f"pick {chosen:g} is not one of the values")
    if chosen is not None and expected is None:
        raise ValueError(f"pick is {chosen:g}, but no value is eligible (eligible is all false): it must be null")
    if chosen != expected:
        raise ValueError(f"pick is {'null' if chosen is None else f'{chosen:g}'}, but the largest eligible value is "
                         f"{expected:g}: the pick is the largest eligible value")


def pick(
    values: Sequence[Any],
    max_lrs: Sequence[float | None],
    reached: Sequence[float],
    lr_tolerance: float = 2.0,
    loss_tolerance: float = 0.1,
) -> tuple[Any, list[bool]]:
    """The rule of this module (see its docstring): the largest value whose recommended max_lr and reached loss
    are within tolerance of the best. Returns the pick (``None`` if no value qualifies) and the eligibility of
    each value."""
    if not (len(values) == len(max_lrs) == len(reached)):
        raise ValueError("values, max_lrs and reached losses must have the same length")
    _check_tolerances(lr_tolerance, loss_tolerance)
    lrs_ok = [lr for lr in max_lrs if lr is not None and math.isfinite(lr)]
    losses_ok = [loss for loss in reached if math.isfinite(loss)]
    if not lrs_ok or not losses_ok:
        return None, [False] * len(values)
    best_lr, best_loss = max(lrs_ok), min(losses_ok)
    eligible = [
        lr is not None and lr >= best_lr / lr_tolerance and loss <= best_loss + loss_tolerance * abs(best_loss)
        for lr, loss in zip(max_lrs, reached)
    ]
    candidates = [v for v, ok in zip(values, eligible) if ok]
    return (max(candidates) if candidates else None), eligible


def _real(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _check_tolerances(lr_tolerance: Any, loss_tolerance: Any) -> None:
    if not (_real(lr_tolerance) and 1 <= lr_tolerance < math.inf):
        raise ValueError(f"lr_tolerance must be a finite number >= 1, got {records.shown(lr_tolerance)}")
    if not (_real(loss_tolerance) and 0 <= loss_tolerance < math.inf):
        raise ValueError(f"loss_tolerance must be a finite number >= 0, got {records.shown(loss_tolerance)}")


def _check_param(param: Any, optimizer: torch.optim.Optimizer | None) -> None:
    """Raise ``ValueError`` unless :func:`sweep` can sweep ``param``: any name with ``build``, else (``optimizer``
    given) a number every param group holds (``momentum``: beta1 in the Adam family)."""
    if not isinstance(param, str) or not param:
        raise ValueError(f"param must be the name of a hyper-parameter, got {records.shown(param)}")
    if param in ("lr", "initial_lr"):
        raise ValueError("the range test sets the learning rate itself; sweep another hyper-parameter")
    if optimizer is None:
        return
    for group in optimizer.param_groups:
        key = momentum_key(group) if param == "momentum" else param
        if key is None or key not in group or (param != "momentum" and not _real(group[key])
                                               and not isinstance(group[key], torch.Tensor)):
            raise ValueError(f"the optimizer's param groups have no number {param!r} to set (on any torch optimizer: "
                             f"{', '.join(SWEEPABLE)}; momentum is beta1 in the Adam family); pass build=... to sweep "
                             "it")


def _set_groups(optimizer: torch.optim.Optimizer, param: str, value: float) -> None:
    for group in optimizer.param_groups:
        set_group_value(group, momentum_key(group) if param == "momentum" else param, value)  # type: ignore[arg-type]


def sweep(
    param: str,
    values: Sequence[Any],
    model: nn.Module | None = None,
    optimizer: torch.optim.Optimizer | None = None,
    data: Iterable[Any] | None = None,
    loss_fn: Callable[..., torch.Tensor] | None = None,
    *,
    build: Build | None = None,
    seed: int = 0,
    lr_tolerance: float = 2.0,
    loss_tolerance: float = 0.1,
    **range_test_kwargs: Any,
) -> SweepResult:
    """Run :func:`~onecycle.range_test.range_test` once per value and pick one by the module's rule.

    Optimizer hyper-parameters (``"weight_decay"``, ``"momentum"``: beta1 for Adam...) are set on every param group
    of ``optimizer`` for each run and put back afterwards; each run starts from the same weights and optimizer
    state, the same RNG seed (``seed``) and the same batch order. With ``progress=True`` (a range-test argument) a
    line on stderr names each value before its progress bar. For anything that needs a rebuild (dropout,
    batch size, architecture) pass ``build(value) -> (model, optimizer, data)``: it is called after
    ``torch.manual_seed(seed)``, so a model built inside it starts from the same initial weights each time.

    Before any test, one ``ValueError`` names what cannot be swept: ``values`` that are not distinct finite
    numbers, the learning rate (the range test sets it), a ``param`` the optimizer's param groups do not hold as a
    number (without ``build``), a bad ``seed`` or tolerance.
    """
    if isinstance(values, (str, bytes)) or not isinstance(values, Sequence) or not all(
            _real(v) and math.isfinite(v) for v in values):
        raise ValueError(f"values must be a list of finite numbers, got {records.shown(values)}")
    if not values:
        raise ValueError("values must not be empty")
    if len(set(values)) != len(values):
        raise ValueError(f"values must be distinct, got {records.shown(list(values))}")
    if build is None and (model is None or optimizer is None or data is None or loss_fn is None):
        raise ValueError("give model, optimizer, data and loss_fn, or build=...")
    _check_param(param, optimizer if build is None else None)
    check_seed(seed)
    _check_tolerances(lr_tolerance, loss_tolerance)
    range_test_kwargs.setdefault("seed", seed)

    results = []
    for i, value in enumerate(values):
        if range_test_kwargs.get("progress"):  # which of the range tests the progress bar below is
            tqdm.write(f"sweep {i + 1}/{len(values)}: {param}={value}", file=sys.stderr)
        if build is not None:
            torch.manual_seed(seed)
            m, opt, d = build(value)
            results.append(range_test(m, opt, d, loss_fn, **range_test_kwargs))
            continue
        with preserved(model, optimizer):
            _set_groups(optimizer, param, value)
            torch.manual_seed(seed)
            results.append(range_test(model, optimizer, data, loss_fn, **range_test_kwargs))
    chosen, eligible = pick(values, [r.max_lr for r in results], [reached_loss(r) for r in results],
                            lr_tolerance, loss_tolerance)
    return SweepResult(param, list(values), results, chosen, eligible,
                       {"lr_tolerance": lr_tolerance, "loss_tolerance": loss_tolerance})
