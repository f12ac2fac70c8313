"""The time-to-accuracy benchmark (benchmarks/time_to_accuracy): a quick run end to end and again from its cache,
the budget search and "the first budget reaching the target" on constructed numbers (exact cases and properties),
the per-seed and mean ± std arithmetic, the report's tables, and the results file read back."""

import copy
import dataclasses
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from benchmarks.common.cli import SMOKE_WARNING, BenchmarkError
from benchmarks.time_to_accuracy import analysis, cli, plan, report, runs, usage
from benchmarks.time_to_accuracy.results import read_results
from benchmarks.time_to_accuracy.run_cache import RECORDS, RunCache
from benchmarks.time_to_accuracy.settings import FULL, QUICK, Settings

HAND_WRITTEN = "# Benchmarks\n\nWritten by hand: kept.\n"


def test_quick_run_writes_the_report_and_a_rerun_trains_nothing(tmp_path, monkeypatch):
    out, results, cache = tmp_path / "BENCHMARKS.md", tmp_path / "results.json", tmp_path / "runs.json"
    after = "\n\n## Later, by hand\n\nAlso kept.\n"
    out.write_text(f"{HAND_WRITTEN}\n{report.SECTION.begin}\nNot measured yet.\n{report.SECTION.end}{after}")
    argv = ["--quick", "--out", str(out), "--results", str(results), "--runs", str(cache)]
    assert cli.main(argv) == 0
    data = read_results(results)  # what it wrote reads back
    text = out.read_text()
    assert text.startswith(f"{HAND_WRITTEN}\n{report.SECTION.begin}\n\n{SMOKE_WARNING}\n\n# Benchmark: time to "
                           "accuracy")
    assert text.endswith(f"{report.SECTION.end}{after}") and "Not measured yet." not in text
    for heading in ("## Result", "## Every budget", "## Test accuracy after each epoch", "## Each run's cost"):
        assert heading in text, heading
    meta, results_ = data["meta"], data["results"]
    assert meta["new_runs"] == meta["runs"] == 1 + len(results_["budgets"]) * len(QUICK.seeds)
    assert not meta["missing"] and not cache.with_name("runs-journal.jsonl").exists()
    assert [row["epochs"] for row in results_["budgets"]] == plan.searched_budgets(
        QUICK.budgets, QUICK.target, {row["epochs"]: [r["accuracy"] for r in row["runs"]]
                                      for row in results_["budgets"]}, QUICK.start)
    for row in results_["budgets"]:
        for run in row["runs"]:  # onecycle train's figures: an accuracy per epoch, times, memory, the threads
            assert len(run["per_epoch"]) == row["epochs"] and run["per_epoch"][-1] == run["accuracy"]
            assert run["train_time_s"] > 0 and run["cpu_time_s"] > 0 and run["peak_rss_mb"] > 50
            assert run["threads"] == QUICK.recipe["threads"] and run["images_per_s"] > 0
    assert results_["max_lr_source"] == "range test"
    assert results_["max_lr"] == float(f"{results_['range_test']['max_lr']:.3g}")

    # Again from the cache: nothing is measured, the results are the same.
    monkeypatch.setattr(cli, "measure", lambda task: pytest.fail(f"measured again: {runs.label(task)}"))
    assert cli.main(argv) == 0
    again = json.loads(results.read_text())
    assert again["meta"]["new_runs"] == 0 and again["results"] == data["results"]
    assert out.read_text().count(report.SECTION.begin) == 1


