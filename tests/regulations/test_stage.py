from __future__ import annotations

from itertools import count

import pytest
from pydantic import ValidationError
from sqlalchemy import select

from ottwatch.events import Event, ts_to_text
from ottwatch.findings import FindingsRecorder
from ottwatch.geo.model import GeoHit
from ottwatch.pipeline import Batch, Pipeline, StatefulStage, TimedStage
from ottwatch.regulations import ComplianceStage, RegulationSettings
from ottwatch.regulations.timers import human_duration
from storage import open_database
from storage.queries import load_stage_states
from storage.tables import AlertRow, TimerRow
from storage.writer import BatchWriter

T0 = 1_780_000_000.0
HOUR = 3600.0
DAY = 86400.0
_ids = count()


def ev(event_type: str, ts: float = T0, *, user: str = "u1", region: str | None = "DE",
       **fields) -> Event:
    n = next(_ids)
    return Event(event_id=f"e{n}", ts=ts, timestamp=ts_to_text(ts), user_id=user,
                 event_type=event_type, region=region, **fields)


def run(stage: ComplianceStage, events: list[Event], now: float | None = None,
        geo: list[GeoHit | None] | None = None) -> Batch:
    batch = Batch(events=events, now=now if now is not None else max(e.ts for e in events))
    if geo is not None:
        batch.columns["geo"] = geo
    stage.process(batch)
    stage.tick(batch)
    return batch


def tick(stage: ComplianceStage, now: float) -> Batch:
    batch = Batch(events=[], now=now)
    stage.tick(batch)
    return batch


def codes(batch: Batch, index: int) -> list[str]:
    return [r.code for r in batch.reasons[index]]


def test_it_is_a_timed_and_stateful_stage() -> None:
    stage = ComplianceStage()
    assert stage.name == "compliance"
    assert isinstance(stage, TimedStage) and isinstance(stage, StatefulStage)


# -- consent -------------------------------------------------------------------------------
def test_consent_granted_before_processing_does_not_fire() -> None:
    batch = run(ComplianceStage(), [ev("consent_granted"), ev("play", T0 + 1),
                                    ev("download", T0 + 2)])
    assert batch.reasons == [[], [], []]


def test_withdrawal_then_play_fires_under_gdpr() -> None:
    stage = ComplianceStage()
    run(stage, [ev("consent_granted"), ev("consent_withdrawn", T0 + 1)])
    batch = run(stage, [ev("play", T0 + 2), ev("pause", T0 + 3)])
    assert codes(batch, 0) == ["consent.missing"]
    reason = batch.reasons[0][0]
    assert reason.weight == 30.0
    assert "GDPR" in reason.detail and "withdrawn" in reason.detail
    assert reason.about == "GDPR"  # alerts digest consent lapses per regulation
    assert codes(batch, 1) == ["consent.missing"]  # pausing processes viewing data too


def test_a_sessions_telemetry_is_processing_and_authentication_is_not() -> None:
    stage = ComplianceStage()
    session = [ev(kind, T0 + n, session_id="s1", has_consent=False) for n, kind in
               enumerate(("play", "pause", "seek", "play", "stop"))]
    auth = [ev(kind, T0 + 10 + n, has_consent=False, **extra) for n, (kind, extra) in
            enumerate((("login", {"error_code": "AUTH_FAILED"}), ("login_failed", {}),
                       ("login", {}), ("token_refresh", {}), ("token_refresh_failed", {}),
                       ("logout", {}), ("consent_withdrawn", {}), ("consent_granted", {})))]
    batch = run(stage, session + auth)
    assert [codes(batch, i) for i in range(len(session))] == [["consent.missing"]] * 5
    assert batch.reasons[len(session):] == [[]] * len(auth)


def test_each_consent_reason_names_its_regulation() -> None:
    batch = run(ComplianceStage(), [ev("search", region="GB"), ev("stop", region="FR"),
                                    ev("seek", region="CN")])
    assert [r[0].about for r in batch.reasons] == ["UK_GDPR", "GDPR", "PIPL"]


