"""The recommendation benchmark: scoring on constructed cases with known answers, the re-implemented published
rules on constructed curves, and a quick end-to-end run."""

import json
import math
import re
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from benchmarks.common.cli import SMOKE_WARNING, BenchmarkError
from benchmarks.recommendation import candidates, cli, published_rules, report, rules, run_cache, scoring
from benchmarks.recommendation.cases import CASES, QUICK_CASE, SGD_GRID

PEAK = 0.3


def _accuracy(lr: float) -> float:
    """A known accuracy curve: a parabola in log lr peaking at ``PEAK``."""
    return 0.9 - 0.05 * (math.log10(lr) - math.log10(PEAK)) ** 2


def _fake_train(calls: list):
    def train(lr: float, seed: int) -> "scoring.Run":
        calls.append((lr, seed))
        # Seeds 0 and 1 sit 1 point either side of the curve: their mean is the curve itself.
        return scoring.Run(_accuracy(lr) + (0.01 if seed else -0.01), diverged=lr > 2.0)

    return train


def _curve(n: int = 100, lr_min: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """A range-test-like curve: flat, a fall in log lr, a minimum at ``lr_min``, then a steep rise."""
    lrs = np.geomspace(1e-5, 10.0, n)
    x = np.log10(lrs) - math.log10(lr_min)
    losses = 2.3 - 1.5 / (1 + np.exp(-3 * (x + 2))) + np.where(x > 0, 4 * x**2, 0.0)
    return lrs, losses


def _finder(lrs: np.ndarray, losses: np.ndarray) -> dict:
    from onecycle.suggestions import recommend

    return {"lrs": list(lrs), "losses": list(losses), "recommendation": recommend(lrs, losses).to_dict(),
            "num_steps": len(lrs)}


def test_regret_of_every_rule_equals_the_closed_form():
    calls: list = []
    lrs, losses = _curve()
    result = scoring.evaluate_case(_fake_train(calls), (0, 1), SGD_GRID, _finder(lrs, losses),
                                   extra={"other test": 0.05, "no answer": None})
    best_lr = min(SGD_GRID, key=lambda lr: abs(math.log10(lr / PEAK)))  # 10**-0.5, nearest the peak
    assert result["best"]["lr"] == best_lr and not result["best_on_edge"]
    assert result["best"]["accuracy"] == pytest.approx(_accuracy(best_lr))
    assert set(result["rules"]) == set(rules.RULES)
    answered = 0
    for name, entry in result["rules"].items():
        if entry["lr"] is None:
            continue
        answered += 1
        expected = 100 * (_accuracy(entry["lr"]) - _accuracy(best_lr))
        assert entry["regret"] == pytest.approx(expected, abs=1e-9), name
        assert entry["diverged"] == (entry["lr"] > 2.0)
    assert answered >= len(rules.RULES) - 1
    from onecycle.suggestions import recommend

    for name, margin in candidates.TRAINED_MARGINS.items():
        entry = result["trained_variants"][name]
        assert entry["lr"] == pytest.approx(recommend(lrs, losses, margin=margin).max_lr)
        assert entry["regret"] == pytest.approx(100 * (_accuracy(entry["lr"]) - _accuracy(best_lr))), name
    assert result["trained_variants"]["min/10"] == result["rules"]["minimum_div10"]
    other = result["trained_variants"]["other test"]
    assert other["lr"] == 0.05 and other["regret"] == pytest.approx(100 * (_accuracy(0.05) - _accuracy(best_lr)))
    assert result["trained_variants"]["no answer"]["regret"] is None
    # Every (lr, seed) pair is trained once, however many rules share it.
    assert len(calls) == len(set(calls)) == result["runs"]
    # The library's rule is recommend()'s max_lr.
    assert result["rules"][rules.OURS]["lr"] == pytest.approx(recommend(lrs, losses).max_lr)
    # The seeds' means lie on a unimodal curve, so the denoised fit is the curve itself: its best is the best
    # trained lr, and every denoised regret is the closed form against it.
    trained = sorted({lr for lr, _ in calls})
    best_trained = max(_accuracy(lr) for lr in trained)
    assert result["denoised_best"]["accuracy"] == pytest.approx(best_trained)
    for name, entry in [*result["rules"].items(), *result["trained_variants"].items()]:
        if entry["lr"] is not None:
            assert entry["denoised_regret"] == pytest.approx(100 * (_accuracy(entry["lr"]) - best_trained)), name


def test_unimodal_fit():
    assert scoring.unimodal_fit([1, 3, 2, 4, 1], [1] * 5).tolist() == [1, 2.5, 2.5, 4, 1]
    assert scoring.unimodal_fit([1, 3, 2, 4, 1], [1, 1, 3, 1, 1]).tolist() == [1, 2.25, 2.25, 4, 1]
    assert scoring.unimodal_fit([5, 1, 4, 2], [1] * 4).tolist() == [5, 2.5, 2.5, 2]
    assert scoring.unimodal_fit([], []).tolist() == []


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.floats(0, 1), st.integers(1, 4)), min_size=1, max_size=12))
def test_unimodal_fit_properties(points):
    y, w = np.array([p[0] for p in points]), np.array([p[1] for p in points], dtype=float)
    fit = scoring.unimodal_fit(y, w)
    peak = int(np.argmax(fit))
    assert np.all(np.diff(fit[: peak + 1]) >= -1e-12) and np.all(np.diff(fit[peak:]) <= 1e-12)
    assert np.sum(w * fit) == pytest.approx(np.sum(w * y))  # pooling keeps the weighted sum
    assert scoring.unimodal_fit(fit, w) == pytest.approx(fit)  # a unimodal sequence is its own fit
    # no worse than the best fit with the peak at any single point, or than the constant fit
    sse = np.sum(w * (y - fit) ** 2)
    assert sse <= np.sum(w * (y - np.average(y, weights=w)) ** 2) + 1e-12