def test_no_new_writes_the_results_of_the_cached_runs_and_lists_those_still_to_measure(tmp_path, monkeypatch):
    out, results, cache = tmp_path / "BENCHMARKS.md", tmp_path / "results.json", tmp_path / "runs.json"
    argv = ["--quick", "--out", str(out), "--results", str(results), "--runs", str(cache)]
    assert cli.main(argv) == 0
    stored = json.loads(cache.read_text())
    cut = sorted(k for k in stored["runs"] if k.startswith("train|"))[-1]  # as if its run had been killed
    del stored["runs"][cut]
    cache.write_text(json.dumps(stored))
    monkeypatch.setattr(cli, "measure", lambda task: pytest.fail(f"measured: {runs.label(task)}"))
    assert cli.main([*argv, "--no-new"]) == 0
    meta = read_results(results)["meta"]
    tasks = plan.plan(QUICK, lambda t: stored["runs"].get(runs.key(t)))  # the budgets 1 and 2 are always trained
    [missing] = [runs.label(t) for t in tasks if runs.key(t) == cut]
    assert meta["new_runs"] == 0 and meta["missing"] == missing
    assert f"Not measured yet: {missing}." in out.read_text()


@pytest.mark.parametrize(("accuracies", "first"), [
    ([0.95, 0.96], 0),  # the shortest budget reaches it
    ([0.90, 0.93, 0.94], 1),  # exactly the target counts
    ([0.90, 0.92, 0.91], None),  # none does
    ([None, 0.94, 0.95], None),  # the one before the first that does is not measured: not known
    ([None, 0.90, 0.94, None], 2),  # measured from a later start: known from the one before
    ([0.90, None, 0.94], None),
    ([0.94, 0.90, 0.95], 0),  # a longer budget that falls short does not move the answer
    ([], None),
])
def test_first_reaching(accuracies, first):
    assert plan.first_reaching(accuracies, 0.93) == first


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(st.none(), st.floats(0, 1)), max_size=8), st.floats(0, 1))
def test_first_reaching_is_the_first_known_budget_at_the_target(accuracies, target):
    i = plan.first_reaching(accuracies, target)
    reaching = [j for j, a in enumerate(accuracies) if a is not None and a >= target]
    if i is None:
        assert not reaching or (reaching[0] > 0 and accuracies[reaching[0] - 1] is None)
    else:
        assert i == reaching[0] and (i == 0 or accuracies[i - 1] < target)


BUDGETS = (3, 4, 5, 6, 8, 10)


@pytest.mark.parametrize(("start", "measured", "chosen"), [
    (None, {}, [3, 10]),  # nothing measured: the start and the longest
    (None, {3: [0.91, 0.92, None]}, [3, 10]),  # a seed of 3 epochs still running: wait
    (None, {3: [0.91, 0.93, 0.92]}, [3, 4, 10]),  # not every seed: one longer
    (None, {3: [0.91, 0.93, 0.92], 4: [0.93, 0.94, 0.93]}, [3, 4, 10]),  # every seed at 4: done
    (None, {3: [0.9] * 3, 4: [0.9] * 3, 5: [0.9] * 3, 6: [0.9] * 3, 8: [0.9] * 3, 10: [0.92] * 3},
     list(BUDGETS)),  # never: every budget
    (5, {}, [5, 10]),
    (5, {5: [0.93, 0.94, 0.95]}, [4, 5, 10]),  # every seed at the start: one shorter
    (5, {5: [0.93, 0.94, 0.95], 4: [0.92, 0.93, 0.92]}, [3, 4, 5, 10]),  # a seed still reaches it at 4
    (5, {5: [0.93, 0.94, 0.95], 4: [0.92, 0.92, 0.92]}, [4, 5, 10]),  # none at 4: done
    (5, {5: [0.92, 0.94, 0.95], 4: [0.92, 0.93, 0.92]}, [3, 4, 5, 6, 10]),  # both ways at once
    (10, {10: [0.95] * 3, 8: [0.95] * 3, 6: [0.95] * 3, 5: [0.95] * 3, 4: [0.95] * 3, 3: [0.95] * 3},
     list(BUDGETS)),  # every budget reaches it: down to the shortest
])
def test_searched_budgets(start, measured, chosen):
    assert plan.searched_budgets(BUDGETS, 0.93, measured, start) == chosen


