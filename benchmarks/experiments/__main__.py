"""``python -m benchmarks.experiments``: run the twins (``--help`` for the options)."""

from benchmarks.experiments.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