def test_run_cache_trains_each_run_once_and_round_trips(tmp_path, monkeypatch):
    calls = []

    def fake_run(setup, lr, seed, weight_decay):
        calls.append((lr, seed, weight_decay))
        return scoring.Run(lr + seed / 10, diverged=seed == 1)

    monkeypatch.setattr(run_cache, "one_cycle_run", fake_run)
    case = QUICK_CASE
    cache = run_cache.RunCache(threads=2)
    first = cache.run(case, None, 0.1, 0, 1e-4)
    assert cache.run(case, None, 0.1 * (1 + 1e-9), 0, 1e-4) == first == scoring.Run(0.1, False)  # same to 6 digits
    assert cache.run(case, None, 0.1, 1, 1e-4) == scoring.Run(0.2, True)
    cache.run(case, None, 0.1, 0, 1e-3)  # another weight decay is another run
    assert len(calls) == 3 and len(cache.new) == 3
    path = tmp_path / "runs.json"
    cache.save(path)
    back = run_cache.RunCache.load(path, threads=2)
    assert back.runs == cache.runs and back.new == {}
    assert back.run(case, None, 0.1, 1, 1e-4) == scoring.Run(0.2, True) and len(calls) == 3
    assert set(back.of_case(case)) == set(cache.runs) and back.of_case(CASES[0]) == {}
    # another thread count is another run: CPU results are reproducible for a fixed thread count only
    other = run_cache.RunCache.load(path, threads=1)
    other.run(case, None, 0.1, 0, 1e-4)
    assert len(calls) == 4


def test_run_journal_keeps_runs_of_a_killed_benchmark(tmp_path, monkeypatch):
    monkeypatch.setattr(run_cache, "one_cycle_run", lambda setup, lr, seed, wd: scoring.Run(lr + seed))
    path = tmp_path / "runs.json"
    journal = run_cache.RunCache.journal_of(path)
    cache = run_cache.RunCache.load(path, threads=1)  # nothing yet: the journal goes with the file
    assert cache.journal == journal and not journal.exists()
    cache.run(QUICK_CASE, None, 0.1, 0, 1e-4)
    cache.run(QUICK_CASE, None, 0.2, 0, 1e-4)
    # Killed before save: the journal holds both runs; a torn last line (a kill mid-write) is dropped.
    with open(journal, "a") as f:
        f.write('{"key": "torn')
    back = run_cache.RunCache.load(path, threads=1)
    assert back.runs == cache.runs and len(back.runs) == 2
    monkeypatch.setattr(run_cache, "one_cycle_run", lambda *a: pytest.fail("a journaled run was trained again"))
    assert back.run(QUICK_CASE, None, 0.2, 0, 1e-4) == scoring.Run(0.2)
    # Another worker's runs, appended to the journal while this process saves, are kept in the file.
    other = run_cache.RunCache({}, threads=1, journal=journal)
    monkeypatch.setattr(run_cache, "one_cycle_run", lambda setup, lr, seed, wd: scoring.Run(lr + seed))
    other.run(QUICK_CASE, None, 0.3, 0, 1e-4)
    back.save(path)
    assert journal.exists() and len(json.loads(path.read_text())["runs"]) == 3
    journal.unlink()
    assert len(run_cache.RunCache.load(path, threads=1).runs) == 3
    back.save(path, final=True)  # at the end: folded into the file, journal gone
    assert not journal.exists() and len(run_cache.RunCache.load(path, threads=1).runs) == 3


