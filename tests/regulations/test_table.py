from __future__ import annotations

import pytest

from ottwatch.config import Config
from ottwatch.regulations import (
    RegulationSettings,
    RegulationTable,
    RegulationTableError,
    load_table,
    regulations_for,
    settings_from_config,
    strictest,
)
from ottwatch.regulations.model import DEADLINE_KINDS, NOT_STATED
from ottwatch.regulations.table import shipped_rows

IDS = ["GDPR", "UK_GDPR", "CCPA", "LGPD", "PIPL", "PDPA_TH", "PDPA_SG", "POPIA", "PIPEDA",
       "KVKK", "APPI", "PIPA_KR", "AU_PRIVACY", "DPDP_IN"]
UNCONFIRMED = {"PDPA_SG", "KVKK", "APPI", "PIPA_KR", "AU_PRIVACY"}
DAY = 86400.0


def ids(regulations) -> list[str]:
    return [r.id for r in regulations]


def test_every_row_is_shipped_as_data_with_sources() -> None:
    table = load_table()
    assert len(shipped_rows()) == 14
    assert ids(table) == IDS
    for regulation in table:
        assert regulation.law and regulation.regions
        for kind in DEADLINE_KINDS:
            deadline = regulation.deadline(kind)
            assert deadline.seconds > 0
            assert deadline.source.strip() and deadline.law.strip()
            if not deadline.stated:
                assert NOT_STATED in deadline.law
        for figure in (regulation.consent, regulation.children, regulation.fine):
            assert figure.source.strip() and figure.text.strip()
        assert regulation.consent.model in {"opt-in", "opt-out", "other"}


def test_unconfirmed_rows_are_marked() -> None:
    table = load_table()
    assert {r.id for r in table if not r.confirmed} == UNCONFIRMED
    assert table["KVKK"].unconfirmed == ["deletion", "children"]
    assert all(r.unconfirmed for r in table if not r.confirmed)


def test_figures_and_their_provenance() -> None:
    table = load_table()
    gdpr = table["GDPR"]
    assert gdpr.breach.hours == 72 and not gdpr.breach.tool_default
    assert gdpr.breach.source == "Art. 33(1)"
    assert gdpr.dsar.days == 30 and gdpr.dsar.tool_default
    assert gdpr.consent.model == "opt-in"
    assert gdpr.children.age == 16
    assert (gdpr.fine.amount, gdpr.fine.currency, gdpr.fine.turnover_pct) == (20e6, "EUR", 4)
    ccpa = table["CCPA"]
    assert ccpa.dsar.days == 45 and not ccpa.dsar.tool_default
    assert ccpa.consent.model == "opt-out"
    assert (ccpa.fine.amount, ccpa.fine.currency, ccpa.fine.per) == (7988, "USD", "violation")
    assert table["PIPL"].breach.hours == 24 and table["PIPL"].breach.tool_default
    lgpd_deletion = table["LGPD"].deletion
    assert not lgpd_deletion.stated and lgpd_deletion.tool_default
    assert lgpd_deletion.law == NOT_STATED
    assert table["PIPA_KR"].dsar.days == 10
    assert table["PIPA_KR"].fine.amount is None and table["PIPA_KR"].fine.turnover_pct == 3
    assert table["KVKK"].children.age is None
    assert table["DPDP_IN"].fine.amount == 2_500_000_000


@pytest.mark.parametrize(("region", "ip", "expected"), [
    ("EU", None, ["GDPR"]),
    ("DE", None, ["GDPR"]),
    ("DE-BY", None, ["GDPR"]),
    ("NO", None, ["GDPR"]),
    ("LI", None, ["GDPR"]),
    ("CH", None, []),
    ("UK", None, ["UK_GDPR"]),
    ("gb", None, ["UK_GDPR"]),
    ("US", None, []),
    ("US-NY", None, []),
    ("US-CA", None, ["CCPA"]),
    ("us-ca", None, ["CCPA"]),
    (None, "US-CA", ["CCPA"]),
    ("US", "US-CA", ["CCPA"]),
    (None, "FR", ["GDPR"]),
    ("DE", "GB", ["GDPR", "UK_GDPR"]),
    ("US-CA", "KR", ["CCPA", "PIPA_KR"]),
    ("BR", "BR", ["LGPD"]),
    (None, None, []),
    ("not a region", None, []),
])
def test_region_mapping(region: str | None, ip: str | None, expected: list[str]) -> None:
    assert ids(regulations_for(region, ip)) == expected


