"""Alert groups as `storage.tables.AlertRow` columns and back, and findings as the
sink's items."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ottwatch.alerts.content import alert_body, alert_title
from ottwatch.alerts.grouping import Group, Item, Labels, Note
from ottwatch.alerts.redact import scrub
from ottwatch.pipeline import LEVEL_RANK, Finding

STORED_DETAIL_CHARS = 160
DEFAULT_FINDING_SEVERITY = "high"


def alert_row(group: Group, body_format: str) -> dict[str, Any]:
    """All columns of `storage.tables.AlertRow` but the surrogate id (copies, not views:
    the batch commits on another thread while the next one is scored)."""
    labels = group.labels
    return {
        "alert_id": group.alert_id, "group_key": group.key, "created_at": group.started,
        "updated_at": group.updated_at, "severity": group.severity,
        "codes": group.codes_list(), "user_id": labels.get("user_id"),
        "ring_id": labels.get("ring_id"), "request_id": labels.get("request_id"),
        "regulation": labels.get("regulation"), "event_ids": list(group.event_ids),
        "count": group.count, "status": group.status, "title": alert_title(group),
        "body": alert_body(group, body_format),
    }


def finding_item(finding: Finding, tokens: set[str]) -> Item:
    severity = finding.severity if finding.severity in LEVEL_RANK else DEFAULT_FINDING_SEVERITY
    labels: Labels = {"code": finding.code, "user_id": finding.user_id,
                      "ring_id": finding.ring_id, "request_id": finding.request_id,
                      "regulation": finding.regulation, "segment": None}
    note = Note(finding.ts, severity, scrub(finding.title, tokens),
                scrub(finding.detail, tokens)[: STORED_DETAIL_CHARS * 2])
    return Item(ts=finding.ts, severity=severity, labels=labels,
                event_ids=list(finding.event_ids), reason_codes=[finding.code], note=note)


def group_from_row(row: Mapping[str, Any], notified: bool, now: float) -> Group:
    codes = list(row["codes"] or [])
    labels: Labels = {"code": codes[0] if codes else "-", "user_id": row["user_id"],
                      "ring_id": row["ring_id"], "request_id": row["request_id"],
                      "regulation": row["regulation"], "segment": None}
    rank = LEVEL_RANK.get(row["severity"], LEVEL_RANK[DEFAULT_FINDING_SEVERITY])
    acked = row["status"] == "acked"
    return Group(key=row["group_key"], alert_id=row["alert_id"], labels=labels,
                 started=row["created_at"], flush_base=row["created_at"],
                 last_ts=row["updated_at"], active_at=max(now, row["updated_at"]),
                 severity=row["severity"],
                 updated_at=row["updated_at"], count=row["count"],
                 event_ids=list(row["event_ids"] or []), codes={c: 1 for c in codes},
                 status=row["status"], ack_rank=rank if acked else None, ack_seen=acked,
                 notified_at=row["updated_at"] if notified else None,
                 notified_count=row["count"] if notified else 0,
                 notified_rank=rank if notified else -1, due=now)
