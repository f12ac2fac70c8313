"""Counting the reads of a file, for the tests that a resume reads (and hashes) its checkpoint once."""

from pathlib import Path


def count_reads(monkeypatch, path):
    """A list that gets one entry each time the file at ``path`` is read whole (``Path.read_bytes``, the way
    :mod:`onecycle.rundir` reads a checkpoint), from now until ``monkeypatch`` is undone."""
    reads, real, path = [], Path.read_bytes, Path(path).resolve()

    def read_bytes(self):
        if self.resolve() == path:
            reads.append(self)
        return real(self)

    monkeypatch.setattr(Path, "read_bytes", read_bytes)
    return reads
