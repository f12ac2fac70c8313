"""The learning-rate suggestions of fastai, pytorch-lr-finder and PyTorch Lightning, re-implemented from their
descriptions as functions of one range-test curve ``(lrs, losses)``."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np


def _finite_prefix(lrs: Sequence[float], losses: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    lr, y = np.asarray(lrs, dtype=float), np.asarray(losses, dtype=float)
    bad = np.flatnonzero(~np.isfinite(y))
    n = int(bad[0]) if len(bad) else len(y)
    return lr[:n], y[:n]


def debiased_ema(losses: np.ndarray, beta: float = 0.98) -> np.ndarray:
    """The running average fastai and Lightning record during their range tests (bias-corrected EMA)."""
    out, avg = np.empty(len(losses)), 0.0
    for i, value in enumerate(losses):
        avg = beta * avg + (1 - beta) * value
        out[i] = avg / (1 - beta ** (i + 1))
    return out


def seeded_ema(losses: np.ndarray, smooth_f: float = 0.05) -> np.ndarray:
    """pytorch-lr-finder's smoothing: the first loss as is, then ``smooth_f * loss + (1 - smooth_f) * prev``."""
    out = np.empty(len(losses))
    for i, value in enumerate(losses):
        out[i] = value if i == 0 else smooth_f * value + (1 - smooth_f) * out[i - 1]
    return out


def _fastai_curve(lrs: Sequence[float], losses: Sequence[float], num_steps: int) -> tuple[np.ndarray, np.ndarray]:
    """fastai reads its recorded (smoothed) losses without the first tenth of the planned steps and the last 5."""
    lr, y = _finite_prefix(lrs, losses)
    y = debiased_ema(y)
    skip = num_steps // 10
    return lr[skip:-5], y[skip:-5]


def fastai_minimum(lrs: Sequence[float], losses: Sequence[float], num_steps: int = 100) -> float | None:
    """fastai ``minimum``: the lr of the lowest recorded loss, divided by 10."""
    lr, y = _fastai_curve(lrs, losses, num_steps)
    return float(lr[int(np.argmin(y))] / 10) if len(y) else None


def fastai_steep(lrs: Sequence[float], losses: Sequence[float], num_steps: int = 100) -> float | None:
    """fastai ``steep``: the lr where the recorded loss falls fastest per unit of log lr (forward differences)."""
    lr, y = _fastai_curve(lrs, losses, num_steps)
    if len(y) < 2:
        return None
    slopes = np.diff(y) / np.diff(np.log(lr))
    return float(lr[int(np.argmin(slopes))])


def fastai_valley(lrs: Sequence[float], losses: Sequence[float], num_steps: int = 100) -> float | None:
    """fastai ``valley``: find the longest decreasing subsequence of the recorded loss, treat it as the span
    from its start to its end index, and take the lr half way along it (index
    ``start + floor(span / 3) + floor(span / 6)``)."""
    lr, y = _fastai_curve(lrs, losses, num_steps)
    n = len(y)
    if n < 2:
        return None
    length = np.ones(n, dtype=int)  # longest strictly decreasing subsequence ending at each point
    for i in range(1, n):
        before = length[:i][y[:i] > y[i]]
        if len(before):
            length[i] = before.max() + 1
    end = int(np.argmax(length))
    start = end - int(length[end]) + 1
    third = (end - start) / 3
    return float(lr[start + int(third) + int(third / 2)])


def fastai_slide(lrs: Sequence[float], losses: Sequence[float], num_steps: int = 100, lr_diff: int = 15,
                 thresh: float = 0.005, adjust_value: float = 1.0) -> float | None:
    """fastai ``slide``: slide a window of ``lr_diff`` points leftwards from the right end of the recorded loss
    until the loss gradients (per step) at its two ends agree within ``thresh``; the answer is the lr at the
    window's left end just before that (at the starting window if it already agrees)."""
    lr, y = _fastai_curve(lrs, losses, num_steps)
    if len(y) <= lr_diff:
        return None
    grad = np.gradient(y)
    right = len(y) - 1
    left = right - lr_diff
    answer = lr[left]
    while left >= 0 and abs(grad[right] - grad[left]) > thresh:
        answer = lr[left]
        right, left = right - 1, left - 1
    return float(answer * adjust_value)


def _steepest_per_step(lrs: Sequence[float], losses: Sequence[float], smooth: Callable[[np.ndarray], np.ndarray],
                       skip_start: int, skip_end: int) -> float | None:
    """The lr of the steepest per-step gradient of the smoothed finite prefix, after dropping ``skip_start``
    points at the start and ``skip_end`` at the end (the shared core of pytorch-lr-finder and Lightning)."""
    lr, y = _finite_prefix(lrs, losses)
    y = smooth(y)
    lr, y = lr[skip_start:len(lr) - skip_end], y[skip_start:len(y) - skip_end]
    if len(y) < 2:
        return None
    return float(lr[int(np.argmin(np.gradient(y)))])


def lr_finder_steepest(lrs: Sequence[float], losses: Sequence[float], skip_start: int = 10,
                       skip_end: int = 5) -> float | None:
    """pytorch-lr-finder's suggestion: the steepest per-step gradient of its smoothed loss after dropping the
    first ``skip_start`` and last ``skip_end`` points."""
    return _steepest_per_step(lrs, losses, seeded_ema, skip_start, skip_end)


def lightning_steepest(lrs: Sequence[float], losses: Sequence[float], skip_begin: int = 10,
                       skip_end: int = 1) -> float | None:
    """PyTorch Lightning's ``suggestion()``: the point of steepest negative per-step gradient of its smoothed
    loss after skipping ``skip_begin`` points at the start and ``skip_end`` at the end."""
    return _steepest_per_step(lrs, losses, debiased_ema, skip_begin, skip_end)


PUBLISHED_RULES: dict[str, Callable[[Sequence[float], Sequence[float], int], float | None]] = {
    "fastai valley": fastai_valley,
    "fastai slide": fastai_slide,
    "fastai minimum": fastai_minimum,
    "fastai steep": fastai_steep,
    "lr-finder": lambda lrs, losses, _n: lr_finder_steepest(lrs, losses),
    "lightning": lambda lrs, losses, _n: lightning_steepest(lrs, losses),
}
