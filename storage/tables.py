"""The database schema. Times are epoch seconds (float) so that SQLite and
PostgreSQL index and compare them the same way; JSON columns hold lists and
objects. Every table the product needs is declared here, in one place."""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, BigInteger, Column, Index, LargeBinary, Text, text
from sqlmodel import Field, SQLModel

# 3: checkpoints carry a content fingerprint; an older ottwatch would leave it stale.
SCHEMA_VERSION = 3


def _json(nullable: bool = True) -> Any:
    return Field(default=None, sa_column=Column(JSON, nullable=nullable))


class Meta(SQLModel, table=True):
    __tablename__ = "meta"
    key: str = Field(primary_key=True, max_length=64)
    value: str = Field(sa_column=Column(Text, nullable=False))


class EventRow(SQLModel, table=True):
    __tablename__ = "events"
    # A user's timeline goes through `user_index`; an index here on anything that
    # interleaves (user, device, IP) would put each insert on a random page.
    __table_args__ = (Index("ix_events_ts", "ts"),)
    id: int | None = Field(default=None, primary_key=True)
    event_id: str = Field(max_length=255, unique=True)
    ts: float
    timestamp: str = Field(max_length=40)
    user_id: str = Field(max_length=255)
    event_type: str = Field(max_length=255)
    device_id: str | None = Field(default=None, max_length=255)
    ip_address: str | None = Field(default=None, max_length=64)
    region: str | None = Field(default=None, max_length=16)
    is_eu: bool | None = None
    has_consent: bool | None = None
    subscription_plan: str | None = Field(default=None, max_length=1024)
    content_id: str | None = Field(default=None, max_length=255)
    session_id: str | None = Field(default=None, max_length=255)
    payment_fingerprint: str | None = Field(default=None, max_length=255)
    bytes: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    error_code: str | None = Field(default=None, max_length=1024)
    request_id: str | None = Field(default=None, max_length=255)
    extra_metadata: dict[str, Any] | None = _json()
    source: str = Field(default="", max_length=1024)
    source_offset: int = Field(default=0, sa_column=Column(BigInteger, nullable=False))
    ingested_at: float


class QuarantineRow(SQLModel, table=True):
    __tablename__ = "quarantine"
    __table_args__ = (Index("ix_quarantine_received", "received_at"),)
    id: int | None = Field(default=None, primary_key=True)
    source: str = Field(max_length=1024)
    source_offset: int = Field(sa_column=Column(BigInteger, nullable=False))
    reason: str = Field(max_length=128)
    detail: str = Field(default="", sa_column=Column(Text, nullable=False))
    raw: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    raw_length: int = Field(sa_column=Column(BigInteger, nullable=False))
    received_at: float


class Checkpoint(SQLModel, table=True):
    """Where a source has been read up to; written in the same transaction as its events."""

    __tablename__ = "checkpoints"
    source: str = Field(primary_key=True, max_length=1024)
    inode: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    offset: int = Field(default=0, sa_column=Column(BigInteger, nullable=False))
    # blake2b of the file's head and of the bytes before `offset` (agent/sources/fingerprint.py);
    # NULL in checkpoints written before schema 3, which resume by inode and offset alone.
    fingerprint: bytes | None = Field(default=None, sa_column=Column(LargeBinary, nullable=True))
    updated_at: float


class AssessmentRow(SQLModel, table=True):
    __tablename__ = "assessments"
    # Most assessments are "allow" with no reason: partial indexes over the others serve
    # the review queue, the level and the reason filters at a fraction of a full index's
    # insert cost. The live stream pages by id; a user's rows are found through
    # `user_index` (see storage/user_index.py).
    __table_args__ = (
        Index("ix_assessments_flagged", "id",
              sqlite_where=text("decision != 'allow'"),
              postgresql_where=text("decision != 'allow'")),
        Index("ix_assessments_code", "top_code", "id",
              sqlite_where=text("top_code IS NOT NULL"),
              postgresql_where=text("top_code IS NOT NULL")),
    )
    id: int | None = Field(default=None, primary_key=True)
    event_id: str = Field(max_length=255, unique=True)
    user_id: str = Field(max_length=255)
    ts: float
    score: float
    level: str = Field(max_length=16)
    decision: str = Field(max_length=16)
    threshold: float
    top_code: str | None = Field(default=None, max_length=64)
    reasons: list[dict[str, Any]] | None = _json()


class UserIndexRow(SQLModel, table=True):
    """Each assessment's (user_id, ts, id), written in bulk and in key order every
    `storage.user_index.FLUSH_ROWS` assessments rather than as an index on
    `assessments`, whose inserts would land on a random page per event."""

    __tablename__ = "user_index"
    __table_args__ = {"sqlite_with_rowid": False}
    user_id: str = Field(primary_key=True, max_length=255)
    ts: float = Field(primary_key=True)
    id: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})


