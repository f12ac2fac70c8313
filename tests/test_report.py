"""Reports: built from run directories alone, figures beside the report, one train time everywhere."""

import json
import math
import re
import shutil
from html import escape as html_escape

import pytest
import torch

from onecycle import left_out, rundir
from onecycle.cli import main
from onecycle.engine import train_time
from onecycle.report import (
    RunSummary,
    lr_per_epoch,
    non_finite_epochs,
    range_test_of,
    read_run,
    results_table,
    schedule_text,
    sweep_table,
    trained_off_recommendation,
    write_report,
)
from tests import browser
from tests.test_plots import _result as hand_made_range_test
from tests.test_plots import _result as range_result

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


def test_the_lr_of_each_step_is_read_against_the_epoch(tmp_path):
    run = _run_dir(tmp_path / "run")  # two epochs of ten steps
    steps = [{"kind": "step", "step": s, "lr": s / 100, "momentum": 0.9} for s in range(1, 21)]
    steps[4]["lr"] = None  # a step without one is left out
    with open(run / "metrics.jsonl", "a") as f:
        f.write("".join(json.dumps(r) + "\n" for r in steps))
    epochs, lrs = lr_per_epoch(read_run(run))
    assert epochs == [(s - 1) / 10 for s in range(1, 21) if s != 5] and lrs == [s / 100 for s in range(1, 21) if s != 5]
    assert lr_per_epoch(read_run(_run_dir(tmp_path / "no-steps"))) is None


def test_the_range_test_is_drawn_again_only_to_mark_another_max_lr_trained_at(tmp_path):
    result = range_result()
    run = _run_dir(tmp_path / "run")  # trained at max_lr 0.1
    (run / "finder.json").write_text(json.dumps(result.to_dict()))
    assert trained_off_recommendation(read_run(run)) == 0.1
    write_report([run], tmp_path / "other")
    assert _links(tmp_path / "other")[0][0] == "1-run-finder-trained.png"
    assert not (tmp_path / "other" / "1-run-finder.png").exists()
    config = json.loads((run / "config.json").read_text())
    config["resolved"]["max_lr"] = result.max_lr
    (run / "config.json").write_text(json.dumps(config))
    assert trained_off_recommendation(read_run(run)) is None
    write_report([run], tmp_path / "same")
    assert _links(tmp_path / "same")[0][0] == "1-run-finder.png"


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


MEASURE = ["--dataset", "digits", "--train-subset", "64", "--test-subset", "64", "--batch-size", "16", "--model", "mlp",
           "--threads", "1", "--quiet"]  # one thread: seconds where the cores are shared


@pytest.fixture(scope="module")
def report_page(tmp_path_factory):
    """A real report: a preset's directory whose two seeds are copies of one measured run (a weight-decay sweep, a
    range test, then 1cycle at another max_lr than it recommended; digits, an MLP, a few steps), so the page holds
    the reproduction table, the results table, the comparison and every figure of a run."""
    root = tmp_path_factory.mktemp("page")
    run, threads = root / "measured", torch.get_num_threads()
    try:
        assert main(["sweep", "--sweep-values", "1e-3,1e-4", "--sweep-steps", "12", "--run-dir", str(run),
                     *MEASURE]) == 0
        assert main(["find-lr", "--num-steps", "20", "--run-dir", str(run), *MEASURE]) == 0
        assert main(["train", "--max-lr", "0.05", "--weight-decay", "1e-4", "--epochs", "2", "--run-dir", str(run),
                     *MEASURE]) == 0
    finally:
        torch.set_num_threads(threads)
    preset = root / "a_preset_whose_name_is_long_and_unbroken_so_that_the_results_table_is_wider_than_the_page"
    for seed in (0, 1):
        shutil.copytree(run, preset / f"seed-{seed}")
    (preset / "reproduce.json").write_text(json.dumps({
        "preset": preset.name, "description": "two seeds of a tiny run", "source": "the article, table 1",
        "job": "train", "runs": ["seed-0", "seed-1"], "seeds": [0, 1], "test_accuracy": [10.0, 12.0],
        "mean": 11.0, "std": 1.4142, "published_accuracy": 93.53}))
    html_path, _ = write_report([preset], root / "report")
    return html_path