KEY = f"{QUICK_CASE.name}|wd=0.0001|lr=0.1|seed=0|threads=1"


@pytest.mark.parametrize(("run", "message"), [
    (["0.9", False, 1.5], "accuracy must be a number in [0, 1], got '0.9'"),
    ([math.nan, False], "accuracy must be a number in [0, 1], got nan"),
    ([1.2, False], "accuracy must be a number in [0, 1], got 1.2"),
    ([0.9, "no", 1.5], "diverged must be true or false, got 'no'"),
    ([0.9, False, -2.0], "seconds must be a finite number >= 0, got -2.0"),
    ([0.9], "the run must be [accuracy, diverged, seconds] (seconds may be left out), got [0.9]"),
    ([0.9, False, 1.5, 3], "the run must be [accuracy, diverged, seconds] (seconds may be left out), got "
                           "[0.9, False, 1.5, 3]"),
    ({"accuracy": 0.9}, "the run must be a list, got {'accuracy': 0.9}"),
])
@pytest.mark.parametrize("place", ["file", "journal"])
def test_a_damaged_cached_run_is_one_error_naming_the_file_the_key_and_the_value(tmp_path, run, message, place):
    path = tmp_path / "runs.json"
    journal = run_cache.RunCache.journal_of(path)
    valid = {f"{QUICK_CASE.name}|wd=0.0001|lr=0.2|seed=0|threads=1": [0.5, True]}
    if place == "file":
        path.write_text(json.dumps({"runs": {**valid, KEY: run}}))
        where = f"{path} is damaged: the run {KEY}: "
    else:
        journal.write_text("".join(json.dumps({"key": k, "run": v}) + "\n" for k, v in {**valid, KEY: run}.items()))
        where = f"{journal} is damaged: line 2, the run {KEY}: "
    with pytest.raises(BenchmarkError, match=re.escape(where + message)):
        run_cache.RunCache.load(path, threads=1)


def test_a_valid_run_cache_loads_as_it_is():
    committed = cli.RUNS_FILE  # the cache the report in docs/BENCHMARKS.md was measured into
    assert run_cache.RunCache.load(committed, threads=1).runs == json.loads(committed.read_text())["runs"]
    assert not run_cache.RunCache.journal_of(committed).exists()


def test_candidate_variants_are_scored_by_interpolation_on_the_grid():
    lrs, losses = _curve()
    result = scoring.evaluate_case(_fake_train([]), (0, 1), SGD_GRID, _finder(lrs, losses))
    points = result["grid"]
    for name, entry in result["variants"].items():
        x = np.log10([p["lr"] for p in points])
        y = [p["accuracy"] for p in points]
        expected = 100 * (np.interp(math.log10(entry["lr"]), x, y) - result["best"]["accuracy"])
        assert entry["regret"] == pytest.approx(expected), name
    assert scoring.interpolated_accuracy(points, 100.0) is None
    assert scoring.interpolated_accuracy(points, points[2]["lr"]) == pytest.approx(points[2]["accuracy"])


def test_rules_left_untrained_are_estimated_from_the_runs_around_them():
    calls: list = []
    lrs, losses = _curve()
    kept = (rules.OURS, "minimum_div10")
    result = scoring.evaluate_case(_fake_train(calls), (0, 1), SGD_GRID, _finder(lrs, losses), trained_rules=kept)
    trained = sorted({lr for lr, _ in calls})
    x = np.log10(trained)
    means = [_accuracy(lr) for lr in trained]  # the two seeds' mean is the curve itself
    estimated = 0
    for name, entry in result["rules"].items():
        if entry["lr"] is None:
            continue
        if name in kept:
            assert not entry.get("estimated") and entry["lr"] in trained, name
            continue
        assert entry["estimated"], name
        if not x[0] <= math.log10(entry["lr"]) <= x[-1]:
            assert entry["regret"] is None and entry["denoised_regret"] is None, name
            continue
        estimated += 1
        expected = 100 * (np.interp(math.log10(entry["lr"]), x, means) - result["best"]["accuracy"])
        assert entry["regret"] == pytest.approx(expected, abs=1e-4), name  # runs are keyed by lr to 6 digits
        assert entry["denoised_regret"] == pytest.approx(
            100 * (np.interp(math.log10(entry["lr"]), x, means) - max(means)), abs=1e-4), name
    assert estimated >= 3
    assert "estimated" not in result["trained_variants"]["min/10"]
    assert "≈" in report.rule_cell(result["rules"]["valley"]) and "≈" not in report.rule_cell(result["rules"]["ours"])


