"""The sharpness benchmark (benchmarks/sharpness): a quick run end to end and again from its cache, the plan and the
keys, the per-schedule arithmetic and the verdict on constructed numbers, and the cache's check of what it holds."""

import dataclasses
import json

import pytest

from benchmarks.common.cli import SMOKE_WARNING, BenchmarkError
from benchmarks.sharpness import analysis, cli, report, runs
from benchmarks.sharpness.results import read_results
from benchmarks.sharpness.settings import ARMS, FULL, QUICK

HAND_WRITTEN = "# Measured results\n\nWritten by hand: kept.\n"


def test_quick_run_writes_the_report_and_a_rerun_measures_nothing(tmp_path, monkeypatch):
    out, results, cache = tmp_path / "RESULTS.md", tmp_path / "results.json", tmp_path / "runs.json"
    after = "\n\n## Later, by hand\n\nAlso kept.\n"
    out.write_text(f"{HAND_WRITTEN}\n{report.SECTION.begin}\nNot measured yet.\n{report.SECTION.end}{after}")
    argv = ["--quick", "--out", str(out), "--results", str(results), "--runs", str(cache)]
    assert cli.main(argv) == 0
    data = read_results(results)  # what it wrote reads back
    text = out.read_text()
    assert text.startswith(f"{HAND_WRITTEN}\n{report.SECTION.begin}\n\n{SMOKE_WARNING}\n\n## Sharpness: do high "
                           "learning rates find flatter minima?")
    assert text.endswith(f"{report.SECTION.end}{after}") and "Not measured yet." not in text
    assert "### Result" in text and "| schedule | max_lr | seed 0 |" in text
    meta, found = data["meta"], data["results"]
    assert meta["new_runs"] == meta["runs"] == 1 + len(ARMS) * len(QUICK.seeds) and not meta["missing"]
    lrs = found["peaks"]
    assert lrs["high"] == float(f"{found['range_test']['max_lr']:.3g}") and lrs["moderate"] == float(
        f"{lrs['high'] / QUICK.moderate_divisor:.3g}")
    for arm, row in zip(ARMS, found["arms"]):  # onecycle sharpness's figures for onecycle train's runs
        (run,) = row["runs"]
        assert row["max_lr"] == lrs[arm.peak] and len(run["eigenvalues"]) == QUICK.sharpness.k
        assert run["eigenvalues"] == sorted(run["eigenvalues"], reverse=True) and run["iterations"] >= 1
        assert row["top"]["values"] == [run["eigenvalues"][0]] and 0 <= run["accuracy"] <= 1

    monkeypatch.setattr(cli, "measure", lambda task: pytest.fail(f"measured again: {runs.label(task)}"))
    assert cli.main(argv) == 0
    again = json.loads(results.read_text())
    assert again["meta"]["new_runs"] == 0 and again["results"] == data["results"]
    assert out.read_text().count(report.SECTION.begin) == 1


def _measured(s, tops, finder=0.4, accuracy=0.9):
    """A lookup of constructed measurements: the range test recommends ``finder``; each arm's runs (by seed) have
    the top eigenvalues ``tops[arm.name]`` (``None``: not measured; ``"diverged"``)."""
    lrs = runs.peaks(s, {"recommendation": {"max_lr": finder}})
    table = {runs.key(runs.finder_task(s)): {"recommendation": {"max_lr": finder}}}
    for arm in ARMS:
        for seed, top in zip(s.seeds, tops[arm.name]):
            if top is None:
                continue
            sharp = None if top == "diverged" else {"eigenvalues": [top, top / 2], "residuals": [0.0, 0.0],
                                                    "iterations": 30, "converged": True, "samples": 2048}
            table[runs.key(runs.train_task(s, arm, lrs[arm.peak], seed))] = {
                "accuracy": accuracy, "diverged": top == "diverged", "sharpness": sharp, "train_time_s": 100.0,
                "sharpness_s": None if sharp is None else 50.0}
    return lambda task: table.get(runs.key(task))


