"""The words every layer shares, at the bottom of the import graph: it imports nothing
of the project. Time spans in seconds, the assessment levels in rank order, and what a
source hands the writer besides events: its position and the lines it quarantined."""

from __future__ import annotations

from dataclasses import dataclass

MINUTE_S = 60.0
HOUR_S = 3600.0
DAY_S = 86_400.0
WEEK_S = 7 * DAY_S

LEVELS = ("low", "medium", "high", "critical")
LEVEL_RANK = {name: rank for rank, name in enumerate(LEVELS)}


@dataclass(slots=True)
class Quarantined:
    """A line refused, kept with why (the quarantine table)."""

    source: str
    offset: int
    reason: str
    detail: str
    raw: bytes
    raw_length: int


@dataclass(slots=True)
class SourcePosition:
    """How far a source has been read (its checkpoint)."""

    source: str
    inode: int | None
    offset: int
    fingerprint: bytes | None = None  # of the content before `offset`, to recognise the file