def test_searched_budgets_start_must_be_a_budget():
    with pytest.raises(ValueError, match=r"start 7 is not one of the budgets \[3, 4, 5, 6, 8, 10\]"):
        plan.searched_budgets(BUDGETS, 0.93, {}, 7)


def _monotone_runs(draw):
    """Per seed, the budget from which on its runs reach the target (past the longest: never)."""
    return [draw(st.integers(0, len(BUDGETS))) for _ in range(draw(st.integers(1, 4)))]


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_the_search_finds_each_seeds_shortest_budget_when_longer_budgets_do_no_worse(data):
    """Searched to its end (every budget it asks for measured), each seed's first budget reaching the target is the
    true one, and the budgets trained are contiguous around the start, plus the longest."""
    reach_from = _monotone_runs(data.draw)
    start = data.draw(st.sampled_from(BUDGETS))
    truth = {b: [0.95 if i >= r else 0.90 for r in reach_from] for i, b in enumerate(BUDGETS)}
    measured: dict[int, list[float]] = {}
    while True:
        chosen = plan.searched_budgets(BUDGETS, 0.93, measured, start)
        new = [b for b in chosen if b not in measured]
        if not new:
            break
        measured.update({b: truth[b] for b in new})
    for seed, r in enumerate(reach_from):
        got = plan.first_reaching([measured.get(b, [None] * len(reach_from))[seed] for b in BUDGETS], 0.93)
        assert got == (r if r < len(BUDGETS) else None)
    inner = [BUDGETS.index(b) for b in chosen if b != BUDGETS[-1]]
    assert inner == list(range(min(inner), max(inner) + 1)) if inner else True
    assert BUDGETS[-1] in chosen and start in chosen


def _run(accuracy, epochs, train_time_s=100.0, seed=0, stalled_s=0.0):
    """A measurement as :func:`benchmarks.time_to_accuracy.runs.measure` returns it."""
    per_epoch = [accuracy - 0.01 * (epochs - 1 - e) for e in range(epochs)]
    return {"accuracy": accuracy, "diverged": False, "stopped": None, "train_time_s": train_time_s,
            "cpu_time_s": 2 * train_time_s, "peak_rss_mb": 500.0 + seed, "threads": 2, "seconds": train_time_s + 5,
            "date": "2026-01-02T03:04:05+00:00",
            "history": [{"epoch": e + 1, "val_accuracy": a, "images_per_s": 1000.0 + 100 * seed, "cpu_s": 1.0,
                         "load": 1.5 + e, "time_s": train_time_s / epochs, "stalled_s": stalled_s if e == 1 else 0.0}
                        for e, a in enumerate(per_epoch)]}


TOY = Settings(recipe={**FULL.recipe}, budgets=(3, 4, 5, 10), seeds=(0, 1, 2), target=0.93, goal=0.94, start=4)
FINDER = {"recommendation": {"max_lr": 0.2269, "lr_at_minimum": 0.35, "confidence": "high", "notes": []},
          "range_test_s": 30.0, "steps": 102, "seconds": 31.0, "date": "2026-01-02T03:00:00+00:00"}
TOY_RUNS = {  # (epochs, seed): final accuracy, train time
    (4, 0): (0.931, 400.0), (4, 1): (0.925, 410.0), (4, 2): (0.933, 420.0),
    (3, 0): (0.920, 300.0), (3, 1): (0.915, 310.0), (3, 2): (0.925, 320.0),
    (5, 0): (0.935, 500.0), (5, 1): (0.936, 510.0), (5, 2): (0.934, 520.0),
    (10, 0): (0.941, 1000.0), (10, 1): (0.939, 1010.0), (10, 2): (0.928, 1020.0),
}


def toy_lookup(measured=TOY_RUNS, finder=FINDER):
    table = {runs.key(plan.finder_task(TOY)): finder}
    for (epochs, seed), (accuracy, seconds) in measured.items():
        stalled = 30.0 if (epochs, seed) == (10, 0) else 0.0  # stopped for half a minute in its second epoch
        table[runs.key(plan.train_task(TOY, 0.227, epochs, seed))] = _run(accuracy, epochs, seconds, seed, stalled)
    return lambda task: table.get(runs.key(task))


