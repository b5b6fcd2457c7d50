"""One row of the regulation table: deadlines, consent model, children's age, fine."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from ottwatch.regions import normalise_region

DEADLINE_KINDS = ("breach", "dsar", "deletion")
FIGURES = (*DEADLINE_KINDS, "consent", "children", "fine")
NOT_STATED = "not stated in the law"


class Figure(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Deadline(Figure):
    """A time limit, given in hours or in days, with what the law itself says."""

    hours: float | None = Field(None, gt=0)
    days: float | None = Field(None, gt=0)
    law: str
    source: str
    tool_default: bool = False  # the number is ottwatch's operational default, not the law's
    stated: bool = True  # False: the law states no time limit here
    overridden: bool = False  # the number comes from the operator's config

    @model_validator(mode="after")
    def _one_unit(self) -> Deadline:
        if (self.hours is None) == (self.days is None):
            raise ValueError("give exactly one of `hours` or `days`")
        if not self.stated and NOT_STATED not in self.law:
            raise ValueError(f"a deadline the law does not state must say {NOT_STATED!r}")
        return self

    @property
    def seconds(self) -> float:
        return self.hours * 3600.0 if self.hours is not None else self.days * 86400.0  # type: ignore[operator]

    @property
    def figure(self) -> str:
        """`72 h` or `30 d`."""
        value, unit = (self.hours, "h") if self.hours is not None else (self.days, "d")
        return f"{value:g} {unit}"


class Consent(Figure):
    model: Literal["opt-in", "opt-out", "other"]
    text: str
    source: str


class Children(Figure):
    age: int | None = Field(None, ge=0, le=21)  # None: no single age in the law
    text: str
    source: str


class Fine(Figure):
    text: str
    amount: float | None = Field(None, ge=0)  # the fixed cap, for ROI figures
    currency: str | None = Field(None, min_length=3, max_length=3)
    turnover_pct: float | None = Field(None, ge=0, le=100)
    per: str | None = None  # "violation", "infraction", "offence": the cap applies per each
    source: str


class Regulation(Figure):
    id: str = Field(pattern=r"^[A-Z][A-Z0-9_]{1,31}$")
    law: str
    regions: list[str] = Field(min_length=1)  # country codes, `US-CA`, or `EU` (EU/EEA)
    confirmed: bool = True
    unconfirmed: list[Literal["breach", "dsar", "deletion", "consent", "children", "fine"]] = []
    breach: Deadline
    dsar: Deadline
    deletion: Deadline
    consent: Consent
    children: Children
    fine: Fine

    @field_validator("regions")
    @classmethod
    def _regions(cls, value: list[str]) -> list[str]:
        out = []
        for text in value:
            region = normalise_region(text)
            if region is None:
                raise ValueError(f"not a region code: {text!r}")
            out.append(region)
        return out

    @model_validator(mode="after")
    def _confirmation(self) -> Regulation:
        if self.unconfirmed and self.confirmed:
            raise ValueError("a row with unconfirmed figures must say confirmed = false")
        return self

    def deadline(self, kind: str) -> Deadline:
        if kind not in DEADLINE_KINDS:
            raise KeyError(kind)
        return getattr(self, kind)
