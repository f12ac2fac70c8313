"""The CPU-scale twins (benchmarks/experiments): a quick run end to end and again from its cache, the cache key
against every setting, the epochs-to-target and mean ± std arithmetic on constructed numbers, the plan."""

import dataclasses
import json
import math
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from benchmarks.common.cli import SMOKE_WARNING, BenchmarkError
from benchmarks.common.training import LEFT_OUT_AT_DEFAULT, NOT_MEASURED, range_test_keys
from benchmarks.experiments import analysis, cli, plan, report, runs
from benchmarks.experiments.figures import FIGURES
from benchmarks.experiments.run_cache import RECORDS, RunCache
from benchmarks.experiments.settings import FULL, QUICK
from onecycle.config import CHOICES, FIELDS, RunConfig, field_type

HAND_WRITTEN = "# Measured results\n\nWritten by hand: kept.\n"


def test_quick_run_writes_the_report_and_figures_and_a_rerun_trains_nothing(tmp_path, monkeypatch):
    out, results, cache = tmp_path / "RESULTS.md", tmp_path / "results.json", tmp_path / "runs.json"
    after = "\n\n## Later, by hand\n\nAlso kept.\n"
    out.write_text(f"{HAND_WRITTEN}\n{report.SECTION.begin}\nNot measured yet.\n{report.SECTION.end}{after}")
    argv = ["--quick", "--out", str(out), "--results", str(results), "--runs", str(cache)]
    assert cli.main(argv) == 0
    data = json.loads(results.read_text())
    text = out.read_text()
    assert text.startswith(f"{HAND_WRITTEN}\n{report.SECTION.begin}\n\n{SMOKE_WARNING}\n\n## CPU-scale twins")
    assert text.endswith(f"{report.SECTION.end}{after}")
    assert "Not measured yet." not in text
    assert text.count(report.SECTION.begin) == 1 and text.count(report.SECTION.end) == 1
    for heading in ("Which claims held", "1. Epochs to accuracy", "2. Cyclical vs constant momentum",
                    "3. Super-convergence", "4. Short cycle", "5. Weight decay", "did not reproduce"):
        assert heading in text, heading
    assert set(data["figures"]) == set(FIGURES)
    for name in FIGURES.values():
        assert (tmp_path / "images" / name).stat().st_size > 0 and f"images/{name}" in text
    assert data["meta"]["new_runs"] == data["meta"]["runs"] and not data["meta"]["missing"]
    assert len(data["results"]["claims"]) >= 5 and not (tmp_path / "runs-journal.jsonl").exists()
    meta = data["meta"]
    assert meta["epochs_trained"] > 0 and meta["fastest_epoch_s"] > 0
    assert f"the {meta['epochs_trained']} epochs of the suite" in text and "load average" in text

    # Again from the cache: nothing is measured, the results are the same.
    monkeypatch.setattr(cli, "measure", lambda task: pytest.fail(f"measured again: {runs.label(task)}"))
    assert cli.main(argv) == 0
    again = json.loads(results.read_text())
    assert again["meta"]["new_runs"] == 0 and again["results"] == data["results"]
    text = out.read_text()
    assert text.count(report.SECTION.begin) == 1
    assert (f"This invocation trained nothing: all {data['meta']['runs']} measurements, and so every figure, come "
            "from the cache. From an empty cache: ") in text and "0 s\nof wall time" not in text
    assert "Every figure is\nthat of one seed, seed 0 (initialisation" in text  # --quick: one seed
    assert "Per epoch (seed 0):" in text and "over seeds" not in text


def _other(name: str, value, draw):
    """A value of setting ``name`` different from ``value`` (of its type; not necessarily a valid setting)."""
    kind, _ = field_type(name)
    if kind is bool:
        return not value
    if kind is int:
        return (value or 0) + draw(st.integers(1, 1000))
    if kind is float:
        return draw(st.floats(0, 10, allow_nan=False).filter(lambda v: v != value))
    if kind is list:
        return draw(st.lists(st.floats(0, 1), min_size=1, max_size=4).filter(lambda v: v != value))
    choices = CHOICES.get(name)
    if choices:
        return draw(st.sampled_from([c for c in choices if c != value]))
    return draw(st.text(min_size=1, max_size=8).filter(lambda v: v != value))


