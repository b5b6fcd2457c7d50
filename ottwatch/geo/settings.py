"""The geo stage's scoring settings; `[geo]` in the config holds them beside the paths."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

AnonymizerKind = Literal["tor", "vpn", "proxy", "hosting"]  # the kinds of ANONYMIZER_KINDS


class GeoSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    mismatch_weight: float = Field(25.0, ge=0, le=100)
    anonymizer_weight: float = Field(35.0, ge=0, le=100)
    # Per-kind overrides of anonymizer_weight, e.g. {"hosting": 20}.
    anonymizer_kind_weights: dict[AnonymizerKind, float] = {}
    impossible_travel_weight: float = Field(60.0, ge=0, le=100)
    max_speed_kmh: float = Field(1000.0, gt=0)
    min_travel_km: float = Field(500.0, ge=0)
    # A far place whose travel was impossible is trusted (a move, a second home) once this
    # many successful events were seen there over at least `travel_trust_after_s`: an
    # intruder's visit (login, password change, payment) lasts minutes, a life a day.
    travel_trust_after_sightings: int = Field(3, ge=1)
    travel_trust_after_s: float = Field(12 * 3600.0, ge=0)
    max_users: int = Field(200_000, ge=1)  # users whose last spot is remembered (LRU)
    cache_size: int = Field(100_000, ge=1)  # IPs whose answer is cached (LRU)
    # Travel state is saved at most this often (of batch time): a snapshot holds every
    # remembered user, so it is taken rarely; a crash forgets at most this much travel.
    snapshot_every_s: float = Field(3600.0, ge=0)

    @classmethod
    def from_geo_config(cls, geo: BaseModel, **overrides: object) -> GeoSettings:
        """The scoring settings out of `[geo]` (which holds them beside the paths)."""
        values = {name: getattr(geo, name) for name in cls.model_fields if hasattr(geo, name)}
        return cls.model_validate(values | overrides)

    def weight_for(self, kind: str) -> float:
        weights: dict[str, float] = dict(self.anonymizer_kind_weights)
        return weights.get(kind, self.anonymizer_weight)