class AlertRow(SQLModel, table=True):
    __tablename__ = "alerts"
    __table_args__ = (
        Index("ix_alerts_created", "created_at"),
        Index("ix_alerts_updated", "updated_at"),  # retention
        Index("ix_alerts_status_created", "status", "created_at"),
        Index("ix_alerts_group", "group_key"),
    )
    id: int | None = Field(default=None, primary_key=True)
    alert_id: str = Field(max_length=64, unique=True)
    group_key: str = Field(max_length=512)
    created_at: float
    updated_at: float
    severity: str = Field(max_length=16)
    codes: list[str] | None = _json()
    user_id: str | None = Field(default=None, max_length=255)
    ring_id: str | None = Field(default=None, max_length=64)
    request_id: str | None = Field(default=None, max_length=255)
    regulation: str | None = Field(default=None, max_length=32)
    event_ids: list[str] | None = _json()
    count: int = 1
    status: str = Field(default="open", max_length=16)
    title: str = Field(sa_column=Column(Text, nullable=False))
    body: str = Field(sa_column=Column(Text, nullable=False))


class DeliveryRow(SQLModel, table=True):
    """The alert outbox: a row is written before a notification is sent."""

    __tablename__ = "deliveries"
    __table_args__ = (Index("ix_deliveries_state_next", "state", "next_attempt_at"),)
    id: int | None = Field(default=None, primary_key=True)
    alert_id: str = Field(max_length=64, index=True)
    channel: str = Field(max_length=128)
    state: str = Field(default="pending", max_length=16)
    attempts: int = 0
    next_attempt_at: float
    expires_at: float
    last_error: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    created_at: float
    sent_at: float | None = None


class SilenceRow(SQLModel, table=True):
    __tablename__ = "silences"
    id: int | None = Field(default=None, primary_key=True)
    matchers: dict[str, Any] | None = _json()
    reason: str = Field(sa_column=Column(Text, nullable=False))
    created_by: str = Field(max_length=128)
    created_at: float
    expires_at: float = Field(index=True)


class RingRow(SQLModel, table=True):
    __tablename__ = "rings"
    ring_id: str = Field(primary_key=True, max_length=64)
    size: int
    risk: float
    members: list[str] | None = _json()
    shared: list[dict[str, Any]] | None = _json()
    first_seen: float
    last_seen: float = Field(index=True)


class ModelRow(SQLModel, table=True):
    __tablename__ = "models"
    __table_args__ = (Index("ix_models_name_version", "name", "version", unique=True),)
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=64)
    version: int
    status: str = Field(default="candidate", max_length=16)
    trained_at: float
    samples: int
    features: list[str] | None = _json()
    metrics: dict[str, Any] | None = _json()
    drift: dict[str, Any] | None = _json()
    blob: bytes | None = Field(default=None, sa_column=Column(LargeBinary, nullable=True))


class LabelRow(SQLModel, table=True):
    __tablename__ = "labels"
    id: int | None = Field(default=None, primary_key=True)
    event_id: str = Field(max_length=255, index=True)
    label: str = Field(max_length=16)
    note: str = Field(default="", sa_column=Column(Text, nullable=False))
    created_by: str = Field(max_length=128)
    created_at: float


class CommandRow(SQLModel, table=True):
    """Commands for the running agent (from the TUI or CLI); the agent polls pending ones."""

    __tablename__ = "commands"
    __table_args__ = (Index("ix_commands_status", "status", "id"),)
    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=64)
    args: dict[str, Any] | None = _json()
    status: str = Field(default="pending", max_length=16)
    created_by: str = Field(max_length=128)
    created_at: float
    started_at: float | None = None
    finished_at: float | None = None
    result: dict[str, Any] | None = _json()


class TimerRow(SQLModel, table=True):
    """Regulation deadlines (DSAR, deletion, breach notice) that must fire on time."""

    __tablename__ = "timers"
    __table_args__ = (Index("ix_timers_state_deadline", "state", "deadline"),)
    key: str = Field(primary_key=True, max_length=300)  # "<kind>:<request_id>"
    kind: str = Field(max_length=32)
    request_id: str = Field(max_length=255)
    user_id: str = Field(max_length=255)
    regulation: str = Field(max_length=32)
    opened_at: float
    warn_at: float
    deadline: float
    state: str = Field(default="open", max_length=16)
    closed_at: float | None = None
    event_id: str = Field(max_length=255)


class UserStateRow(SQLModel, table=True):
    __tablename__ = "user_state"
    user_id: str = Field(primary_key=True, max_length=255)
    segment: str = Field(default="new", max_length=16, index=True)
    first_seen: float
    last_seen: float
    events_30d: int = 0
    violations_30d: int = 0
    consent: bool | None = None
    state: dict[str, Any] | None = _json()


class StageStateRow(SQLModel, table=True):
    """Opaque per-stage state (thresholds, windows) so a restart resumes learning."""

    __tablename__ = "stage_state"
    name: str = Field(primary_key=True, max_length=64)
    updated_at: float
    state: bytes | None = Field(default=None, sa_column=Column(LargeBinary, nullable=True))


class AuditRow(SQLModel, table=True):
    __tablename__ = "audit"
    __table_args__ = (Index("ix_audit_at", "at"),)
    id: int | None = Field(default=None, primary_key=True)
    at: float
    actor: str = Field(max_length=128)
    action: str = Field(max_length=64)
    target: str = Field(default="", max_length=512)
    detail: dict[str, Any] | None = _json()


class HeartbeatRow(SQLModel, table=True):
    __tablename__ = "heartbeat"
    name: str = Field(primary_key=True, max_length=64)
    pid: int
    started_at: float
    beat_at: float
    info: dict[str, Any] | None = _json()
    # "running", or "stopped" once the agent stopped cleanly; NULL in an older agent's row.
    state: str | None = Field(default=None, max_length=16)