def test_processing_with_no_consent_recorded_fires_where_opt_in_applies() -> None:
    batch = run(ComplianceStage(), [ev("search", region="FR"), ev("play", region="GB"),
                                    ev("play", region="BR"), ev("play", region="US"),
                                    ev("play", region=None, user="u2")])
    assert [codes(batch, i) for i in range(5)] == [["consent.missing"], ["consent.missing"],
                                                    [], [], []]
    assert "UK_GDPR" in batch.reasons[1][0].detail
    quiet = ComplianceStage(RegulationSettings(unknown_consent_is_missing=False))
    assert run(quiet, [ev("play", region="FR")]).reasons == [[]]


def test_the_has_consent_field_wins_for_its_event() -> None:
    stage = ComplianceStage()
    batch = run(stage, [ev("consent_withdrawn"), ev("play", T0 + 1, has_consent=True),
                        ev("play", T0 + 2), ev("play", T0 + 3, has_consent=False),
                        ev("play", T0 + 4)])
    assert [codes(batch, i) for i in range(1, 5)] == [[], [], ["consent.missing"],
                                                       ["consent.missing"]]
    assert "has_consent is false" in batch.reasons[3][0].detail


def test_opt_out_regimes_fire_only_after_an_explicit_withdrawal() -> None:
    stage = ComplianceStage()
    batch = run(stage, [ev("play", region="US-CA"), ev("play", T0 + 1, region="US-CA",
                                                       has_consent=False)])
    assert batch.reasons == [[], []]
    batch = run(stage, [ev("consent_withdrawn", T0 + 2, region="US-CA"),
                        ev("purchase", T0 + 3, region="US-CA")])
    assert codes(batch, 1) == ["consent.missing"]
    assert "CCPA" in batch.reasons[1][0].detail
    batch = run(stage, [ev("play", T0 + 4, region="US-CA", has_consent=False)])
    assert codes(batch, 0) == ["consent.missing"]  # still opted out
    batch = run(stage, [ev("consent_granted", T0 + 5, region="US-CA"),
                        ev("play", T0 + 6, region="US-CA")])
    assert batch.reasons == [[], []]
    us = ComplianceStage()
    batch = run(us, [ev("consent_withdrawn", region="US"), ev("play", T0 + 1, region="US")])
    assert batch.reasons == [[], []]


def test_the_ip_location_and_the_remembered_region_bring_regulations_in_scope() -> None:
    stage = ComplianceStage()
    batch = run(stage, [ev("play", region=None), ev("play", T0 + 1, region=None, user="u2")],
                geo=[GeoHit(country="FR"), GeoHit(country="US", subdivision="CA")])
    assert codes(batch, 0) == ["consent.missing"] and batch.reasons[1] == []
    batch = run(stage, [ev("consent_withdrawn", T0 + 2, region=None, user="u2"),
                        ev("play", T0 + 3, region=None, user="u2")])
    assert codes(batch, 1) == ["consent.missing"] and "CCPA" in batch.reasons[1][0].detail
    batch = run(stage, [ev("play", T0 + 4, region=None, is_eu=True, user="u3")])
    assert codes(batch, 0) == ["consent.missing"]


def test_processing_events_are_a_setting() -> None:
    stage = ComplianceStage(RegulationSettings(processing_events=["download"]))
    batch = run(stage, [ev("play"), ev("download", T0 + 1)])
    assert [codes(batch, 0), codes(batch, 1)] == [[], ["consent.missing"]]


@pytest.mark.parametrize("kind", ["login", "TOKEN_REFRESH", "logout", "consent_granted"])
def test_authentication_and_consent_events_cannot_be_processing(kind: str) -> None:
    with pytest.raises(ValidationError, match="not processing"):
        RegulationSettings(processing_events=["play", kind])


