"""onecycle: the learning-rate range test and the 1cycle policy for PyTorch."""

from onecycle.scheduler import OneCycleScheduler
from onecycle.schedules import constant, cosine, exponential, join, linear, one_cycle

__all__ = [
    "OneCycleScheduler",
    "constant",
    "cosine",
    "exponential",
    "join",
    "linear",
    "one_cycle",
]
__version__ = "0.1.0"
