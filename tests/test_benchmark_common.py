"""The benchmarks' command lines against bad input: damaged or hand-edited results and run caches, a report path
that is not a Markdown file or a file of the user's without the report's section, case names that are not cases.
Every problem is one line naming the file or the option (and the key and value inside a file), before anything is
measured."""

import dataclasses
import json
import math
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from benchmarks.common import runner
from benchmarks.common.cli import SMOKE_WARNING, BenchmarkError
from benchmarks.common.run_cache import RunCache
from benchmarks.common.section import Section
from benchmarks.experiments import cli as experiments
from benchmarks.recommendation import cli as recommendation
from benchmarks.recommendation.cases import CASES, QUICK_CASE
from benchmarks.sharpness import cli as sharpness
from benchmarks.speed import cli as speed
from benchmarks.time_to_accuracy import cli as time_to_accuracy

REPO = Path(__file__).resolve().parent.parent
MOVE_ASIDE = "; move {file} aside and run again: the runs it held are then measured again"
BENCHMARKS = {"recommendation": recommendation, "experiments": experiments, "time_to_accuracy": time_to_accuracy,
              "sharpness": sharpness}
DAMAGED = {
    "truncated": ('{"settings": {"seeds": [0, 1', "cannot read a results file: {path} is not valid JSON"),
    "not utf-8": (b"\xff\xfe{}", "cannot read a results file: {path} is not UTF-8 text"),
    "missing": (None, "cannot read a results file: {path} does not exist"),
    "a directory": ("dir", "cannot read a results file: {path}: Is a directory"),
    "a list": ("[1, 2]", "{path} is not a results file of this benchmark: it holds a JSON array"),
    "no results": ('{"settings": {}}', "{path} is not a results file of this benchmark: it holds an object without"),
}


def _write(path, content):
    if content == "dir":
        path.mkdir()
    elif isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        path.write_text(content)


@pytest.fixture(autouse=True)
def _nothing_is_measured(monkeypatch):
    """Every test here fails before measuring: a benchmark that starts training has missed the problem."""
    def refuse(*args, **kwargs):
        raise AssertionError("a measurement started")

    monkeypatch.setattr(recommendation, "run_cases", refuse)
    monkeypatch.setattr(runner, "measure_planned", refuse)  # experiments', time_to_accuracy's and sharpness's


def _one_error_line(capsys, prog: str) -> str:
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith(f"python -m benchmarks.{prog}: error: "), err
    return err


@pytest.mark.parametrize("damage", DAMAGED)
@pytest.mark.parametrize("name", BENCHMARKS)
def test_a_damaged_results_file_is_one_error_naming_it(tmp_path, capsys, name, damage):
    results, out = tmp_path / "results.json", tmp_path / "REPORT.md"
    content, message = DAMAGED[damage]
    _write(results, content)
    assert BENCHMARKS[name].main(["--render", "--results", str(results), "--out", str(out)]) == 2
    assert message.format(path=results) in _one_error_line(capsys, name)
    assert not out.exists()


def _recommendation_results() -> dict:
    return json.loads((recommendation.RESULTS_DIR / "recommendation.json").read_text())


def _experiments_results() -> dict:
    """A results file of the twins before anything is measured (quick settings)."""
    from benchmarks.experiments.analysis import analyze
    from benchmarks.experiments.settings import QUICK

    meta = {"command": "python -m benchmarks.experiments --quick", "machine": "x86_64", "jobs": 1, "wall_time_s": 1.0,
            "new_runs": 0, "runs": 0, "run_time_s": 0.0, "results_file": "r.json", "runs_file": None,
            "images": "images", "missing": "", "quick": True}
    return json.loads(json.dumps({"settings": dataclasses.asdict(QUICK), "meta": meta,
                                  "results": analyze(QUICK, lambda task: None)}))


def _time_to_accuracy_results() -> dict:
    """A results file of the time-to-accuracy benchmark before anything is measured (quick settings)."""
    from benchmarks.time_to_accuracy.analysis import analyze
    from benchmarks.time_to_accuracy.settings import QUICK

    meta = {"command": "python -m benchmarks.time_to_accuracy --quick", "machine": "x86_64", "cpus": 2,
            "torch": "2.13.0", "jobs": 1, "date": "2026-01-02", "wall_time_s": 1.0, "new_runs": 0, "runs": 0,
            "run_time_s": 0.0, "results_file": "r.json", "runs_file": "c.json", "missing": "", "quick": True}
    return json.loads(json.dumps({"settings": dataclasses.asdict(QUICK), "meta": meta,
                                  "results": analyze(QUICK, lambda task: None)}))


