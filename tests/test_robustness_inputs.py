"""Every bad input of the robustness table (benchmarks/robustness.py) gets one clear error: exit status 2, one
line on stderr naming the setting or file, no traceback; the inputs that are fine (a torn last metrics line)
succeed. Run in-process under a memory cap and a time limit."""

import json

import pytest
import torch

from benchmarks.robustness import CASES, FASHION, classify, make_runs, make_workspace, snapshot
from onecycle.cli import main
from onecycle.datasets import ENV_VAR
from tests.limits import memory_cap, time_limit


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    path = tmp_path_factory.mktemp("template")
    make_runs(path)
    return path


def _run(argv, capsys):
    try:
        code = main(argv)
    except SystemExit as exit_:
        code = exit_.code
    return code, capsys.readouterr()


@pytest.mark.parametrize("case", CASES, ids=[f"{c.section}: {c.name}" for c in CASES])
def test_a_bad_input_gets_one_clear_error_and_damages_no_run_directory(case, template, tmp_path, capsys,
                                                                         monkeypatch):
    if case.needs_no_cuda and torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    make_workspace(tmp_path, template)
    if case.damage is not None:
        case.damage(tmp_path)
    before = snapshot(tmp_path)
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("ONECYCLE_DEBUG", raising=False)
    with memory_cap(2 << 30), time_limit(120):
        code, captured = _run(case.command(tmp_path), capsys)
    err = captured.err.replace(str(tmp_path), "WS")
    assert classify(case, code, err, snapshot(tmp_path) != before) in ("error", "ok"), (code, captured.err)


def test_the_table_covers_the_issue():
    sections = {c.section for c in CASES}
    assert len(CASES) >= 60 and len(sections) == 10
    assert sum(c.section == "A finished run directory kept as it was" for c in CASES) >= 15
    refused = next(c for c in CASES if c.name == "train in a directory holding a run")
    error = "onecycle train: error: WS/done holds a run (config.json, ...)"
    assert classify(refused, 2, error) == "error" and classify(refused, 2, error, damaged=True) == "damaged"
    assert len({c.name for c in CASES}) == len(CASES)


def test_the_data_searched_for_is_named_even_when_quiet_and_recorded(tmp_path, capsys, monkeypatch):
    from benchmarks.robustness import write_fashion

    write_fashion(tmp_path / "found")
    monkeypatch.setenv(ENV_VAR, str(tmp_path / "found"))
    argv = [a.replace("{ws}", str(tmp_path)) for a in FASHION if a not in ("--data-dir", "{ws}/fashion")]
    code, captured = _run(argv, capsys)
    assert code == 0, captured.err
    assert f"data: fashion-mnist from {tmp_path / 'found'} (64 training, 16 test images)" in captured.out
    assert json.loads((tmp_path / "new" / "config.json").read_text())["resolved"]["data"] == str(tmp_path / "found")


def test_a_data_dir_given_is_the_only_place_looked_in(tmp_path, capsys, monkeypatch):
    from benchmarks.robustness import write_fashion

    write_fashion(tmp_path / "elsewhere")  # a complete copy where the search would find it
    monkeypatch.setenv(ENV_VAR, str(tmp_path / "elsewhere"))
    write_fashion(tmp_path / "fashion")
    (tmp_path / "fashion" / "train-labels-idx1-ubyte.gz").unlink()
    code, captured = _run([a.replace("{ws}", str(tmp_path)) for a in FASHION], capsys)
    assert code == 2
    assert "lacks train-labels-idx1-ubyte.gz" in captured.err and "elsewhere" not in captured.err + captured.out
    assert not (tmp_path / "new").exists()
