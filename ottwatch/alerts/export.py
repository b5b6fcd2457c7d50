"""`ottwatch export --what alerts`: contract v1 alert records (spec section 3)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from sqlalchemy import Engine

from ottwatch.events import ts_to_text
from ottwatch.forensics.export_scope import ExportScope
from storage.queries import iter_rows
from storage.tables import AlertRow

ALERTS = AlertRow.__table__
ALERT_FIELDS = ["alert_id", "created_at", "severity", "codes", "user_id", "ring_id",
                "request_id", "regulation", "event_ids", "status", "title", "body"]


def alert_record(row: dict[str, Any]) -> dict[str, Any]:
    """`created_at` is RFC 3339 UTC text, like an assessment's `timestamp`."""
    return {
        "alert_id": row["alert_id"], "created_at": ts_to_text(row["created_at"]),
        "severity": row["severity"], "codes": row["codes"] or [],
        "user_id": row["user_id"], "ring_id": row["ring_id"], "request_id": row["request_id"],
        "regulation": row["regulation"], "event_ids": row["event_ids"] or [],
        "status": row["status"], "title": row["title"], "body": row["body"],
    }


def alerts(engine: Engine, scope: ExportScope | None = None
           ) -> tuple[list[str], Iterator[dict[str, Any]]]:
    """With a scope: the alerts alive in its window (opened before its end, updated
    after its start) that its filters name."""
    def records() -> Iterator[dict[str, Any]]:
        where = scope.overlapping(ALERTS, "created_at", "updated_at") if scope else None
        for row in iter_rows(engine, ALERTS, where=where):
            if scope is None or scope.only.empty or scope.alert_matches(row):
                yield alert_record(row)

    return ALERT_FIELDS, records()