def _sharpness_results() -> dict:
    """A results file of the sharpness benchmark with one run of each schedule (quick settings)."""
    from benchmarks.sharpness import runs
    from benchmarks.sharpness.analysis import analyze
    from benchmarks.sharpness.settings import ARMS, QUICK

    finder = {"recommendation": {"max_lr": 0.1, "confidence": "high", "notes": []}}
    run = {"accuracy": 0.9, "diverged": False, "train_time_s": 1.0, "sharpness_s": 1.0,
           "sharpness": {"eigenvalues": [5.0, 2.0], "residuals": [0.0, 0.0], "iterations": 20, "converged": True,
                         "samples": 16}}
    measured = {runs.key(runs.finder_task(QUICK)): finder}
    measured.update({runs.key(runs.train_task(QUICK, arm, lr, 0)): run for arm, lr in zip(ARMS, (0.1, 0.01, 0.01))})
    meta = {"command": "python -m benchmarks.sharpness --quick", "machine": "x86_64", "cpus": 2, "torch": "2.13.0",
            "jobs": 1, "date": "2026-01-02", "wall_time_s": 1.0, "new_runs": 0, "runs": 4, "run_time_s": 0.0,
            "results_file": "r.json", "runs_file": "c.json", "missing": "", "quick": True}
    return json.loads(json.dumps({"settings": dataclasses.asdict(QUICK), "meta": meta,
                                  "results": analyze(QUICK, lambda task: measured.get(runs.key(task)))}))


RESULTS = {"recommendation": _recommendation_results, "experiments": _experiments_results,
           "time_to_accuracy": _time_to_accuracy_results, "sharpness": _sharpness_results}


def _set(data: dict, where: str, value) -> dict:
    """``data`` with the value at ``where`` (``cases.0.best.accuracy``) replaced by ``value``."""
    *path, last = where.split(".")
    inner = data
    for k in path:
        inner = inner[int(k)] if isinstance(inner, list) else inner[k]
    inner[int(last) if isinstance(inner, list) else last] = value
    return data


def _twice(data: dict) -> dict:
    data["cases"].append(data["cases"][0])
    return data


