"""``python -m benchmarks.sharpness``: measure the sharpness of the minima each schedule finds (``--help``)."""

from benchmarks.sharpness.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
