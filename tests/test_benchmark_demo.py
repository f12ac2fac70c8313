"""The demo's section of docs/RESULTS.md (benchmarks/demo.py): written from a run directory, between its markers,
with the run's figures beside it; the docs hold what the code produced."""

import json
from pathlib import Path

from benchmarks import demo
from tests.test_report import _run_dir


def _finished(path: Path) -> Path:
    run = _run_dir(path)
    (run / "summary.json").write_text(json.dumps({"epochs_completed": 2, "warnings": []}))
    (run / "curves.png").write_bytes(b"\x89PNG curves")
    return run


def test_the_section_holds_the_runs_tables_and_figures_and_nothing_else_is_touched(tmp_path, capsys):
    run, out = _finished(tmp_path / "demo"), tmp_path / "docs" / "RESULTS.md"
    out.parent.mkdir()
    out.write_text(f"# Results\n\nBy hand.\n\n{demo.SECTION.begin}\nold\n{demo.SECTION.end}\n\nAfter, by hand.\n")
    assert demo.main([str(run), "--out", str(out)]) == 0
    text = out.read_text()
    assert text.startswith(f"# Results\n\nBy hand.\n\n{demo.SECTION.begin}\n\n| run | dataset | model |")
    assert text.endswith(f"{demo.SECTION.end}\n\nAfter, by hand.\n") and "old" not in text
    assert "| demo | digits | small-cnn | 1cycle | 2/2 | 0.1 | 0.0005 | 0.5 | 80.00 | 0.6 | 75.00 | 21 s |" in text
    assert "| 1 | 0.1 | 1.000 | 80.00% | 1.200 | 75.00% | 10.4 s |\n| 2 | 0.1 | 0.500 | 80.00% | 0.600 | 75.00% | " \
           "10.4 s |" in text
    for name in demo.FIGURES:
        assert f"(images/demo-{name})" in text
        assert (tmp_path / "docs" / "images" / f"demo-{name}").read_bytes() == (run / name).read_bytes()


def test_an_unfinished_run_or_a_file_of_the_users_is_refused(tmp_path, capsys):
    run, out = _run_dir(tmp_path / "demo"), tmp_path / "R.md"  # no summary.json: not finished
    assert demo.main([str(run), "--out", str(out)]) == 2
    assert capsys.readouterr().err.strip() == (f"python -m benchmarks.demo: error: {run} holds no finished run (no "
                                               "epochs in metrics.jsonl or no summary.json): run `onecycle demo` to "
                                               "its end first")
    out.write_text("mine\n")
    assert demo.main([str(_finished(tmp_path / "done")), "--out", str(out)]) == 2
    assert "holds no demo section" in capsys.readouterr().err and out.read_text() == "mine\n"
    assert demo.main([str(tmp_path / "nowhere"), "--out", str(tmp_path / "new.md")]) == 2
    assert f"run directory {tmp_path / 'nowhere'} does not exist" in capsys.readouterr().err
