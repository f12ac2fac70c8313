"""``python -m benchmarks.speed``: run the speed benchmark (``--help`` for the options)."""

from benchmarks.speed.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