def test_grid_extends_past_an_edge_holding_the_best():
    trials = scoring.Trials(lambda lr, seed: scoring.Run(math.log10(lr)), seeds=(0,))  # best is always the top
    points = scoring.grid_search(trials, (0.01, 0.1, 1.0), extend=2)
    assert [p["lr"] for p in points] == pytest.approx([0.01, 0.1, 1.0, 10.0, 100.0])
    trials = scoring.Trials(lambda lr, seed: scoring.Run(-abs(math.log10(lr))), seeds=(0,))
    assert len(scoring.grid_search(trials, (0.01, 0.1, 1.0, 10.0), extend=2)) == 4


def test_summary_separates_tuning_and_held_out_cases():
    def case(held_out: bool, regrets: dict) -> dict:
        rules = {k: {"regret": v, "diverged": v is not None and v < -50} for k, v in regrets.items()}
        return {"case": {"held_out": held_out}, "rules": rules}

    cases = [case(False, {"a": -1.0, "b": None}), case(False, {"a": -3.0, "b": -60.0}),
             case(True, {"a": 0.5, "b": -2.0})]
    s = scoring.summarize(cases)
    assert s["a"]["tuning"] == {"mean": -2.0, "worst": -3.0, "n": 2, "no_answer": 0, "diverged": 0}
    assert s["b"]["tuning"] == {"mean": -60.0, "worst": -60.0, "n": 1, "no_answer": 1, "diverged": 1}
    assert s["a"]["held_out"]["mean"] == 0.5 and s["b"]["held_out"]["worst"] == -2.0


def test_weight_decay_regret():
    grid = [{"weight_decay": 1e-3, "accuracy": 0.80, "diverged": False},
            {"weight_decay": 1e-4, "accuracy": 0.85, "diverged": False},
            {"weight_decay": 1e-5, "accuracy": 0.84, "diverged": False}]
    assert scoring.score_weight_decay(grid, 1e-3, 0.1)["regret"] == pytest.approx(-5.0)
    assert scoring.score_weight_decay(grid, 1e-4, 0.1)["regret"] == 0.0
    assert scoring.score_weight_decay(grid, None, 0.1)["regret"] is None


def test_published_rules_on_constructed_curves():
    lrs = np.geomspace(1e-4, 1.0, 100)
    # A loss that is lowest at point 70 and falls fastest (per step and per log lr) at point 40.
    x = np.arange(100.0)
    losses = 1.0 - 0.5 * np.tanh((x - 40) / 8) + 0.002 * np.clip(x - 70, 0, None) ** 2
    smoothed = published_rules.debiased_ema(losses)
    kept = slice(10, 95)  # fastai: the first tenth of the 100 planned steps and the last 5 dropped
    assert published_rules.fastai_minimum(lrs, losses) == pytest.approx(lrs[kept][np.argmin(smoothed[kept])] / 10)
    steep = lrs[kept][np.argmin(np.diff(smoothed[kept]))]
    assert published_rules.fastai_steep(lrs, losses) == pytest.approx(steep)
    assert published_rules.lightning_steepest(lrs, losses) == pytest.approx(
        lrs[10:99][np.argmin(np.gradient(smoothed[10:99]))])
    # The EMAs trail the raw curve: the steepest point of the smoothed curve comes later than point 40.
    assert lrs[40] < published_rules.lr_finder_steepest(lrs, losses) < lrs[70]
    # A non-finite loss ends the curve for every rule.
    cut = losses.copy()
    cut[80:] = np.inf
    assert published_rules.lightning_steepest(lrs, cut) == published_rules.lightning_steepest(lrs[:80], losses[:80])


