"""A time window as an investigator types it: RFC 3339 instants or times relative to
now (`-2h`, `-1d12h`, `now`)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime

from ottwatch.durations import EXAMPLES, parse_duration


def parse_instant(text: str, now: float) -> float:
    """`2026-09-03T02:00:00Z` (any RFC 3339 offset; a date alone is its midnight UTC),
    `-2h` (that long before `now`) or `now` -> epoch seconds; ValueError otherwise."""
    value = text.strip()
    if value.lower() == "now":
        return now
    if value.startswith("-"):
        return now - parse_duration(value[1:])
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise ValueError(f"{text!r} is not a time: use RFC 3339 (2026-09-03T02:00:00Z) or "
                         f"a time before now (-{EXAMPLES.replace(', ', ', -')})") from None
    if parsed.tzinfo is None:
        if "T" in value or " " in value:
            raise ValueError(f"{text!r} has no time zone: add Z or an offset such as +02:00")
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()


@dataclass(frozen=True, slots=True)
class Window:
    """[since, until): the start is in, the end is not, so consecutive windows share
    no event."""

    since: float = -math.inf
    until: float = math.inf

    def __post_init__(self) -> None:
        if self.since >= self.until:
            raise ValueError("the window is empty: --since must be before --until")

    @classmethod
    def parse(cls, since: str | None, until: str | None, now: float) -> Window:
        return cls(parse_instant(since, now) if since else -math.inf,
                   parse_instant(until, now) if until else math.inf)

    @property
    def bounded(self) -> bool:
        return self.since != -math.inf or self.until != math.inf

    def contains(self, ts: float) -> bool:
        return self.since <= ts < self.until

    def describe(self) -> str:
        def when(ts: float) -> str:
            return datetime.fromtimestamp(ts, UTC).isoformat().replace("+00:00", "Z")
        start = "the start" if self.since == -math.inf else when(self.since)
        end = "the end" if self.until == math.inf else when(self.until)
        return f"from {start} to {end}"
