"""Where the recommendation benchmark reads its notes and writes its results."""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
RESULTS_DIR = ROOT / "benchmarks" / "results"
NOTES = ROOT / "benchmarks" / "recommendation-notes.md"
RUNS_FILE = RESULTS_DIR / "recommendation-runs.json"