def test_fastai_valley_and_slide():
    # Strictly falling then rising: the longest decreasing run spans points 10..59 of the trimmed curve.
    lrs = np.geomspace(1e-4, 1.0, 100)
    losses = np.concatenate([np.linspace(2.0, 1.0, 60), np.linspace(1.0, 3.0, 41)[1:]])
    # With no smoothing to speak of (beta ~ 0 is not offered), check the index rule on the smoothed curve.
    smoothed = published_rules.debiased_ema(losses)[10:95]
    run = int(np.argmin(smoothed))  # smoothed curve: strictly decreasing up to its minimum
    third = run / 3
    assert published_rules.fastai_valley(lrs, losses) == pytest.approx(lrs[10:95][int(third) + int(third / 2)])
    # slide: on a straight line every gradient agrees, so the starting window's left end is the answer.
    line = np.linspace(2.0, 1.0, 100)
    assert published_rules.fastai_slide(lrs, line, num_steps=100) == pytest.approx(lrs[10:95][-16])
    assert published_rules.fastai_slide(lrs[:20], line[:20], num_steps=100) is None


def test_quick_run_writes_the_report(tmp_path):
    out, results = tmp_path / "BENCH.md", tmp_path / "results.json"
    assert cli.main(["--quick", "--out", str(out), "--results", str(results)]) == 0
    data = json.loads(results.read_text())
    (case,) = data["cases"]
    best = case["best"]["accuracy"]
    assert best == max(p["accuracy"] for p in case["grid"])
    for entry in case["rules"].values():
        if entry["lr"] is not None:
            assert entry["regret"] == pytest.approx(100 * (entry["accuracy"] - best))
    text = out.read_text()
    assert "## Summary: regret per rule" in text and rules.OURS in text and "## Weight decay" in text
    assert text.startswith(f"{report.SECTION.begin}\n\n{SMOKE_WARNING}\n\n# Benchmark: recommendation quality\n")
    assert text.endswith(f"\n\n{report.SECTION.end}\n") and data["measured"] == [QUICK_CASE.name]
    # Again, keeping the case measured: the report says this invocation measured none.
    assert cli.main(["--quick", "--resume", "--out", str(out), "--results", str(results)]) == 0
    assert json.loads(results.read_text())["measured"] == [] and out.read_text().count(report.SECTION.begin) == 1


def test_loss_at_lr_pick_compares_losses_at_the_lowest_recommendation():
    lrs = [1e-3, 1e-2, 1e-1, 1.0]
    curves = [(lrs, [2.0, 1.0, 0.50, 3.0]),  # value 1e-3: lowest loss at 0.1
              (lrs, [2.0, 1.0, 0.60, 3.0]),  # 1e-4
              (lrs, [2.0, 1.0, 0.504, 3.0])]  # 1e-5: within 1% of the lowest
    values = [1e-3, 1e-4, 1e-5]
    assert scoring.loss_at_lr_pick(values, curves, [0.1, 0.2, 0.3]) == 1e-3
    assert scoring.loss_at_lr_pick(values, curves, [0.1, 0.2, 0.3], tolerance=0.0) == 1e-3
    swapped = [curves[1], curves[0], curves[2]]  # the largest value no longer reaches the lowest loss
    assert scoring.loss_at_lr_pick(values, swapped, [0.1, None, 0.3]) == 1e-4
    # read at the lowest recommendation, interpolated in log lr: at 10**-1.5 value 1e-5 wins
    at = [(lrs, [2.0, 1.0, 0.2, 3.0]), (lrs, [2.0, 0.5, 0.5, 3.0])]
    assert scoring.loss_at_lr_pick([1.0, 2.0], at, [10**-1.5, 1.0]) == 2.0
    assert scoring.loss_at_lr_pick(values, curves, [None, None, None]) is None


def test_probe_pick_at_each_tolerance_is_read_off_the_trained_candidates():
    case = {"finder": {"lrs": list(range(20)), "total_steps": 100,
                       "probe": {"candidates": [0.3, 0.2, 0.1], "final": [1.04, None, 1.0],
                                 "losses": [[2.0] * 5 + [1.04] * 5, [1.0, 1.0, 1.0, math.nan],
                                            [2.0] * 5 + [1.0] * 5]}},
            "trained_variants": {"probe candidate 1": {"regret": -5.0}, "probe candidate 2": {"regret": -1.0},
                                 "probe candidate 3": {"regret": -2.0}}}
    regrets = scoring.probe_tolerance_regrets(case)
    assert regrets[0.0] == regrets[0.02] == -2.0 and regrets[0.05] == regrets[0.1] == -5.0
    assert scoring.rule_cost(case, "ours") == 0.2 and scoring.rule_cost(case, "ours + probe") == (20 + 24) / 100
    assert scoring.rule_cost({"finder": {"lrs": [1]}}, "ours") is None
    stuck = {**case, "finder": {**case["finder"], "probe": {**case["finder"]["probe"],
                                                            "losses": [[2.0] * 10, [2.0] * 4, [1.99] * 10]}}}
    assert set(scoring.probe_tolerance_regrets(stuck).values()) == {-5.0}  # learned nothing: the first is kept


