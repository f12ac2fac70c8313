"""The benchmarks' command lines against bad input: damaged results and run caches, a report path that is not a
Markdown file, case names that are not cases. Every problem is one line naming the file or the option, before
anything is measured."""

import json

import pytest

from benchmarks.common.cli import SMOKE_WARNING
from benchmarks.common.run_cache import RunCache
from benchmarks.experiments import cli as experiments
from benchmarks.recommendation import cli as recommendation
from benchmarks.recommendation.cases import CASES, QUICK_CASE

BENCHMARKS = {"recommendation": recommendation, "experiments": experiments}
DAMAGED = {
    "truncated": ('{"settings": {"seeds": [0, 1', "cannot read a results file: {path} is not valid JSON"),
    "not utf-8": (b"\xff\xfe{}", "cannot read a results file: {path} is not valid JSON"),
    "missing": (None, "cannot read a results file: {path} does not exist"),
    "a directory": ("dir", "cannot read a results file: {path}: Is a directory"),
    "a list": ("[1, 2]", "{path} is not a results file of this benchmark: it holds a JSON list"),
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
    monkeypatch.setattr(experiments, "run_tasks", refuse)


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


def test_results_of_the_wrong_kind_inside_are_one_error_naming_the_file(tmp_path, capsys):
    results = tmp_path / "results.json"
    results.write_text(json.dumps({k: [] for k in recommendation.RESULTS_KEYS} | {"cases": [{"case": 3}]}))
    for argv in (["--render"], ["--resume", "--cases", QUICK_CASE.name]):
        assert recommendation.main([*argv, "--results", str(results), "--out", str(tmp_path / "R.md")]) == 2
        err = _one_error_line(capsys, "recommendation")
        assert f"{results} is not a results file of this benchmark (TypeError:" in err


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
        journal.write_text('{"key": "a", "run": 1}\n[1, 2]\n{"key": "torn by a ki')
        message = f"{journal} is not a run journal of this benchmark: line 2 is not an entry (key and run)"
    argv = ["--quick", "--runs", str(runs), "--results", str(tmp_path / "r.json"), "--out", str(tmp_path / "R.md")]
    assert BENCHMARKS[name].main(argv) == 2
    assert message in _one_error_line(capsys, name)


def test_a_journal_line_torn_by_a_kill_is_dropped(tmp_path):
    runs = tmp_path / "runs.json"
    RunCache.journal_of(runs).write_text('{"key": "a", "run": 1}\n{"key": "b", "run"')
    assert RunCache.load(runs).runs == {"a": 1}


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