HAND_EDITED = {  # benchmark, what was edited, the edit, what the one line must say
    "nan accuracy": ("recommendation", lambda d: _set(d, "cases.2.best.accuracy", math.nan),
                     "cases[2].best.accuracy must be a number in [0, 1], got nan"),
    "negative lr": ("recommendation", lambda d: _set(d, "cases.0.grid.1.lr", -0.01),
                    "cases[0].grid[1].lr must be a finite number > 0, got -0.01"),
    "case twice": ("recommendation", _twice,
                   "cases[18] is case 'digits-cnn-sgd-3ep' again (cases[0]): each case must be listed once"),
    "case of the wrong kind": ("recommendation", lambda d: _set(d, "cases.0", 3),
                               "cases[0] must be an object, got 3"),
    "probe pick not a candidate": ("recommendation", lambda d: _set(d, "cases.1.finder.probe.pick", 0.5),
                                   "cases[1].finder.probe.pick 0.5 is not one of the candidates"),
    "curve not increasing": ("recommendation", lambda d: _set(d, "cases.3.finder.lrs.0", 5.0),
                             "cases[3].finder (digits-cnn-adamw-1ep) is not a range-test curve: "),
    "regret a string": ("recommendation", lambda d: _set(d, "cases.0.rules.ours.regret", "-0.1"),
                        "cases[0].rules.ours.regret must be a finite number or null, got '-0.1'"),
    "lr a string": ("experiments", lambda d: _set(d, "results.lrs", {"recommended": "0.1"}),
                    "results.lrs.recommended must be a finite number > 0, got '0.1'"),
    "unknown schedule": ("experiments", lambda d: _set(d, "results.budget.schedules.bogus", {"per_budget": []}),
                         "results.budget.schedules has unknown key(s) 'bogus' (expected cosine, linear, onecycle"),
    "accuracy above 1": ("experiments", lambda d: _set(d, "results.momentum.rows", [
        {"lr": 0.1, "recommended": False, "cyclical": {"mean": 91.5, "std": None}, "constant": {"mean": None,
                                                                                           "std": None},
         "difference": {}}]), "results.momentum.rows[0].cyclical.mean must be a number in [0, 1], got 91.5"),
    "images outside": ("experiments", lambda d: _set(d, "meta.images", "../../elsewhere"),
                       "meta.images must be the name of a directory beside the report, got '../../elsewhere'"),
    "a target missing": ("experiments", lambda d: _set(d, "results.budget.to_target.step", {}),
                         "results.budget.to_target.step is missing the target 0.5 of settings.targets"),
    "a target above 1": ("time_to_accuracy", lambda d: _set(d, "settings.target", 93),
                         "settings.target must be a number in [0, 1], got 93"),
    "a seed of no column": ("time_to_accuracy", lambda d: _set(d, "results.to_target.per_seed.0.seed", 5),
                            "results.to_target.per_seed holds seeds [5], not those of settings.seeds [0]"),
    "a status unknown": ("time_to_accuracy", lambda d: _set(d, "results.to_target.per_seed.0.status", "done"),
                         "results.to_target.per_seed[0].status must be one of reached, not reached, not known, got "
                         "'done'"),
    "an eigenvalue a string": ("sharpness", lambda d: _set(d, "results.arms.1.runs.0.eigenvalues.0", "5"),
                               "results.arms[1].runs[0].eigenvalues[0] must be a finite number, got '5'"),
    "a schedule renamed": ("sharpness", lambda d: _set(d, "results.arms.2.name", "cosine"),
                           "results.arms are ['1cycle, high max_lr', '1cycle, moderate max_lr', 'cosine'], not the "
                           "schedules compared"),
    "a run of no seed's column": ("sharpness", lambda d: _set(d, "results.arms.0.runs.0.seed", 7),
                                  "results.arms[0].runs[0].seed 7 is not one of settings.seeds [0]"),
}


@pytest.mark.parametrize("edit", HAND_EDITED)
def test_a_hand_edited_results_file_is_one_error_naming_the_file_the_key_and_the_value(tmp_path, capsys, edit):
    name, change, message = HAND_EDITED[edit]
    results, out = tmp_path / "results.json", tmp_path / "REPORT.md"
    data = RESULTS[name]()
    results.write_text(json.dumps(data))
    assert BENCHMARKS[name].main(["--render", "--results", str(results), "--out", str(out)]) == 0  # as it was: fine
    out.unlink()
    capsys.readouterr()
    results.write_text(json.dumps(change(data)))
    argv = ["--render", "--results", str(results), "--out", str(out)]
    assert BENCHMARKS[name].main(argv) == 2
    assert f"{results} is damaged: {message}" in _one_error_line(capsys, name)
    assert not out.exists()
    if name == "recommendation":  # --resume reads it the same way
        assert recommendation.main(["--resume", "--cases", QUICK_CASE.name, "--results", str(results), "--out",
                                    str(out)]) == 2
        assert f"{results} is damaged: {message}" in _one_error_line(capsys, name)


@pytest.mark.parametrize("name", BENCHMARKS)
def test_a_file_without_the_report_section_is_refused_before_anything_is_measured(tmp_path, capsys, name):
    mine = tmp_path / "NOTES.md"
    mine.write_text("# My notes\n\nNot a report.\n")
    argv = ["--quick", "--out", str(mine), "--results", str(tmp_path / "r.json"), "--runs", str(tmp_path / "c.json")]
    assert BENCHMARKS[name].main(argv) == 2  # the fixture fails the test if anything is measured
    section = BENCHMARKS[name].SECTION
    assert _one_error_line(capsys, name).endswith(
        f"error: {mine} exists and holds no {section.name} section (the lines {section.begin!r} and "
        f"{section.end!r}): it is not overwritten; name a new file, or put the two lines where the report should go")
    assert mine.read_text() == "# My notes\n\nNot a report.\n" and not (tmp_path / "r.json").exists()


