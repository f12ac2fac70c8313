"""onecycle: the learning-rate range test and the 1cycle policy for PyTorch."""

from onecycle.range_test import RangeTestResult, range_test
from onecycle.scheduler import OneCycleScheduler, PolicyScheduler
from onecycle.schedules import constant, cosine, exponential, join, linear, one_cycle, policy
from onecycle.suggestions import Recommendation, recommend
from onecycle.sweep import SweepResult, sweep

__all__ = [
    "OneCycleScheduler",
    "PolicyScheduler",
    "RangeTestResult",
    "Recommendation",
    "SweepResult",
    "constant",
    "cosine",
    "exponential",
    "join",
    "linear",
    "one_cycle",
    "policy",
    "range_test",
    "recommend",
    "sweep",
]
__version__ = "0.1.0"
