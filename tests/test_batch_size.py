"""The batch-size finder: the search against memory models (exact and property-based)."""

import math
from types import SimpleNamespace

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from onecycle.batch_size import (
    FAR_ABOVE,
    BatchSizeResult,
    Measurement,
    Probe,
    largest_batch,
    predicted_peak,
    training_probe,
)

MiB = 2**20


class LinearMemory:
    """A training step whose peak is ``fixed + per_image x batch`` bytes, fitting while that is within ``budget``;
    its images/s are ``speed(batch)``. Records the sizes it is asked about."""

    def __init__(self, fixed, per_image, budget, speed=lambda b: 1000.0 + b):
        self.fixed, self.per_image, self.budget, self.speed = fixed, per_image, budget, speed
        self.asked = []

    def peak(self, batch):
        return self.fixed + self.per_image * batch

    def capacity(self):
        """The most images whose peak is within the budget (0 when even one is not)."""
        return max(0, (self.budget - self.fixed) // self.per_image)

    def __call__(self, batch):
        self.asked.append(batch)
        peak = self.peak(batch)
        return Measurement(peak <= self.budget, peak, self.speed(batch), "" if peak <= self.budget else "above")


def expected(capacity, limit):
    """The documented answer: the limit when it fits, else the largest multiple of 8 that fits, or below 8 the
    largest size that fits (``None``: none)."""
    if capacity >= limit:
        return limit
    if capacity >= 8:
        return capacity // 8 * 8
    return capacity or None


def test_a_budget_of_exactly_100_images_finds_96_by_doubling_then_bisecting():
    model = LinearMemory(fixed=10 * MiB, per_image=MiB, budget=110 * MiB)
    result = largest_batch(model, limit=1437, budget=model.budget)
    assert model.asked == [8, 16, 32, 64, 128, 96, 112, 104]
    assert result.largest == 96 and [p.batch_size for p in result.probes] == model.asked
    assert [p.fits for p in result.probes] == [True] * 4 + [False, True, False, False]
    assert result.probes[4] == Probe(128, False, 138 * MiB, 1128.0, "above")


def test_a_limit_that_fits_is_the_answer_and_ends_the_doubling():
    model = LinearMemory(fixed=0, per_image=1, budget=10**9)
    result = largest_batch(model, limit=100, budget=model.budget)
    assert model.asked == [8, 16, 32, 64, 100] and result.largest == 100
    assert largest_batch(LinearMemory(0, 1, 10**9), limit=5).probes == [Probe(5, True, 5, 1005.0)]


def test_a_start_that_does_not_fit_halves_then_bisects_every_size():
    model = LinearMemory(fixed=0, per_image=1, budget=6)
    assert largest_batch(model, limit=1000).largest == 6
    assert model.asked == [8, 4, 6, 7]
    nothing = LinearMemory(fixed=100, per_image=1, budget=50)
    result = largest_batch(nothing, limit=1000)
    assert result.largest is None and nothing.asked == [8, 4, 2, 1] and result.fastest is None
    assert "no batch size fits in device memory" in str(result)


def test_a_size_predicted_far_above_the_budget_is_not_run():
    # 64 fits at 64 of 70: 128 would need 128, more than 1.5 x 70 (the prediction is exact for a linear model)
    model = LinearMemory(fixed=0, per_image=1, budget=70)
    result = largest_batch(model, limit=1000, budget=70)
    assert model.asked == [8, 16, 32, 64, 96, 80, 72] and result.largest == 64
    assert result.probes[4] == Probe(128, False, note="not run: predicted peak 128 B, more than 1.5x the budget",
                                     ran=False)
    assert "    128  no              -         -  not run: predicted peak 128 B" in str(result)


def test_the_prediction_extrapolates_the_two_largest_fits_and_ignores_noise():
    probes = [Probe(8, True, 100), Probe(16, True, 140), Probe(32, False, 300), Probe(24, True, 180)]
    assert predicted_peak(probes, 48) == 180 + 24 * 40 / 8
    assert predicted_peak(probes[:1], 48) is None
    assert predicted_peak([Probe(8, True, 100), Probe(16, True, 90)], 32) is None  # peaks that do not grow
    assert predicted_peak([Probe(8, True, None), Probe(16, True, 90)], 32) is None  # not measured


@settings(max_examples=300, deadline=None)
@given(fixed=st.integers(0, 10**6), per_image=st.integers(1, 10**4), budget=st.integers(1, 10**9),
       limit=st.integers(1, 2**20))
def test_the_search_finds_the_documented_answer_in_logarithmic_probes(fixed, per_image, budget, limit):
    model = LinearMemory(fixed, per_image, budget)
    result = largest_batch(model, limit, budget)
    assert result.largest == expected(model.capacity(), limit)
    sizes = [p.batch_size for p in result.probes]
    assert len(set(sizes)) == len(sizes) and all(1 <= s <= limit for s in sizes)
    assert len(sizes) <= 2 * math.ceil(math.log2(limit)) + 2
    assert all(p.fits == (model.peak(p.batch_size) <= budget) for p in result.probes)
    # the memory model is linear, so the prediction is exact: once two sizes fit, nothing run needs more than
    # FAR_ABOVE x the budget, and what is not run would have
    fits = 0
    for p in result.probes:
        if fits >= 2:
            assert (model.peak(p.batch_size) <= FAR_ABOVE * budget) == p.ran
        fits += p.fits
    assert set(model.asked) == {p.batch_size for p in result.probes if p.ran}


@settings(max_examples=200, deadline=None)
@given(capacity=st.integers(0, 5000), limit=st.integers(1, 5000), start=st.integers(1, 64))
def test_any_start_finds_a_fit_whose_next_multiple_of_8_does_not(capacity, limit, start):
    # without memory figures nothing is predicted: whatever the start, the answer fits, and nothing between it and
    # the next multiple of 8 (or the next size, below 8) fits within the limit
    result = largest_batch(lambda b: Measurement(b <= capacity), limit, start=start)
    answer = result.largest
    if answer is None:
        assert capacity == 0
        return
    assert answer <= min(capacity, limit)
    following = (answer // 8 + 1) * 8 if answer >= 8 else answer + 1
    assert answer == limit or following > min(capacity, limit)


@pytest.mark.parametrize(("args", "message"), [
    ({"limit": 0}, "limit must be a whole number >= 1, got 0"),
    ({"limit": 10, "start": 1.5}, "start must be a whole number >= 1, got 1.5"),
    ({"limit": 10, "multiple": True}, "multiple must be a whole number >= 1, got True"),
    ({"limit": 10, "budget": 0}, "budget must be a whole number of bytes >= 1 or None, got 0"),
])
def test_bad_arguments_of_the_search_name_themselves(args, message):
    with pytest.raises(ValueError, match=f"^{message}$"):
        largest_batch(lambda b: Measurement(True), **args)


def test_the_result_says_when_the_largest_batch_is_not_the_fastest():
    model = LinearMemory(fixed=0, per_image=1, budget=100, speed=lambda b: 5000.0 - (b - 64) ** 2)
    result = largest_batch(model, limit=1000, budget=100)
    assert result.largest == 96 and result.fastest.batch_size == 64
    assert result.slower_note() == "the largest batch, 96, is not the fastest: 64 trained 5000 images/s, 96 3976"
    text = str(result)
    assert text.splitlines()[0] == "  batch  fits  peak memory  images/s"
    assert "     64  yes          64 B      5000" in text and "    128  no          128 B       904  above" in text
    assert "largest batch that fits in a budget of 100 B: 96\nnote: the largest batch, 96, is not" in text
    fast = largest_batch(LinearMemory(0, 1, 100), limit=1000, budget=100)
    assert fast.slower_note() is None and "note:" not in str(fast)
    data = result.to_dict()
    assert (data["largest"], data["fastest"], data["limit"], data["budget_bytes"]) == (96, 64, 1000, 100)
    assert data["probes"][0] == {"batch_size": 8, "fits": True, "peak_bytes": 8, "images_per_s": 1864.0, "note": "",
                                 "ran": True}
    assert BatchSizeResult([Probe(8, True, 8, 1.0)], limit=8).largest == 8
    assert "fits in device memory: 8 (the limit)" in str(BatchSizeResult([Probe(8, True, 8, 1.0)], limit=8))


def test_the_probe_of_training_steps_needs_a_device_it_measures_and_on_the_cpu_a_budget():
    for device, message in [("mps", "the peak memory of training on mps cannot be measured: only on cuda or the cpu"),
                            ("cpu", "on the cpu a memory budget is needed")]:
        with pytest.raises(ValueError, match=message):
            training_probe(SimpleNamespace(device=torch.device(device)))