RESULTS = json.loads((Path(__file__).parents[1] / "benchmarks" / "results" / "recommendation.json").read_text())


def test_the_rule_of_every_stored_case_is_the_current_recommend():
    """The library's rule is unchanged since the cases were measured: today's recommend() on each stored curve gives
    the max_lr that was trained, so the report may read confidence, fall and shallowness off the curves afresh."""
    from onecycle.suggestions import recommend

    for c in RESULTS["cases"]:
        f = c["finder"]
        assert recommend(f["lrs"], f["losses"], diverged=f["diverged"]).max_lr == c["rules"][rules.OURS]["lr"]


@pytest.mark.parametrize("stored", ["high", "medium"])
def test_the_report_shows_the_confidence_of_the_current_recommend_not_the_stored_one(stored):
    case = json.loads(json.dumps(next(c for c in RESULTS["cases"] if c["case"]["name"] == "digits-nobn-sgd-5ep")))
    case["finder"]["recommendation"].update(confidence=stored, fall=None)  # as older code recorded it
    text = "\n".join(report.per_case([case]))
    line = next(line for line in text.splitlines() if line.startswith("- digits-nobn-sgd-5ep: "))
    now = report.current_recommendation(case["finder"])
    assert now.shallow and now.confidence == "low" and now.fall == pytest.approx(0.036, abs=0.001)
    assert line.endswith("smoothed minimum at 0.27, the loss fell 4% before it (shallow), confidence low.")
    deep = next(c for c in RESULTS["cases"] if c["case"]["name"] == "digits-cnn-sgd-3ep")
    deep = {**deep, "finder": {**deep["finder"], "recommendation": {**deep["finder"]["recommendation"],
                                                                    "confidence": "low"}}}
    assert "the loss fell 90% before it, confidence high." in "\n".join(report.per_case([deep]))


def _wall_time_case(name: str, runs: int, new: int) -> dict:
    return {"case": {"name": name}, "runs": runs, "new_runs": new, "wall_time_s": 60.0, "seconds_per_run": 3.0}


@pytest.mark.parametrize("measured", [["b", "c"], None])
def test_the_wall_time_says_what_the_last_invocation_trained_and_what_an_empty_cache_costs(measured):
    data = {"threads": 1, "jobs": 2, "machine": "x86_64",
            "cases": [_wall_time_case("a", 10, 4), _wall_time_case("b", 20, 5), _wall_time_case("c", 30, 30)]}
    if measured is not None:
        data["measured"] = measured
    text = "\n\n".join(report.wall_time(data))
    if measured:
        assert ("The last invocation measured 2 of the 3 cases and trained 35 of their 50 runs; the rest came from "
                "the cache, and the other cases were kept as earlier invocations measured them (`--resume`).") in text
    else:  # a results file that does not say which cases its invocation measured
        assert ("The invocations that measured these cases trained 39 of the 60 runs behind these tables (each case "
                "counts those of the invocation that measured it); the rest came from the cache.") in text
    assert ("From an empty cache all 60 runs are trained: at the seconds per run measured (each case's mean), about 3 "
            "minutes (0.1 hours) of training on 1 thread(s)") in text
    assert "3.0 minutes of case time in all (each case timed by the invocation that measured it)" in text


NOTES_TEXT = (Path(__file__).parents[1] / "benchmarks" / "recommendation-notes.md").read_text()
DOC = Path(__file__).parents[1] / "docs" / "BENCHMARKS.md"


def test_the_committed_report_is_the_render_of_the_committed_results_and_notes():
    """docs/BENCHMARKS.md is what ``--render`` writes from the results and the notes (nothing edited by hand in
    its section), and the notes' cost from an empty cache is the one the report estimates."""
    doc = DOC.read_text()
    assert report.SECTION.place(doc, report.render(RESULTS, NOTES_TEXT), DOC, default=False) == doc
    estimate = re.search(r"about \d+ minutes \((\d+\.\d) hours\) of training", doc)
    assert estimate and f"about {estimate.group(1)} hours of one-thread training" in " ".join(NOTES_TEXT.split())
