"""Durations as people type them, for the CLI and the console alike."""

from __future__ import annotations

import re

UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 604_800}
_NUMBER = r"\d+(?:\.\d+)?"
_PART = re.compile(rf"({_NUMBER})([smhdw])")
_WHOLE = re.compile(rf"(?:{_NUMBER}[smhdw])+")
EXAMPLES = "90s, 15m, 2h, 1h30m, 2d or 1w"


def parse_duration(text: str) -> float:
    """`90` (seconds), `90s`, `15m`, `1h30m`, `2d`, `1w` -> seconds; ValueError
    otherwise (zero is a duration: whether it is enough is the caller's to say)."""
    value = text.strip().lower()
    if re.fullmatch(_NUMBER, value):
        return float(value)
    if not _WHOLE.fullmatch(value):
        raise ValueError(f"{text!r} is not a duration: use e.g. {EXAMPLES}")
    return sum(float(number) * UNIT_SECONDS[unit] for number, unit in _PART.findall(value))