@pytest.mark.parametrize(("text", "found"), [
    ("{begin}\nold\n", "1 begin and 0 end line(s)"), ("old\n{end}\n", "0 begin and 1 end line(s)"),
    ("{end}\nold\n{begin}\n", "1 begin and 1 end line(s), the end first"),
    ("{begin}\n{end}\n{begin}\n{end}\n", "2 begin and 2 end line(s)"),
])
@pytest.mark.parametrize("default", [False, True])
def test_markers_out_of_place_are_refused_even_in_the_default_report(tmp_path, text, found, default):
    section, path = Section("twins", "cmd"), tmp_path / "R.md"
    path.write_text(text.format(begin=section.begin, end=section.end))
    before = path.read_bytes()
    with pytest.raises(BenchmarkError, match=re.escape(f"{path} has its twins markers out of place ({found}")):
        section.write(path, "new", default)
    assert path.read_bytes() == before


@settings(max_examples=60, deadline=None)
@given(before=st.text(), after=st.text(), first=st.text(), second=st.text())
def test_only_the_section_is_ever_rewritten(before, after, first, second):
    section = Section("twins", "cmd")
    assume(section.begin not in before + after + first + second and section.end not in before + after + first + second)
    assume(before.strip())
    written = section.place(before, first, Path("R.md"), default=True)  # the default report: appended
    assert written.startswith(before.rstrip("\n")) and written.endswith(section.wrap(first))
    edited = written + after  # the user writes on after it
    again = section.place(edited, second, Path("R.md"), default=False)
    assert again == before.rstrip("\n") + "\n\n" + section.wrap(second).rstrip("\n") + "\n" + after
    with pytest.raises(BenchmarkError, match="holds no twins section"):
        section.place(before, first, Path("R.md"), default=False)


@pytest.mark.parametrize("damage", ["truncated", "no runs", "a journal line"])
@pytest.mark.parametrize("name", BENCHMARKS)
def test_a_damaged_run_cache_is_one_error_naming_it(tmp_path, capsys, name, damage):
    runs = tmp_path / "runs.json"
    if damage == "truncated":
        runs.write_text('{"runs": {"a": [0.9, false')
        message = f"cannot read the run cache: {runs} is not valid JSON"
    elif damage == "no runs":
        runs.write_text('{"runs": [1, 2]}')
        message = f"{runs} is not the run cache of this benchmark: its runs are not an object"
    else:
        journal = RunCache.journal_of(runs)
        journal.write_text('\n[1, 2]\n{"key": "torn by a ki')
        message = f"{journal} is not a run journal of this benchmark: line 2 is not an entry (key and run)"
    argv = ["--quick", "--runs", str(runs), "--results", str(tmp_path / "r.json"), "--out", str(tmp_path / "R.md")]
    assert BENCHMARKS[name].main(argv) == 2
    assert message in _one_error_line(capsys, name)


def test_a_journal_line_torn_by_a_kill_is_dropped(tmp_path):
    runs = tmp_path / "runs.json"
    journal = RunCache.journal_of(runs)
    journal.write_text('{"key": "a", "run": 1}\n{"key": "b", "run"')
    cache = RunCache.load(runs)
    assert cache.runs == {"a": 1} and journal.read_text() == '{"key": "a", "run": 1}\n'  # dropped from it too
    cache.record("c", 2)
    assert RunCache.load(runs).runs == {"a": 1, "c": 2}
    journal.write_text('{"key": "a", "run": 1}')  # a whole entry without its newline is kept and ended
    assert RunCache.load(runs).runs == {"a": 1} and journal.read_text() == '{"key": "a", "run": 1}\n'


@pytest.mark.parametrize("line", ['{"key": "b", "run"', "\udcff", '{"key": "b", "run": 1}}', "[" * 100_000])
@pytest.mark.parametrize("name", BENCHMARKS)
def test_a_corrupt_journal_line_before_the_last_is_one_error_naming_its_line(tmp_path, capsys, name, line):
    runs = tmp_path / "runs.json"
    journal = RunCache.journal_of(runs)
    journal.write_bytes(b"\n" + line.encode("utf-8", "surrogateescape") + b"\n" + b'{"key": "c", "run')
    argv = ["--quick", "--runs", str(runs), "--results", str(tmp_path / "r.json"), "--out", str(tmp_path / "R.md")]
    assert BENCHMARKS[name].main(argv) == 2
    error = _one_error_line(capsys, name)
    assert f"{journal} is damaged: line 2 is not valid JSON (" in error
    assert error.endswith(f"; only a last line torn by a kill is dropped){MOVE_ASIDE.format(file=journal)}")


