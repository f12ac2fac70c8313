"""The speed benchmark (benchmarks/speed): the interleaved order, the medians and the ratios on constructed
numbers, the option matrix, the results file read back value by value, the peers' environment's state, the loops'
augmentation against the library's, and quick runs end to end (the benchmark, and the GPU check's dry run)."""

import json
import math
import os
import subprocess
import sys

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from benchmarks.common.cli import SMOKE_WARNING
from benchmarks.common.paths import ROOT
from benchmarks.speed import cli, gpu_check, loops, peer_env, plan, report, results, stats
from benchmarks.speed.settings import QUICK
from onecycle.config import FIELDS

HAND_WRITTEN = "# Benchmarks\n\nWritten by hand: kept.\n"


# The order of the measurements, medians and ratios.

def test_each_repeat_measures_everything_once_rotated_by_one_place():
    assert stats.interleaved(["a", "b", "c"], 4) == [
        (0, "a"), (0, "b"), (0, "c"), (1, "b"), (1, "c"), (1, "a"), (2, "c"), (2, "a"), (2, "b"),
        (3, "a"), (3, "b"), (3, "c")]


@settings(max_examples=50, deadline=None)
@given(n=st.integers(1, 8), repeats=st.integers(1, 10))
def test_every_name_runs_at_every_place_in_turn(n, repeats):
    names = [f"m{i}" for i in range(n)]
    order = stats.interleaved(names, repeats)
    assert len(order) == n * repeats
    for r in range(repeats):
        this = [name for repeat, name in order if repeat == r]
        assert sorted(this) == sorted(names)
        for place, name in enumerate(this):  # the place of each name moves one forward each repeat
            assert name == names[(r + place) % n]
    if repeats >= n:  # over n repeats every name has run at every place
        for name in names:
            places = {[m for rr, m in order if rr == r].index(name) for r in range(n)}
            assert places == set(range(n))


@pytest.mark.parametrize(("names", "repeats", "message"), [
    (["a", "b"], 0, "repeats must be at least 1, got 0"),
    (["a", "b", "a"], 2, "each measurement must be named once"),
])
def test_a_bad_plan_is_refused(names, repeats, message):
    with pytest.raises(ValueError, match=message):
        stats.interleaved(names, repeats)


@pytest.mark.parametrize(("values", "expected"), [([3.0], 3.0), ([3.0, 1.0, 2.0], 2.0), ([4.0, 1.0, 3.0, 2.0], 2.5),
                                                  ([5.0, 5.0, 1.0], 5.0)])
def test_median(values, expected):
    assert stats.median(values) == expected


@pytest.mark.parametrize("values", [[], [1.0, math.nan], [math.inf]])
def test_no_median_of_nothing_or_of_what_is_not_a_number(values):
    with pytest.raises(ValueError, match="the median of"):
        stats.median(values)


def _run(name, repeat, **figures):
    return {"name": name, "repeat": repeat, **figures}


def test_a_ratio_is_the_median_of_the_per_repeat_ratios_of_the_repeats_both_sides_have():
    runs = [_run("ours_train", 0, images_per_s=100.0), _run("bare_train", 0, images_per_s=100.0),
            _run("ours_train", 1, images_per_s=90.0), _run("bare_train", 1, images_per_s=100.0),
            _run("ours_train", 2, images_per_s=40.0), _run("bare_train", 2, images_per_s=50.0),
            _run("ours_train", 3, images_per_s=10.0), _run("bare_train", 3, error="killed")]
    row = stats.compare(stats.Comparison("c", "ours_train", "bare_train", "images_per_s", 0.97), runs)
    assert row["ratios"] == [1.0, 0.9, 0.8]
    assert row["ratio"] == 0.9 and row["met"] is False and row["at_least"] is True
    assert row["ours_median"] == 65.0 and row["theirs_median"] == 100.0  # each side over all its repeats
    assert stats.compare(stats.Comparison("c", "ours_train", "bare_train", "images_per_s", 0.9), runs)["met"] is True