def test_disagreeing_claim_and_ip_the_stricter_deadline_wins() -> None:
    table = load_table()
    regulation, deadline = strictest(table.scope("US-CA", "KR"), "dsar")
    assert (regulation.id, deadline.seconds) == ("PIPA_KR", 10 * DAY)
    regulation, deadline = strictest(table.scope("BR", "CA"), "dsar")
    assert (regulation.id, deadline.seconds) == ("LGPD", 15 * DAY)
    regulation, _ = strictest(table.scope("CN", "DE"), "breach")
    assert regulation.id == "PIPL"
    regulation, _ = strictest(table.scope("DE", "GB"), "dsar")  # a tie: table order
    assert regulation.id == "GDPR"
    with pytest.raises(ValueError):
        strictest((), "dsar")


def test_overrides_merge_over_the_shipped_table() -> None:
    settings = RegulationSettings(overrides={
        "gdpr": {"dsar": {"days": 20, "source": "our policy"}},
        "CCPA": {"consent": {"model": "opt-in"}, "breach": {"hours": 48}},
    })
    table = RegulationTable.load(settings)
    dsar = table["GDPR"].dsar
    assert (dsar.days, dsar.hours, dsar.source) == (20, None, "our policy")
    assert dsar.overridden and not dsar.tool_default
    assert dsar.law == "1 month, extendable by 2"
    assert table["CCPA"].consent.model == "opt-in"
    assert table["CCPA"].consent.text.startswith("opt-out of sale")
    assert table["CCPA"].breach.seconds == 48 * 3600
    assert load_table()["GDPR"].dsar.days == 30  # the shipped table is untouched
    assert load_table(settings)["GDPR"].dsar.days == 20


def test_an_override_can_add_a_regulation() -> None:
    row = {
        "law": "Swiss Federal Act on Data Protection", "regions": ["CH"],
        "breach": {"hours": 72, "law": "as soon as possible", "source": "Art. 24",
                   "tool_default": True},
        "dsar": {"days": 30, "law": "30 days", "source": "Art. 25"},
        "deletion": {"days": 30, "law": NOT_STATED, "source": "Art. 32", "stated": False,
                     "tool_default": True},
        "consent": {"model": "other", "text": "justification", "source": "Art. 31"},
        "children": {"text": NOT_STATED, "source": "-"},
        "fine": {"text": "CHF 250,000", "amount": 250_000, "currency": "CHF",
                 "source": "Art. 60"},
    }
    table = RegulationTable.load(RegulationSettings(overrides={"FADP": row}))
    assert ids(table)[-1] == "FADP"
    assert ids(table.regulations_for("CH", None)) == ["FADP"]


@pytest.mark.parametrize("overrides", [
    {"GDPR": {"dsar": {"days": -1}}},
    {"GDPR": {"consent": {"model": "maybe"}}},
    {"GDPR": {"regions": ["not a region"]}},
    {"NEWLAW": {"law": "incomplete"}},
])
def test_bad_overrides_say_which_regulation(overrides) -> None:
    with pytest.raises(RegulationTableError, match=next(iter(overrides))):
        RegulationTable.load(RegulationSettings(overrides=overrides))


def test_settings_from_the_config() -> None:
    config = Config(regulations={"warn_fraction": 0.5,
                                 "overrides": {"GDPR": {"breach": {"hours": 24}}}})
    settings = settings_from_config(config)
    assert settings.warn_fraction == 0.5
    assert load_table(settings)["GDPR"].breach.hours == 24
    assert settings_from_config(Config()) == RegulationSettings()
    assert RegulationSettings().warn_fraction == 0.8