def test_the_user_book_is_bounded() -> None:
    stage = ComplianceStage(RegulationSettings(max_users=2))
    run(stage, [ev("consent_granted", user=f"u{i}") for i in range(5)])
    assert list(stage.users.users) == ["u3", "u4"]


# -- deadline timers -------------------------------------------------------------------------
def open_dsar(stage: ComplianceStage, **fields) -> tuple[Batch, Event]:
    request = ev("dsar_request", request_id="req-1", **fields)
    return run(stage, [request]), request


def test_an_unfulfilled_dsar_warns_then_fires_once_at_its_deadline() -> None:
    stage = ComplianceStage()
    opened, request = open_dsar(stage)
    deadline = T0 + 30 * DAY
    warn_at = T0 + 0.8 * 30 * DAY
    [row] = opened.upserts["timers"]
    assert set(row) == set(TimerRow.__table__.columns.keys())
    assert row == {"key": "dsar:req-1", "kind": "dsar", "request_id": "req-1", "user_id": "u1",
                   "regulation": "GDPR", "opened_at": T0, "warn_at": warn_at,
                   "deadline": deadline, "state": "open", "closed_at": None,
                   "event_id": request.event_id}
    assert opened.findings == []

    assert tick(stage, warn_at - 1).findings == []
    warned = tick(stage, warn_at)
    [warning] = warned.findings
    assert (warning.code, warning.severity, warning.ts) == ("regulation.deadline_near",
                                                            "medium", warn_at)
    assert warning.title == "DSAR req-1 due in 6 d (GDPR)"
    assert "overdue" not in f"{warning.title} {warning.detail}"
    assert warned.upserts["timers"][0]["state"] == "warned"
    assert tick(stage, deadline - 1).findings == []

    fired = tick(stage, deadline + 5 * HOUR)
    [finding] = fired.findings
    assert finding.code == "regulation.dsar_overdue"
    assert finding.severity == "high"
    assert finding.ts == deadline
    assert (finding.request_id, finding.user_id, finding.regulation) == ("req-1", "u1", "GDPR")
    assert finding.event_ids == [request.event_id]
    assert "not fulfilled within 30 d" in finding.title
    assert ts_to_text(deadline) in finding.detail and "Art. 12(3)" in finding.detail
    assert "operational default" in finding.detail
    assert fired.upserts["timers"][0]["state"] == "overdue"
    assert tick(stage, deadline + 10 * DAY).findings == []
    assert tick(stage, deadline + 100 * DAY).upserts == {}


def test_a_dsar_fulfilled_in_time_raises_nothing() -> None:
    stage = ComplianceStage()
    open_dsar(stage)
    done = run(stage, [ev("dsar_fulfilled", T0 + 3 * DAY, request_id="req-1")])
    assert done.findings == [] and done.reasons == [[]]
    assert done.upserts["timers"][0]["state"] == "closed"
    assert done.upserts["timers"][0]["closed_at"] == T0 + 3 * DAY
    assert stage.timers == {}
    assert tick(stage, T0 + 365 * DAY).findings == []


def test_a_late_fulfilment_fires_first_then_closes_late_with_a_reason() -> None:
    stage = ComplianceStage()
    open_dsar(stage)
    late = run(stage, [ev("dsar_fulfilled", T0 + 32 * DAY, request_id="req-1")])
    assert [f.code for f in late.findings] == ["regulation.dsar_overdue"]  # no stale warning
    assert late.findings[0].ts == T0 + 30 * DAY
    assert codes(late, 0) == ["regulation.dsar_overdue"]
    assert "48 h past its GDPR deadline" in late.reasons[0][0].detail
    assert [r["state"] for r in late.upserts["timers"]] == ["overdue", "closed_late"]