MEASURED = sorted(set(FIELDS) - set(NOT_MEASURED) - range_test_keys())


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_runs_differing_in_any_one_setting_never_share_a_key(data):
    base = plan.train_task(FULL, max_lr=data.draw(st.floats(1e-4, 10)), epochs=data.draw(st.integers(1, 8)),
                           seed=data.draw(st.integers(0, 5)), schedule=data.draw(st.sampled_from(CHOICES["schedule"])))
    name = data.draw(st.sampled_from([*MEASURED, "max_lr", "weight_decay"]))
    if name in ("max_lr", "weight_decay"):
        value = getattr(base, name)
        changed = dataclasses.replace(base, **{name: data.draw(st.floats(0, 10).filter(lambda v: v != value))})
    else:
        full = {**dataclasses.asdict(RunConfig()), **base.config}
        changed = dataclasses.replace(base, config={**base.config, name: _other(name, full[name], data.draw)})
    assert runs.key(changed) != runs.key(base), name


def test_the_key_covers_every_setting_but_where_data_is_read_and_how_range_tests_measure():
    train = runs.measured_under(plan.train_task(FULL, 0.1, 4, 0))
    assert set(FIELDS) - set(train) == set(NOT_MEASURED) | range_test_keys() | set(LEFT_OUT_AT_DEFAULT)
    assert {"max_lr", "weight_decay", "subset_seed", "torch", "threads", "seed", "schedule", "cycle_momentum",
            "cycle_epochs", "epochs", "train_subset", "test_subset", "momentum"} <= set(train)
    finder = runs.measured_under(plan.finder_task(FULL))
    assert set(FIELDS) - set(finder) == set(NOT_MEASURED) | set(LEFT_OUT_AT_DEFAULT)
    # 1 and 1.0 are one setting; how range tests measure does not make a training run another one
    task = plan.train_task(FULL, 1, 4, 0)
    assert runs.key(task) == runs.key(dataclasses.replace(task, max_lr=1.0))
    assert runs.key(task) == runs.key(dataclasses.replace(task, config={**task.config, "num_steps": 300}))
    assert runs.key(plan.finder_task(FULL)) != runs.key(dataclasses.replace(
        plan.finder_task(FULL), config={**plan.finder_task(FULL).config, "num_steps": 300}))


def test_epochs_to_target_on_constructed_numbers():
    budgets = [1, 2, 4, 8]
    accs = [0.80, 0.86, 0.88, 0.90]
    assert analysis.epochs_to_target(budgets, accs, 0.80) == {"first": 1, "interpolated": 1.0}
    assert analysis.epochs_to_target(budgets, accs, 0.86) == {"first": 2, "interpolated": 2.0}
    # halfway from 0.86 (2 epochs) to 0.88 (4 epochs), in log2(epochs): 2 ** 1.5
    assert analysis.epochs_to_target(budgets, accs, 0.87)["interpolated"] == pytest.approx(2 ** 1.5)
    assert analysis.epochs_to_target(budgets, accs, 0.87)["first"] == 4
    assert analysis.epochs_to_target(budgets, accs, 0.95) == {"first": None, "interpolated": None}
    # not monotone: the first budget reaching it counts; unmeasured budgets are skipped
    assert analysis.epochs_to_target(budgets, [0.85, 0.91, 0.84, 0.93], 0.9)["first"] == 2
    got = analysis.epochs_to_target(budgets, [0.80, None, 0.90, None], 0.85)
    assert got["first"] == 4 and got["interpolated"] == pytest.approx(2.0)  # 1 -> 4 epochs: log2 0 -> 2, halfway


def test_mean_std_and_differences():
    s = analysis.mean_std([0.8, 0.9, 1.0])
    assert s["mean"] == pytest.approx(0.9) and s["std"] == pytest.approx(0.1) and s["n"] == 3
    assert analysis.mean_std([0.7]) == {"values": [0.7], "n": 1, "mean": 0.7, "std": None}
    assert analysis.mean_std([])["mean"] is None
    a, b = analysis.mean_std([0.90, 0.91, 0.92]), analysis.mean_std([0.80, 0.82, 0.84])
    d = analysis.difference(a, b)
    assert d["diff"] == pytest.approx(0.09)
    assert d["se"] == pytest.approx(math.sqrt(0.01**2 / 3 + 0.02**2 / 3)) and d["verdict"] == "higher"
    close = analysis.difference(analysis.mean_std([0.90, 0.92]), analysis.mean_std([0.89, 0.93]))
    assert close["verdict"] == "within noise"
    one_seed = analysis.difference(analysis.mean_std([0.8]), analysis.mean_std([0.9]))
    assert one_seed["se"] is None and one_seed["verdict"] == "lower"
    assert report.ms({**a, "diverged": 0}) == "91.0 ± 1.0" and report.ms(analysis.mean_std([0.7])) == "70.0"