HIGH, MODERATE, STEP = (arm.name for arm in ARMS)


def test_each_schedule_mean_and_std_and_the_comparisons_on_constructed_runs():
    lookup = _measured(FULL, {HIGH: [10.0, 12.0, 14.0], MODERATE: [30.0, 40.0, 50.0], STEP: [13.0, 20.0, "diverged"]})
    found = analysis.analyze(FULL, lookup)
    high, moderate, step = found["arms"]
    assert (high["max_lr"], moderate["max_lr"], step["max_lr"]) == (0.4, 0.04, 0.04)
    assert (high["top"]["mean"], high["top"]["std"]) == (12.0, 2.0) and moderate["top"]["mean"] == 40.0
    assert [e["mean"] for e in high["eigenvalues"]] == [12.0, 6.0]
    assert step["top"]["values"] == [13.0, 20.0] and step["runs"][2]["eigenvalues"] is None
    assert found["high_vs_moderate"] == {"ratio": 0.3, "lower": True, "separated": True}
    assert found["high_vs_step"] == {"ratio": 12.0 / 16.5, "lower": True, "separated": False}
    text = report.verdict(found)
    assert "1cycle, high max_lr: 12 ± 2; 1cycle, moderate max_lr: 40 ± 10; step, moderate max_lr: 16.5 ± 4.95" in text
    assert ("1cycle at the high max_lr ends flatter than 1cycle at the moderate one: a top eigenvalue 3.33 times "
            "lower on average, at every seed.") in text
    assert "than the step schedule at the moderate one: a top eigenvalue 1.38 times lower on average, but the " \
           "seeds' values overlap: the difference is within the spread over seeds." in text


def test_runs_not_converged_or_diverged_are_marked_in_the_verdict_as_in_the_table():
    lookup = _measured(FULL, {HIGH: [10.0, 12.0, 14.0], MODERATE: [30.0, 40.0, 50.0], STEP: [13.0, 20.0, "diverged"]})
    found = analysis.analyze(FULL, lookup)
    assert "*" not in report.verdict(found) and "step, moderate max_lr: 16.5 ± 4.95 (1 of 3 run(s) diverged †, " \
                                               "left out)." in report.verdict(found)
    for arm in found["arms"][1:]:  # the moderate max_lr's first seeds did not converge
        arm["runs"][0]["converged"] = False
    table = report.results_table({"settings": {"seeds": list(FULL.seeds)}, "results": found})
    text = report.verdict(found)
    assert "1cycle, high max_lr: 12 ± 2; 1cycle, moderate max_lr: 40 ± 10*; step, moderate max_lr: 16.5 ± 4.95* (1 " \
           "of 3 run(s) diverged †, left out)." in text
    assert text.endswith("* 2 of the runs counted did not converge within the Lanczos iterations allowed: their top "
                         "eigenvalue is an estimate below the true one, short of the tolerance, and so are the figures "
                         "and comparisons that count it.")
    assert "| 30* |" in table and "| 13* |" in table and "| † |" in table


def test_the_quick_summary_says_which_runs_did_not_converge(tmp_path, capsys):
    argv = ["--quick", "--out", str(tmp_path / "R.md"), "--results", str(tmp_path / "r.json"), "--runs",
            str(tmp_path / "c.json")]
    assert cli.main(argv) == 0
    data = read_results(tmp_path / "r.json")
    lines = capsys.readouterr().err.splitlines()
    text = (tmp_path / "R.md").read_text()
    for arm in data["results"]["arms"]:
        (run,) = arm["runs"]
        line = next(x for x in lines if f"top eigenvalue {run['eigenvalues'][0]:.4g}" in x)
        assert ("(not converged)" in line) != run["converged"]
        assert (f"{arm['name']}: {report.ms(arm['top'])}*" in text) != run["converged"]