def test_the_plan_waits_for_the_range_test_then_searches():
    assert [t.job for t in plan.plan(TOY, lambda task: None)] == ["range_test"]
    lookup = toy_lookup(measured={})
    tasks = plan.plan(TOY, lookup)
    assert [(t.job, t.config.get("epochs"), t.config.get("seed")) for t in tasks] == [
        ("range_test", None, 0), *(("train", e, s) for e in (4, 10) for s in (0, 1, 2))]
    assert {t.max_lr for t in tasks[1:]} == {0.227} and {t.weight_decay for t in tasks[1:]} == {5e-4}
    assert [t.config.get("epochs") for t in plan.plan(TOY, toy_lookup())][1:] == [3, 3, 3, 4, 4, 4, 5, 5, 5, 10, 10,
                                                                                  10]
    fixed = dataclasses.replace(TOY, max_lr=0.1)  # a max_lr of the settings: the range test still runs, no wait
    assert {t.max_lr for t in plan.plan(fixed, lambda task: None)} == {None, 0.1}


def test_to_target_per_seed_and_mean_on_constructed_runs():
    got = analysis.analyze(TOY, toy_lookup())
    t = got["to_target"]
    assert [(p["seed"], p["status"], p["epochs"], p["train_time_s"]) for p in t["per_seed"]] == [
        (0, "reached", 4, 400.0), (1, "reached", 5, 510.0), (2, "reached", 4, 420.0)]
    assert [p["exceptions"] for p in t["per_seed"]] == [[], [], [10]]  # seed 2 fell short at 10 epochs
    assert t["every_seed"] and t["epochs"]["mean"] == pytest.approx(13 / 3)
    assert t["epochs"]["std"] == pytest.approx(0.5773502691896257)
    assert t["train_time_s"]["mean"] == pytest.approx(1330 / 3) and t["cpu_time_s"]["mean"] == pytest.approx(2660 / 3)
    mean_budget = t["mean_budget"]  # 4 epochs: mean 92.97%, short; 5 epochs: 93.5%
    assert mean_budget["epochs"] == 5 and mean_budget["accuracy"]["mean"] == pytest.approx(0.935)
    assert mean_budget["train_time_s"]["values"] == [500.0, 510.0, 520.0]
    longest = got["longest"]
    assert longest["epochs"] == 10 and longest["final"]["mean"] == pytest.approx(0.936) and not longest["goal_met"]
    assert [row["reached"] for row in got["budgets"]] == [0, 2, 3, 2]
    assert got["peak_rss_mb"] == 502.0 and got["images_per_s"]["mean"] == pytest.approx(1100.0)
    assert got["max_lr"] == 0.227 and got["range_test"]["max_lr"] == 0.2269


def test_seeds_that_do_not_reach_it_or_are_not_measured_yet():
    measured = {k: v for k, v in TOY_RUNS.items() if k[0] in (3, 4, 10)}
    measured[(10, 1)] = (0.925, 1010.0)  # seed 1: short at 3, 4 and 10 epochs, so at every budget
    del measured[(3, 2)]  # seed 2 reaches it at 4 but 3 is not measured: not known
    t = analysis.analyze(TOY, toy_lookup(measured))["to_target"]
    assert [(p["status"], p["epochs"]) for p in t["per_seed"]] == [("reached", 4), ("not reached", None),
                                                                  ("not known", None)]
    assert not t["every_seed"] and t["epochs"]["values"] == [4.0]
    assert t["mean_budget"]["epochs"] == 10  # 3: two seeds only; 4: 92.97%; 10: 93.13%


