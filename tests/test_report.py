"""Reports: built from run directories alone, figures beside the report, one train time everywhere."""

import json
import re
import shutil

import pytest

from onecycle.cli import main
from onecycle.engine import train_time
from onecycle.report import read_run, results_table, schedule_text, write_report

TINY = ["--dataset", "digits", "--train-subset", "256", "--batch-size", "32", "--model", "small-cnn", "--quiet"]


def _run_dir(path, epochs=2):
    path.mkdir(parents=True)
    (path / "config.json").write_text(json.dumps({"dataset": "digits", "model": "small-cnn", "epochs": epochs,
                                                  "resolved": {"max_lr": 0.1, "weight_decay": 5e-4}}))
    rows = [{"kind": "epoch", "epoch": e, "step": 10 * e, "lr": 0.1, "train_loss": 1.0 / e, "train_accuracy": 0.8,
             "val_loss": 1.2 / e, "val_accuracy": 0.75, "time_s": 10.4, "images_per_s": 100.0}
            for e in range(1, epochs + 1)]
    (path / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    for name in ("finder.png", "sweep.png", "schedule.png"):
        (path / name).write_bytes(b"\x89PNG " + name.encode())
    return path


def _links(out):
    html = (out / "report.html").read_text()
    md = (out / "report.md").read_text()
    return re.findall(r"<img src='([^']+)'", html), re.findall(r"!\[[^]]*\]\(([^)]+)\)", md), html + md


def test_report_keeps_its_figures_beside_it_and_survives_a_move(tmp_path):
    a, b = _run_dir(tmp_path / "runs" / "a"), _run_dir(tmp_path / "runs" / "b", epochs=3)
    write_report([a, b], tmp_path / "report")
    moved = tmp_path / "elsewhere" / "report"
    shutil.move(tmp_path / "report", moved)
    shutil.rmtree(tmp_path / "runs")
    html_links, md_links, _ = _links(moved)
    assert len(html_links) == len(md_links) == 1 + 2 * 4  # comparison, then four figures per run
    for link in html_links + md_links:
        assert "/" not in link and (moved / link).is_file(), link
    assert (moved / "2-b-finder.png").read_bytes() == b"\x89PNG finder.png"


def test_report_in_the_run_directory_uses_the_run_figures(tmp_path):
    a = _run_dir(tmp_path / "a")
    write_report([a], a)
    html_links, md_links, _ = _links(a)
    assert html_links == md_links == ["finder.png", "sweep.png", "schedule.png", "curves.png"]
    assert sorted(p.name for p in a.glob("*.png")) == ["curves.png", "finder.png", "schedule.png", "sweep.png"]


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


def test_a_metrics_line_cut_short_by_a_kill_is_left_out(tmp_path):
    run = _run_dir(tmp_path / "run")
    with open(run / "metrics.jsonl", "a") as f:
        f.write('{"kind": "epo')
    assert len(read_run(run).history) == 2


@pytest.mark.parametrize("damage", ['{"kind": "epo\n{"kind": "epoch"}\n', "[1, 2]\n", b"\xff\xfe\n"])
def test_damaged_metrics_are_one_error_naming_the_file(tmp_path, capsys, damage):
    run = _run_dir(tmp_path / "run")
    path = run / "metrics.jsonl"
    path.write_bytes(damage if isinstance(damage, bytes) else damage.encode())
    assert main(["report", str(run), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"onecycle report: error: {path} is ") and len(err.splitlines()) == 1


def test_the_schedule_a_run_trained_with_is_shown(tmp_path):
    assert schedule_text({}) == "-"  # no config.json: a directory of measurements only
    assert schedule_text({"dataset": "digits"}) == "1cycle"  # older versions trained 1cycle only
    assert schedule_text({"schedule": "onecycle", "momentum": 0.9, "cycle_momentum": True}) == "1cycle"
    assert schedule_text({"schedule": "onecycle", "momentum": 0.9, "cycle_momentum": False}) == "1cycle (momentum 0.9)"
    assert schedule_text({"schedule": "onecycle", "cycle_epochs": 42}) == "1cycle (cycle ends at epoch 42)"
    assert schedule_text({"schedule": "cosine", "momentum": 0.9}) == "warm-up, cosine to zero (momentum 0.9)"
    header, rows = results_table([read_run(_run_dir(tmp_path / "run"))])
    assert rows[0][header.index("schedule")] == "1cycle"
