"""The retry benchmark (benchmarks/retry): a quick run end to end and again from its cache, the plan and the keys,
the per-multiple arithmetic and the sentences on constructed numbers, and the checks of the cache and results
files."""

import dataclasses
import json

import pytest

from benchmarks.common.cli import SMOKE_WARNING, BenchmarkError
from benchmarks.retry import analysis, cli, report, runs
from benchmarks.retry.results import read_results
from benchmarks.retry.settings import FULL, MODES, QUICK

HAND_WRITTEN = "# Measured results\n\nWritten by hand: kept.\n"


def test_quick_run_writes_the_report_and_a_rerun_measures_nothing(tmp_path, monkeypatch):
    out, results, cache = tmp_path / "RESULTS.md", tmp_path / "results.json", tmp_path / "runs.json"
    after = "\n\n## Later, by hand\n\nAlso kept.\n"
    out.write_text(f"{HAND_WRITTEN}\n{report.SECTION.begin}\nNot measured yet.\n{report.SECTION.end}{after}")
    argv = ["--quick", "--out", str(out), "--results", str(results), "--runs", str(cache)]
    assert cli.main(argv) == 0
    data = read_results(results)  # what it wrote reads back
    text = out.read_text()
    assert text.startswith(f"{HAND_WRITTEN}\n{report.SECTION.begin}\n\n{SMOKE_WARNING}\n\n## on_diverge retry at "
                           "too-high learning rates")
    assert text.endswith(f"{report.SECTION.end}{after}") and "Not measured yet." not in text
    assert "### Result" in text and "| max_lr: × recommendation | stop: test accuracy |" in text
    meta, found = data["meta"], data["results"]
    assert meta["new_runs"] == meta["runs"] == 1 + len(QUICK.multiples) * len(MODES) * len(QUICK.seeds)
    assert not meta["missing"]
    rec = found["range_test"]["max_lr"]
    assert [row["max_lr"] for row in found["rows"]] == [float(f"{rec * m:.3g}") for m in QUICK.multiples]
    first = found["rows"][0]["modes"]
    assert found["sane_accuracy"] == first["stop"]["accuracy"]["mean"]
    for row in found["rows"]:  # each cell holds its seed's run, as onecycle train measured it
        for mode in MODES:
            (run,) = row["modes"][mode]["runs"]
            assert 0 <= run["accuracy"] <= 1 and run["steps"] <= found["planned_steps"] + run["extra_steps"]
            assert mode == "retry" or run["retries"] == 0
            assert f"{100 * run['accuracy']:.1f}" in text

    monkeypatch.setattr(cli, "measure", lambda task: pytest.fail(f"measured again: {runs.label(task)}"))
    assert cli.main(argv) == 0
    again = json.loads(results.read_text())
    assert again["meta"]["new_runs"] == 0 and again["results"] == data["results"]
    assert out.read_text().count(report.SECTION.begin) == 1


def _run(accuracy, retries=(), stopped=None):
    """A measured training run; ``retries`` as ``(step, restored_step)`` pairs."""
    return {"accuracy": accuracy, "diverged": stopped is not None, "stopped": stopped, "steps": 100,
            "retries": [{"step": a, "restored_step": b, "max_lr": 0.5} for a, b in retries],
            "extra_steps": sum(a - b for a, b in retries), "train_time_s": 5.0, "seconds": 6.0,
            "date": "2026-11-29T10:00:00+00:00"}


def _measured(s, cells, finder=0.1):
    """A lookup of constructed measurements: the range test recommends ``finder``; ``cells[(multiple, mode)]`` are
    the runs by seed (``None``: not measured)."""
    table = {runs.key(runs.finder_task(s)): {"recommendation": {"max_lr": finder, "confidence": "high", "notes": []}}}
    for (multiple, mode), by_seed in cells.items():
        for seed, run in zip(s.seeds, by_seed):
            if run is not None:
                table[runs.key(runs.train_task(s, mode, runs.max_lr(finder, multiple), seed))] = run
    return lambda task: table.get(runs.key(task))


S = dataclasses.replace(FULL, multiples=(1.0, 10.0, 30.0))


