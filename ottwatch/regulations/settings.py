"""What an operator can set for the regulation table and the compliance stage."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from ottwatch.detector_mode import DetectorMode
from ottwatch.stages.auth import AUTHENTICATION

# The processing of personal data a consent covers: watching (a session's playback
# telemetry as much as its `play`: viewing data), searching, downloads and exports,
# access, purchases, profile edits. Not processing: authentication (proving who one
# is needs no consent) and the consent events themselves.
PROCESSING_EVENTS = (
    "play", "pause", "seek", "stop", "download", "bulk_download", "export", "data_export",
    "access", "data_access", "search", "purchase", "profile_update",
)
NOT_PROCESSING = AUTHENTICATION | {"consent_granted", "consent_withdrawn"}


class RegulationSettings(DetectorMode):
    """`[regulations]` in the config.

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

    @field_validator("processing_events")
    @classmethod
    def _processing(cls, value: list[str]) -> list[str]:
        value = [kind.lower() for kind in value]
        wrong = sorted(set(value) & NOT_PROCESSING)
        if wrong:
            raise ValueError(f"{', '.join(wrong)}: authentication and consent events are not "
                             "processing that needs consent")
        return value


def settings_from_config(config: Any) -> RegulationSettings:
    """The settings from an `ottwatch.config.Config` (its `[regulations]` section)."""
    section = getattr(config, "regulations", None) or {}
    if isinstance(section, RegulationSettings):
        return section
    if isinstance(section, BaseModel):
        section = section.model_dump()
    return RegulationSettings.model_validate(section)