def test_an_event_for_an_overdue_request_carries_the_code() -> None:
    stage = ComplianceStage()
    open_dsar(stage)
    tick(stage, T0 + 31 * DAY)
    batch = run(stage, [ev("data_export", T0 + 31 * DAY, request_id="req-1", has_consent=True),
                        ev("dsar_request", T0 + 31 * DAY, request_id="req-1")])
    assert codes(batch, 0) == ["regulation.dsar_overdue"]
    assert codes(batch, 1) == ["regulation.dsar_overdue"]
    assert len(stage.timers) == 1  # the repeated request opened nothing new


def test_deletion_and_breach_timers() -> None:
    stage = ComplianceStage()
    run(stage, [ev("deletion_request", request_id="d-1", region="BR"),
                ev("breach_detected", request_id="b-1", region="CN", user="ops")])
    fired = tick(stage, T0 + 100 * DAY)
    by_code = {f.code: f for f in fired.findings}
    breach = by_code["regulation.breach_notification_late"]
    assert (breach.severity, breach.ts, breach.regulation) == ("critical", T0 + 24 * HOUR, "PIPL")
    assert "not notified within 24 h" in breach.title
    deletion = by_code["regulation.deletion_overdue"]
    assert (deletion.severity, deletion.ts, deletion.regulation) == ("high", T0 + 15 * DAY,
                                                                     "LGPD")
    assert len(fired.findings) == 2


def test_the_strictest_deadline_in_scope_wins() -> None:
    stage = ComplianceStage()
    batch = run(stage, [ev("dsar_request", request_id="r", region="US-CA")],
                geo=[GeoHit(country="KR")])
    [row] = batch.upserts["timers"]
    assert (row["regulation"], row["deadline"]) == ("PIPA_KR", T0 + 10 * DAY)
    [finding] = tick(stage, T0 + 11 * DAY).findings
    assert "in scope: CCPA, PIPA_KR" in finding.detail


def test_unknown_region_uses_the_fallback_regulation() -> None:
    stage = ComplianceStage()
    batch = run(stage, [ev("dsar_request", request_id="r", region=None)])
    assert batch.upserts["timers"][0]["regulation"] == "GDPR"
    none = ComplianceStage(RegulationSettings(fallback_regulation=None))
    assert run(none, [ev("dsar_request", request_id="r", region=None)]).upserts == {}
    with pytest.raises(ValueError, match="NOPE"):
        ComplianceStage(RegulationSettings(fallback_regulation="NOPE"))


def test_a_fulfilment_without_request_id_closes_the_users_oldest_request() -> None:
    stage = ComplianceStage()
    run(stage, [ev("dsar_request", request_id="a"), ev("dsar_request", T0 + 1, request_id="b"),
                ev("dsar_request", T0 + 2, request_id="c", user="u2")])
    run(stage, [ev("dsar_fulfilled", T0 + 3)])
    assert sorted(stage.timers) == ["dsar:b", "dsar:c"]


def test_a_request_id_closed_once_is_not_reopened_by_a_resend() -> None:
    stage = ComplianceStage()
    open_dsar(stage)
    run(stage, [ev("dsar_fulfilled", T0 + DAY, request_id="req-1")])
    assert run(stage, [ev("dsar_request", T0 + 2 * DAY, request_id="req-1")]).upserts == {}


def test_warn_fraction_is_a_setting() -> None:
    stage = ComplianceStage(RegulationSettings(warn_fraction=0.5))
    open_dsar(stage)
    [warning] = tick(stage, T0 + 15 * DAY).findings
    assert warning.ts == T0 + 15 * DAY and warning.severity == "medium"


def test_overrides_change_the_timer() -> None:
    settings = RegulationSettings(overrides={"GDPR": {"dsar": {"days": 20}}})
    stage = ComplianceStage(settings)
    opened, _ = open_dsar(stage)
    assert opened.upserts["timers"][0]["deadline"] == T0 + 20 * DAY