def test_the_report_shows_the_articles_figures_of_a_measured_run(report_page):
    html_links, md_links, _ = _links(report_page.parent)
    per_run = ["finder-trained.png", "sweep.png", "schedule.png", "curves.png"]
    name = next(report_page.parent.parent.glob("a_preset_*")).name
    assert html_links == md_links == ["comparison.png", *(f"{i}-{name}-seed-{i - 1}-{f}" for i in (1, 2)
                                                            for f in per_run)]
    page = report_page.read_text()
    assert "Reproduction: " in page and "93.53%" in page and "ours (2 seeds: 10.00, 12.00)" in page
    # tables scroll, not the page: the reproduction, the results, and each seed's sweep
    assert page.count("<table>") == page.count("<div class='scroll'><table>") == 4
    assert page.count("<th>max_lr (sweep&#x27;s 12-step test)</th>") == 2
    alts = re.findall(r"<img src='[^']+' alt='([^']+)'", page)
    assert len(alts) == len(html_links) and alts[1] == f"Learning-rate range test of {name}-seed-0"


@pytest.mark.parametrize("link, found", [
    ("<img src='https://example.com/a.png'>", "src='https:"), ('<link href="//cdn.example.com/a.css">', 'href="//'),
    ("<style>a{background:url( 'http://e.com/b.png')}</style>", "url( 'http:"), ("<script src=http://e.com/x.js>",
                                                                                "src=http:"),
    ("<img src='curves.png'><a href='report.md'>", None), ("<p>see https://example.com</p>", None),
])
def test_links_out_to_the_network_are_found(link, found):
    assert browser.external_links(link) == ([] if found is None else [found])


def test_the_report_page_links_nothing_outside_itself(report_page):
    assert browser.external_links(report_page.read_text()) == []


def test_the_report_page_renders_offline_at_1280px_with_every_image(report_page):
    verdict = browser.render(report_page)
    assert verdict["inner_width"] == browser.WIDTH
    assert verdict["images"] == 9 and verdict["broken"] == verdict["without_alt"] == verdict["sticking_out"] == []
    assert verdict["scroll_width"] <= browser.WIDTH
    assert all(url.startswith("file:") for url in verdict["fetched"]), verdict["fetched"]


def test_the_page_check_sees_a_missing_image_one_too_wide_a_page_too_wide_and_a_fetch(tmp_path, report_page):
    page = tmp_path / "bad.html"
    shutil.copy(report_page.parent / "comparison.png", tmp_path / "figure.png")
    page.write_text("<!doctype html><html><body style='width:600px'><img src='missing.png' alt='gone'>"
                    "<img src='http://example.com/a.png'><img src='figure.png' alt='too wide'>"
                    "<table style='width:2000px'><tr><td>wide</td></tr></table></body></html>")
    verdict = browser.render(page)
    assert verdict["broken"] == ["missing.png", "http://example.com/a.png"]
    assert verdict["sticking_out"] == ["figure.png"]
    assert verdict["without_alt"] == ["http://example.com/a.png"]
    assert verdict["scroll_width"] > browser.WIDTH
    assert not all(url.startswith("file:") for url in verdict["fetched"]), verdict["fetched"]


@pytest.mark.parametrize(("config", "schedule"), [({}, None), ({"schedule": "cosine"}, "cosine"),
                                                  ({"schedule": ["damaged"]}, "step")])
def test_the_range_test_of_a_run_is_described_for_the_schedule_it_trained_with(config, schedule, tmp_path):
    finder = hand_made_range_test().to_dict()
    finder["settings"]["schedule"] = "step"  # what find-lr was given
    result = range_test_of(RunSummary(tmp_path, config=config, finder=finder))
    assert result.settings["schedule"] == (schedule or "step")
    expected = "warm-up from" if schedule == "cosine" else "(step decay)"
    assert expected in str(result).splitlines()[1]


