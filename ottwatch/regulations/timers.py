"""Deadline timers: what opens and closes them, their findings' codes, their rows."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

OPENED_BY = {"dsar_request": "dsar", "deletion_request": "deletion", "breach_detected": "breach"}
CLOSED_BY = {"dsar_fulfilled": "dsar", "deletion_completed": "deletion",
             "breach_notified": "breach"}
CODES = {
    "dsar": "regulation.dsar_overdue",
    "deletion": "regulation.deletion_overdue",
    "breach": "regulation.breach_notification_late",
}
# The warning at `warn_fraction` of a deadline: its own code, never an overdue one (those
# mean the deadline has passed).
DEADLINE_NEAR = "regulation.deadline_near"
LABELS = {"dsar": "DSAR", "deletion": "Deletion request", "breach": "Breach"}
MISSED = {"dsar": "not fulfilled", "deletion": "not completed", "breach": "not notified"}
OVERDUE_SEVERITY = {"dsar": "high", "deletion": "high", "breach": "critical"}
WARN_SEVERITY = "medium"

OPEN, WARNED, OVERDUE, CLOSED, CLOSED_LATE = "open", "warned", "overdue", "closed", "closed_late"


def timer_key(kind: str, request_id: str) -> str:
    return f"{kind}:{request_id}"


@dataclass(slots=True)
class Timer:
    key: str
    kind: str
    request_id: str
    user_id: str
    regulation: str
    opened_at: float
    warn_at: float
    deadline: float
    event_id: str
    scope: list[str]  # every regulation in scope; `regulation` has the shortest deadline
    state: str = OPEN
    closed_at: float | None = None

    @property
    def next_due(self) -> float | None:
        """When this timer next has something to say (a warning, then the deadline)."""
        if self.state == OPEN:
            return self.warn_at
        if self.state == WARNED:
            return self.deadline
        return None

    def row(self) -> dict[str, Any]:
        """All columns of `storage.tables.TimerRow`."""
        return {"key": self.key, "kind": self.kind, "request_id": self.request_id,
                "user_id": self.user_id, "regulation": self.regulation,
                "opened_at": self.opened_at, "warn_at": self.warn_at, "deadline": self.deadline,
                "state": self.state, "closed_at": self.closed_at, "event_id": self.event_id}

    def to_list(self) -> list[Any]:
        return [self.key, self.kind, self.request_id, self.user_id, self.regulation,
                self.opened_at, self.warn_at, self.deadline, self.event_id, self.scope,
                self.state, self.closed_at]

    @classmethod
    def from_list(cls, values: list[Any]) -> Timer:
        return cls(*values[: len(TIMER_FIELDS)])


TIMER_FIELDS = tuple(f.name for f in fields(Timer))


def human_duration(seconds: float) -> str:
    """`30 d`, `6 d 12 h`, `72 h`, `14 h 24 min`, `45 min` (hours below four days)."""
    minutes = max(0, round(seconds / 60))
    if minutes >= 4 * 1440:
        days, rest = divmod(minutes, 1440)
        hours = round(rest / 60)
        return f"{days} d {hours} h" if hours else f"{days} d"
    hours, minutes = divmod(minutes, 60)
    if hours:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    return f"{minutes} min"