def test_sharper_and_not_yet_measured_are_said_so():
    lookup = _measured(FULL, {HIGH: [50.0, 60.0, None], MODERATE: [10.0, 11.0, 12.0], STEP: [None] * 3})
    found = analysis.analyze(FULL, lookup)
    text = report.verdict(found)
    assert "ends sharper than 1cycle at the moderate one: a top eigenvalue 5.00 times higher" in text
    assert "against the step schedule at the moderate one: not measured yet." in text
    one = analysis.analyze(FULL, _measured(FULL, {HIGH: [5.0, None, None], MODERATE: [10.0, 11.0, None],
                                                  STEP: [None] * 3}))
    assert one["high_vs_moderate"] == {"ratio": 5.0 / 10.5, "lower": True, "separated": None}
    assert "2.10 times lower on average, measured on too few seeds to tell it from the spread." in report.verdict(one)
    nothing = analysis.analyze(FULL, lambda task: None)
    assert nothing["peaks"] is None and all(not a["runs"] and a["max_lr"] is None for a in nothing["arms"])
    assert report.range_test_text(nothing) == "The range test is not measured yet."


def test_the_plan_waits_for_the_range_test_then_trains_every_schedule_and_seed():
    assert runs.plan(FULL, lambda task: None) == [runs.finder_task(FULL)]
    tasks = runs.plan(FULL, lambda task: {"recommendation": {"max_lr": 0.1234}} if task.job == "range_test" else None)
    trained = [(t.config["schedule"], t.max_lr, t.config["seed"]) for t in tasks[1:]]
    assert trained == [(s, lr, seed) for s, lr in (("onecycle", 0.123), ("onecycle", 0.0123), ("step", 0.0123))
                       for seed in FULL.seeds]
    assert all(t.sharpness == dataclasses.asdict(FULL.sharpness) and t.config["epochs"] == 4 for t in tasks[1:])
    assert len({runs.key(t) for t in tasks}) == len(tasks)


def test_keys_name_every_setting_of_the_run_and_of_its_sharpness():
    task = runs.train_task(FULL, ARMS[0], 0.1, 0)
    base = runs.key(task)
    assert base.startswith("train|onecycle|lr=0.1|seed=0|")
    for changed in (dataclasses.replace(task, sharpness={**task.sharpness, "images": 1024}),
                    dataclasses.replace(task, sharpness={**task.sharpness, "seed": 1}),
                    dataclasses.replace(task, config={**task.config, "epochs": 5}),
                    dataclasses.replace(task, max_lr=0.2), dataclasses.replace(task, weight_decay=1e-4)):
        assert runs.key(changed) != base
    assert runs.key(dataclasses.replace(task, config={**task.config, "progress": True})) == base  # shows only


@pytest.mark.parametrize(("change", "message"), [
    ({"sharpness": None}, "sharpness must be measured for a run that trained to its end, and only for one"),
    ({"sharpness": {"eigenvalues": [1.0, 2.0], "residuals": [0.0, 0.0], "iterations": 3, "converged": True,
                    "samples": 8}}, "sharpness.eigenvalues must be in descending order"),
    ({"accuracy": 1.5}, "accuracy must be a number in [0, 1], got 1.5"),
])
def test_a_damaged_cached_run_is_one_error_naming_the_file_the_run_and_the_value(tmp_path, change, message):
    key = runs.key(runs.train_task(QUICK, ARMS[0], 0.1, 0))
    run = {"accuracy": 0.9, "diverged": False, "stopped": None, "train_time_s": 1.0, "train_loss": 0.3,
           "test_loss": 0.4, "sharpness": {"eigenvalues": [2.0, 1.0], "residuals": [0.0, 0.0], "iterations": 3,
                                           "converged": True, "samples": 8},
           "sharpness_s": 1.0, "seconds": 2.0, "date": "2026-11-29T10:00:00+00:00"}
    path = tmp_path / "runs.json"
    path.write_text(json.dumps({"runs": {key: run}}))
    assert runs.RunCache.load(path).runs == {key: run}
    path.write_text(json.dumps({"runs": {key: {**run, **change}}}))
    with pytest.raises(BenchmarkError, match="is damaged: the run train") as err:
        runs.RunCache.load(path)
    assert message in str(err.value)