CONFIG_DAMAGE = {  # a hand-edited config.json, and what the one line must say of it
    "max_lr a string": ({"max_lr": "big"}, "max_lr must be a number, got 'big'"),
    "max_lr negative": ({"max_lr": -5}, "max_lr must be > 0, got -5.0"),
    "max_lr NaN": ({"max_lr": math.nan}, "max_lr must be a number, got nan"),
    "schedule unknown": ({"schedule": "bogus"}, "schedule must be one of onecycle, step, linear, cosine, constant; "
                                                "got 'bogus'"),
    "schedule a list": ({"schedule": [1]}, "schedule must be a string, got [1]"),
    "epochs a string": ({"epochs": "2"}, "epochs must be an integer, got '2'"),
    "unknown key": ({"max_lrr": 0.1}, "unknown key(s) in its settings: max_lrr (did you mean max_lr?)"),
    "device unknown": ({"device": "tpu"}, "device must be auto, cpu, cuda, cuda:N or mps, got 'tpu'"),
    "resolved max_lr negative": ({"resolved": {"max_lr": -5, "weight_decay": 5e-4}},
                                 "resolved.max_lr must be > 0, got -5.0"),
    "resolved max_lr a string": ({"resolved": {"max_lr": "big", "weight_decay": 5e-4}},
                                 "resolved.max_lr must be a number, got 'big'"),
    "resolved a list": ({"resolved": [0.1]}, "resolved must be an object, got [0.1]"),
    "resolved steps a float": ({"resolved": {"max_lr": 0.1, "steps_per_epoch": 2.5}},
                               "resolved.steps_per_epoch must be an integer >= 1, got 2.5"),
}


