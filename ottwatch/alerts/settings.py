"""`[alerts]` settings: channels, routes, grouping, delivery.

Durations are seconds. Routes map a severity to apprise tags; an override
replaces the route of the alerts it matches (first match wins):

    [alerts.routes]
    low = []
    medium = ["chat"]
    high = ["chat", "email"]
    critical = ["chat", "email", "sms", "pager"]

    [[alerts.overrides]]
    name = "dpo"                  # `ottwatch alerts test --route dpo`
    code = "regulation.*"         # globs; every criterion given must match
    regulation = "GDPR"
    segment = "*"
    high = ["dpo", "email"]       # severities left out keep the default route
    critical = ["dpo", "pager"]
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from fnmatch import fnmatchcase
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from ottwatch.vocabulary import LEVELS

if TYPE_CHECKING:
    from ottwatch.config_problems import Problem

Level = Literal["low", "medium", "high", "critical"]
BodyFormat = Literal["text", "markdown", "html"]
GroupLabel = Literal["code", "user_id", "ring_id", "request_id", "regulation", "severity",
                     "segment"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class Routes(_Strict):
    low: list[str] = []
    medium: list[str] = ["chat"]
    high: list[str] = ["chat", "email"]
    critical: list[str] = ["chat", "email", "sms", "pager"]

    def tags(self, severity: str) -> list[str]:
        return list(getattr(self, severity))


class RouteOverride(_Strict):
    name: str = ""
    code: str | None = None
    regulation: str | None = None
    segment: str | None = None
    low: list[str] | None = None
    medium: list[str] | None = None
    high: list[str] | None = None
    critical: list[str] | None = None

    @model_validator(mode="after")
    def _has_criterion(self) -> RouteOverride:
        if self.code is None and self.regulation is None and self.segment is None:
            raise ValueError("an override needs at least one of code, regulation, segment")
        return self

    def matches(self, labels: Mapping[str, Any]) -> bool:
        for name in ("code", "regulation", "segment"):
            pattern = getattr(self, name)
            if pattern is not None and not fnmatchcase(str(labels.get(name) or ""), pattern):
                return False
        return True

    def tags(self, severity: str, default: Routes) -> list[str]:
        own = getattr(self, severity)
        return list(own) if own is not None else default.tags(severity)

    def all_tags(self) -> list[str]:
        seen: dict[str, None] = {}
        for severity in LEVELS:
            for tag in getattr(self, severity) or ():
                seen[tag] = None
        return list(seen)


class AlertSettings(_Strict):
    # Channels: apprise URLs (`tag1,tag2=URL` or a bare URL) and/or an apprise
    # text or YAML config file.
    urls: list[str] = []
    config_file: str = ""
    # Assessments at or above this level raise alerts; every finding does; so does every
    # reason whose code has an incident severity (ottwatch/alerts/incidents.py), at it.
    min_level: Level = "high"
    # Per code: the severity of its incidents (low: recorded only), or "off".
    incidents: dict[str, Level | Literal["off"]] = {}
    routes: Routes = Routes()
    # Consent lapses go to the compliance channel (a channel tagged `compliance`).
    overrides: list[RouteOverride] = [RouteOverride(
        name="compliance", code="consent.missing", low=["compliance"], medium=["compliance"],
        high=["compliance"], critical=["compliance"])]
    # Grouping and dedup (Alertmanager's meaning). Ring codes group by ring id and
    # deadline codes by request id whatever `group_by` says.
    group_by: list[GroupLabel] = ["code", "user_id"]
    # Short: a first alert must page within seconds; group_interval batches the rest.
    group_wait_s: float = Field(1.0, ge=0)
    group_interval_s: float = Field(300.0, ge=0)
    repeat_interval_s: float = Field(4 * 3600.0, gt=0)
    resolve_after_s: float = Field(24 * 3600.0, gt=0)
    storm_limit: int = Field(30, ge=0)  # notifications per channel per minute; 0: no limit
    top_events: int = Field(5, ge=1, le=50)
    max_event_ids: int = Field(50, ge=1, le=10_000)
    max_groups: int = Field(2000, ge=1)  # past it the least recently active resolves early
    # Content.
    body_format: BodyFormat = "text"
    # Delivery (the sender).
    retry_initial_s: float = Field(10.0, gt=0)
    retry_max_s: float = Field(900.0, gt=0)
    delivery_expiry_s: float = Field(24 * 3600.0, gt=0)
    send_timeout_s: float = Field(30.0, gt=0)
    sender_poll_s: float = Field(0.25, gt=0)
    digest_max_alerts: int = Field(100, ge=1, le=1000)
    # How often the agent reloads silences and acks into the sink.
    refresh_s: float = Field(5.0, gt=0)
    ack_lookback_days: float = Field(30.0, gt=0)

    @model_validator(mode="after")
    def _windows(self) -> AlertSettings:
        longest = max(self.group_wait_s, self.group_interval_s)
        if self.resolve_after_s <= longest:
            raise ValueError("resolve_after_s must be longer than group_wait_s and "
                             "group_interval_s")
        return self

    @classmethod
    def from_config(cls, value: Any) -> AlertSettings:
        """From `config.alerts` (any pydantic model with these keys), a dict, or None."""
        if isinstance(value, AlertSettings):
            return value
        if isinstance(value, BaseModel):
            value = value.model_dump()
        return cls.model_validate(value or {})

    def override_named(self, name: str) -> RouteOverride | None:
        return next((o for o in self.overrides if o.name and o.name == name), None)

    def problems(self) -> list[Problem]:
        """Mistakes across keys (the config reports them with the rest): channels that
        no route reaches, and URLs apprise cannot load."""
        from ottwatch.alerts.routing import unrouted_channels

        found = unrouted_channels(self)
        if self.urls:
            from ottwatch.alerts.channels import unloadable_urls  # imports apprise

            found += unloadable_urls(self)
        return found


def split_entry(entry: str) -> tuple[list[str], str]:
    """`chat,email=json://...` -> (["chat", "email"], "json://..."); a bare URL has no tags."""
    head = entry.split("://", 1)[0]
    if "=" not in head:
        return [], entry.strip()
    tags, _, url = entry.partition("=")
    return [t.strip() for t in re.split(r"[,\s]+", tags) if t.strip()], url.strip()
