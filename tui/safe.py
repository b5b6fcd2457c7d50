"""Every string that comes from an event is untrusted: it is shown as plain text,
never parsed as Rich markup, and control characters (ESC included) are made
visible instead of reaching the terminal."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from rich.text import Text

_CONTROLS = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def visible(value: object) -> str:
    text = "" if value is None else str(value)
    return _CONTROLS.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


def plain(value: object, style: str = "") -> Text:
    """A Text that shows `value` literally."""
    return Text(visible(value), style=style, no_wrap=True, overflow="ellipsis")


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
