"""Report templates: a Markdown file of named blocks of fixed text with ``$placeholders``."""

from __future__ import annotations

import re
from pathlib import Path
from string import Template
from typing import Any

_BLOCK_START = re.compile(r"^<!-- (\w+) -->\n", re.MULTILINE)


def load_blocks(path: Path) -> dict[str, Template]:
    """The template's blocks by name: the text after each ``<!-- name -->`` line, up to the next one."""
    parts = _BLOCK_START.split(path.read_text(encoding="utf-8"))
    return {name: Template(text.strip("\n")) for name, text in zip(parts[1::2], parts[2::2])}


class Blocks:
    """The blocks of one template file, filled in by name."""

    def __init__(self, path: Path) -> None:
        self.templates = load_blocks(path)

    def __call__(self, name: str, **values: Any) -> str:
        """The block ``name`` with its placeholders filled in."""
        return self.templates[name].substitute(values)