def _argv(tmp_path: Path, runs: Path) -> list[str]:
    return ["--quick", "--runs", str(runs), "--results", str(tmp_path / "r.json"), "--out", str(tmp_path / "R.md")]


def _in_use(runs: Path, pid: int) -> str:
    return f"{runs} is in use by another run of this benchmark (pid {pid}); wait for it or use another --runs"


@pytest.mark.parametrize("damage", ["truncated cache", "corrupt journal line"])
@pytest.mark.parametrize("name", BENCHMARKS)
def test_a_damaged_cache_or_journal_says_to_move_it_aside_and_that_its_runs_are_measured_again(tmp_path, capsys,
                                                                                                 name, damage):
    runs = tmp_path / "runs.json"
    journal = RunCache.journal_of(runs)
    if damage == "truncated cache":
        runs.write_text('{"runs": {"a": [0.9, false')
        message = (f"cannot read the run cache: {runs} is not valid JSON (JSONDecodeError: Expecting ',' delimiter: "
                   f"line 1 column 27 (char 26)); move {runs} aside and run again: the runs it held are then measured "
                   "again")
    else:
        journal.write_text('\n{"key": "b", "run"\n{"key": "c", "run')
        message = (f"{journal} is damaged: line 2 is not valid JSON (JSONDecodeError: Expecting ':' delimiter: line 1 "
                   "column 19 (char 18); only a last line torn by a kill is dropped); move "
                   f"{journal} aside and run again: the runs it held are then measured again")
    assert BENCHMARKS[name].main(_argv(tmp_path, runs)) == 2
    assert _one_error_line(capsys, name) == f"python -m benchmarks.{name}: error: {message}"
    assert not RunCache.lock_of(runs).exists()  # released after the error
    with RunCache.locked(runs, "again"):
        pass


@pytest.mark.parametrize("name", BENCHMARKS)
def test_a_second_run_on_the_same_cache_is_refused_at_once_naming_the_cache_and_the_pid(tmp_path, capsys, name):
    runs = tmp_path / "runs.json"
    runs.write_text('{"runs": {}}')
    with RunCache.locked(runs, f"python -m benchmarks.{name}"):
        assert RunCache.lock_of(runs).read_text() == f"{os.getpid()} python -m benchmarks.{name}\n"
        assert BENCHMARKS[name].main(_argv(tmp_path, runs)) == 2
        assert _one_error_line(capsys, name) == f"python -m benchmarks.{name}: error: {_in_use(runs, os.getpid())}"
        assert RunCache.lock_of(runs).exists()  # the refused run leaves the holder's lock alone
        with pytest.raises(BenchmarkError, match=re.escape(_in_use(runs, os.getpid()))), RunCache.locked(runs, "x"):
            pass
        argv = [*_argv(tmp_path, runs), "--render"]  # --render reads the results only: no lock, its own error
        assert BENCHMARKS[name].main(argv) == 2
        assert "cannot read a results file" in _one_error_line(capsys, name)
    assert runs.read_text() == '{"runs": {}}' and not (tmp_path / "r.json").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["runs.json"]  # the lock file is gone with its holder


@pytest.mark.parametrize("name", BENCHMARKS)
def test_a_run_holds_the_lock_while_it_measures_and_releases_it_at_the_end_and_after_an_error(tmp_path, monkeypatch,
                                                                                            name):
    runs = tmp_path / "runs.json"
    held = []

    def measure(*args, **kwargs):
        held.append(RunCache.lock_of(runs).read_text())
        if len(held) == 2:
            raise RuntimeError("stopped")

    if name == "recommendation":
        monkeypatch.setattr(BENCHMARKS[name], "run_cases", measure)
    else:
        monkeypatch.setattr(runner, "measure_planned", measure)
    assert BENCHMARKS[name].main(_argv(tmp_path, runs)) == 0  # nothing measured: a report of what is missing
    assert not RunCache.lock_of(runs).exists()
    with pytest.raises(RuntimeError, match="stopped"):
        BENCHMARKS[name].main(_argv(tmp_path, runs))
    assert held == [f"{os.getpid()} python -m benchmarks.{name}\n"] * 2
    assert not RunCache.lock_of(runs).exists()
    with RunCache.locked(runs, "again"):  # released: this process takes it
        pass