def test_the_plan_grows_with_the_range_test_and_the_sweep():
    before = plan.plan(QUICK, lambda task: None)
    assert [t.job for t in before[:2]] == ["range_test", "sweep"]
    grid_runs = len(QUICK.budgets) * len(QUICK.seeds) * len(QUICK.schedules) * len(QUICK.grid)
    constant_momentum = len(QUICK.grid) * len(QUICK.seeds)
    assert len(before) == 2 + grid_runs + constant_momentum
    measured = {runs.key(plan.finder_task(QUICK)): {"recommendation": {"max_lr": 0.2, "lr_at_minimum": 0.3}},
                runs.key(plan.sweep_task(QUICK)): {"values": [1e-3, 0.0], "max_lrs": [0.2, None]}}
    after = plan.plan(QUICK, lambda task: measured.get(runs.key(task)))
    keys = [runs.key(t) for t in after]
    assert len(keys) == len(set(keys)) and {runs.key(t) for t in before} <= set(keys)
    lrs = {t.max_lr for t in after if t.job == "train"}
    assert {0.2, 0.3, 0.03} <= lrs  # the recommendation, the minimum, the minimum / 10
    assert any(t.config.get("cycle_epochs") == QUICK.cycle_epochs for t in after)
    assert {t.weight_decay for t in after if t.job == "train"} == {QUICK.weight_decay, 1e-3}  # 0: no max_lr
    epochs = [t.epochs for t in after if t.job == "train"]
    assert epochs == sorted(epochs, reverse=True)  # longest first


def test_the_full_suite_fits_its_budget():
    """The full suite's training, in epochs of its training subset: what the 90-minute estimate is made of."""
    measured = {runs.key(plan.finder_task(FULL)): {"recommendation": {"max_lr": 0.2, "lr_at_minimum": 0.3}},
                runs.key(plan.sweep_task(FULL)): {"values": list(FULL.sweep_values),
                                                  "max_lrs": [0.2] * len(FULL.sweep_values)}}
    tasks = plan.plan(FULL, lambda task: measured.get(runs.key(task)))
    assert len(FULL.seeds) >= 3 and FULL.momentum_epochs in FULL.budgets and FULL.long_epochs in FULL.budgets
    assert sum(t.epochs for t in tasks) <= 800


def test_the_pace_sentence_scales_the_fastest_run_to_every_epoch_and_is_left_out_without_it():
    meta = {"epochs_trained": 600, "fastest_epoch_s": 6.0, "jobs": 2, "load_average": 7.94}
    assert report.pace(meta) == (" Run times depend on what else the machine runs (1-minute load average 7.9 when "
                                 "this report was written): the fastest run measured took 6.0 s an epoch, a pace at "
                                 "which the 600 epochs of the suite take about 30.0 min of wall time with `--jobs 2`.")
    assert report.pace({**meta, "fastest_epoch_s": None}) == report.pace({"jobs": 2}) == ""


def test_the_report_says_what_this_invocation_measured_or_that_it_trained_nothing():
    meta = {"wall_time_s": 0.4, "new_runs": 0, "runs": 197}
    assert report.invocation(meta) == ("This invocation trained nothing: all 197 measurements, and so every figure, "
                                       "come from the cache.")
    assert report.invocation({**meta, "wall_time_s": 125.0, "new_runs": 12}) == ("This invocation: 2.1 min of wall "
                                                                                 "time, 12 new measurement(s) of 197.")


@pytest.mark.parametrize(("numbers", "words", "figures"), [
    ([0], "seed 0", "that of one seed, seed 0"),
    ([3, 4], "seeds 3 and 4", "the mean ± sample standard deviation over seeds 3 and 4"),
    ([0, 1, 2], "seeds 0, 1 and 2", "the mean ± sample standard deviation over seeds 0, 1 and 2"),
    ([], "no seed", "the mean ± sample standard deviation over no seed"),
])
def test_the_seeds_read_as_words(numbers, words, figures):
    assert report.seeds(numbers) == words and report.over_seeds(numbers) == figures


def test_the_section_replaces_its_old_self_only(tmp_path):
    path, begin, end = tmp_path / "R.md", report.SECTION.begin, report.SECTION.end
    report.SECTION.write(path, "first\n")
    assert path.read_text() == f"{begin}\n\nfirst\n\n{end}\n"
    path.write_text(HAND_WRITTEN)
    report.SECTION.write(path, "first", default=True)  # the default report: the section is appended
    path.write_text(path.read_text() + "\nafter\n")
    report.SECTION.write(path, "second")
    assert path.read_text() == f"{HAND_WRITTEN}\n{begin}\n\nsecond\n\n{end}\n\nafter\n"


