from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError
from scoring_helpers import DAY, NOON, Filled, assessment_for, make_event

from ottwatch.commands.roi import command as roi
from ottwatch.findings import finding_to_alert
from ottwatch.pipeline import Finding
from ottwatch.roi import (
    DEFAULT_FINES,
    DEFAULT_MONTHLY_COSTS,
    RoiInputs,
    RoiSettings,
    compute_roi,
    fine_figures,
    regulation_for_region,
    regulation_named,
)

SETTINGS = RoiSettings(enforcement_probability=0.01,
                       fines={"GDPR": 1_000_000, "CCPA": 10_000}, default_fine=50_000,
                       churn_cost_per_incident=200, legal_cost_per_incident=1_000,
                       monthly_costs={"infrastructure": 1_000, "team": 500})
CONFIG = """
[scoring.roi]
enforcement_probability = 0.01
fines = { GDPR = 1000000, CCPA = 10000 }
default_fine = 50000
churn_cost_per_incident = 200
legal_cost_per_incident = 1000
monthly_costs = { infrastructure = 1000, team = 500 }
"""


def test_roi_arithmetic_on_known_inputs() -> None:
    report = compute_roi(RoiInputs(violations={"GDPR": 2, "CCPA": 3, "unknown": 1},
                                   fraud_incidents=4, months=2), SETTINGS)
    assert report.fines_by_regulation == {"CCPA": 300.0, "GDPR": 20_000.0, "unknown": 500.0}
    assert report.avoided_fines == 20_800.0
    assert report.avoided_churn == 800.0
    assert report.avoided_legal == 6_000.0
    assert report.benefit == 27_600.0
    assert (report.monthly_cost, report.cost) == (1_500.0, 3_000.0)
    assert report.net_benefit == 24_600.0
    assert report.roi_pct == 820.0
    assert report.payback_months == 0.22  # 3,000 / (27,600 / 2 per month)
    assert report.violations == 6 and report.to_dict()["currency"] == "EUR"


def test_roi_without_benefit_or_without_cost() -> None:
    nothing = compute_roi(RoiInputs(violations={}, fraud_incidents=0, months=3), SETTINGS)
    assert nothing.net_benefit == -4_500.0 and nothing.roi_pct == -100.0
    assert nothing.payback_months is None
    free = RoiSettings(monthly_costs={})
    gain = compute_roi(RoiInputs(violations={}, fraud_incidents=1, months=1), free)
    assert gain.roi_pct is None and gain.payback_months == 0.0


def test_default_costs_and_settings_validation() -> None:
    defaults = RoiSettings()
    assert defaults.monthly_costs == DEFAULT_MONTHLY_COSTS
    assert sum(defaults.monthly_costs.values()) == 37_000
    with pytest.raises(ValidationError):
        RoiSettings(enforcement_probability=1.5)
    with pytest.raises(ValidationError):
        RoiSettings.from_scoring({"roi": {"typo": 1}})
    assert RoiSettings.from_scoring({"base_threshold": 40}).currency == "EUR"


def test_fines_come_from_the_table_converted_then_from_the_config() -> None:
    table = {"GDPR": (20_000_000.0, "EUR"), "UK_GDPR": (17_500_000.0, "GBP"),
             "PIPA_KR": (None, "KRW"), "ODD": (5.0, "XYZ")}
    figures = fine_figures(RoiSettings(), table)
    assert figures["GDPR"] == 20_000_000
    assert figures["UK_GDPR"] == pytest.approx(17_500_000 * 1.17)
    assert "PIPA_KR" not in figures and "ODD" not in figures
    assert fine_figures(RoiSettings()) == DEFAULT_FINES
    configured = fine_figures(SETTINGS, table)
    assert configured["GDPR"] == 1_000_000 and configured["UK_GDPR"] == figures["UK_GDPR"]


