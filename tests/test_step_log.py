"""The device-side buffer of the training loop: values read in bulk are exactly those a read per step gives."""

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from onecycle.step_log import LOG_EVERY, StepLog, StepValues, default_log_every, log_every_text

LOSSES = st.floats(width=32, allow_nan=True, allow_infinity=True)
COUNTS = st.one_of(st.none(), st.integers(0, 2**31 - 1))


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(LOSSES, COUNTS, st.integers(1, 4096)), max_size=60),
       st.sampled_from([torch.float32, torch.float64, torch.bfloat16]))
def test_a_bulk_read_gives_what_a_read_per_step_gives(steps, dtype):
    log = StepLog()
    expected = []
    for i, (loss, count, images) in enumerate(steps, 1):
        loss_t = torch.tensor(loss, dtype=dtype)
        count_t = None if count is None else torch.tensor(count)
        log.add(loss_t, count_t, images, step=i, lr=0.1 * i, momentum=None if i % 2 else 0.9)
        expected.append(StepValues(i, float(loss_t), images, None if count_t is None else int(count_t), 0.1 * i,
                                   None if i % 2 else 0.9))
    read = log.read()
    assert len(read) == len(expected) and len(log) == 0
    for got, want in zip(read, expected):  # NaN equals NaN here: the bits are what counts
        assert got.step == want.step and got.images == want.images and got.correct == want.correct
        assert got.lr == want.lr and got.momentum == want.momentum
        assert (math.isnan(got.loss) and math.isnan(want.loss)) or got.loss == want.loss
        assert type(got.loss) is float and (got.correct is None or type(got.correct) is int)
    assert log.read() == []


def test_a_loss_of_one_element_of_any_shape_is_kept_and_the_log_starts_empty_after_a_read():
    log = StepLog()
    log.add(torch.tensor([[2.5]]), torch.tensor([3]), 8)
    log.add(torch.tensor(1.25), None, 8)
    assert [(v.loss, v.correct) for v in log.read()] == [(2.5, 3), (1.25, None)]
    log.add(torch.tensor(0.5), None, 4, step=9)
    (only,) = log.read()
    assert (only.step, only.loss, only.images, only.correct, only.momentum) == (9, 0.5, 4, None, None)
    assert math.isnan(only.lr)  # evaluation keeps no lr


def test_a_loss_of_more_than_one_element_is_refused_as_float_would_refuse_it():
    with pytest.raises(RuntimeError):
        StepLog().add(torch.tensor([1.0, 2.0]), None, 2)


def test_the_default_by_device_type():
    assert default_log_every("cpu") == LOG_EVERY["cpu"] == 1
    assert default_log_every(torch.device("cuda", 1)) == LOG_EVERY["cuda"]
    assert default_log_every("mps") == LOG_EVERY["mps"]
    assert default_log_every("meta") == 1  # a device type not listed: every step
    assert log_every_text() == "1 on cpu, 50 on cuda and mps"
