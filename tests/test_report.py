"""Reports: built from run directories alone, one train time everywhere."""

import json
import re

import pytest

from onecycle.cli import main
from onecycle.engine import train_time
from onecycle.report import read_run, results_table

TINY = ["--dataset", "digits", "--train-subset", "256", "--batch-size", "32", "--model", "small-cnn", "--quiet"]


def test_train_time_is_one_figure_in_the_console_summary_and_report(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", "--max-lr", "0.05", "--epochs", "2", "--run-dir", str(run), *TINY]) == 0
    console = re.search(r"^train time (\d+) s \(", capsys.readouterr().out, re.M)
    history = read_run(run).history
    assert len(history) == 2 and all(h["time_s"] > 0 for h in history)
    expected = train_time(history)
    assert json.loads((run / "summary.json").read_text())["train_time_s"] == pytest.approx(expected)
    header, rows = results_table([read_run(run)])
    assert rows[0][header.index("train time")] == f"{expected:.0f} s"
    assert console is not None and int(console.group(1)) == round(expected)
