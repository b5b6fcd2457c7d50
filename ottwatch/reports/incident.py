"""The incident report of a user, ring, IP address or alert: what happened when
(timeline), why it scored (reasons), who else is tied in (linked accounts, rings),
what was raised and who acknowledged it, and the evidence events."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ottwatch.vocabulary import LEVEL_RANK, LEVELS

EVIDENCE_LEVEL = "high"  # events at this level or above are quoted whole
EVIDENCE_FIELDS = ("event_id", "timestamp", "user_id", "event_type", "ip_address", "region",
                   "device_id", "session_id", "content_id", "bytes", "request_id", "source",
                   "source_offset")


@dataclass(slots=True)
class IncidentReport:
    subject: str  # "user u-1", "ring r-3", "ip 203.0.113.7", "alert al-9"
    since: float
    until: float
    timeline: list[dict[str, Any]]
    reasons: dict[str, int]
    levels: dict[str, int]
    linked: dict[str, int]  # other accounts -> events tying them in
    rings: list[dict[str, Any]]
    alerts: list[dict[str, Any]]
    evidence: list[dict[str, Any]]
    truncated: bool = False
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"report": "incident", "subject": self.subject, "since": self.since,
                "until": self.until, "levels": self.levels, "reasons": self.reasons,
                "timeline": self.timeline, "linked_accounts": self.linked,
                "rings": self.rings, "alerts": self.alerts, "evidence": self.evidence,
                "truncated": self.truncated, "notes": self.notes}


def build_incident(subject: str, events: Iterable[Mapping[str, Any]],
                   alerts: Iterable[Mapping[str, Any]], rings: Iterable[Mapping[str, Any]],
                   linked: Mapping[str, int], *, since: float, until: float,
                   limit: int) -> IncidentReport:
    timeline: list[dict[str, Any]] = []
    evidence: list[dict[str, Any]] = []
    reasons: Counter[str] = Counter()
    levels: Counter[str] = Counter()
    for event in events:
        codes = [r["code"] for r in (event.get("reasons") or [])]
        level = event.get("level")
        reasons.update(set(codes))
        levels[level or "not scored"] += 1
        timeline.append({"ts": event["ts"], "timestamp": event["timestamp"],
                         "event_id": event["event_id"], "user_id": event["user_id"],
                         "event_type": event["event_type"], "ip_address": event["ip_address"],
                         "region": event["region"], "level": level, "score": event.get("score"),
                         "codes": codes})
        if level is not None and LEVEL_RANK[level] >= LEVEL_RANK[EVIDENCE_LEVEL]:
            quoted = {name: event.get(name) for name in EVIDENCE_FIELDS}
            quoted["reasons"] = list(event.get("reasons") or [])
            evidence.append(quoted)
    ordered_levels = {level: levels[level] for level in (*LEVELS, "not scored") if levels[level]}
    return IncidentReport(
        subject, since, until, timeline, dict(reasons.most_common()), ordered_levels,
        dict(linked), [dict(r) for r in rings], [dict(a) for a in alerts], evidence,
        truncated=len(timeline) >= limit)