def test_a_time_ratio_must_stay_under_its_target_and_one_without_pairs_has_none():
    runs = [_run("ours_range", 0, seconds_per_step=0.8), _run("bare_steps", 0, seconds_per_step=1.0),
            _run("ours_range", 1, seconds_per_step=1.8), _run("bare_steps", 1, seconds_per_step=2.0)]
    row = stats.compare(stats.Comparison("r", "ours_range", "bare_steps", "seconds_per_step", 0.86), runs)
    assert row["ratios"] == [0.8, 0.9] and row["ratio"] == pytest.approx(0.85)
    assert row["met"] is True and row["at_least"] is False
    assert stats.compare(stats.Comparison("r", "ours_range", "bare_steps", "seconds_per_step", 0.84), runs)["met"] \
        is False
    missing = stats.compare(stats.Comparison("r", "ours_range", "fastai_range", "seconds_per_step", 0.8), runs)
    assert missing["ratio"] is None and missing["met"] is None and missing["ratios"] == []
    with pytest.raises(ValueError, match="figure must be one of"):
        stats.Comparison("x", "a", "b", "accuracy", 1.0)


@settings(max_examples=50, deadline=None)
@given(pairs=st.lists(st.tuples(st.floats(0.1, 1e3), st.floats(0.1, 1e3)), min_size=1, max_size=9),
       scale=st.floats(0.5, 4.0))
def test_a_ratio_lies_among_its_per_repeat_ratios_and_scales_with_either_side(pairs, scale):
    def row(k):
        runs = [run for r, (a, b) in enumerate(pairs) for run in (_run("ours_train", r, seconds=a),
                                                                   _run("typical_train", r, seconds=k * b))]
        return stats.compare(stats.Comparison("c", "ours_train", "typical_train", "seconds", 0.8), runs)

    first = row(1.0)
    assert min(first["ratios"]) <= first["ratio"] <= max(first["ratios"])
    assert row(scale)["ratio"] == pytest.approx(first["ratio"] / scale)


def test_a_summary_holds_the_medians_and_the_first_error():
    runs = [_run("ours_train", 0, seconds=3.0, images_per_s=10.0, accuracy=0.5, peak_memory_mib=100.0),
            _run("ours_train", 1, seconds=1.0, images_per_s=30.0, accuracy=0.7, peak_memory_mib=120.0),
            _run("fastai_train", 0, error="ImportError: no fastai"), _run("fastai_train", 1, error="later")]
    got = stats.summary(runs, ["ours_train", "fastai_train"])
    assert got["ours_train"] == {"repeats": 2, "seconds": 2.0, "images_per_s": 20.0, "seconds_per_step": None,
                                 "steps": None, "peak_memory_mib": 110.0, "accuracy": pytest.approx(0.6),
                                 "error": None}
    assert got["fastai_train"]["repeats"] == 0 and got["fastai_train"]["error"] == "ImportError: no fastai"


# The option matrix.

def test_an_option_the_settings_lack_is_skipped_with_a_note_naming_it():
    assert plan.unavailable({"no_such_setting": 1}, "cpu") == \
        "onecycle.config.RunConfig has no setting no_such_setting (yet)"
    assert plan.unavailable({"amp": True, "channels_last": True}, "cpu") is None
    assert "batch_size" in plan.unavailable({"batch_size": 0}, "cpu")  # a value the settings refuse
    cudnn = plan.unavailable({"cudnn_benchmark": True}, "cpu")
    assert cudnn == ("cudnn_benchmark does nothing on cpu" if "cudnn_benchmark" in FIELDS
                     else "onecycle.config.RunConfig has no setting cudnn_benchmark (yet)")


def test_each_option_is_measured_against_a_bare_loop_with_the_same_option_where_it_has_one():
    measured = plan.variants([{"amp": True}, {"log_every": 25}])
    assert measured == {"ours_train[amp=True]": {"amp": True}, "ours_train[log_every=25]": {"log_every": 25},
                        "bare_train[amp=True]": {"amp": True}}
    rows = {c.ours: c for c in plan.comparisons(["ours_train", "bare_train", *measured]) if c.figure == "images_per_s"}
    assert rows["ours_train[amp=True]"].theirs == "bare_train[amp=True]"
    assert rows["ours_train[log_every=25]"].theirs == "bare_train"
    assert rows["ours_train"].theirs == "bare_train" and rows["ours_train"].target == plan.TRAIN_TARGET
    assert {c.theirs for c in plan.comparisons(["ours_train"]) if c.ours == "ours_range"} == {
        "bare_steps", "lrfinder_range", "fastai_range"}  # kept without their measurements, to say so


# The peers' environment.

