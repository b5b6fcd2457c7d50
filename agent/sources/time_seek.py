"""Where in a recorded log event time reaches a given moment. Logs are written in
about event-time order, so a plain file is bisected by byte offset (a few reads,
whatever its size); any other stream is judged chunk by chunk by its last line."""

from __future__ import annotations

from typing import BinaryIO

import orjson

from ottwatch.events import parse_timestamp

PROBE_LINES = 64  # lines read after a probe point to find one with a timestamp
CLOSE_ENOUGH = 64 << 10  # stop bisecting within this many bytes


def line_time(line: bytes) -> float | None:
    """The event time of one JSON line, or None (not JSON, no valid timestamp)."""
    try:
        value = orjson.loads(line)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(value, dict):
        return None
    parsed = parse_timestamp(value.get("timestamp"))
    return parsed[0] if isinstance(parsed, tuple) else None


def _time_after(handle: BinaryIO, offset: int) -> float | None:
    """The time of the first timed line that starts after `offset` (None: none near)."""
    handle.seek(offset)
    if offset:
        handle.readline()  # the rest of the line the probe fell into
    for _ in range(PROBE_LINES):
        line = handle.readline()
        if not line:
            return None
        if (ts := line_time(line)) is not None:
            return ts
    return None


def offset_before(handle: BinaryIO, size: int, target: float) -> int:
    """A line start at or before the first line whose time is `target` or later; lines
    before it are all earlier than `target` as far as the probes can tell (a probe
    that finds no time counts as late, so the result errs early, never late)."""
    low, high = 0, size
    while high - low > CLOSE_ENOUGH:
        middle = (low + high) // 2
        ts = _time_after(handle, middle)
        if ts is None or ts >= target:
            high = middle
        else:
            low = middle
    if low == 0:
        return 0
    handle.seek(low)
    handle.readline()
    return handle.tell()