def test_regulation_from_region_or_from_the_reason_detail() -> None:
    assert [regulation_for_region(r) for r in ("US-CA", "US", "DE-BY", "EU", "GB", None)] == [
        "CCPA", None, "GDPR", "GDPR", "UK_GDPR", None]
    ids = ("GDPR", "UK_GDPR", "CCPA")
    assert regulation_named("play with no consent under UK_GDPR: opt-in", ids) == "UK_GDPR"
    assert regulation_named("under GDPR, UK_GDPR", ids) == "GDPR"
    assert regulation_named("GDPRX", ids) is None


def flagged(filled: Filled, event_id: str, user: str, ts: float, code: str, detail: str,
            decision: str, region: str | None = None) -> None:
    event = make_event(event_id, user, ts, region=region)
    filled.write([event], [assessment_for(event, [(code, 40.0, detail)], decision=decision)])


@pytest.fixture
def db(filled_db: Callable[[], Filled]) -> Filled:
    filled = filled_db()
    for i in range(3):  # one user, one regulation: one violation
        flagged(filled, f"alice-{i}", "alice", NOON - i * 3600, "consent.missing",
                "play with no consent under GDPR: opt-in", "review", "DE")
    flagged(filled, "bob-1", "bob", NOON - DAY, "consent.missing", "play with no consent",
            "review", "BR")
    flagged(filled, "carol-1", "carol", NOON - DAY, "consent.missing", "under GDPR", "block")
    filled.label("carol-1", "benign")
    flagged(filled, "dave-1", "dave", NOON - 2 * DAY, "auth.failure_burst", "12 failures",
            "block")
    flagged(filled, "dave-2", "dave", NOON - 2 * DAY + 5, "geo.anonymizer", "tor", "review")
    flagged(filled, "erin-1", "erin", NOON - DAY, "geo.anonymizer", "tor", "allow")
    unflagged = make_event("frank-1", "frank", NOON - DAY)
    filled.write([unflagged], [assessment_for(unflagged, [])])
    filled.label("frank-1", "violation")
    flagged(filled, "gina-1", "gina", NOON - 60 * DAY, "consent.missing", "under GDPR",
            "block")
    alerts = [
        finding_to_alert(Finding(code="regulation.breach_notification_late", severity="critical",
                                 ts=NOON - DAY, title="breach b-1 not notified",
                                 request_id="b-1", regulation="CCPA")),
        finding_to_alert(Finding(code="regulation.dsar_overdue", severity="high", ts=NOON,
                                 title="dsar overdue", user_id="alice", request_id="r-1",
                                 regulation="GDPR")),
    ]
    filled.write([], [], {"alerts": alerts})
    return filled


def run(db: Filled, *args: str) -> Result:
    config = db.path.parent / "roi.toml"
    config.write_text(CONFIG, encoding="utf-8")
    return CliRunner().invoke(roi, [*args, "--db", str(db.path), "--config", str(config)],
                              env={"COLUMNS": "200", "NO_COLOR": "1"})


