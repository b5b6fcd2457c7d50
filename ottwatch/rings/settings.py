"""What an operator can set for fraud-ring detection (`[rings]`)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from ottwatch.detector_mode import DetectorMode
from ottwatch.vocabulary import DAY_S

KINDS = ("payment", "device", "ip")  # strongest tie first
DEFAULT_KIND_WEIGHTS = {"payment": 1.0, "device": 0.7, "ip": 0.2}


class RingSettings(DetectorMode):
    """`[rings]` in the config. The model behind it is in docs/decisions/rings.md.

    Ties: two users are tied by a device or payment fingerprint they both used within
    `window_days`, and by an IP address only when they used it within
    `ip_tie_window_s` of each other (a household at the same time, not strangers
    handed the same pool address days apart). A pair's strength is the sum of its
    tied resources' kind weights; pairs at least `min_tie_strength` strong are edges,
    and rings are the connected groups of at least `min_ring_size` users. With the
    defaults one shared card or device makes an edge, IP addresses only three
    different ones each used at the same time.

    Shared infrastructure ties nobody: a device or card held by more than
    `degree_cap` users within the window, an IP address held by more than
    `ip_degree_cap` within the window (a carrier NAT, a busy pool address) or by more
    than `ip_burst_users` within one `ip_tie_window_s` (a hotel, a café).
    """

    model_config = ConfigDict(extra="forbid")

    # False: no ring detection at all (no ring graph, no `ring.member` reasons)
    enabled: bool = True
    window_days: float = Field(30.0, gt=0)
    kind_weights: dict[str, float] = dict(DEFAULT_KIND_WEIGHTS)
    ip_tie_window_s: float = Field(3600.0, gt=0)
    degree_cap: int = Field(50, ge=2)
    ip_degree_cap: int = Field(16, ge=2)
    ip_burst_users: int = Field(8, ge=2)
    min_tie_strength: float = Field(0.5, gt=0)
    min_ring_size: int = Field(5, ge=2)
    # Groups bigger than this are split into Louvain communities (fixed seed).
    louvain_above: int = Field(60, ge=2)
    louvain_seed: int = 7
    # Events whose resources mark trial or promo abuse when many accounts share them.
    trial_events: list[str] = ["signup", "trial_start"]
    # Passes run when event time crosses a multiple of this, and read only what
    # changed since the last one.
    detect_interval_s: float = Field(60.0, gt=0)
    member_weight: float = Field(40.0, ge=0, le=100)
    # Bounds: users and resources are evicted least recently seen first.
    max_users: int = Field(100_000, ge=1)
    max_resources: int = Field(250_000, ge=1)
    max_resources_per_user: int = Field(32, ge=1)
    # The state is saved at most this often (batch time); ring changes save it at once.
    snapshot_interval_s: float = Field(300.0, ge=0)

    @field_validator("kind_weights")
    @classmethod
    def _known_kinds(cls, value: dict[str, float]) -> dict[str, float]:
        unknown = set(value) - set(KINDS)
        if unknown:
            raise ValueError(f"unknown kinds {sorted(unknown)}; expected {list(KINDS)}")
        if any(not 0 <= w <= 1 for w in value.values()):
            raise ValueError("kind weights must be between 0 and 1")
        return {kind: value.get(kind, DEFAULT_KIND_WEIGHTS[kind]) for kind in KINDS}

    @property
    def window_s(self) -> float:
        return self.window_days * DAY_S

    @classmethod
    def from_config(cls, config: Any) -> RingSettings:
        """The `[rings]` section of an `ottwatch.config.Config`."""
        section = getattr(config, "rings", None) or {}
        if isinstance(section, RingSettings):
            return section
        if isinstance(section, BaseModel):
            return cls.model_validate(section.model_dump())
        return cls.model_validate(section)
