"""The words every layer shares, at the bottom of the import graph: it imports nothing
of the project. Time spans in seconds and the assessment levels in rank order."""

from __future__ import annotations

MINUTE_S = 60.0
HOUR_S = 3600.0
DAY_S = 86_400.0
WEEK_S = 7 * DAY_S

LEVELS = ("low", "medium", "high", "critical")
LEVEL_RANK = {name: rank for rank, name in enumerate(LEVELS)}
