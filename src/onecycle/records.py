"""Reading results back (finder.json, sweep.json): every value checked against what it must be, so that a damaged
or hand-edited file is one ``ValueError`` naming the key (``recommendation.max_lr``, ``curves[0].lrs``), never a
``TypeError`` from deep inside, and never a value that reaches training. The ``from_dict`` methods of the results
use these; their ``load_json`` adds the file's name."""

from __future__ import annotations

import math
import numbers
import reprlib
from collections.abc import Callable, Iterable, Mapping
from typing import Any

_SHOWN = reprlib.Repr()
_SHOWN.maxstring = _SHOWN.maxother = _SHOWN.maxlong = 60


def shown(value: Any) -> str:
    """``repr(value)`` cut short: a value from a file may be a megabyte long or nested a thousand deep."""
    return _SHOWN.repr(value)


Origins = Mapping[str, str]
"""Where each setting's value came from, as a phrase: ``"from run.toml"``, ``"from --epochs"``; a setting left
out took its default."""


def naming(value_of: Callable[[str], Any], origins: Origins | None) -> Callable[[str], str]:
    """How a check of settings against each other names one: ``said("epochs")`` is ``"epochs 4 (from --epochs)"``,
    its value ``value_of("epochs")`` (without the parenthesis when where the values came from is not known)."""
    def said(key: str) -> str:
        where = "" if origins is None else f" ({origins.get(key, 'default')})"
        return f"{key} {shown(value_of(key))}{where}"
    return said


def _bad(where: str, expected: str, value: Any) -> ValueError:
    return ValueError(f"{where} must be {expected}, got {shown(value)}")


def table(value: Any, where: str, required: Iterable[str] = (), allowed: Iterable[str] | None = None) -> dict[str, Any]:
    """``value`` as a dict of string keys holding every key of ``required`` and, when ``allowed`` is given, no key
    outside ``required`` and ``allowed``."""
    if not isinstance(value, Mapping) or not all(isinstance(k, str) for k in value):
        raise _bad(where, "an object", value)
    missing = sorted(set(required) - set(value))
    if missing:
        raise ValueError(f"{where} is missing the key(s) {', '.join(missing)}")
    if allowed is not None:
        known = set(required) | set(allowed)
        unknown = sorted(shown(k) for k in value if k not in known)
        if unknown:
            raise ValueError(f"{where} has unknown key(s) {', '.join(unknown)} (expected {', '.join(sorted(known))})")
    return dict(value)


def key(where: str, name: str) -> str:
    """The name of key ``name`` inside ``where`` (``recommendation.max_lr``; ``name`` alone at the top)."""
    return f"{where}.{name}" if where else name


def _is_number(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def number(value: Any, where: str, *, optional: bool = False, finite: bool = True, at_least: float | None = None,
           at_most: float | None = None, positive: bool = False) -> float | None:
    """``value`` as a float (``None`` allowed with ``optional``): a number (not a bool, not a string), finite unless
    ``finite=False``, ``> 0`` with ``positive``, ``>= at_least`` and ``<= at_most`` when given."""
    if value is None and optional:
        return None
    parts = ["a finite number" if finite else "a number"]
    if positive:
        parts.append("> 0")
    if at_least is not None and at_most is not None:
        parts.append(f"from {at_least:g} to {at_most:g}")
    elif at_least is not None:
        parts.append(f">= {at_least:g}")
    elif at_most is not None:
        parts.append(f"<= {at_most:g}")
    expected = " ".join(parts) + (" or null" if optional else "")
    if not _is_number(value):
        raise _bad(where, expected, value)
    try:
        v = float(value)
    except OverflowError:  # an integer too large for a float: a JSON file may hold one of 400 digits
        v = math.inf if value > 0 else -math.inf
    if ((finite and not math.isfinite(v)) or (positive and not v > 0) or (at_least is not None and not v >= at_least)
            or (at_most is not None and not v <= at_most)):
        raise _bad(where, expected, value)
    return v


def number_or_none(value: Any) -> float | None:
    """``value`` as a float when :func:`number` accepts it (a finite number), else ``None``: for readers that show
    what a file holds rather than refuse it (a report of a config.json written by hand)."""
    try:
        return number(value, "value")
    except ValueError:
        return None


def integer(value: Any, where: str, at_least: int = 0) -> int:
    """``value`` as an int ``>= at_least`` (not a bool, not a float)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < at_least:
        raise _bad(where, f"an integer >= {at_least}", value)
    return int(value)


def flag(value: Any, where: str) -> bool:
    """``value``, which must be ``true`` or ``false``."""
    if not isinstance(value, bool):
        raise _bad(where, "true or false", value)
    return value


def text(value: Any, where: str) -> str:
    """``value``, which must be a string."""
    if not isinstance(value, str):
        raise _bad(where, "a string", value)
    return value


def items(value: Any, where: str, *, non_empty: bool = False) -> list[Any]:
    """``value`` as a list (a JSON array), non-empty when asked."""
    if not isinstance(value, (list, tuple)) or (non_empty and not value):
        raise _bad(where, "a non-empty list" if non_empty else "a list", value)
    return list(value)


def numbers_list(value: Any, where: str, **kwargs: Any) -> list[float]:
    """``value`` as a list of floats, each checked by :func:`number` with ``kwargs``."""
    return [number(v, f"{where}[{i}]", **kwargs) for i, v in enumerate(items(value, where))]  # type: ignore[misc]


def texts(value: Any, where: str) -> list[str]:
    """``value`` as a list of strings."""
    return [text(v, f"{where}[{i}]") for i, v in enumerate(items(value, where))]


def within(value: float | None, where: str, low: float, high: float, what: str) -> None:
    """Raise a ``ValueError`` naming ``where`` unless ``value`` is ``None`` or within ``[low, high]`` (to within
    rounding); ``what`` says what the range is."""
    if value is not None and not low * (1 - 1e-9) <= value <= high * (1 + 1e-9):
        raise ValueError(f"{where} is {value:.6g}, outside {what} ({low:.6g} to {high:.6g})")
