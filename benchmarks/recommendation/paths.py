"""Where the recommendation benchmark reads its notes and writes its results."""

from benchmarks.common.paths import RESULTS_DIR, ROOT

NOTES = ROOT / "benchmarks" / "recommendation-notes.md"
RUNS_FILE = RESULTS_DIR / "recommendation-runs.json"

__all__ = ["NOTES", "RESULTS_DIR", "ROOT", "RUNS_FILE"]