def test_the_peers_environment_is_used_only_when_built_from_todays_pins(tmp_path):
    env = tmp_path / "env"
    assert peer_env.status(env) == {"ready": False, "reason": f"no peer environment at {env}"}
    peer_env.python(env).parent.mkdir(parents=True)
    peer_env.python(env).write_text("")
    (env / peer_env.MARKER).write_text(json.dumps({"requirements": ["torch==0.1"], "versions": {}}))
    assert peer_env.status(env)["reason"] == f"the peer environment at {env} was built from other pins"
    (env / peer_env.MARKER).write_text('{"requirements": [')
    assert peer_env.status(env)["reason"].startswith(f"{env / peer_env.MARKER} cannot be read")
    (env / peer_env.MARKER).write_text(json.dumps({"requirements": peer_env.requirements(),
                                                   "versions": {"fastai": "2.8.12"}, "install_s": 3.0}))
    assert peer_env.status(env) == {"ready": True, "reason": None, "versions": {"fastai": "2.8.12"}, "install_s": 3.0}
    assert peer_env.requirements()[0] == f"torch=={torch.__version__.split('+')[0]}"
    assert all("==" in r for r in peer_env.requirements())  # every version pinned
    assert set(peer_env.IMPORTS) == {m for k in plan.KINDS.values() if k.peers for m in k.imports}


# The loops' augmentation is the library's.

def _data(n=12, shape=(2, 8, 8)):
    from benchmarks.speed.data import random_images

    return random_images(n, 4, shape, 3, seed=1)


def test_the_per_sample_crop_and_flip_are_the_librarys_at_the_same_draws():
    from onecycle.augment import crop_reflect, flip_horizontal, normalize

    data = _data()
    dataset = loops.PerSampleImages(data["train_images"], data["train_labels"], data["mean"], data["std"],
                                    "crop+flip")
    for i in range(len(dataset)):
        torch.manual_seed(i)
        x, y = dataset[i]
        torch.manual_seed(i)
        offsets = torch.randint(0, 2 * loops.PAD + 1, (2,)).view(1, 2)
        flip = (torch.rand(()) < 0.5).view(1)
        image = data["train_images"][i:i + 1]
        expected = normalize(flip_horizontal(crop_reflect(image, offsets, loops.PAD), flip), data["mean"],
                             data["std"])[0]
        torch.testing.assert_close(x, expected, rtol=1e-6, atol=1e-6)
        assert y == data["train_labels"][i]


def test_the_bare_batches_are_the_librarys_batches_of_a_permutation():
    from onecycle.augment import normalize

    data = _data()
    spec = {"batch_size": 5, "augment": "none"}
    batches = list(loops.bare_batches(spec, data, torch.Generator().manual_seed(3)))
    order = torch.randperm(12, generator=torch.Generator().manual_seed(3))
    assert len(batches) == 2  # full batches only
    for i, (x, y) in enumerate(batches):
        index = order[5 * i:5 * (i + 1)]
        assert torch.equal(x, normalize(data["train_images"][index], data["mean"], data["std"]))
        assert torch.equal(y, data["train_labels"][index])


# The results file.

def _results() -> dict:
    """A results file of a constructed run (nothing measured)."""
    names = ["ours_train", "bare_train", "ours_range", "bare_steps"]
    runs = [_run(n, r, seconds=2.0 + r + i, images=64, steps=4, images_per_s=64 / (2.0 + r + i),
                 seconds_per_step=(2.0 + r + i) / 4, peak_memory_mib=300.0, accuracy=0.5 if "train" in n else None,
                 threads=1, torch="2.13.0") for r in range(2) for i, n in enumerate(names)]
    fields = {k: v for k, v in vars(QUICK).items() if k != "options"}
    meta = {"command": "python -m benchmarks.speed --quick", "date": "2026-01-01T00:00:00+00:00",
            "machine": {"cpu": "a CPU", "cores": 2, "torch": "2.13.0", "python": "3.11", "gpu": None},
            "torch_threads": 1, "jobs": 1, "repeats": 2, "load_before": [1.0, 1.0, 1.0],
            "load_after": [2.0, 1.0, 1.0], "wall_time_s": 9.0, "results_file": "r.json", "quick": True}
    return json.loads(json.dumps({
        "meta": meta, "settings": fields, "peers": {"ready": False, "reason": "none here", "env": "env"},
        "skipped": [{"name": "fastai_train", "reason": "none here"}], "runs": runs,
        "measurements": stats.summary(runs, names),
        "comparisons": [stats.compare(c, runs) for c in plan.comparisons(names)]}))


