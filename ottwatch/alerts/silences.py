"""Silences: label matchers (globs) with an expiry. A silenced alert is recorded
with status `silenced` and not notified."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Any

MATCH_LABELS = ("alert_id", "group_key", "code", "user_id", "ring_id", "request_id",
                "regulation", "severity", "segment")
ALIASES = {"user": "user_id", "ring": "ring_id", "request": "request_id", "alert": "alert_id"}


def canonical_matchers(matchers: Mapping[str, Any]) -> dict[str, str]:
    """`{"user": "u-1"}` -> `{"user_id": "u-1"}`; unknown labels and empty sets are errors."""
    out: dict[str, str] = {}
    for name, value in matchers.items():
        label = ALIASES.get(name, name)
        if label not in MATCH_LABELS:
            raise ValueError(f"unknown label {name!r}; labels: {', '.join(MATCH_LABELS)}")
        if value is None or str(value) == "":
            raise ValueError(f"label {name!r} needs a value")
        out[label] = str(value)
    if not out:
        raise ValueError("a silence needs at least one matcher")
    return out


@dataclass(frozen=True, slots=True)
class Silence:
    id: int
    matchers: tuple[tuple[str, str], ...]
    expires_at: float
    reason: str = ""
    created_by: str = ""
    created_at: float = 0.0

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> Silence:
        matchers = canonical_matchers(row.get("matchers") or {})
        return cls(id=int(row["id"]), matchers=tuple(sorted(matchers.items())),
                   expires_at=float(row["expires_at"]), reason=row.get("reason") or "",
                   created_by=row.get("created_by") or "",
                   created_at=float(row.get("created_at") or 0.0))

    @classmethod
    def coerce(cls, value: Silence | Mapping[str, Any]) -> Silence:
        return value if isinstance(value, Silence) else cls.from_row(value)

    def active(self, now: float) -> bool:
        return self.expires_at > now

    def matches(self, labels: Mapping[str, Any]) -> bool:
        if not self.matchers:
            return False
        return all(fnmatchcase(str(labels.get(name) or ""), pattern)
                   for name, pattern in self.matchers)

    def describe(self) -> str:
        return " ".join(f"{name}={pattern}" for name, pattern in self.matchers)