def test_loss_curves_average_the_seeds_per_epoch():
    def history(*epochs):
        return [{"epoch": i + 1, "train_loss": t, "val_loss": v, "val_accuracy": a}
                for i, (t, v, a) in enumerate(epochs)]

    tasks = [plan.train_task(QUICK, 0.1, QUICK.long_epochs, seed) for seed in (0, 1)]
    measured = {runs.key(tasks[0]): {"accuracy": 0.8, "diverged": False,
                                     "history": history((1.0, 1.2, 0.6), (0.5, 0.9, 0.8))},
                runs.key(tasks[1]): {"accuracy": 0.1, "diverged": True,  # stopped in its second epoch
                                     "history": history((1.2, 1.6, 0.5))}}
    c = analysis.loss_curves(lambda t: measured.get(runs.key(t)), tasks)
    assert c["epoch"] == [1, 2] and c["train_loss"] == pytest.approx([1.1, 0.5])
    assert c["gap"] == pytest.approx([0.3, 0.4]) and c["gap_std"][0] == pytest.approx(math.sqrt(0.02))
    assert c["gap_std"][1] is None  # one seed reached epoch 2
    assert c["final_gap"]["values"] == pytest.approx([0.4, 0.4])
    assert c["mean_gap"]["values"] == pytest.approx([0.3, 0.4])
    assert c["accuracy"]["mean"] == pytest.approx(0.45) and c["accuracy"]["diverged"] == 1
    steps = QUICK.long_epochs * QUICK.base["train_subset"] // QUICK.base["batch_size"]  # one lr per step
    assert c["lr_curve"]["epoch"] == pytest.approx([t / (steps / QUICK.long_epochs) for t in range(steps)])
    assert 0.09 < max(c["lr_curve"]["lr"]) <= 0.1


def _range_test_run(steps: int = 30) -> dict:
    """A measured range test as :func:`runs.measure` keeps it: a bowl-shaped curve that diverges at its end."""
    from onecycle.suggestions import recommend, zero_phase_smooth

    lrs = [1e-4 * 10 ** (4 * i / (steps - 1)) for i in range(steps)]
    losses = [2.0 - 1.5 * i / steps + (3.0 if i > steps - 5 else 0.0) for i in range(steps - 1)] + [math.inf]
    return {"lrs": lrs, "losses": losses, "filtered": zero_phase_smooth(lrs[:-1], losses[:-1]).tolist(),
            "recommendation": recommend(lrs, losses).to_dict(), "stop_reason": "the loss diverged",
            "diverged": True, "seconds": 3.5}


TRAIN_KEY, RANGE_TEST_KEY, SWEEP_KEY = ("train|onecycle|lr=0.1|wd=0.0005|epochs=2|seed=0|4feaba63875d87f8",
                                        "range_test|seed=0|300c2a41dc3ddf18", "sweep|seed=0|0912469ecaabcb56")


def _cached_runs() -> dict:
    """One valid measurement of each job, by key."""
    epoch = {"epoch": 1, "step": 39, "lr": 0.05, "train_loss": 1.15, "train_accuracy": 0.62, "val_loss": 0.78,
             "val_accuracy": 0.72, "time_s": 35.6}
    curves = [{k: v for k, v in _range_test_run().items() if k != "seconds"} for _ in range(2)]
    return {TRAIN_KEY: {"accuracy": 0.75, "diverged": False, "stopped": None,
                        "history": [epoch, {**epoch, "epoch": 2, "step": 78, "lr": 0.0, "val_accuracy": 0.75}],
                        "seconds": 70.2},
            RANGE_TEST_KEY: _range_test_run(),
            SWEEP_KEY: {"param": "weight_decay", "values": [0.001, 0.0001], "pick": 0.001, "max_lrs": [0.1, None],
                        "reached_losses": [0.5, math.inf], "eligible": [True, False], "curves": curves,
                        "seconds": 9.0}}


