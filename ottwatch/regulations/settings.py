"""What an operator can set for the regulation table and the compliance stage."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

PROCESSING_EVENTS = (
    "play", "download", "bulk_download", "export", "data_export", "access", "data_access",
    "search", "purchase", "profile_update",
)


class RegulationSettings(BaseModel):
    """`[regulations]` in the config (or `[scoring.regulations]` until the config
    declares its own section).

    `overrides` is merged over the shipped table, by regulation id, e.g.
    `overrides = { GDPR = { dsar = { days = 20, source = "our policy" } } }`;
    an id the table does not know adds a regulation (all fields required).
    """

    model_config = ConfigDict(extra="forbid")

    overrides: dict[str, dict[str, Any]] = {}
    warn_fraction: float = Field(0.8, gt=0, lt=1)
    consent_weight: float = Field(30.0, ge=0)
    overdue_weight: float = Field(40.0, ge=0)
    processing_events: list[str] = list(PROCESSING_EVENTS)
    unknown_consent_is_missing: bool = True  # no consent recorded counts as none under opt-in
    # The deadline for a request whose user's region is unknown; None opens no timer.
    fallback_regulation: str | None = "GDPR"
    max_users: int = Field(100_000, ge=1)
    max_timers: int = Field(100_000, ge=1)
    max_closed: int = Field(10_000, ge=0)  # closed request ids remembered to ignore re-sends
    # Timer changes are saved with the batch that makes them. The user book (consent,
    # regions; up to max_users entries, ~30 bytes each) is saved once it has changed and
    # this much batch time or this many events have passed: a crash loses at most that
    # much of it. 0 saves it with every batch that changes it.
    state_interval_s: float = Field(30.0, ge=0)
    state_every_events: int = Field(50_000, ge=0)


def settings_from_config(config: Any) -> RegulationSettings:
    """The settings from an `ottwatch.config.Config` (its `[regulations]` section)."""
    section = getattr(config, "regulations", None) or {}
    if isinstance(section, RegulationSettings):
        return section
    if isinstance(section, BaseModel):
        section = section.model_dump()
    return RegulationSettings.model_validate(section)
