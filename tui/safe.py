"""Every string that comes from an event is untrusted: it is shown as plain text,
never parsed as Rich markup, and control and format characters (ESC, bidi
overrides, zero-width characters) are made visible instead of reaching the
terminal (`ottwatch.safe_text`, shared with the CLI)."""

from __future__ import annotations

from datetime import UTC, datetime

from rich.text import Text

from ottwatch import safe_text
from ottwatch.safe_text import visible

__all__ = ["visible", "plain", "clock", "level_text", "ago", "LEVEL_STYLES"]


def plain(value: object, style: str = "") -> Text:
    """A Text that shows `value` literally, on one line."""
    return safe_text.plain(value, style, no_wrap=True, overflow="ellipsis")


def clock(ts: float | None) -> str:
    if ts is None:
        return "-"
    return datetime.fromtimestamp(ts, UTC).strftime("%m-%d %H:%M:%S")


LEVEL_STYLES = {"low": "green", "medium": "yellow", "high": "bold dark_orange",
                "critical": "bold white on red"}


def level_text(level: str | None) -> Text:
    return Text(level or "-", style=LEVEL_STYLES.get(level or "", ""))


def ago(seconds: float) -> str:
    seconds = abs(seconds)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds / size:.0f}{unit}"
    return f"{seconds:.0f}s"
