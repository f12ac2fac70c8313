"""Reading values back from files: records.number and its lenient twin, records.number_or_none."""

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from onecycle import records

HUGE = st.integers().map(lambda n: n * 10**400)  # JSON integers too large for a float
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | HUGE | st.floats() | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3),
    max_leaves=5,
)


@pytest.mark.parametrize(("value", "expected"), [
    (3, 3.0), (-0.5, -0.5), (1e300, 1e300),
    (None, None), (True, None), (False, None), ("1", None), ([1.0], None), ({"x": 1}, None),
    (math.nan, None), (math.inf, None), (-math.inf, None), (10**400, None), (-(10**400), None),
])
def test_number_or_none_on_exact_values(value, expected):
    found = records.number_or_none(value)
    assert found == expected and type(found) is type(expected)


def test_an_integer_too_large_for_a_float_is_refused_naming_the_key():
    with pytest.raises(ValueError, match=r"^recommendation.max_lr must be a finite number > 0, got 1000"):
        records.number(10**400, "recommendation.max_lr", positive=True)
    assert records.number(-(10**400), "x", finite=False) == -math.inf


@given(JSON_VALUES)
def test_number_or_none_answers_none_exactly_where_number_refuses(value):
    """Whatever a JSON file holds: ``number`` accepts it or raises a ``ValueError`` (never another error), and
    ``number_or_none`` gives the same float or ``None``."""
    try:
        expected = records.number(value, "x")
    except ValueError:
        expected = None
    assert records.number_or_none(value) == expected