# -- restart and determinism -----------------------------------------------------------------
def test_a_timer_survives_a_restart() -> None:
    stage = ComplianceStage()
    _, request = open_dsar(stage)
    run(stage, [ev("consent_withdrawn", T0 + 1, user="u9")])
    tick(stage, T0 + 25 * DAY)  # warned before the restart
    assert stage.dirty
    saved = stage.snapshot()

    fresh = ComplianceStage()
    fresh.restore(saved)
    assert not fresh.dirty
    [finding] = tick(fresh, T0 + 40 * DAY).findings  # the warning is not repeated
    assert (finding.code, finding.ts, finding.event_ids) == ("regulation.dsar_overdue",
                                                             T0 + 30 * DAY, [request.event_id])
    assert fresh.dirty
    assert tick(fresh, T0 + 41 * DAY).findings == []
    batch = run(fresh, [ev("play", T0 + 41 * DAY, user="u9", region=None)])
    assert codes(batch, 0) == ["consent.missing"]  # the withdrawal and region survived too


def test_the_pipeline_saves_state_in_the_batch_that_changed_it() -> None:
    pipeline = Pipeline([ComplianceStage()], assess=False, persist_every_s=0)
    opened = pipeline.run([ev("dsar_request", request_id="r")], T0)
    [state] = opened.upserts["stage_state"]
    assert state["name"] == "compliance" and isinstance(state["state"], bytes)
    assert "timers" in opened.upserts
    assert pipeline.tick(T0 + DAY).upserts == {}  # nothing changed
    fired = pipeline.tick(T0 + 31 * DAY)  # idle: no event arrives, the deadline still fires
    assert [f.code for f in fired.findings] == ["regulation.dsar_overdue"]
    assert {"timers", "stage_state"} <= set(fired.upserts)


def test_user_book_changes_are_saved_at_most_every_interval() -> None:
    stage = ComplianceStage(RegulationSettings(state_interval_s=60, state_every_events=3))
    run(stage, [ev("play", has_consent=True)])
    assert stage.dirty  # the first change is saved at once
    stage.snapshot()
    stage.dirty = False
    run(stage, [ev("consent_withdrawn", T0 + 10, user="u2")])
    assert not stage.dirty
    tick(stage, T0 + 59)
    assert not stage.dirty
    tick(stage, T0 + 61)
    assert stage.dirty
    stage.snapshot()
    stage.dirty = False
    run(stage, [ev("consent_granted", T0 + 62, user="u3"), ev("pause", T0 + 62)])
    assert not stage.dirty
    run(stage, [ev("pause", T0 + 63)])
    assert stage.dirty  # three events since the last save
    stage.snapshot()
    stage.dirty = False
    run(stage, [ev("pause", T0 + 64) for _ in range(5)])
    assert not stage.dirty  # nothing changed
    eager = ComplianceStage(RegulationSettings(state_interval_s=0))
    for n in range(3):
        run(eager, [ev("consent_granted", T0 + n, user=f"v{n}")])
        assert eager.dirty
        eager.snapshot()
        eager.dirty = False


def test_findings_do_not_depend_on_batching() -> None:
    def stream() -> list[Event]:
        out = [ev("dsar_request", T0, request_id="a"),
               ev("breach_detected", T0 + HOUR, request_id="b", region="GB"),
               ev("deletion_request", T0 + 2 * HOUR, request_id="c", region="KR")]
        out += [ev("play", T0 + day * DAY, user=f"x{day}", has_consent=True)
                for day in range(1, 40)]
        out.append(ev("dsar_fulfilled", T0 + 40 * DAY, request_id="a"))
        return out

    def findings(batch_size: int) -> list[tuple[str, str, float, str | None]]:
        stage = ComplianceStage()
        events = stream()
        out = []
        for start in range(0, len(events), batch_size):
            batch = run(stage, events[start:start + batch_size])
            out += [(f.code, f.severity, f.ts, f.request_id) for f in batch.findings]
        return out

    one = findings(1)
    assert findings(7) == one == findings(1000)
    assert sorted(one, key=lambda f: f[2]) == one
    assert ("regulation.dsar_overdue", "high", T0 + 30 * DAY, "a") in one
    assert ("regulation.breach_notification_late", "critical", T0 + 73 * HOUR, "b") in one