def test_the_meter_counts_the_gaps_between_steps_as_the_time_held_up(monkeypatch):
    clock = iter([0.0, 0.5, 1.0, 13.0, 13.5, 100.0, 100.4])  # a gap of 12 s in epoch 1; the evaluation is none
    monkeypatch.setattr(usage.time, "perf_counter", lambda: next(clock))
    meter = usage.Meter()
    for _ in range(5):
        meter.on_step(None, {})
    meter.on_epoch_end(None, {})
    for _ in range(2):
        meter.on_step(None, {})
    meter.on_epoch_end(None, {})
    assert [e["stalled_s"] for e in meter.epochs] == [12.0, 0.0] and usage.STALL_S == 10.0
    assert all(e["cpu_s"] >= 0 for e in meter.epochs) and meter.cpu_time() == sum(e["cpu_s"] for e in meter.epochs)
    assert usage.peak_rss_mb() > 10


def test_a_seed_whose_shorter_budget_is_not_measured_is_known_to_reach_the_target_at_most_at_its_budget():
    measured = {k: v for k, v in TOY_RUNS.items() if k[0] in (4, 10)}  # 3 epochs not measured: 4 is a bound only
    t = analysis.analyze(TOY, toy_lookup(measured))["to_target"]
    assert [(p["status"], p["epochs"], p["at_most"]) for p in t["per_seed"]] == [
        ("not known", None, 4), ("not known", None, 10), ("not known", None, 4)]
    text = report.render(_rendered(toy_lookup(measured)))
    assert "| epochs to 93% | ≤ 4 (shorter not measured) | ≤ 10 (shorter not measured) | ≤ 4 (shorter not " in text
    assert ("known only to be at most: 4 epochs for seed 0, 10 epochs for seed 1, 4 epochs for seed 2 (a shorter "
            "budget not measured yet).") in text and "Not every seed reaches it" not in text


def _rendered(lookup=None, settings_=TOY):
    meta = {"command": "python -m benchmarks.time_to_accuracy --jobs 1", "machine": "AMD EPYC, 2 logical CPU(s), "
            "Linux x86_64", "cpus": 2, "torch": "2.13.0+cpu", "jobs": 1, "date": "2026-01-02", "wall_time_s": 9.0,
            "new_runs": 0, "runs": 13, "run_time_s": 9000.0, "results_file": "r.json", "runs_file": "c.json",
            "missing": "", "quick": False}
    return json.loads(json.dumps({"settings": dataclasses.asdict(settings_), "meta": meta,
                                  "results": analysis.analyze(settings_, lookup or toy_lookup())}))


def test_the_report_tables_on_constructed_runs():
    text = report.render(_rendered())
    assert "| epochs to 93% | 4 | 5 | 4 | 4.3 ± 0.6 |" in text
    assert "| wall time to 93% | 400 s (6.7 min) | 510 s (8.5 min) | 420 s (7.0 min) | 443 ± 59 s |" in text
    assert "| accuracy after 10 epochs | 94.10% | 93.90% | 92.80% | 93.60 ± 0.70% |" in text
    assert "| peak RSS | 500 MiB | 501 MiB | 502 MiB | 502 MiB (max) |" in text
    assert "| 4 | 93.10% | 92.50% | 93.30% | 92.97 ± 0.42% | 410 ± 10 s | 2 of 3 |" in text
    assert "| 10 epochs, seed 2 | 83.80 | 84.80 |" in text  # the accuracy after each epoch
    assert "**93% in 5 epochs, 510 ± 10 s of wall time (1020 ± 20 s of CPU time)**" in text
    assert "**94% within 10 epochs: not reached.** The best figure: the 10-epoch runs end at 93.60 ± 0.70%" in text
    assert report.NOTES in text and "not so for seed 2 at 10 epochs" in text
    assert "was 3.8 on average and 10.5 at" in text  # at the 10th epoch's end 1.5 + 9; the runs' means, averaged
    assert "above the 2 logical CPUs" in text and SMOKE_WARNING not in text
    assert "1 of the 12 runs were held up (two of their steps more than 10 s apart" in text
    assert "for 30 s in all" in text
    assert ("| 10 | 0 | 94.10% | 1000 s (16.7 min) | 2000 s (33.3 min) | 1000 | 500 MiB | 2 | 6.0 / 10.5 | 30 s |"
            in text)
    assert "recommends max_lr 0.227 (high confidence; smoothed minimum at 0.35)" in text