HOLD = """
import sys, time
from pathlib import Path
from benchmarks.common.run_cache import RunCache
with RunCache.locked(Path(sys.argv[1]), "python -m benchmarks.experiments"):
    print("held", flush=True)
    time.sleep(600)
"""


def test_a_run_in_another_process_is_refused_and_its_lock_no_longer_blocks_once_it_is_killed(tmp_path, capsys):
    runs = tmp_path / "runs.json"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "src"), str(REPO)])}
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(runs)], env=env, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline() == "held\n"
        assert experiments.main(_argv(tmp_path, runs)) == 2
        assert _one_error_line(capsys, "experiments") == (f"python -m benchmarks.experiments: error: "
                                                          f"{_in_use(runs, holder.pid)}")
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.communicate(timeout=60)
    assert RunCache.lock_of(runs).read_text().startswith(f"{holder.pid} ")  # left behind by the kill, not held
    with RunCache.locked(runs, "python -m benchmarks.experiments"):
        assert RunCache.lock_of(runs).read_text().startswith(f"{os.getpid()} ")
    assert not RunCache.lock_of(runs).exists()


# A cached run as each benchmark keeps it, its accuracy a string (as a hand edit leaves it).
STRING_ACCURACY = {
    "recommendation": ("digits-cnn-sgd|wd=0.0005|lr=0.1|seed=0|threads=1", ["0.9", False, 1.0]),
    "experiments": ("train|onecycle|lr=0.1|wd=0.0005|epochs=1|seed=0|4feaba63875d87f8",
                    {"accuracy": "0.9", "diverged": False, "stopped": None, "history": [], "seconds": 1.0}),
    "time_to_accuracy": ("train|lr=0.085|epochs=1|seed=0|5642890f96ef98cb",
                         {"accuracy": "0.9", "diverged": False, "stopped": None, "train_time_s": 2.2,
                          "cpu_time_s": 0.9, "peak_rss_mb": 300.0, "threads": 1, "history": [], "seconds": 2.5,
                          "date": "2026-11-29T10:55:01+00:00"}),
    "sharpness": ("train|onecycle|lr=0.1|seed=0|5642890f96ef98cb",
                  {"accuracy": "0.9", "diverged": False, "stopped": None, "train_time_s": 2.2, "train_loss": 0.3,
                   "test_loss": 0.4, "sharpness": None, "sharpness_s": None, "seconds": 2.5,
                   "date": "2026-11-29T10:55:01+00:00"}),
}


@pytest.mark.parametrize("place", ["file", "journal"])
@pytest.mark.parametrize("name", BENCHMARKS)
def test_a_hand_edited_cached_run_is_one_error_naming_the_file_the_key_and_the_value(tmp_path, capsys, name,
                                                                                      place):
    key, run = STRING_ACCURACY[name]
    runs = tmp_path / "runs.json"
    if place == "file":
        runs.write_text(json.dumps({"runs": {key: run}}))
        message = (f"{runs} is damaged: the run {key}: accuracy must be a number in [0, 1], got '0.9'"
                   f"{MOVE_ASIDE.format(file=runs)}")
    else:
        journal = RunCache.journal_of(runs)
        journal.write_text(json.dumps({"key": key, "run": run}) + "\n")
        message = (f"{journal} is damaged: line 1, the run {key}: accuracy must be a number in [0, 1], got '0.9'"
                   f"{MOVE_ASIDE.format(file=journal)}")
    argv = ["--quick", "--runs", str(runs), "--results", str(tmp_path / "r.json"), "--out", str(tmp_path / "R.md")]
    assert BENCHMARKS[name].main(argv) == 2
    assert _one_error_line(capsys, name) == f"python -m benchmarks.{name}: error: {message}"


