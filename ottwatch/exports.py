"""Rows -> contract-v1 export records, one function per `--what`."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from sqlalchemy import Engine

from ottwatch.alerts import export as alert_export
from ottwatch.rings.export import rings
from storage.queries import ASSESSMENTS, EVENTS, QUARANTINE, iter_rows

EVENT_FIELDS = ["event_id", "timestamp", "user_id", "event_type", "device_id", "ip_address",
                "region", "is_eu", "has_consent", "subscription_plan", "content_id",
                "session_id", "payment_fingerprint", "bytes", "error_code", "request_id",
                "extra_metadata"]
QUARANTINE_FIELDS = ["id", "source", "offset", "reason", "detail", "raw", "raw_length",
                     "received_at"]
ASSESSMENT_FIELDS = ["event_id", "user_id", "timestamp", "score", "level", "decision",
                     "threshold", "reasons"]

Exporter = Callable[[Engine], tuple[list[str], Iterator[dict[str, Any]]]]


def events(engine: Engine) -> tuple[list[str], Iterator[dict[str, Any]]]:
    def records() -> Iterator[dict[str, Any]]:
        for row in iter_rows(engine, EVENTS):
            yield {k: row[k] for k in EVENT_FIELDS if row[k] is not None}

    return EVENT_FIELDS, records()


def quarantine(engine: Engine) -> tuple[list[str], Iterator[dict[str, Any]]]:
    from ottwatch.events import ts_to_text

    def records() -> Iterator[dict[str, Any]]:
        for row in iter_rows(engine, QUARANTINE):
            yield {
                "id": row["id"], "source": row["source"], "offset": row["source_offset"],
                "reason": row["reason"], "detail": row["detail"],
                "raw": bytes(row["raw"]).decode("utf-8", "backslashreplace"),
                "raw_length": row["raw_length"], "received_at": ts_to_text(row["received_at"]),
            }

    return QUARANTINE_FIELDS, records()


def assessments(engine: Engine) -> tuple[list[str], Iterator[dict[str, Any]]]:
    from ottwatch.events import ts_to_text

    def records() -> Iterator[dict[str, Any]]:
        for row in iter_rows(engine, ASSESSMENTS):
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