def test_the_report_says_when_the_goal_is_reached_and_budgets_not_trained():
    measured = {**TOY_RUNS, (10, 2): (0.945, 1020.0), (10, 1): (0.95, 1010.0)}
    text = report.render(_rendered(toy_lookup(measured)))
    assert "**94% within 10 epochs: reached**: the 10-epoch runs end at 94.53 ± 0.45%" in text
    partial = report.render(_rendered(toy_lookup({k: v for k, v in TOY_RUNS.items() if k[0] == 4})))
    assert "| 10 | — | — | — | — | — | — |" in partial and "The 10-epoch runs are not measured yet." in partial


def test_the_results_file_round_trips_and_a_damaged_one_names_the_key(tmp_path):
    data = _rendered()
    path = tmp_path / "r.json"
    path.write_text(json.dumps(data))
    assert read_results(path) == data
    for where, value, message in [
        (("results", "budgets", 0, "runs", 1, "accuracy"), 93.1, "results.budgets[0].runs[1].accuracy must be a "
                                                                  "number in [0, 1], got 93.1"),
        (("results", "to_target", "per_seed", 0, "status"), "done", "results.to_target.per_seed[0].status must be "
                                                                    "one of reached, not reached, not known, got "
                                                                    "'done'"),
        (("results", "budgets", 1, "epochs"), 7, "results.budgets[1].epochs 7 is not one of settings.budgets "
                                                 "[3, 4, 5, 10]"),
        (("results", "to_target", "per_seed", 1, "epochs"), None, "results.to_target.per_seed[1] has status "
                                                                  "'reached' and epochs None"),
        (("meta", "cpus"), 0, "meta.cpus must be an integer >= 1, got 0"),
    ]:
        damaged = copy.deepcopy(data)
        inner = damaged
        for k in where[:-1]:
            inner = inner[k]
        inner[where[-1]] = value
        path.write_text(json.dumps(damaged))
        with pytest.raises(BenchmarkError) as err:
            read_results(path)
        assert str(err.value).startswith(f"{path} is damaged: {message}"), str(err.value)


def test_keys_name_every_setting_and_the_full_settings_make_a_valid_plan():
    base = plan.train_task(FULL, 0.2, 5, 0)
    assert runs.key(base) == runs.key(dataclasses.replace(base, max_lr=0.2))
    for change in ({"threads": 2}, {"augment": "crop+flip"}, {"epochs": 6}, {"seed": 1}, {"batch_size": 512}):
        assert runs.key(dataclasses.replace(base, config={**base.config, **change})) != runs.key(base), change
    assert runs.key(dataclasses.replace(base, weight_decay=1e-4)) != runs.key(base)
    assert runs.key(base) == runs.key(dataclasses.replace(base, config={**base.config, "progress": True}))
    from onecycle.config import from_dict

    for task in plan.plan(FULL, lambda task: None):  # the recipe is a valid run configuration
        from_dict(task.config)
    assert FULL.start is None or FULL.start in FULL.budgets
    assert max(FULL.budgets) == 10 and FULL.target == 0.93 and FULL.goal == 0.94 and len(FULL.seeds) == 3


TRAIN_KEY, RANGE_TEST_KEY = "train|lr=0.085|epochs=2|seed=0|5642890f96ef98cb", "range_test|seed=0|4a5889e543a76acf"