@pytest.mark.parametrize("out", ["{dir}", "{dir}/report", "{dir}/report.txt", "", "{dir}/.md/"])
@pytest.mark.parametrize("name", BENCHMARKS)
def test_out_must_be_a_markdown_file(tmp_path, capsys, name, out):
    (tmp_path / ".md").mkdir()
    with pytest.raises(SystemExit) as exit_:
        BENCHMARKS[name].main(["--quick", "--out", out.format(dir=tmp_path)])
    assert exit_.value.code == 2
    assert "error: argument --out: expected the path of a Markdown file ending in .md (figures go to images/ beside " \
           "it)" in capsys.readouterr().err
    assert not (tmp_path / "images").exists() and not any(p.name == "images" for p in tmp_path.parent.iterdir())


@pytest.mark.parametrize(("cases", "message"), [
    ("", "--cases expects comma-separated case names, got ''"),
    (",", "--cases expects comma-separated case names, got ','"),
    (f"{CASES[0].name},", f"--cases expects comma-separated case names, got '{CASES[0].name},'"),
    ("nope", "unknown case(s) in --cases: nope"),
    (f"{CASES[0].name}, digits", "unknown case(s) in --cases: digits"),
    (f"{CASES[1].name},{CASES[1].name}", f"--cases names a case twice: {CASES[1].name},{CASES[1].name}"),
])
def test_cases_must_name_cases(tmp_path, capsys, cases, message):
    with pytest.raises(SystemExit) as exit_:
        recommendation.main(["--cases", cases, "--out", str(tmp_path / "R.md")])
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and message in err
    if "twice" not in message:
        assert f"valid names: {', '.join(c.name for c in (*CASES, QUICK_CASE))}" in err


def test_a_quick_report_warns_at_its_top_and_a_measured_one_does_not(tmp_path):
    from benchmarks.recommendation.report import render

    results = json.loads((recommendation.RESULTS_DIR / "recommendation.json").read_text())
    assert not render(results).startswith(SMOKE_WARNING) and SMOKE_WARNING not in render(results)
    assert render({**results, "quick": True}).startswith(SMOKE_WARNING + "\n\n# Benchmark: recommendation quality")


@pytest.mark.parametrize(("main", "argv", "expected"), [
    (experiments.main, ["--jobs", "0"], "argument --jobs: expected a whole number from 1 to 64, got '0'"),
    (experiments.main, ["--jobs", "65"], "argument --jobs: expected a whole number from 1 to 64, got '65'"),
    (experiments.main, ["--threads", "0"], "argument --threads: expected a whole number from 1 to 1024, got '0'"),
    (experiments.main, ["--threads", "two"], "argument --threads: expected a whole number from 1 to 1024, got 'two'"),
    (recommendation.main, ["--jobs", "0"], "argument --jobs: expected a whole number from 1 to 64, got '0'"),
    (recommendation.main, ["--threads", "0"], "argument --threads: expected a whole number from 1 to 1024, got '0'"),
    (speed.main, ["--jobs", "0"], "argument --jobs: expected a whole number from 1 to 64, got '0'"),
    (speed.main, ["--repeats", "0"], "argument --repeats: expected a whole number from 1 to 1000, got '0'"),
    (time_to_accuracy.main, ["--jobs", "0"], "argument --jobs: expected a whole number from 1 to 64, got '0'"),
])
def test_jobs_threads_and_repeats_each_name_their_own_flag_and_range(main, argv, expected, capsys):
    with pytest.raises(SystemExit):
        main(argv)
    assert capsys.readouterr().err.strip().splitlines()[-1].endswith(f"error: {expected}")


def test_the_line_before_measuring_says_what_is_to_measure_or_that_everything_is_cached():
    from benchmarks.common.cli import measurements_to_make

    assert measurements_to_make(3, 5, "more later") == "3 measurement(s) to make now (more later), 5 cached"
    assert measurements_to_make(0, 28, "more later") == ("nothing to measure: every measurement is cached (28 in the "
                                                         "cache)")


@pytest.mark.parametrize("module", [experiments, time_to_accuracy, sharpness])
def test_the_planned_benchmarks_share_one_command_line_body_and_its_defaults(module):
    b = module.BENCHMARK
    assert isinstance(b, runner.Benchmark) and module.run.__code__.co_names.count("run_benchmark") == 1
    assert (b.report, b.results_file, b.runs_file) == (module.REPORT, module.RESULTS_FILE, module.RUNS_FILE)
    for path in (b.report, b.results_file, b.runs_file):
        assert b.default(path, quick=False) == path and b.default(path, quick=True) == module.QUICK_DIR / path.name
