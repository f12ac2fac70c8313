"""Sizes as written (``2GiB``) and shown, and the peak memory of work on the CPU with its address-space cap."""

import resource

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from onecycle import memory

MiB = 2**20


@pytest.mark.parametrize(("text", "size"), [
    ("2GiB", 2 * 2**30), ("512 MiB", 512 * MiB), ("1.5GB", 1_500_000_000), ("1e9", 10**9), ("100", 100),
    ("0.5kib", 512), (" 64KB ", 64_000), (".5KiB", 512), ("3TB", 3 * 10**12), ("2b", 2),
])
def test_sizes_are_read_in_decimal_and_binary_units(text, size):
    assert memory.parse_size(text) == size


@pytest.mark.parametrize(("text", "problem"), [
    ("", "expected a size such as 2GiB"), ("abc", "expected a size such as 2GiB"),
    ("2GiBs", "expected a size such as 2GiB"), ("-1GB", "expected a size such as 2GiB"),
    ("nan", "expected a size such as 2GiB"), ("1e", "expected a size such as 2GiB"),
    ("0", "expected a size of at least 1 byte, and finite, got '0'"), ("0.5", "at least 1 byte"),
    ("1e400", "at least 1 byte, and finite, got '1e400'"), ("1e-400GiB", "at least 1 byte"),
])
def test_a_size_that_is_not_one_is_one_error(text, problem):
    with pytest.raises(ValueError, match=problem) as err:
        memory.parse_size(text)
    assert "\n" not in str(err.value)


@settings(max_examples=300, deadline=None)
@given(number=st.integers(1, 2**20), unit=st.sampled_from(sorted(memory.UNITS)), upper=st.booleans())
def test_a_whole_number_of_any_unit_is_read_exactly(number, unit, upper):
    assert memory.parse_size(f"{number}{unit.upper() if upper else unit}") == number * memory.UNITS[unit]


@settings(max_examples=300, deadline=None)
@given(size=st.integers(1, 2**50))
def test_a_size_shown_reads_back_within_its_three_digits(size):
    shown = memory.show_size(size)
    assert abs(memory.parse_size(shown.replace(" ", "")) - size) <= 0.005 * size + 1


@pytest.mark.parametrize(("size", "shown"), [
    (0, "0 B"), (100, "100 B"), (1023, "1023 B"), (1024, "1 KiB"), (1023 * 1024, "1023 KiB"),
    (1536 * MiB, "1.5 GiB"), (12 * MiB + 300 * 1024, "12.3 MiB"), (2**60, "1048576 TiB"),
])
def test_sizes_are_shown_in_the_largest_binary_unit(size, shown):
    assert memory.show_size(size) == shown


def test_the_cap_is_twice_the_budget_and_some_slack():
    assert memory.cpu_cap(100 * MiB) == 2 * 100 * MiB + memory.CAP_SLACK == 456 * MiB


@pytest.mark.skipif(not memory.cpu_peak_measurable(), reason="needs Linux's /proc/self/clear_refs")
def test_cpu_peak_sees_an_allocation_and_the_cap_refuses_one_past_it():
    limits = resource.getrlimit(resource.RLIMIT_AS)
    result, peak = memory.cpu_peak(lambda: torch.ones(64 * MiB // 4).sum())
    assert result == 64 * MiB // 4 and peak >= 60 * MiB
    with pytest.raises(RuntimeError) as err:
        memory.cpu_peak(lambda: torch.ones(1024 * MiB // 4), cap=256 * MiB)
    assert memory.out_of_memory(err.value) and memory.out_of_memory(MemoryError())
    assert not memory.out_of_memory(RuntimeError("shape mismatch"))
    assert resource.getrlimit(resource.RLIMIT_AS) == limits  # the cap is lifted afterwards
    assert memory.available() > 0