def test_failures_retries_and_how_far_each_mode_holds_on_constructed_runs():
    lookup = _measured(S, {
        (1.0, "stop"): [_run(0.94), _run(0.96), _run(0.95)],
        (1.0, "retry"): [_run(0.94), _run(0.96), _run(0.95)],
        (10.0, "stop"): [_run(0.2, stopped="diverged"), _run(0.47), _run(0.93)],  # 0.47 < half of 0.95: failed
        (10.0, "retry"): [_run(0.93, [(30, 10)]), _run(0.94, [(29, 10), (60, 50)]), _run(0.92)],
        (30.0, "stop"): [_run(0.1, stopped="diverged")] * 3,
        (30.0, "retry"): [_run(0.3, [(11, 0)] * 3, stopped="after 3 retries"), _run(0.85, [(20, 10)]), None],
    })
    found = analysis.analyze(S, lookup)
    assert found["sane_accuracy"] == pytest.approx(0.95) and found["planned_steps"] == 100
    one, ten, thirty = found["rows"]
    assert (one["max_lr"], ten["max_lr"], thirty["max_lr"]) == (0.1, 1.0, 3.0)
    stop10, retry10 = ten["modes"]["stop"], ten["modes"]["retry"]
    assert [r["failed"] for r in stop10["runs"]] == [True, True, False] and stop10["stopped"] == 1
    assert retry10["retries"]["values"] == [1, 2, 0] and retry10["extra_steps"]["values"] == [20, 29, 0]
    assert (retry10["failed"], retry10["stopped"]) == (0, 0)
    assert thirty["modes"]["retry"]["failed"] == 1 and len(thirty["modes"]["retry"]["runs"]) == 2
    assert found["holds_up_to"] == {"stop": 1.0, "retry": 10.0}
    assert found["above"] == {"stop": {"failed": 5, "runs": 6}, "retry": {"failed": 1, "runs": 5}}
    retried = found["retried"]
    assert retried["runs"] == 4 and retried["stopped"] == 1
    assert retried["retries"]["values"] == [1, 2, 3, 1] and retried["extra_steps"]["mean"] == 23.0
    text = report.verdict(found, dataclasses.asdict(S))
    assert text == ("At the recommendation (max_lr 0.1) 1cycle ends at 95.0% with stop and 95.0% with retry. Above "
                    "it, stop failed in 5 of 6 runs and retry in 1 of 5; every seed ended within 5 points of the sane "
                    "accuracy with stop up to 1× the recommendation, with retry up to 10× the recommendation. The 4 "
                    "retry run(s) that retried made 1.8 retries on average and trained 23 steps again (23% of the "
                    "100 planned); 1 of them still stopped after its last retry.")


def test_nothing_measured_and_a_low_recommendation_accuracy_are_said_so():
    nothing = analysis.analyze(S, lambda task: None)
    assert nothing["sane_accuracy"] is None and all(row["max_lr"] is None for row in nothing["rows"])
    assert report.verdict(nothing, dataclasses.asdict(S)) == "The runs at the recommendation are not measured yet."
    assert report.range_test_text(nothing) == "The range test is not measured yet."
    low = analysis.analyze(S, _measured(S, {(1.0, "stop"): [_run(0.9), _run(0.5), _run(0.9)],
                                            (1.0, "retry"): [_run(0.9)] * 3}))
    assert low["holds_up_to"] == {"stop": None, "retry": 1.0}  # 0.5 is not within 5 points of the mean, 0.767
    assert "with stop not even at the recommendation" in report.verdict(low, dataclasses.asdict(S))


def test_the_plan_waits_for_the_range_test_then_trains_every_multiple_mode_and_seed():
    assert runs.plan(FULL, lambda task: None) == [runs.finder_task(FULL)]
    tasks = runs.plan(FULL, lambda task: {"recommendation": {"max_lr": 0.03318}} if task.job == "range_test" else None)
    trained = [(t.max_lr, t.config["on_diverge"], t.config["seed"]) for t in tasks[1:]]
    assert trained == [(lr, mode, seed) for lr in (0.0332, 0.0995, 0.332, 0.498, 0.995) for mode in ("stop", "retry")
                       for seed in (0, 1, 2)]
    assert all(t.config["epochs"] == 20 and t.config["dataset"] == "digits" for t in tasks)
    assert len({runs.key(t) for t in tasks}) == len(tasks)
    task = tasks[1]
    assert runs.key(task).startswith("train|stop|lr=0.0332|seed=0|")
    assert runs.key(dataclasses.replace(task, config={**task.config, "progress": True})) == runs.key(task)


@pytest.mark.parametrize(("change", "message"), [
    ({"extra_steps": 5}, "extra_steps 5 must be the sum of the retries' step - restored_step (20)"),
    ({"retries": [{"step": 5, "restored_step": 10, "max_lr": 0.5}], "extra_steps": -5}, "extra_steps must be"),
    ({"accuracy": 1.5}, "accuracy must be a number in [0, 1], got 1.5"),
])
def test_a_damaged_cached_run_is_one_error_naming_the_file_the_run_and_the_value(tmp_path, change, message):
    key = runs.key(runs.train_task(QUICK, "retry", 0.1, 0))
    run = _run(0.9, [(30, 10)])
    path = tmp_path / "runs.json"
    path.write_text(json.dumps({"runs": {key: run}}))
    assert runs.RunCache.load(path).runs == {key: run}
    path.write_text(json.dumps({"runs": {key: {**run, **change}}}))
    with pytest.raises(BenchmarkError, match="is damaged: the run train") as err:
        runs.RunCache.load(path)
    assert message in str(err.value)


def test_a_results_file_of_other_multiples_is_refused_naming_it(tmp_path):
    lookup = _measured(S, {(1.0, "stop"): [_run(0.9)] * 3})
    data = {"settings": dataclasses.asdict(S), "meta": {
        "command": "c", "machine": "m", "cpus": 2, "torch": "t", "jobs": 2, "date": "d", "wall_time_s": 1.0,
        "new_runs": 0, "runs": 0, "run_time_s": 0.0, "results_file": "r", "runs_file": "f"},
        "results": analysis.analyze(S, lookup)}
    path = tmp_path / "retry.json"
    path.write_text(json.dumps(data))
    assert read_results(path)["results"]["sane_accuracy"] == pytest.approx(0.9)
    data["settings"]["multiples"] = [1.0, 10.0]
    path.write_text(json.dumps(data))
    with pytest.raises(BenchmarkError, match=r"retry.json is damaged: results.rows are of the multiples \[1.0, 10.0, "
                                             r"30.0\], not those of settings.multiples \[1.0, 10.0\]"):
        read_results(path)
