"""Measurements that take longer than a test; each runs as ``python -m benchmarks.<name>``."""