def test_a_timer_whose_regulation_left_the_table_still_fires_after_restart() -> None:
    settings = RegulationSettings(overrides={"GDPR": {"regions": ["CH"]}, "UK_GDPR": {}},
                                  fallback_regulation=None)
    custom = ComplianceStage(settings)
    run(custom, [ev("dsar_request", request_id="r", region="CH")])
    fresh = ComplianceStage()
    fresh.restore(custom.snapshot())
    [finding] = tick(fresh, T0 + 31 * DAY).findings
    assert finding.regulation == "GDPR" and finding.ts == T0 + 30 * DAY


def test_over_the_bound_overdue_timers_are_forgotten_first() -> None:
    stage = ComplianceStage(RegulationSettings(max_timers=1))
    run(stage, [ev("dsar_request", request_id="a")])
    tick(stage, T0 + 31 * DAY)
    run(stage, [ev("dsar_request", T0 + 31 * DAY, request_id="b")])
    assert list(stage.timers) == ["dsar:b"]


@pytest.mark.parametrize(("seconds", "text"), [
    (30 * DAY, "30 d"), (6.5 * DAY, "6 d 12 h"), (72 * HOUR, "72 h"), (14.4 * HOUR, "14 h 24 min"),
    (45 * 60, "45 min"), (-5, "0 min"),
])
def test_durations_read_naturally(seconds: float, text: str) -> None:
    assert human_duration(seconds) == text


def test_timers_and_state_commit_and_restore_through_the_database(tmp_path) -> None:
    engine = open_database("sqlite:///" + str(tmp_path / "ottwatch.db"))
    writer = BatchWriter(engine)

    def commit(batch: Batch) -> None:
        writer.write(events=batch.events, quarantined=[], assessments=batch.assessments,
                     positions=[], now=batch.now, upserts=batch.upserts)

    pipeline = Pipeline([ComplianceStage()], sinks=[FindingsRecorder()])
    commit(pipeline.run([ev("dsar_request", request_id="req-9")], T0))
    commit(pipeline.tick(T0 + 25 * DAY))

    restarted = Pipeline([ComplianceStage()], sinks=[FindingsRecorder()])
    restarted.restore(load_stage_states(engine))
    fired = restarted.tick(T0 + 31 * DAY)
    commit(fired)
    assert [(f.code, f.ts) for f in fired.findings] == [("regulation.dsar_overdue",
                                                         T0 + 30 * DAY)]
    timers, alerts = TimerRow.__table__, AlertRow.__table__
    with engine.connect() as conn:
        rows = conn.execute(select(timers.c.key, timers.c.state, timers.c.deadline)).all()
        raised = conn.execute(select(alerts.c.severity, alerts.c.request_id,
                                     alerts.c.regulation).order_by(alerts.c.created_at)).all()
    assert [tuple(r) for r in rows] == [("dsar:req-9", "overdue", T0 + 30 * DAY)]
    assert [tuple(r) for r in raised] == [("medium", "req-9", "GDPR"), ("high", "req-9", "GDPR")]
    with engine.connect() as conn:
        titles = conn.execute(select(alerts.c.codes, alerts.c.title, alerts.c.body)
                              .order_by(alerts.c.created_at)).all()
    (warning_codes, warning, body), (overdue_codes, overdue, _) = titles
    assert warning_codes == ["regulation.deadline_near"] and "overdue" not in warning + body
    assert "due in 6 d" in body
    assert overdue_codes == ["regulation.dsar_overdue"] and "overdue" in overdue
    engine.dispose()