@pytest.mark.parametrize("damage", CONFIG_DAMAGE)
def test_a_hand_edited_config_json_is_one_error_naming_the_key_and_value(tmp_path, capsys, damage):
    run = _run_dir(tmp_path / "run")
    change, message = CONFIG_DAMAGE[damage]
    config = json.loads((run / "config.json").read_text())
    (run / "config.json").write_text(json.dumps({**config, **change}))
    assert main(["report", str(run), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"onecycle report: error: {run / 'config.json'} is damaged: {message}")
    assert len(err.splitlines()) == 1
    assert not (tmp_path / "out" / "report.md").exists()


@pytest.mark.parametrize("peaks, shown", [([], "0.1"), ([0.1], "0.1 (1 retry)"),
                                           ([0.1, 0.06667, 0.04444], "0.1 → 0.04444 (3 retries)")])
def test_the_max_lr_shown_is_the_last_peak_retries_lowered_it_to(tmp_path, peaks, shown):
    run = _run_dir(tmp_path / "run")  # trained at max_lr 0.1
    retries = [{"kind": "retry", "step": 5 + i, "restored_step": i, "warmup_steps": 4, "max_lr": peak,
                "reason": "non-finite loss (nan) at step 5"} for i, peak in enumerate(peaks)]
    with open(run / "metrics.jsonl", "a") as f:
        f.write("".join(json.dumps(r) + "\n" for r in retries))
    header, rows = results_table([read_run(run)])
    assert rows[0][header.index("max_lr")] == shown
    write_report([run], tmp_path / "out")
    assert f"| {shown} |" in (tmp_path / "out" / "report.md").read_text()


def test_config_json_is_shown_as_checked_and_its_device_need_not_be_this_machines(tmp_path):
    run = _run_dir(tmp_path / "run")
    config = json.loads((run / "config.json").read_text())
    (run / "config.json").write_text(json.dumps({**config, "device": "cuda:3", "schedule": "cosine", "momentum": 0.8}))
    checked = read_run(run).config
    assert checked["device"] == "cuda:3" and checked["resolved"] == {"max_lr": 0.1, "weight_decay": 5e-4}
    assert checked["epochs"] == 2 and checked["cycle_momentum"] is True  # a setting left out: its default
    header, rows = results_table([read_run(run)])
    assert rows[0][header.index("schedule")] == "warm-up, cosine to zero (momentum 0.8)"


def _finder_only(path, settings=None, probe=None):
    """A run directory holding only a range test (find-lr), measured under ``settings``."""
    path.mkdir(parents=True)
    result = range_result()
    result.settings.update(settings or {})
    result.probe = probe
    (path / "finder.json").write_text(json.dumps(result.to_dict()))
    return path


def test_a_range_test_alone_shows_the_dataset_and_model_it_was_measured_on(tmp_path):
    run = _finder_only(tmp_path / "fl", {"dataset": "digits", "model": "mlp", "batch_size": 16})
    header, rows = results_table([read_run(run)])
    row = dict(zip(header, rows[0]))
    assert (row["dataset"], row["model"], row["schedule"], row["weight decay"]) == ("digits", "mlp", "-", "-")
    assert row["max_lr"] == f"{range_result().max_lr:.4g}"
    old = _finder_only(tmp_path / "older")  # a range test of a version that recorded no settings
    assert dict(zip(header, results_table([read_run(old)])[1][0]))["dataset"] == "-"
    bad = _finder_only(tmp_path / "bad", {"dataset": "imagenet"})
    with pytest.raises(ValueError, match=re.escape(f"{bad / 'finder.json'} is damaged: settings.dataset must be "
                                                   "one of fashion-mnist, cifar10, digits; got 'imagenet'")):
        read_run(bad)


def test_the_stability_probe_is_one_block_with_its_candidates_under_it(tmp_path):
    from onecycle.probe import ProbeResult

    probe = ProbeResult([0.3, 0.2, 0.133], [[2.0, 1.0], [2.0, 1.1], [2.0, 1.3]], [1.0, 1.1, None], 0.3, 2,
                        ["a note of the probe"])
    run = _finder_only(tmp_path / "run", probe=probe)
    write_report([run], tmp_path / "out")
    md = (tmp_path / "out" / "report.md").read_text()
    block = ("- stability probe: 3 candidates x 2 steps (6 steps)\n"
             "  - max_lr 0.3: final loss 1.0000  <- pick\n"
             "  - max_lr 0.2: final loss 1.1000\n"
             "  - max_lr 0.133: final loss diverged\n"
             "  - note: a note of the probe\n")
    assert block in md and md.count("stability probe") == 1
    page = (tmp_path / "out" / "report.html").read_text()
    assert ("<p>stability probe: 3 candidates x 2 steps (6 steps)</p><ul><li>max_lr 0.3: final loss 1.0000  "
            "&lt;- pick</li><li>max_lr 0.2: final loss 1.1000</li><li>max_lr 0.133: final loss diverged</li>"
            "<li>note: a note of the probe</li></ul>") in page


def test_the_sweep_table_says_its_max_lrs_come_from_the_sweeps_own_shorter_tests(tmp_path):
    from onecycle.sweep import SweepResult

    run = _run_dir(tmp_path / "run")
    (run / "finder.json").write_text(json.dumps(range_result().to_dict()))  # the main test: 80 steps
    sweep = SweepResult("weight_decay", [1e-3, 1e-4], [range_result(), range_result(shift=1.0)], 1e-3,
                        [True, False], settings={"num_steps": 60})
    (run / "sweep.json").write_text(json.dumps(sweep.to_dict()))
    header, rows = sweep_table(read_run(run))
    assert header == ["weight_decay", "max_lr (sweep's 60-step test)", "reached loss", "eligible"]
    assert rows == [["0.001 (pick)", f"{sweep.max_lrs[0]:.3g}", f"{sweep.reached_losses[0]:.4g}", "yes"],
                    ["0.0001", f"{sweep.max_lrs[1]:.3g}", f"{sweep.reached_losses[1]:.4g}", "no"]]
    write_report([run], tmp_path / "out")
    md = (tmp_path / "out" / "report.md").read_text()
    assert "| weight_decay | max_lr (sweep's 60-step test) | reached loss | eligible |" in md
    assert "- sweep over weight_decay: 2 values, a 60-step range test each, pick 0.001." in md


RECORD = {"preset": "p", "description": "d", "source": "s", "job": "train", "runs": [], "mean": 93.1, "std": None,
          "test_accuracy": [], "published_accuracy": 93.5}


@pytest.mark.parametrize(("change", "message"), [
    ({"mean": "high"}, "mean must be a finite number, got 'high'"),
    ({"std": -1}, "std must be a finite number >= 0 or null, got -1"),
    ({"test_accuracy": [93.1, None]}, "test_accuracy[1] must be a finite number, got None"),
    ({"preset": 3}, "preset must be a string, got 3"),
    ({"runs": ["../../etc"]}, "runs[0] must be the name of a directory beside it, got '../../etc'"),
    ({"job": "sweep", "picks": "1e-4"}, "picks must be a list, got '1e-4'"),
    ({"job": "sweep", "picks": [1e-4], "published_pick": "big"}, "published_pick must be a finite number or null, "
                                                                  "got 'big'"),
])
def test_a_damaged_reproduce_json_is_one_error_naming_the_key(tmp_path, capsys, change, message):
    (tmp_path / "p").mkdir()
    path = tmp_path / "p" / "reproduce.json"
    path.write_text(json.dumps({**RECORD, **change}))
    assert main(["report", str(tmp_path / "p"), "--out", str(tmp_path / "out")]) == 2
    assert capsys.readouterr().err.strip() == f"onecycle report: error: {path} is damaged: {message}"
    missing = {k: v for k, v in RECORD.items() if k != "source"}
    path.write_text(json.dumps(missing))
    assert main(["report", str(tmp_path / "p"), "--out", str(tmp_path / "out")]) == 2
    assert capsys.readouterr().err.strip().endswith(f"{path} is damaged: it is missing the key(s) source")


def _trained_run(tmp_path):
    """A run trained for real (its metrics.jsonl, steps.csv, summary.json and checkpoint), with a report of it."""
    run = tmp_path / "run"
    assert main(["train", "--max-lr", "0.05", "--epochs", "2", "--run-dir", str(run), *TINY]) == 0
    return run


def _report_of(run, out, caplog):
    """The report of ``run`` in ``out``, its Markdown and HTML, and the warnings logged while writing it."""
    caplog.clear()
    with caplog.at_level("WARNING", logger="onecycle"):
        assert main(["report", str(run), "--out", str(out)]) == 0
    return (out / "report.md").read_text(), (out / "report.html").read_text(), [r.getMessage() for r in caplog.records]


def test_a_whole_run_is_reported_with_nothing_left_out(tmp_path, caplog):
    md, html, warnings = _report_of(_trained_run(tmp_path), tmp_path / "report", caplog)
    assert "left out" not in md + html and warnings == []


def test_a_torn_last_metrics_line_is_left_out_and_said_so(tmp_path, caplog):
    run = _trained_run(tmp_path)
    lines = (run / "metrics.jsonl").read_text().splitlines(keepends=True)
    whole = [json.loads(line) for line in lines]
    (run / "metrics.jsonl").write_text("".join(lines[:-1]) + lines[-1][:20])  # the last epoch's row, cut short
    md, html, warnings = _report_of(run, tmp_path / "report", caplog)
    note = (f"{run / 'metrics.jsonl'}: its last line (line {len(lines)}) is incomplete, as a run killed while writing "
            f"it leaves it: the report uses the {len(lines) - 1} line(s) before it and leaves that one out")
    assert f"- left out: {note}." in md and f"<p>left out: {note}.</p>" in html
    assert warnings == [f"warning: {note}"]
    history = read_run(run).history
    assert history == [r for r in whole[:-1] if r["kind"] == "epoch"] and len(history) == 1
    assert "| 1/2 |" in md  # one epoch of two shown


def test_a_steps_csv_with_other_columns_is_said_to_be_damaged(tmp_path, caplog):
    run = _trained_run(tmp_path)
    (run / "steps.csv").write_text("a,b\n1,2\n")
    md, _, warnings = _report_of(run, tmp_path / "report", caplog)
    note = (f"{run / 'steps.csv'} has columns a,b, not step,loss,smoothed_loss,lr,momentum: the report shows none of "
            "it (its steps are read from metrics.jsonl)")
    assert f"- left out: {note}." in md and warnings == [f"warning: {note}"]
    header = (run.parent / "other" / "steps.csv")
    header.parent.mkdir()
    for text, problem in (("", "is empty"), ("step,lr\n", "has columns step,lr, not step,loss,")):
        header.write_text(text)
        assert left_out.steps_csv_problem(header).startswith(problem)
    header.write_bytes(b"\xff\xfe")
    assert left_out.steps_csv_problem(header) == "is not UTF-8 text"


def test_a_missing_config_json_of_a_trained_run_is_said_so(tmp_path, caplog):
    run = _trained_run(tmp_path)
    saved = (run / "config.json").read_text()
    (run / "config.json").unlink()
    md, _, warnings = _report_of(run, tmp_path / "report", caplog)
    note = (f"{run / 'config.json'} is missing, though the run wrote metrics.jsonl, metrics.csv, steps.csv, "
            "schedule.png, summary.json, checkpoint.pt after it: its settings (schedule, planned epochs, max_lr, "
            "weight decay; dataset and model where no range test records them) are left out")
    assert f"- left out: {note}." in md and warnings == [f"warning: {note}"]
    assert "| run | - | - | - | 2/- | - | - |" in md  # the settings shown as unknown, the epochs still there
    (run / "config.json").write_text(saved)
    (run / "metrics.jsonl").unlink()
    md, _, warnings = _report_of(run, tmp_path / "report", caplog)
    note = (f"{run / 'metrics.jsonl'} is missing, though the run wrote metrics.csv, steps.csv, checkpoint.pt after "
            "it: its epochs and steps (the results table's losses, accuracies and train time, and the loss curves) "
            "are left out")
    assert f"- left out: {note}." in md and warnings == [f"warning: {note}"]


def test_a_hand_edited_config_json_is_still_refused(tmp_path, capsys):
    run = _trained_run(tmp_path)
    saved = json.loads((run / "config.json").read_text())
    (run / "config.json").write_text(json.dumps({**saved, "max_lr": "big"}))
    (run / "steps.csv").write_text("a,b\n")
    capsys.readouterr()
    assert main(["report", str(run), "--out", str(tmp_path / "report")]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"onecycle report: error: {run / 'config.json'} is damaged: max_lr")
    assert not (tmp_path / "report" / "report.md").exists()


DAMAGE = {  # what is done to a run's file, and the error the report gives of it
    "metrics.jsonl garbage mid-file": ("metrics.jsonl", lambda text: text.replace("\n", "\ngarbage\n", 1),
                                       "{file} is damaged: line 2 is not JSON"),
    "metrics.jsonl accuracy a string": ("metrics.jsonl", lambda text: text.replace('"val_accuracy": 0.75',
                                                                                   '"val_accuracy": "high"', 1),
                                        "{file} is damaged: line 1 is not a metrics row (val_accuracy is not a "
                                        "number)"),
    "config.json cut short": ("config.json", lambda text: text[:20],
                              "{file} is not valid JSON (JSONDecodeError: Expecting ',' delimiter: line 1 column 21 "
                              "(char 20))"),
    "config.json hand-edited": ("config.json", lambda text: text.replace('"epochs": 2', '"epochs": "two"'),
                                "{file} is damaged: epochs must be an integer, got 'two'"),
    "summary.json cut short": ("summary.json", lambda text: '{"stopped": ',
                               "{file} is not valid JSON (JSONDecodeError: Expecting value: line 1 column 13 (char "
                               "12))"),
    "summary.json random bytes": ("summary.json", lambda text: b"\x80\x81\xfe{", "{file} is not UTF-8 text"),
}


def _damage(run, case):
    name, change, message = DAMAGE[case]
    path = run / name
    text = path.read_text() if path.exists() else "{}"
    changed = change(text)
    (path.write_bytes if isinstance(changed, bytes) else path.write_text)(changed)
    return message.format(file=path)


@pytest.mark.parametrize("case", DAMAGE)
def test_a_run_with_a_damaged_file_is_left_out_and_the_others_reported(tmp_path, caplog, case):
    good, bad = _run_dir(tmp_path / "good"), _run_dir(tmp_path / "bad")
    error = _damage(bad, case)
    md, html, warnings = _report_of_runs([good, bad], tmp_path / "out", caplog)
    note = f"{error}: the report leaves {bad} out"
    assert warnings == [f"warning: {note}"]
    assert f"- left out: {note}." in md and f"<p>left out: {html_escape(note)}.</p>" in html
    assert "| good |" in md and "| bad |" not in md and "## bad" not in md


@pytest.mark.parametrize("case", DAMAGE)
def test_with_no_run_left_the_report_is_one_error_naming_what_is_wrong_with_each(tmp_path, capsys, case):
    first, second = _run_dir(tmp_path / "first"), _run_dir(tmp_path / "second")
    errors = [_damage(first, case), _damage(second, "metrics.jsonl garbage mid-file")]
    assert main(["report", str(first), "--out", str(tmp_path / "out")]) == 2
    assert capsys.readouterr().err == f"onecycle report: error: {errors[0]}\n"
    assert main(["report", str(first), str(second), "--out", str(tmp_path / "out")]) == 2
    assert capsys.readouterr().err == f"onecycle report: error: no run left to report: {'; '.join(errors)}\n"
    assert not (tmp_path / "out" / "report.md").exists()


def test_a_preset_with_a_damaged_run_reports_its_other_runs(tmp_path, caplog):
    preset = tmp_path / "p"
    for name in ("seed-0", "seed-1"):
        _run_dir(preset / name)
    (preset / "reproduce.json").write_text(json.dumps({**RECORD, "runs": ["seed-0", "seed-1"]}))
    error = _damage(preset / "seed-1", "config.json hand-edited")
    md, _, warnings = _report_of_runs([preset], tmp_path / "out", caplog)
    assert warnings == [f"warning: {error}: the report leaves {preset / 'seed-1'} out"]
    assert f"| {RECORD['preset']}-seed-0 |" in md and "seed-1 |" not in md


def test_non_finite_metrics_are_shown_as_they_are_with_a_note_naming_the_epochs(tmp_path, caplog):
    run = _run_dir(tmp_path / "run", epochs=3)
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    rows[1]["val_loss"], rows[2]["train_accuracy"] = math.nan, math.inf
    steps = [{"kind": "step", "step": s, "loss": math.nan if s == 5 else 1.0, "lr": 0.1} for s in (5, 31)]
    (run / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in [steps[0], *rows, steps[1]]))
    md, html, warnings = _report_of_runs([run], tmp_path / "out", caplog)
    note = (f"{run / 'metrics.jsonl'} holds losses or accuracies that are not finite numbers (NaN or infinity) in "
            "epoch(s) 1, 2, 3: they are shown as they are")
    assert warnings == [f"warning: {note}"] and f"- note: {note}." in md and f"<p>note: {note}.</p>" in html
    assert "| 0.3333 | inf | 0.4 | 75.00 |" in md  # the last epoch's row as it is
    assert non_finite_epochs(steps[:1]) == [1] and non_finite_epochs([{**steps[0], "step": 31}, *rows[:2]]) == [2, 3]


def _report_of_runs(runs, out, caplog):
    """The report of ``runs`` in ``out``, its Markdown and HTML, and the warnings logged while writing it."""
    caplog.clear()
    with caplog.at_level("WARNING", logger="onecycle"):
        assert main(["report", *map(str, runs), "--out", str(out)]) == 0
    return (out / "report.md").read_text(), (out / "report.html").read_text(), [r.getMessage() for r in caplog.records]


def test_a_file_of_the_wrong_json_kind_is_named_by_json_not_python():
    kinds = [rundir.json_kind(v) for v in (None, True, 1, 1.5, "x", [1], {"a": 1})]
    assert kinds == ["null", "boolean", "number", "number", "string", "array", "object"]
