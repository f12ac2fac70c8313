"""Reading a benchmark's results file back value by value, before a report is built from it: what each key must
hold, declared as a nested structure, and one :class:`~benchmarks.common.cli.BenchmarkError` naming the file, the
key, the value and what was expected (``cases[3].best.accuracy must be a number in [0, 1], got nan``) for the
first that does not fit. The values themselves are checked by :mod:`onecycle.records`, as the library's own result
files are.

A spec is a check (``check(value, where)``, raising ``ValueError``), a dict (an object holding those keys; a key
wrapped in :class:`OptionalKey` may be left out, other keys are allowed), a one-element list (a list of such items),
:class:`Each` (an object of any keys, each value one spec) or :class:`Nullable` (that spec, or null)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from onecycle import records

Check = Callable[[Any, str], Any]


@dataclass(frozen=True)
class OptionalKey:
    """A key that may be left out of its object."""

    name: str


@dataclass(frozen=True)
class Each:
    """An object of any keys (of those in ``keys``, when given), each value fitting ``spec``."""

    spec: Any
    keys: tuple[str, ...] | None = None


@dataclass(frozen=True)
class Nullable:
    """``spec``, or null."""

    spec: Any


def number(**kwargs: Any) -> Check:
    """A number, as :func:`onecycle.records.number` checks it with ``kwargs`` (``positive``, ``at_least``...)."""
    return lambda value, where: records.number(value, where, **kwargs)


def fraction(value: Any, where: str) -> float:
    """A number in [0, 1] (an accuracy)."""
    try:
        v = records.number(value, where, at_least=0.0)
    except ValueError:
        v = None
    if v is None or v > 1.0:
        raise ValueError(f"{where} must be a number in [0, 1], got {records.shown(value)}")
    return v


def integer(at_least: int = 0) -> Check:
    """An integer ``>= at_least``."""
    return lambda value, where: records.integer(value, where, at_least)


def one_of(choices: tuple[str, ...]) -> Check:
    """One of the strings ``choices``."""
    def check_choice(value: Any, where: str) -> str:
        if value not in choices:
            raise ValueError(f"{where} must be one of {', '.join(choices)}, got {records.shown(value)}")
        return value
    return check_choice


def file_name(value: Any, where: str) -> str:
    """The name of a file or directory beside the report (no path, not empty, not ``.`` or ``..``)."""
    if not isinstance(value, str) or value in ("", ".", "..") or Path(value).name != value:
        raise ValueError(f"{where} must be the name of a directory beside the report, got {records.shown(value)}")
    return value


LR = number(positive=True)
"""A learning rate: a finite number > 0."""
SECONDS = number(at_least=0.0)
"""A duration in seconds: a finite number >= 0."""
TEXT: Check = records.text
FLAG: Check = records.flag
COUNT = integer()


def recommendation(value: Any, where: str) -> None:
    """A range test's recommendation, as :meth:`onecycle.suggestions.Recommendation.from_dict` reads it."""
    from onecycle.suggestions import Recommendation

    Recommendation.from_dict(value, where)


def check(value: Any, spec: Any, where: str = "", whole: str = "the file") -> None:
    """Raise a ``ValueError`` naming the key (``where`` is the key of ``value``; ``whole`` names ``value`` where
    it is the whole, at no key) unless ``value`` fits ``spec``."""
    if isinstance(spec, Nullable):
        if value is not None:
            check(value, spec.spec, where, whole)
    elif isinstance(spec, Each):
        for name, item in records.table(value, where or whole, allowed=spec.keys).items():
            check(item, spec.spec, records.key(where, name))
    elif isinstance(spec, dict):
        required = [k for k in spec if not isinstance(k, OptionalKey)]
        table = records.table(value, where or whole, required)
        for k, item_spec in spec.items():
            name = k.name if isinstance(k, OptionalKey) else k
            if name in table:
                check(table[name], item_spec, records.key(where, name))
    elif isinstance(spec, list):
        for i, item in enumerate(records.items(value, where or whole)):
            check(item, spec[0], f"{where}[{i}]")
    else:
        spec(value, where)


def validate(data: Any, spec: Any, path: Path, *more: Callable[[Any], None]) -> None:
    """Raise a :class:`~benchmarks.common.cli.BenchmarkError` naming ``path`` and the first value of ``data`` that
    does not fit ``spec``, with what it must be; then the same for the first ``ValueError`` of the checks ``more``
    (of values against each other: a case named twice...), given ``data`` once it fits."""
    from benchmarks.common.cli import BenchmarkError

    try:
        check(data, spec)
        for extra in more:
            extra(data)
    except ValueError as err:
        raise BenchmarkError(f"{path} is damaged: {err}") from None
