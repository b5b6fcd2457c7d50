"""Per reason code: how many events it fired on, for how many users, first and last
time, how its weight was spread, and how many alerts it raised. Fed batch by batch
during a replay, so nothing is read back from the database but the alerts."""

from __future__ import annotations

from array import array
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ottwatch.pipeline import Assessment


@dataclass(slots=True)
class CodeTally:
    events: int = 0
    users: set[str] = field(default_factory=set)
    first: float = float("inf")
    last: float = float("-inf")
    weights: array = field(default_factory=lambda: array("d"))
    alerts: int = 0


@dataclass(frozen=True, slots=True)
class CodeStats:
    code: str
    events: int
    users: int
    first: float | None
    last: float | None
    weight_min: float
    weight_median: float
    weight_p90: float
    weight_max: float
    alerts: int

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "events": self.events, "users": self.users,
                "first": self.first, "last": self.last,
                "weight": {"min": self.weight_min, "median": self.weight_median,
                           "p90": self.weight_p90, "max": self.weight_max},
                "alerts": self.alerts}


class RuleStats:
    def __init__(self) -> None:
        self._codes: dict[str, CodeTally] = {}
        self.events = 0

    def add(self, assessments: Iterable[Assessment]) -> None:
        codes = self._codes
        for assessment in assessments:
            self.events += 1
            for code in {r.code for r in assessment.reasons}:
                tally = codes.get(code)
                if tally is None:
                    tally = codes[code] = CodeTally()
                tally.events += 1
                tally.users.add(assessment.user_id)
                tally.first = min(tally.first, assessment.ts)
                tally.last = max(tally.last, assessment.ts)
            for reason in assessment.reasons:
                codes[reason.code].weights.append(reason.weight)

    def add_alert(self, codes: Iterable[str]) -> None:
        """An alert raised on `codes` counts once for each of them."""
        for code in set(codes):
            tally = self._codes.get(code)
            if tally is None:
                tally = self._codes[code] = CodeTally()
            tally.alerts += 1

    def table(self) -> list[CodeStats]:
        """One row per code, most events first (then by code)."""
        rows = []
        for code, tally in self._codes.items():
            weights = np.frombuffer(tally.weights, dtype=float) if tally.weights else \
                np.zeros(1)
            rows.append(CodeStats(
                code, tally.events, len(tally.users),
                tally.first if tally.events else None, tally.last if tally.events else None,
                round(float(weights.min()), 2), round(float(np.median(weights)), 2),
                round(float(np.percentile(weights, 90)), 2), round(float(weights.max()), 2),
                tally.alerts))
        return sorted(rows, key=lambda row: (-row.events, row.code))

    def counts(self) -> dict[str, int]:
        return {code: tally.events for code, tally in self._codes.items()}
