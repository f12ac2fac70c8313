"""benchmarks/speed/loop_overhead.py: its baseline is the loop as it was (the same training, step for step), its
timings are interleaved medians, and it prints a table per case."""

import argparse

import pytest
import torch

from benchmarks.speed import loop_overhead
from onecycle.engine import train


def _same_weights(a, b):
    return all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values(), strict=True))


def test_the_baseline_trains_what_the_loop_trains():
    """``before`` differs from ``engine.train`` in when it reads, not in what it computes: the same weights, step
    for step."""
    setup = loop_overhead.setup("mlp", 16, 6, "cpu")
    before, now = loop_overhead._state(setup), loop_overhead._state(setup)
    loop_overhead.loop_before(before, setup.loss_fn(), [])
    train(now, loss_fn=setup.loss_fn(), progress=False, log_every=4)
    assert before.step == now.step == 6
    assert _same_weights(before.model, now.model)


def test_each_variant_is_warmed_up_then_timed_in_the_interleaved_order():
    calls = []
    clock = {"a": [9.0, 1.0, 2.0, 3.0], "b": [9.0, 5.0, 4.0, 6.0]}

    def timing(name):
        def run():
            calls.append(name)
            return clock[name].pop(0)
        return run

    medians = loop_overhead.measure({"a": timing("a"), "b": timing("b")}, 3)
    assert calls == ["a", "b", "a", "b", "b", "a", "a", "b"]
    assert medians == {"a": 2.0, "b": 5.0}  # the warm-up's 9.0 is not counted


def test_the_report_gives_each_variant_against_the_base():
    text = loop_overhead.report("training", {"before": 0.004, "log_every 10": 0.003}, "before")
    assert text.splitlines() == ["training", "  variant          ms/step   ratio",
                                 "  before             4.000   1.000", "  log_every 10       3.000   0.750"]


def test_an_unknown_case_or_too_few_steps_is_refused():
    assert loop_overhead._models("mlp") == ["mlp"] and loop_overhead._steps("10") == 10
    for text in ("9", "ten"):
        with pytest.raises(argparse.ArgumentTypeError, match=f"^expected an integer >= 10, got '{text}'$"):
            loop_overhead._steps(text)
    with pytest.raises(argparse.ArgumentTypeError, match=r"^unknown case\(s\) resnet: expected some of small-cnn, "
                                                          r"mlp$"):
        loop_overhead._models("mlp,resnet")


def test_a_run_prints_a_table_per_case(capsys):
    assert loop_overhead.main(["--models", "mlp", "--repeats", "1", "--steps", "10"]) == 0
    out = capsys.readouterr().out
    for name in ("before", "log_every 1", "log_every 10", "log_every 50", "foreach", "fused", "bare steps",
                 "range test"):
        assert f"  {name} " in out
    assert "mlp, batch 32, 10 steps a timing" in out