# What the hostile trial wrote into a cached run, and the error: the run's key and what is wrong in it.
DAMAGED_RUNS = {
    "accuracy a string": (TRAIN_KEY, lambda run: run.update(accuracy="0.9"),
                          "accuracy must be a number in [0, 1], got '0.9'"),
    "accuracy NaN": (TRAIN_KEY, lambda run: run.update(accuracy=math.nan),
                     "accuracy must be a number in [0, 1], got nan"),
    "lrs and losses of two lengths": (RANGE_TEST_KEY, lambda run: run["losses"].pop(),
                                      "losses must hold one loss per lr: 29 losses, 30 lrs"),
    "filtered longer than lrs": (RANGE_TEST_KEY, lambda run: run["filtered"].extend([1.0, 1.0]),
                                 "filtered must hold one loss per lr up to the last finite loss (29), got 31"),
    "an epoch's test loss missing": (TRAIN_KEY, lambda run: run["history"][1].pop("val_loss"),
                                     "history[1] is missing the key(s) val_loss"),
    "an epoch's accuracy of 75": (TRAIN_KEY, lambda run: run["history"][1].update(val_accuracy=75),
                                  "history[1].val_accuracy must be a number in [0, 1], got 75"),
    "negative seconds": (TRAIN_KEY, lambda run: run.update(seconds=-1), "seconds must be a finite number >= 0"),
    "no recommendation": (RANGE_TEST_KEY, lambda run: run.pop("recommendation"),
                          "the run is missing the key(s) recommendation"),
    "a sweep value without its max_lr": (SWEEP_KEY, lambda run: run["max_lrs"].pop(),
                                         "max_lrs must hold one item per swept value: 1 for 2 values"),
    "a sweep curve of two lengths": (SWEEP_KEY, lambda run: run["curves"][1]["lrs"].pop(0),
                                     "curves[1].losses must hold one loss per lr: 30 losses, 29 lrs"),
    "not a run": (SWEEP_KEY, lambda run: run.clear() or run.update(seconds=1.0),
                  "the run is missing the key(s) curves, eligible, max_lrs, param, pick, reached_losses, values"),
}


@pytest.mark.parametrize("place", ["file", "journal"])
@pytest.mark.parametrize("damage", DAMAGED_RUNS)
def test_a_damaged_cached_run_is_one_error_naming_the_file_the_key_and_the_value(tmp_path, damage, place):
    key, damaged, message = DAMAGED_RUNS[damage]
    runs = _cached_runs()
    damaged(runs[key])
    path = tmp_path / "runs.json"
    journal = RunCache.journal_of(path)
    if place == "file":
        path.write_text(json.dumps({"runs": runs}))
        where = f"{path} is damaged: the run {key}: "
    else:
        journal.write_text("".join(json.dumps({"key": k, "run": v}) + "\n" for k, v in runs.items()))
        where = f"{journal} is damaged: line {list(runs).index(key) + 1}, the run {key}: "
    with pytest.raises(BenchmarkError) as err:
        RunCache.load(path)
    assert str(err.value).startswith(where + message)


def test_a_run_under_a_key_of_no_job_is_refused(tmp_path):
    path = tmp_path / "runs.json"
    path.write_text(json.dumps({"runs": {"fit|seed=0|abc": {"seconds": 1.0}}}))
    with pytest.raises(BenchmarkError, match=re.escape(f"{path} is damaged: the run fit|seed=0|abc: its key must "
                                                       "start with the job, one of train, range_test, sweep")):
        RunCache.load(path)


def test_every_job_has_its_record_and_valid_caches_load_as_they_are(tmp_path):
    assert set(RECORDS) == set(runs.JOBS)
    assert set(RECORDS["train"]["history"][0]) == set(runs.HISTORY_KEYS)
    path = tmp_path / "runs.json"
    path.write_text(json.dumps({"runs": _cached_runs()}))
    assert RunCache.load(path).runs == _cached_runs()
    committed = cli.RUNS_FILE  # the cache the report in docs/RESULTS.md was measured into
    assert RunCache.load(committed).runs == json.loads(committed.read_text())["runs"]
    assert not RunCache.journal_of(committed).exists()


def test_a_journal_line_torn_by_a_kill_is_dropped_and_the_journal_goes_on(tmp_path):
    path = tmp_path / "runs.json"
    journal = RunCache.journal_of(path)
    whole = "".join(json.dumps({"key": k, "run": v}) + "\n" for k, v in _cached_runs().items())
    journal.write_text(whole + '{"key": "train|onecycle|lr=0.2", "run": {"accura')
    cache = RunCache.load(path)
    assert cache.runs == _cached_runs() and journal.read_text() == whole  # the torn line is gone from the journal
    cache.record("train|onecycle|lr=0.3|x", _cached_runs()[TRAIN_KEY])
    assert RunCache.load(path).runs == cache.runs
