"""The batch-size finder: the search against memory models (exact and property-based), and ``onecycle
find-batch-size`` end to end on the CPU with a small memory budget (and on CUDA where there is one)."""

import json
import math
import shlex
from types import SimpleNamespace

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from onecycle import memory
from onecycle.batch_size import (
    FAR_ABOVE,
    BatchSizeResult,
    Measurement,
    Probe,
    largest_batch,
    predicted_peak,
    training_probe,
)
from onecycle.cli import main
from onecycle.cli.common import CommandError
from onecycle.cli.find_batch_size import check_memory

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
    largest size that fits, down to 2 (``None``: none)."""
    if capacity >= limit:
        return limit
    if capacity >= 8:
        return capacity // 8 * 8
    return capacity if capacity >= 2 else None


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
    assert result.largest is None and nothing.asked == [8, 4, 2] and result.fastest is None  # BatchNorm needs 2
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
    if answer is None:  # not even the smallest batch tried (2, or the limit or start below it) fits
        assert capacity < min(2, limit, start) or capacity < 2
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


def test_the_memory_each_device_can_be_measured_against(monkeypatch):
    monkeypatch.setattr(memory, "cpu_peak_measurable", lambda: True)
    monkeypatch.setattr(memory, "available", lambda: 3 * 2**30)
    for device, budget, message in [
        ("mps", None, "find-batch-size measures memory on cuda or the cpu, not on mps; use --device cpu with "
                      "--memory-budget"),
        ("cpu", None, "on the cpu, give --memory-budget SIZE (e.g. --memory-budget 2GiB): the memory a training step "
                      "may use; nothing else says when a batch no longer fits"),
        ("cpu", 2**60, "--memory-budget 1048576 TiB is more than the 3 GiB of memory this machine has available now; "
                       "give at most that"),
    ]:
        with pytest.raises(CommandError) as err:
            check_memory(torch.device(device), budget)
        assert str(err.value) == message
    check_memory(torch.device("cpu"), 3 * 2**30)
    check_memory(torch.device("cuda"), None)  # device memory: nothing to check before the search
    monkeypatch.setattr(memory, "cpu_peak_measurable", lambda: False)
    with pytest.raises(CommandError, match=r"needs Linux's /proc/self/clear_refs"):
        check_memory(torch.device("cpu"), MiB)


def test_the_probe_of_training_steps_needs_a_device_it_measures_and_on_the_cpu_a_budget():
    for device, message in [("mps", "the peak memory of training on mps cannot be measured: only on cuda or the cpu"),
                            ("cpu", "on the cpu a memory budget is needed")]:
        with pytest.raises(ValueError, match=message):
            training_probe(SimpleNamespace(device=torch.device(device)))


SEARCH = ["find-batch-size", "--dataset", "digits", "--model", "mlp", "--num-steps", "10", "--threads", "1",
          "--quiet"]


def _probes_agree_with_the_budget(data, budget):
    fits = [p for p in data["probes"] if p["fits"]]
    assert data["largest"] == max(p["batch_size"] for p in fits)
    assert all(p["peak_bytes"] <= budget and p["images_per_s"] > 0 for p in fits)
    assert all(p["note"] and (not p["ran"] or p["peak_bytes"] is None or p["peak_bytes"] > budget)
               for p in data["probes"] if not p["fits"])


@pytest.mark.skipif(not memory.cpu_peak_measurable(), reason="needs Linux's /proc/self/clear_refs")
def test_find_batch_size_on_the_cpu_within_a_small_budget(tmp_path, capsys):
    # the mlp's step grows by about 10 KiB an image over some 5 MiB: 12 MiB holds a few hundred of the 1437 digits
    budget = 12 * MiB
    assert main([*SEARCH, "--device", "cpu", "--memory-budget", "12MiB", "--run-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    data = json.loads((tmp_path / "batch_size.json").read_text())
    largest = data["largest"]
    assert ("batch size search: the largest that fits in a budget of 12 MiB, up to 1437 (the 1437 training images), "
            "mlp on digits\n") in out
    assert f"largest batch that fits in a budget of 12 MiB: {largest}\n" in out
    assert f"range test at weight decay 0.0005 (default) and batch size {largest}\n" in out
    command = out.split("train at it with `")[1].split("`")[0]
    assert command == (f"onecycle train --dataset digits --model mlp --num-steps 10 --threads 1 --quiet --device cpu "
                       f"--run-dir {tmp_path} --batch-size {largest}")
    assert 8 <= largest < 1437 and any(not p["fits"] for p in data["probes"])  # the budget, not the data, bound it
    _probes_agree_with_the_budget(data, budget)
    assert data["budget_bytes"] == budget and data["limit"] == 1437
    settings_ = data["settings"]
    assert (settings_["model"], settings_["device"], settings_["threads"], settings_["timed_steps"]) == (
        "mlp", "cpu", 1, 2)
    assert "batch_size" not in settings_ and settings_["memory"] == memory.MEASURED["cpu"]
    finder = json.loads((tmp_path / "finder.json").read_text())
    assert finder["settings"]["batch_size"] == largest and (tmp_path / "finder.png").exists()
    # the command it prints trains at the batch found, with the max_lr of the range test it measured there
    assert main([*shlex.split(command)[1:], "--epochs", "10"]) == 0
    assert f"max_lr {finder['recommendation']['max_lr']:.4g} (range test in finder.json)" in capsys.readouterr().out


@pytest.mark.skipif(not memory.cpu_peak_measurable(), reason="needs Linux's /proc/self/clear_refs")
def test_find_batch_size_stops_at_max_batch_and_fails_cleanly_when_nothing_fits(tmp_path, capsys):
    limited = tmp_path / "limited"
    assert main([*SEARCH, "--device", "cpu", "--memory-budget", "1GiB", "--max-batch", "40",
                 "--run-dir", str(limited)]) == 0
    out = capsys.readouterr().out
    assert "up to 40 (--max-batch)" in out and "largest batch that fits in a budget of 1 GiB: 40 (the limit)" in out
    data = json.loads((limited / "batch_size.json").read_text())
    assert [p["batch_size"] for p in data["probes"]] == [8, 16, 32, 40] and data["largest"] == 40
    # a budget below what a step of two images takes: every size down to 2 is tried, and nothing is written
    small = tmp_path / "small"
    assert main([*SEARCH, "--device", "cpu", "--memory-budget", "100KiB", "--run-dir", str(small)]) == 2
    captured = capsys.readouterr()
    assert [line.split()[0] for line in captured.out.splitlines()[-5:-1]] == ["batch", "8", "4", "2"]
    assert captured.err == ("onecycle find-batch-size: error: no batch size fits, not even 2 (see the sizes tried "
                            "above): give a larger --memory-budget or use a smaller model\n")
    assert not small.exists()


@pytest.mark.parametrize(("args", "message"), [
    (["--memory-budget", "lots"], "argument --memory-budget: expected a size such as 2GiB, 512MiB or 1.5GB"),
    (["--memory-budget", "0"], "argument --memory-budget: expected a size of at least 1 byte"),
    (["--max-batch", "0"], "argument --max-batch: expected a whole number from 1 to"),
    (["--batch-size", "64"], "unrecognized arguments: --batch-size 64 (find-batch-size does not use batch_size)"),
])
def test_bad_flags_are_one_line_errors(args, message, capsys):
    with pytest.raises(SystemExit) as exit_:
        main([*SEARCH, *args])
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and message in err and err.count("\n") == 1


def test_the_cpu_without_a_budget_is_one_error_naming_the_flag(tmp_path, capsys):
    assert main([*SEARCH, "--device", "cpu", "--run-dir", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("onecycle find-batch-size: error: on the cpu, give --memory-budget SIZE (e.g. "
                          "--memory-budget 2GiB)") and err.count("\n") == 1
    assert not (tmp_path / "run").exists()


def test_a_directory_holding_a_run_is_refused_before_any_work(tmp_path, capsys):
    (tmp_path / "config.json").write_text("{}")
    assert main([*SEARCH, "--device", "cpu", "--memory-budget", "1GiB", "--run-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert f"{tmp_path} holds a run (config.json)" in err and "pass --overwrite" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.json"]


def test_a_batch_size_in_the_config_file_is_noted_as_not_used(tmp_path, capsys):
    config = tmp_path / "run.toml"
    config.write_text("batch_size = 64\n")
    assert main([*SEARCH, "--device", "cpu", "--config", str(config), "--run-dir", str(tmp_path / "run")]) == 2
    out = capsys.readouterr().out
    assert f"note: batch_size 64 (from {config}) is not used: find-batch-size measures it" in out


@pytest.mark.skipif(not torch.cuda.is_available(), reason="the CUDA path needs a CUDA device")
def test_find_batch_size_on_cuda_in_device_memory_and_within_a_budget(tmp_path, capsys):
    run = tmp_path / "device"
    assert main([*SEARCH, "--device", "cuda", "--max-batch", "256", "--run-dir", str(run)]) == 0
    assert "largest batch that fits in device memory: 256 (the limit)" in capsys.readouterr().out
    data = json.loads((run / "batch_size.json").read_text())
    assert data["settings"]["memory"] == memory.MEASURED["cuda"] and data["budget_bytes"] is None
    assert all(p["fits"] and p["peak_bytes"] > 0 for p in data["probes"])
    # the mlp's weights, gradients and momentum take about 3 MiB: 6 MiB leaves room for a few hundred images
    budget = tmp_path / "budget"
    assert main([*SEARCH, "--device", "cuda", "--memory-budget", "6MiB", "--run-dir", str(budget)]) == 0
    data = json.loads((budget / "batch_size.json").read_text())
    assert 8 <= data["largest"] < 1437 and any(not p["fits"] for p in data["probes"])
    _probes_agree_with_the_budget(data, 6 * MiB)
    assert json.loads((budget / "finder.json").read_text())["settings"]["batch_size"] == data["largest"]


@pytest.mark.skipif(not memory.cpu_peak_measurable(), reason="needs Linux's /proc/self/clear_refs")
def test_results_of_an_earlier_search_or_range_test_are_replaced_with_a_note(tmp_path, capsys):
    flags = [*SEARCH, "--device", "cpu", "--memory-budget", "1GiB", "--max-batch", "16", "--run-dir", str(tmp_path)]
    assert main(flags) == 0
    assert "is replaced" not in capsys.readouterr().out
    assert main(flags) == 0
    out = capsys.readouterr().out
    for name in ("batch_size.json", "finder.json"):
        assert f"note: {tmp_path / name} is replaced by this search's (at batch size 16)" in out


@pytest.mark.parametrize("returned", [True, None, 3])
def test_a_measure_that_does_not_return_a_measurement_is_one_error_naming_it(returned):
    with pytest.raises(ValueError, match=r"^measure\(8\) must return a Measurement, got "):
        largest_batch(lambda b: returned, limit=100)
