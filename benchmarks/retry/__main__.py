"""``python -m benchmarks.retry``: measure what on_diverge retry does at too-high learning rates (``--help``)."""

from benchmarks.retry.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
