"""benchmarks/scaling.py: the commands it times, their alternation, and its report (the launches themselves are
those of tests/test_distributed.py)."""

import sys
from pathlib import Path

import pytest

from benchmarks import scaling


def test_one_and_n_processes_train_the_same_global_batch_on_the_same_cores():
    one = scaling.train_command({"epochs": "1"}, 256, 1, 2, Path("r"))
    two = scaling.train_command({"epochs": "1"}, 256, 2, 1, Path("r"))
    assert one[:4] == [sys.executable, "-m", "onecycle", "train"]
    assert two[:5] == [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"]
    for command, batch, threads in ((one, "256", "2"), (two, "128", "1")):
        assert command[command.index("--batch-size") + 1] == batch
        assert command[command.index("--threads") + 1] == threads


def test_repeats_alternate_and_the_report_gives_medians_and_their_ratio(monkeypatch, tmp_path):
    order, speeds = [], iter([100.0, 60.0, 120.0, 50.0, 110.0, 70.0])
    monkeypatch.setattr(scaling, "images_per_s", lambda command, run_dir: (order.append(run_dir.name), next(speeds))[1])
    monkeypatch.setattr(scaling.os, "getloadavg", lambda: (0.5, 0.0, 0.0))
    result = scaling.measure({"epochs": "1"}, 64, 2, 3, cores=2, say=lambda _: None)
    assert order == ["p1", "p2"] * 3
    assert result["images_per_s"] == {"1": [100.0, 120.0, 110.0], "2": [60.0, 50.0, 70.0]}
    text = scaling.report(result, quick=False)
    assert "| 1 | 110 | 100, 120, 110 | 1.00 |" in text and "| 2 | 60 | 60, 50, 70 | 0.55 |" in text
    assert "Smoke run" not in text and "Smoke run" in scaling.report(result, quick=True)
    assert "load average (1 min) was 0.5 as it began and 0.5 as it ended" in text


@pytest.mark.parametrize("argv", [["--processes", "1"], ["--repeats", "0"]])
def test_bad_counts_are_one_error_before_anything_runs(argv, capsys, monkeypatch):
    monkeypatch.setattr(scaling, "measure", lambda *a, **k: pytest.fail("measured"))
    assert scaling.main([*argv, "--out", "x.md"]) == 2
    assert "--processes must be >= 2 and --repeats 1 to 100" in capsys.readouterr().err
