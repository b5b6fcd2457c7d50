"""Return on investment: what the violations and incidents ottwatch caught would
have cost, against what running ottwatch costs. Pure arithmetic on plain numbers.

avoided fines  = sum over regulations of prevented violations x P(enforcement) x fine
avoided churn  = fraud incidents x churn cost per incident
avoided legal  = prevented violations x legal cost per incident
cost           = monthly costs x months
ROI %          = (benefit - cost) / cost x 100
payback months = cost / (benefit per month), when the benefit exceeds the cost: the
                 part of the period after which its costs were paid back (with running
                 costs only, a benefit below the cost never pays them back)
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from ottwatch.regions import EU_EEA

# Used when the regulation table (`ottwatch.regulations.table`) is not installed:
# the laws' fixed maximum fines (see the regulations spec) in EUR at approximate
# 2025 exchange rates. PIPA_KR states only a share of revenue (3%, Art. 64-2), so
# it falls back to `default_fine`.
DEFAULT_FINES: dict[str, float] = {
    "GDPR": 20_000_000.0,        # EUR 20M (Art. 83(5))
    "UK_GDPR": 20_500_000.0,     # GBP 17.5M (DPA 2018 s.157)
    "CCPA": 7_350.0,             # USD 7,988 per intentional violation (1798.155)
    "LGPD": 8_000_000.0,         # BRL 50M per infraction (Art. 52 II)
    "PIPL": 6_400_000.0,         # CNY 50M (Art. 66)
    "PDPA_TH": 130_000.0,        # THB 5M (s.90)
    "PDPA_SG": 680_000.0,        # SGD 1M (s.48J(3))
    "POPIA": 500_000.0,          # ZAR 10M (s.109)
    "PIPEDA": 65_000.0,          # CAD 100,000 per offence (s.28)
    "KVKK": 380_000.0,           # TRY 17,092,242 for 2026 (Art. 18)
    "APPI": 600_000.0,           # JPY 100M (Art. 184), unconfirmed
    "AU_PRIVACY": 30_000_000.0,  # AUD 50M (s.13G(3))
    "DPDP_IN": 26_000_000.0,     # INR 250 crore (Schedule)
}
# EUR per unit of each currency the regulation table states fines in (approximate, 2025).
DEFAULT_EXCHANGE_RATES: dict[str, float] = {
    "EUR": 1.0, "GBP": 1.17, "USD": 0.92, "BRL": 0.16, "CNY": 0.128, "THB": 0.026,
    "SGD": 0.68, "ZAR": 0.05, "CAD": 0.65, "TRY": 0.022, "JPY": 0.006, "KRW": 0.00066,
    "AUD": 0.6, "INR": 0.0104,
}
DEFAULT_MONTHLY_COSTS: dict[str, float] = {
    "infrastructure": 5_000.0, "ml_upkeep": 2_000.0, "team": 30_000.0}
COUNTRY_REGULATIONS: dict[str, str] = {
    **dict.fromkeys(EU_EEA, "GDPR"), "EU": "GDPR", "GB": "UK_GDPR", "BR": "LGPD", "CN": "PIPL",
    "TH": "PDPA_TH", "SG": "PDPA_SG", "ZA": "POPIA", "CA": "PIPEDA", "TR": "KVKK", "JP": "APPI",
    "KR": "PIPA_KR", "AU": "AU_PRIVACY", "IN": "DPDP_IN",
}
UNKNOWN_REGULATION = "unknown"
DAYS_PER_MONTH = 30.4375


class RoiSettings(BaseModel):
    """`[scoring.roi]` in the config. Amounts are in `currency`; `exchange_rates` give
    `currency` per unit of each currency the regulation table uses (EUR by default:
    set both together)."""

    model_config = ConfigDict(extra="forbid")

    currency: str = "EUR"
    enforcement_probability: float = Field(0.001, ge=0, le=1)
    fines: dict[str, float] = Field(default_factory=lambda: dict(DEFAULT_FINES))
    default_fine: float = Field(1_000_000.0, ge=0)
    exchange_rates: dict[str, float] = Field(
        default_factory=lambda: dict(DEFAULT_EXCHANGE_RATES))
    churn_cost_per_incident: float = Field(150.0, ge=0)
    legal_cost_per_incident: float = Field(5_000.0, ge=0)
    monthly_costs: dict[str, float] = Field(default_factory=lambda: dict(DEFAULT_MONTHLY_COSTS))
    regulation_code_prefixes: list[str] = Field(
        default_factory=lambda: ["consent.", "regulation."])

    @classmethod
    def from_scoring(cls, scoring: Mapping[str, Any]) -> RoiSettings:
        return cls.model_validate(scoring.get("roi", {}))

    def is_regulation_code(self, code: str) -> bool:
        return code.startswith(tuple(self.regulation_code_prefixes))


@dataclass(frozen=True, slots=True)
class RoiInputs:
    violations: Mapping[str, int]  # regulation id -> prevented violations
    fraud_incidents: int
    months: float


@dataclass(frozen=True, slots=True)
class RoiReport:
    months: float
    currency: str
    violations: int
    fraud_incidents: int
    avoided_fines: float
    avoided_churn: float
    avoided_legal: float
    benefit: float
    monthly_cost: float
    cost: float
    net_benefit: float
    roi_pct: float | None  # None when nothing was spent
    payback_months: float | None  # None when the benefit does not exceed the cost
    fines_by_regulation: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__dataclass_fields__}


def compute_roi(inputs: RoiInputs, settings: RoiSettings,
                fines: Mapping[str, float] | None = None) -> RoiReport:
    fines = settings.fines if fines is None else fines
    p = settings.enforcement_probability
    by_regulation = {
        regulation: round(count * p * fines.get(regulation, settings.default_fine), 2)
        for regulation, count in sorted(inputs.violations.items()) if count
    }
    violations = sum(inputs.violations.values())
    avoided_fines = sum(by_regulation.values())
    avoided_churn = inputs.fraud_incidents * settings.churn_cost_per_incident
    avoided_legal = violations * settings.legal_cost_per_incident
    benefit = avoided_fines + avoided_churn + avoided_legal
    monthly_cost = sum(settings.monthly_costs.values())
    cost = monthly_cost * inputs.months
    net = benefit - cost
    monthly_benefit = benefit / inputs.months if inputs.months > 0 else 0.0
    return RoiReport(
        months=round(inputs.months, 2), currency=settings.currency, violations=violations,
        fraud_incidents=inputs.fraud_incidents, avoided_fines=round(avoided_fines, 2),
        avoided_churn=round(avoided_churn, 2), avoided_legal=round(avoided_legal, 2),
        benefit=round(benefit, 2), monthly_cost=round(monthly_cost, 2), cost=round(cost, 2),
        net_benefit=round(net, 2),
        roi_pct=round(net / cost * 100, 2) if cost > 0 else None,
        payback_months=round(cost / monthly_benefit, 2) if monthly_benefit > 0 and net > 0
        else None,
        fines_by_regulation=by_regulation,
    )


def fine_figures(settings: RoiSettings,
                 table_fines: Mapping[str, tuple[float | None, str | None]] | None = None
                 ) -> dict[str, float]:
    """Fines per regulation in `settings.currency`: the built-in figures, then the
    regulation table's (amount, currency) converted where a rate is known, then the
    figures the config sets explicitly."""
    figures = dict(DEFAULT_FINES)
    for regulation, (amount, currency) in (table_fines or {}).items():
        rate = settings.exchange_rates.get(currency or "")
        if amount is not None and rate is not None:
            figures[regulation] = round(amount * rate, 2)
    if "fines" in settings.model_fields_set:
        figures.update(settings.fines)
    return figures


def regulation_for_region(region: str | None) -> str | None:
    """The regulation a claimed region falls under (`US-CA` -> CCPA, `DE` -> GDPR)."""
    if not region:
        return None
    if region == "US-CA":
        return "CCPA"
    return COUNTRY_REGULATIONS.get(region.split("-", 1)[0])


@lru_cache(maxsize=64)
def _regulation_pattern(ids: tuple[str, ...]) -> re.Pattern[str]:
    ordered = sorted(ids, key=len, reverse=True)
    return re.compile(r"\b(" + "|".join(re.escape(i) for i in ordered) + r")\b")


def regulation_named(text: str, ids: tuple[str, ...]) -> str | None:
    """The first regulation id that `text` names as a whole word."""
    match = _regulation_pattern(ids).search(text) if ids else None
    return match.group(1) if match else None


def months_between(start: float, end: float) -> float:
    return (end - start) / 86_400.0 / DAYS_PER_MONTH
