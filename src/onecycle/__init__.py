"""onecycle: the learning-rate range test and the 1cycle policy for PyTorch."""

from onecycle.range_test import RangeTestResult, range_test
from onecycle.scheduler import OneCycleScheduler
from onecycle.schedules import constant, cosine, exponential, join, linear, one_cycle
from onecycle.suggestions import Recommendation, recommend
from onecycle.sweep import SweepResult, sweep

__all__ = [
    "OneCycleScheduler",
    "RangeTestResult",
    "Recommendation",
    "SweepResult",
    "constant",
    "cosine",
    "exponential",
    "join",
    "linear",
    "one_cycle",
    "range_test",
    "recommend",
    "sweep",
]
__version__ = "0.1.0"
