"""The global random number generators (torch CPU, CUDA, MPS, numpy, Python): their state, captured and put back.

The captured state holds tensors, lists and numbers only, so it can go into a checkpoint loaded with
``torch.load(..., weights_only=True)``.
"""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import torch


def _mps_available() -> bool:
    mps = getattr(torch.backends, "mps", None)
    return mps is not None and mps.is_available() and hasattr(torch, "mps")


def get_state() -> dict[str, Any]:
    """The state of every global generator in use: CUDA only once initialised, MPS only where available."""
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_initialized() else [],
        "mps": torch.mps.get_rng_state() if _mps_available() else None,
        "numpy": [kind, torch.from_numpy(keys.astype(np.int64)), pos, has_gauss, cached],
        "python": random.getstate(),
    }


def set_state(state: dict[str, Any]) -> None:
    """Put back a state from :func:`get_state` (the MPS part only where MPS is available)."""
    torch.set_rng_state(state["torch"])
    if state["cuda"]:
        torch.cuda.set_rng_state_all(state["cuda"])
    if state.get("mps") is not None and _mps_available():
        torch.mps.set_rng_state(state["mps"])
    kind, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