def _one_error_line(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("python -m benchmarks.speed: error: "), err
    return err


def _set(data, where, value):
    *path, last = where.split(".")
    inner = data
    for k in path:
        inner = inner[int(k)] if isinstance(inner, list) else inner[k]
    inner[int(last) if isinstance(inner, list) else last] = value
    return data


DAMAGED = {
    "truncated": ('{"meta": {"command": "x', "cannot read a results file: {path} is not valid JSON"),
    "missing": (None, "cannot read a results file: {path} does not exist"),
    "a list": ("[1, 2]", "{path} is not a results file of this benchmark: it holds a JSON array"),
    "no runs": ('{"meta": {}}', "{path} is not a results file of this benchmark: it holds an object without"),
}


@pytest.mark.parametrize("damage", DAMAGED)
def test_a_damaged_results_file_is_one_error_naming_it(tmp_path, capsys, damage):
    path, out = tmp_path / "speed.json", tmp_path / "B.md"
    content, message = DAMAGED[damage]
    if content is not None:
        path.write_text(content)
    assert cli.main(["--render", "--results", str(path), "--out", str(out)]) == 2
    assert message.format(path=path) in _one_error_line(capsys)
    assert not out.exists()


HAND_EDITED = {
    "nan ratio": (lambda d: _set(d, "comparisons.0.ratio", math.nan),
                  "comparisons[0].ratio must be a finite number > 0, got nan"),
    "accuracy in percent": (lambda d: _set(d, "measurements.ours_train.accuracy", 91.5),
                            "measurements.ours_train.accuracy must be a number in [0, 1], got 91.5"),
    "unknown measurement": (lambda d: _set(d, "runs.0.name", "bogus"), "runs[0].name must name a measurement"),
    "a repeat twice": (lambda d: _set(d, "runs.1", d["runs"][0]),
                       "runs[1] is repeat 0 of ours_train again: each must be listed once"),
    "met does not follow": (lambda d: _set(d, "comparisons.0.met", not d["comparisons"][0]["met"]),
                            "comparisons[0].met"),
    "negative seconds": (lambda d: _set(d, "runs.2.seconds", -1.0), "runs[2].seconds must be a finite number > 0"),
    "neither seconds nor error": (lambda d: d["runs"][3].pop("seconds") and d,
                                  "runs[3] (bare_steps) holds neither its seconds nor an error"),
}


@pytest.mark.parametrize("edit", HAND_EDITED)
def test_a_hand_edited_results_file_is_one_error_naming_the_file_the_key_and_the_value(tmp_path, capsys, edit):
    change, message = HAND_EDITED[edit]
    path, out = tmp_path / "speed.json", tmp_path / "B.md"
    data = _results()
    path.write_text(json.dumps(data))
    assert cli.main(["--render", "--results", str(path), "--out", str(out)]) == 0  # as it was: fine
    assert out.read_text() == report.SECTION.wrap(report.render(data))
    out.unlink()
    capsys.readouterr()
    path.write_text(json.dumps(change(data)))
    assert cli.main(["--render", "--results", str(path), "--out", str(out)]) == 2
    assert f"{path} is damaged: {message}" in _one_error_line(capsys)
    assert not out.exists()


def test_a_file_without_the_section_is_refused_before_anything_is_measured(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(cli, "measure_all", lambda *a, **k: pytest.fail("a measurement started"))
    mine = tmp_path / "NOTES.md"
    mine.write_text(HAND_WRITTEN)
    assert cli.main(["--quick", "--out", str(mine), "--results", str(tmp_path / "r.json")]) == 2
    assert "holds no speed section" in _one_error_line(capsys)
    assert mine.read_text() == HAND_WRITTEN and not (tmp_path / "r.json").exists()


# End to end.

def test_a_quick_run_measures_everything_but_the_peers_and_writes_only_its_section(tmp_path):
    out, path = tmp_path / "BENCHMARKS.md", tmp_path / "speed.json"
    after = "\n\n## Later, by hand\n\nAlso kept.\n"
    out.write_text(f"{HAND_WRITTEN}\n{report.SECTION.begin}\nold\n{report.SECTION.end}{after}")
    assert cli.main(["--quick", "--peer-env", str(tmp_path / "no-env"), "--out", str(out), "--results",
                     str(path)]) == 0
    data = results.read_results(path)
    text = out.read_text()
    assert text == f"{HAND_WRITTEN}\n{report.SECTION.wrap(report.render(data)).rstrip(chr(10))}{after}"
    assert report.render(data).startswith(f"{SMOKE_WARNING}\n\n# Benchmark: speed")
    options = plan.variants(plan.train_options(QUICK)[0])
    assert "ours_train[log_every=25]" in options or "log_every" not in FIELDS
    mine = ["ours_train", "bare_train", "typical_train", *options, "ours_range", "bare_steps"]
    assert list(data["measurements"]) == mine
    for name in mine:
        m = data["measurements"][name]
        assert m["repeats"] == 1 and m["error"] is None and m["seconds"] > 0 and m["peak_memory_mib"] > 0, name
    assert data["measurements"]["ours_range"]["steps"] >= QUICK.range_steps
    assert data["measurements"]["bare_steps"]["steps"] == QUICK.range_steps
    steps = QUICK.train_subset // QUICK.batch_size
    for name in ("ours_train", "bare_train", "typical_train"):
        assert data["measurements"][name]["steps"] == steps and 0 <= data["measurements"][name]["accuracy"] <= 1
    peers = {s["name"]: s["reason"] for s in data["skipped"] if s["name"] in plan.KINDS}
    assert set(peers) == {"fastai_train", "lrfinder_range", "fastai_range"}
    assert all(f"no peer environment at {tmp_path / 'no-env'}" in reason for reason in peers.values())
    assert {r["ratio"] is None for r in data["comparisons"] if r["theirs"] in peers} == {True}
    assert all(r["ratio"] > 0 for r in data["comparisons"] if r["theirs"] not in peers)
    assert data["meta"]["machine"]["cores"] == os.cpu_count() and data["meta"]["torch_threads"] == 1
    assert {r["threads"] for r in data["runs"]} == {1} and {r["torch"] for r in data["runs"]} == {torch.__version__}


def test_the_gpu_check_runs_end_to_end_on_the_cpu_in_its_dry_run(tmp_path):
    out = tmp_path / "gpu.json"
    env = {k: v for k, v in os.environ.items() if k != "OUT"}
    done = subprocess.run(["bash", str(ROOT / "benchmarks" / "gpu_check.sh"), "--dry-run", "--out", str(out)],
                          env={**env, "PYTHON": sys.executable}, capture_output=True, text=True, timeout=1800)
    assert done.returncode == 0, done.stderr
    data = json.loads(out.read_text())
    assert data["meta"]["dry_run"] is True and data["meta"]["command"] == "bash benchmarks/gpu_check.sh --dry-run"
    names = {"ours_train", "bare_train", "ours_train[amp=True,channels_last=True]",
             "bare_train[amp=True,channels_last=True]", "ours_range", "bare_steps"}
    assert set(data["measurements"]) == names
    assert all(m["error"] is None and m["repeats"] == 1 for m in data["measurements"].values()), data["measurements"]
    assert {(c["ours"], c["theirs"]) for c in data["comparisons"]} == {
        ("ours_train", "bare_train"), ("ours_train[amp=True,channels_last=True]",
                                       "bare_train[amp=True,channels_last=True]"), ("ours_range", "bare_steps")}
    assert all(c["ratio"] > 0 for c in data["comparisons"])
    reached = data["to_target"]
    assert reached["target"] == gpu_check.DRY_TO_TARGET["target"] and reached["max_lr"] > 0
    assert len(reached["epochs"]) == gpu_check.DRY_TO_TARGET["epochs"]


def test_the_gpu_check_writes_under_out_when_it_is_set(monkeypatch, tmp_path):
    monkeypatch.setenv("OUT", str(tmp_path))
    assert gpu_check.default_out() == tmp_path / "gpu_check.json"
    assert gpu_check.default_out(dry_run=True) == tmp_path / "gpu_check-quick.json"
    monkeypatch.delenv("OUT")
    assert gpu_check.default_out() == ROOT / "benchmarks" / "results" / "gpu_check.json"
    assert gpu_check.default_out(dry_run=True) == ROOT / "benchmarks" / "results" / "gpu_check-quick.json"


def test_the_gpu_check_says_why_it_cannot_train_to_its_target_where_the_dataset_is_missing(tmp_path):
    run = {**gpu_check.TO_TARGET, "data_dir": str(tmp_path)}  # an empty directory: the only place looked in
    reached = gpu_check.to_target(gpu_check.DRY_GPU, run, say=lambda text: None)
    assert set(reached) == {"error"} and f"data_dir {tmp_path}" in reached["error"]