def test_roi_command_counts_what_is_in_the_database(db: Filled) -> None:
    result = run(db, "--months", "1", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    # alice (GDPR, her alert is the same violation), bob (BR -> LGPD), the CCPA breach
    # alert; carol was benign, gina is older than a month. Fraud: dave, frank.
    assert data["violations"] == 3 and data["fraud_incidents"] == 2
    assert data["fines_by_regulation"] == {"CCPA": 100.0, "GDPR": 10_000.0, "LGPD": 80_000.0}
    assert data["avoided_fines"] == 90_100.0
    assert data["avoided_churn"] == 400.0
    assert data["avoided_legal"] == 3_000.0
    assert data["benefit"] == 93_500.0
    assert (data["months"], data["cost"]) == (1.0, 1_500.0)
    assert data["net_benefit"] == 92_000.0
    assert data["roi_pct"] == 6_133.33
    assert data["payback_months"] == 0.02
    assert data["window"]["end"] == "2026-11-02T12:00:00.000000Z"
    assert data["assumptions"]["fines"]["LGPD"] == pytest.approx(8_000_000)


def test_roi_over_all_the_data(db: Filled) -> None:
    data = json.loads(run(db, "--json").output)
    assert data["fines_by_regulation"]["GDPR"] == 20_000.0  # gina counts now
    assert data["months"] == round(60 / 30.4375, 2)
    assert data["window"]["start"] == "2026-09-03T12:00:00.000000Z"


def test_roi_table(db: Filled) -> None:
    result = run(db, "--months", "1")
    assert result.exit_code == 0, result.output
    lines = {cells[1].strip(): cells[2].strip() for line in result.output.splitlines()
             if len(cells := line.split("│")) == 4}
    assert lines["ROI"] == "6,133.3 %"
    assert lines["net benefit"] == "92,000.00 EUR"
    assert lines["payback"] == "0.02 months"
    assert lines["LGPD"] == "80,000.00 EUR  (1 x 0.01 x 8,000,000)"
    assert lines["period"] == "2026-10-03 .. 2026-11-02 (1 month)"


def test_roi_on_an_empty_database(filled_db: Callable[[], Filled]) -> None:
    result = run(filled_db(), "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["benefit"] == 0 and data["roi_pct"] is None and data["window"] is None
    assert run(filled_db(), "--months", "2").exit_code == 0


def test_roi_rejects_bad_settings(db: Filled, tmp_path: Path) -> None:
    config = tmp_path / "bad.toml"
    config.write_text("[scoring.roi]\nenforcement_probability = 2\n", encoding="utf-8")
    result = CliRunner().invoke(roi, ["--db", str(db.path), "--config", str(config)])
    assert result.exit_code == 2  # a config mistake, told where
    assert f"{config}:2: [scoring.roi] enforcement_probability: " in result.output


def test_roi_without_the_regulation_table(db: Filled, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "ottwatch.regulations.table", None)  # import fails
    data = json.loads(run(db, "--months", "1", "--json").output)
    assert data["fines_by_regulation"] == {"CCPA": 100.0, "GDPR": 10_000.0, "LGPD": 80_000.0}


@settings(max_examples=300, deadline=None)
@given(violations=st.dictionaries(st.sampled_from(["GDPR", "CCPA", "LGPD", "unknown"]),
                                  st.integers(0, 50), max_size=4),
       incidents=st.integers(0, 500), months=st.floats(1 / 30.4375, 36),
       monthly=st.floats(0, 100_000), probability=st.floats(0, 1))
def test_roi_and_payback_never_contradict_each_other(
        violations: dict[str, int], incidents: int, months: float, monthly: float,
        probability: float) -> None:
    tuned = SETTINGS.model_copy(update={"enforcement_probability": probability,
                                        "monthly_costs": {"team": monthly}})
    report = compute_roi(RoiInputs(violations=violations, fraud_incidents=incidents,
                                   months=months), tuned)
    if report.payback_months is not None:  # paid back: within the period, a gain
        assert report.net_benefit >= 0
        assert report.roi_pct is None or report.roi_pct >= 0
        assert report.payback_months <= report.months + 0.01
    if report.net_benefit < 0:
        assert report.payback_months is None
    if report.roi_pct is not None and report.roi_pct < 0:
        assert report.payback_months is None


def test_roi_table_says_a_loss_never_pays_back_and_shows_its_assumptions(
        db: Filled) -> None:
    config = db.path.parent / "dear.toml"
    config.write_text(CONFIG.replace("team = 500", "team = 10000000"), encoding="utf-8")
    result = CliRunner().invoke(roi, ["--months", "1", "--db", str(db.path), "--config",
                                      str(config)], env={"COLUMNS": "200", "NO_COLOR": "1"})
    assert result.exit_code == 0, result.output
    lines = {cells[1].strip(): cells[2].strip() for line in result.output.splitlines()
             if len(cells := line.split("│")) == 4}
    assert lines["ROI"].startswith("-")
    assert lines["payback"] == "never (the benefit is below the cost)"
    assert lines["enforcement probability"] == "0.01"
    assert lines["churn cost per incident"] == "200.00 EUR"
    assert lines["legal cost per violation"] == "1,000.00 EUR"
    assert lines["monthly team"] == "10,000,000.00 EUR"
    assert lines["monthly infrastructure"] == "1,000.00 EUR"
