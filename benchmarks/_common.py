"""Shared by the benchmark scripts: replace one marked section of BENCHMARKS.md."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def write_section(key: str, body: str, heading: str | None = None) -> None:
    """Put ``body`` between ``<!-- key:start -->`` and ``<!-- key:end -->`` (appended if absent)."""
    path = ROOT / "BENCHMARKS.md"
    text = path.read_text() if path.exists() else "# Benchmarks\n"
    start, end = f"<!-- {key}:start -->", f"<!-- {key}:end -->"
    block = f"{start}\n{body.rstrip()}\n{end}"
    if start in text and end in text:
        text = re.sub(re.escape(start) + ".*?" + re.escape(end), lambda _: block, text, flags=re.S)
    else:
        text = text.rstrip() + "\n\n" + (f"{heading}\n\n" if heading else "") + block + "\n"
    path.write_text(text)
