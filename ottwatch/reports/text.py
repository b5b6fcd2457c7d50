"""Values as a report shows them: UTC times, durations, shares; user-supplied strings
made literal for Markdown (no markup, no control characters, no table breaks)."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from ottwatch.safe_text import visible

# What could start markup inside a line or break a table cell (CommonMark lets any
# ASCII punctuation be escaped; these are the ones that act mid-line).
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_\[\]<>|~&])")


def when(ts: float | None) -> str:
    if ts is None:
        return "-"
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def span(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds >= 86_400:
        return f"{seconds / 86_400:.1f} d"
    if seconds >= 3600:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 60:.0f} min"


def share(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


def md(value: object) -> str:
    """A value shown literally in Markdown, also inside a table cell."""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", visible(value))


def md_table(header: list[str], rows: list[list[object]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(md(cell) for cell in row) + " |" for row in rows]
    return lines
