"""``python -m benchmarks.recommendation``: run the recommendation benchmark (``--help`` for its options)."""

from benchmarks.recommendation.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
