"""What an operator can set for fraud-ring detection (`[scoring.rings]`)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

KINDS = ("payment", "device", "ip")  # strongest tie first
DEFAULT_KIND_WEIGHTS = {"payment": 1.0, "device": 0.7, "ip": 0.3}
DAY_S = 86_400.0


class RingSettings(BaseModel):
    """`[scoring.rings]` in the config (or a `[rings]` section once the config declares one).

    Ties: two users are tied by a resource (device, IP, payment fingerprint) they both
    used within `window_days` of event time. A resource used by `d` users ties each pair
    with `kind_weights[kind] * ln 3 / ln(1 + d)` (full weight at d = 2, falling as the
    resource gets common); a pair's strength is the sum over its shared resources, and
    pairs of at least `min_tie_strength` are kept. Resources used by more than
    `degree_cap` users (carrier NAT, public Wi-Fi, a device model id) tie nobody.
    """

    model_config = ConfigDict(extra="forbid")

    # False: no ring detection at all (no ring graph, no `ring.member` reasons)
    enabled: bool = True
    window_days: float = Field(30.0, gt=0)
    kind_weights: dict[str, float] = dict(DEFAULT_KIND_WEIGHTS)
    degree_cap: int = Field(50, ge=2)
    min_tie_strength: float = Field(0.2, gt=0)
    min_ring_size: int = Field(5, ge=2)
    # Components bigger than this are split into Louvain communities (fixed seed).
    louvain_above: int = Field(60, ge=2)
    louvain_seed: int = 7
    # Events whose resources mark trial or promo abuse when many accounts share them.
    trial_events: list[str] = ["signup", "trial_start"]
    # Detection runs in `tick` at most this often (batch time), or sooner once this
    # many new ties arrived.
    detect_interval_s: float = Field(60.0, ge=0)
    member_weight: float = Field(40.0, ge=0, le=100)
    # Bounds: users and resources are evicted least recently seen first. About 2 KB a
    # user with its devices, IP and card: ~200 MB at 100k users.
    max_users: int = Field(100_000, ge=1)
    max_resources: int = Field(250_000, ge=1)
    max_resources_per_user: int = Field(32, ge=1)
    # The graph is saved at most this often (batch time); ring changes save it at once.
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
