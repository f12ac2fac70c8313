"""``python -m benchmarks.time_to_accuracy``: measure the time to accuracy (``--help`` for the options)."""

from benchmarks.time_to_accuracy.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
