"""Rows -> contract-v1 export records, one function per `--what`."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from sqlalchemy import Engine

from ottwatch.alerts import export as alert_export
from ottwatch.forensics.export_scope import ExportScope, paired
from ottwatch.rings.export import rings
from storage.queries import ASSESSMENTS, EVENTS, QUARANTINE, iter_rows
from storage.report_queries import assessments_by_event, events_by_id

EVENT_FIELDS = ["event_id", "timestamp", "user_id", "event_type", "device_id", "ip_address",
                "region", "is_eu", "has_consent", "subscription_plan", "content_id",
                "session_id", "payment_fingerprint", "bytes", "error_code", "request_id",
                "extra_metadata"]
QUARANTINE_FIELDS = ["id", "source", "offset", "reason", "detail", "raw", "raw_length",
                     "received_at"]
ASSESSMENT_FIELDS = ["event_id", "user_id", "timestamp", "score", "level", "decision",
                     "threshold", "reasons"]

Records = tuple[list[str], Iterator[dict[str, Any]]]
Exporter = Callable[[Engine, ExportScope], Records]
EVERYTHING = ExportScope()


def events(engine: Engine, scope: ExportScope = EVERYTHING) -> Records:
    def records() -> Iterator[dict[str, Any]]:
        rows = iter_rows(engine, EVENTS, where=scope.between(EVENTS.c.ts))
        if scope.only.needs_assessment:
            pairs = paired(rows, lambda ids: assessments_by_event(engine, ids))
        else:
            pairs = ((row, None) for row in rows)
        for row, assessment in pairs:
            if scope.only.empty or scope.event_matches(row, assessment):
                yield {k: row[k] for k in EVENT_FIELDS if row[k] is not None}

    return EVENT_FIELDS, records()


def quarantine(engine: Engine, scope: ExportScope = EVERYTHING) -> Records:
    """Quarantined lines have no trusted user or address: only the window applies (to
    when they were received)."""
    from ottwatch.events import ts_to_text

    def records() -> Iterator[dict[str, Any]]:
        for row in iter_rows(engine, QUARANTINE, where=scope.between(QUARANTINE.c.received_at)):
            yield {
                "id": row["id"], "source": row["source"], "offset": row["source_offset"],
                "reason": row["reason"], "detail": row["detail"],
                "raw": bytes(row["raw"]).decode("utf-8", "backslashreplace"),
                "raw_length": row["raw_length"], "received_at": ts_to_text(row["received_at"]),
            }

    return QUARANTINE_FIELDS, records()


def assessments(engine: Engine, scope: ExportScope = EVERYTHING) -> Records:
    from ottwatch.events import ts_to_text

    def records() -> Iterator[dict[str, Any]]:
        rows = iter_rows(engine, ASSESSMENTS, where=scope.between(ASSESSMENTS.c.ts))
        only = scope.only
        if only.networks or only.regions:
            pairs = paired(rows, lambda ids: events_by_id(engine, ids))
        else:
            pairs = ((row, None) for row in rows)
        for row, event in pairs:
            if not only.empty and not scope.assessment_matches(row, event):
                continue
            yield {
                "event_id": row["event_id"], "user_id": row["user_id"],
                "timestamp": ts_to_text(row["ts"]), "score": row["score"],
                "level": row["level"], "decision": row["decision"],
                "threshold": row["threshold"], "reasons": row["reasons"] or [],
            }

    return ASSESSMENT_FIELDS, records()


EXPORTS: dict[str, Exporter] = {
    "events": events,
    "quarantine": quarantine,
    "assessments": assessments,
    "rings": rings,
    "alerts": alert_export.alerts,
}