def _cached_runs() -> dict:
    """One valid measurement of each job, by key, as :func:`runs.measure` keeps them."""
    epoch = {"epoch": 1, "val_accuracy": 0.31, "val_loss": 2.2, "train_loss": 1.7, "lr": 8.5e-05, "time_s": 2.2,
             "images_per_s": 125.4, "cpu_s": 0.92, "load": 9.12, "stalled_s": 0.0}
    return {TRAIN_KEY: {"accuracy": 0.5, "diverged": False, "stopped": None, "train_time_s": 4.4, "cpu_time_s": 1.8,
                        "peak_rss_mb": 310.5, "threads": 1, "seconds": 5.0, "date": "2026-11-29T10:55:01+00:00",
                        "history": [epoch, {**epoch, "epoch": 2, "val_accuracy": 0.5, "load": None}]},
            RANGE_TEST_KEY: {"recommendation": {"max_lr": 0.058, "min_lr": 0.0058, "suggestions": {
                "valley": 0.0071, "steepest": 0.0142, "minimum_div10": 0.0087, "drop_fraction": 0.0433},
                "confidence": "high", "spread": 0.91, "notes": [], "div_factor": 10.0, "lr_at_minimum": 0.087,
                "repeats": 1, "fall": 0.69},
                             "range_test_s": 79.7, "steps": 101, "seconds": 79.7, "date": "2026-11-29T10:55:01+00:00"}}


DAMAGED_RUNS = {
    "accuracy a string": (TRAIN_KEY, lambda run: run.update(accuracy="0.9"),
                          "accuracy must be a number in [0, 1], got '0.9'"),
    "accuracy NaN": (TRAIN_KEY, lambda run: run.update(accuracy=float("nan")),
                     "accuracy must be a number in [0, 1], got nan"),
    "an epoch's accuracy in percent": (TRAIN_KEY, lambda run: run["history"][1].update(val_accuracy=93.1),
                                       "history[1].val_accuracy must be a number in [0, 1], got 93.1"),
    "an epoch's images/s NaN": (TRAIN_KEY, lambda run: run["history"][0].update(images_per_s=float("nan")),
                                "history[0].images_per_s must be a finite number > 0, got nan"),
    "train time missing": (TRAIN_KEY, lambda run: run.pop("train_time_s"),
                           "the run is missing the key(s) train_time_s"),
    "max_lr big": (RANGE_TEST_KEY, lambda run: run["recommendation"].update(max_lr="big"),
                   "recommendation.max_lr must be"),
    "negative seconds": (RANGE_TEST_KEY, lambda run: run.update(range_test_s=-3),
                         "range_test_s must be a finite number >= 0, got -3"),
}


@pytest.mark.parametrize("place", ["file", "journal"])
@pytest.mark.parametrize("damage", DAMAGED_RUNS)
def test_a_damaged_cached_run_is_one_error_naming_the_file_the_key_and_the_value(tmp_path, damage, place):
    key, damaged, message = DAMAGED_RUNS[damage]
    cached = _cached_runs()
    damaged(cached[key])
    path = tmp_path / "runs.json"
    journal = RunCache.journal_of(path)
    if place == "file":
        path.write_text(json.dumps({"runs": cached}))
        where = f"{path} is damaged: the run {key}: "
    else:
        journal.write_text("".join(json.dumps({"key": k, "run": v}) + "\n" for k, v in cached.items()))
        where = f"{journal} is damaged: line {list(cached).index(key) + 1}, the run {key}: "
    with pytest.raises(BenchmarkError) as err:
        RunCache.load(path)
    assert str(err.value).startswith(where + message)


def test_every_job_has_its_record_and_a_valid_cache_loads_as_it_is(tmp_path):
    assert set(RECORDS) == set(runs.JOBS)
    assert set(runs.EPOCH_KEYS) <= {getattr(k, "name", k) for k in RECORDS["train"]["history"][0]}
    path = tmp_path / "runs.json"
    path.write_text(json.dumps({"runs": _cached_runs()}))
    assert RunCache.load(path).runs == _cached_runs()
    path.write_text(json.dumps({"runs": {"fit|seed=0|abc": {}}}))
    with pytest.raises(BenchmarkError, match="the run fit\\|seed=0\\|abc: its key must start with the job, one of "
                                             "train, range_test"):
        RunCache.load(path)
