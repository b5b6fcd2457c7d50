"""The sink on its own: what raises an alert, group keys, content and masking,
determinism under different batching, the contract export."""

from __future__ import annotations

import orjson

from ottwatch.alerts.export import ALERT_FIELDS, alerts
from ottwatch.alerts.settings import AlertSettings
from ottwatch.alerts.sink import AlertSink
from ottwatch.findings import FindingsRecorder, alert_id_for, finding_to_alert
from ottwatch.pipeline import Batch, Finding, Pipeline
from tests.alerts.conftest import T0, Harness, Scripted, event

DAY = 86_400.0


def _record_only(engine, **settings) -> Harness:
    return Harness(engine, AlertSettings(**settings), deliver=False)


def test_assessments_at_or_above_min_level_and_every_finding_raise_alerts(engine):
    harness = _record_only(engine)  # min_level high by default
    batch = harness.pipeline.run([event(1, "a", score=50), event(2, "b", score=65)], T0)
    batch.findings.append(Finding("agent.source_stalled", "medium", T0, "Source stalled",
                                  "no line from /var/log/ott/a.jsonl for 10 min"))
    harness.sink.consume(batch)
    harness.commit(batch)
    rows = {a["codes"][0]: a for a in harness.alerts()}
    assert set(rows) == {"geo.anonymizer", "agent.source_stalled"}
    assert rows["geo.anonymizer"]["user_id"] == "b"
    assert rows["agent.source_stalled"]["title"] == \
        "[MEDIUM] agent.source_stalled — Source stalled"
    assert harness.deliveries() == []  # recording only


def test_findings_reported_from_outside_the_pipeline_alert_on_the_next_tick(engine):
    harness = _record_only(engine)
    harness.sink.report(Finding("agent.sender_failing", "high", T0, "Alert sender failing",
                                "3 channels unreachable for 10 min"))
    harness.tick(T0 + 1)
    [alert] = harness.alerts()
    assert alert["group_key"] == "agent.sender_failing|-" and alert["severity"] == "high"
    harness.tick(T0 + 2)
    assert len(harness.alerts()) == 1 and harness.alerts()[0]["count"] == 1


def test_group_keys_are_code_and_user_ring_for_rings_request_for_deadlines(engine):
    harness = _record_only(engine)
    batch = Batch(events=[], now=T0)
    batch.findings += [
        Finding("ring.detected", "high", T0, "Ring of 4", user_id="u-1", ring_id="r-7"),
        Finding("ring.detected", "high", T0 + 1, "Ring of 5", user_id="u-2", ring_id="r-7"),
        Finding("regulation.dsar_overdue", "medium", T0, "DSAR q-1 due in 6 d",
                user_id="u-1", request_id="q-1", regulation="GDPR"),
        Finding("regulation.dsar_overdue", "high", T0 + 2, "DSAR q-1 not fulfilled",
                user_id="u-1", request_id="q-1", regulation="GDPR"),
    ]
    harness.sink.consume(batch)
    harness.commit(batch)
    rows = {a["group_key"]: a for a in harness.alerts()}
    assert set(rows) == {"ring.detected|r-7", "regulation.dsar_overdue|q-1"}
    ring, dsar = rows["ring.detected|r-7"], rows["regulation.dsar_overdue|q-1"]
    assert ring["count"] == 2 and ring["title"] == "[HIGH] ring.detected — ring r-7"
    assert dsar["severity"] == "high" and dsar["regulation"] == "GDPR"
    assert dsar["title"] == "[HIGH] regulation.dsar_overdue — request q-1"
    assert "DSAR q-1 not fulfilled" in dsar["body"] and "DSAR q-1 due in 6 d" in dsar["body"]


def test_a_deadline_warning_and_the_miss_days_later_are_two_alerts(engine):
    """The compliance stage's shape: the warning at 80 % of 30 days, the miss at 30."""
    harness = _record_only(engine)
    for ts, severity, title in ((T0 + 24 * DAY, "medium", "due in 6 d"),
                                (T0 + 30 * DAY, "high", "not fulfilled within 30 d")):
        batch = Batch(events=[], now=ts)
        batch.findings.append(Finding("regulation.dsar_overdue", severity, ts, f"DSAR q {title}",
                                      "deadline 2026-01-31T00:00:00.000000Z", user_id="u",
                                      request_id="q", regulation="GDPR", event_ids=["ev-q"]))
        harness.sink.consume(batch)
        harness.commit(batch)
    warning, miss = harness.alerts()
    assert (warning["severity"], warning["status"]) == ("medium", "resolved")
    assert (miss["severity"], miss["status"]) == ("high", "open")
    assert miss["event_ids"] == ["ev-q"] and "deadline 2026-01-31" in miss["body"]


def test_the_body_has_score_reasons_top_events_and_the_commands_and_no_secret(engine):
    card, token = "4111 1111 1111 1234", "pf_live_9f8e7d6c5b4a3210"
    harness = _record_only(engine)
    harness.run([
        event(1, ts=T0, score=72, detail=f"payment {token} shared with u-9",
              payment_fingerprint=token),
        event(2, ts=T0 + 5, score=71, detail="Tor exit", payment_fingerprint=token,
              more=[("anomaly.model", 20.0, f"card {card} added; password=hunter2 "
                                            f"via https://bob:pw123456@x.io/")]),
    ])
    [alert] = harness.alerts()
    body, title = alert["body"], alert["title"]
    assert title == "[CRITICAL] geo.anonymizer — user u-1"
    for secret in (token, card, "hunter2", "pw123456", "1111 1111"):
        assert secret not in body and secret not in title
    assert "****3210" in body and "****1234" in body
    assert "Worst score: 91" in body
    assert "Reasons: geo.anonymizer ×2, anomaly.model ×1" in body
    assert body.index("ev-00002") < body.index("ev-00001")  # worst first
    assert f"ottwatch tui --alert {alert['alert_id']}" in body
    assert "ottwatch explain ev-00002" in body
    assert alert["codes"] == ["geo.anonymizer", "anomaly.model"]


def test_markdown_and_html_bodies_escape_what_the_events_said(engine):
    attack = "<script>alert(1)</script> *bold* `tick`"
    for n, (body_format, must, must_not) in enumerate((
            ("html", "&lt;script&gt;", "<script>"),
            ("markdown", "\\*bold\\*", "*bold*"))):
        harness = _record_only(engine, body_format=body_format)
        harness.run([event(n, f"u-{body_format}", score=70,
                           code="input.attack_pattern", detail=attack)])
        alert = next(a for a in harness.alerts() if a["user_id"] == f"u-{body_format}")
        assert must in alert["body"] and must_not not in alert["body"]
        assert alert["alert_id"] in alert["body"]


def test_alerts_are_the_same_however_the_input_is_batched(engine, tmp_path):
    from storage import open_database

    events = [event(n, f"u-{n % 7}", ts=T0 + n * 50.0, score=60 + (n * 13) % 40)
              for n in range(400)]
    findings = [Finding("regulation.breach_notification_late", "critical", T0 + 9000.0,
                        "Breach b-1 not notified within 72 h (GDPR)", request_id="b-1",
                        regulation="GDPR", user_id="u-3")]

    class Deadlines:
        """Fires each finding once the batch's time reaches it, as a timed stage does."""

        name = "deadlines"

        def __init__(self) -> None:
            self.pending = list(findings)

        def process(self, batch: Batch) -> None:
            batch.findings += [f for f in self.pending if f.ts <= batch.now]
            self.pending = [f for f in self.pending if f.ts > batch.now]

    def replay(engine, size: int) -> list[dict]:
        harness = Harness(engine, AlertSettings(resolve_after_s=1800.0, group_interval_s=60.0),
                          deliver=False, stages=[Deadlines()], event_time=True)
        for start in range(0, len(events), size):
            chunk = events[start:start + size]
            harness.run(chunk, chunk[-1].ts)
        harness.tick(T0 + 10 * DAY)
        return [{k: a[k] for k in ("alert_id", "created_at", "updated_at", "count", "status",
                                   "severity", "event_ids", "title", "body", "codes")}
                for a in sorted(harness.alerts(), key=lambda a: a["alert_id"])]

    other = open_database(f"sqlite:///{tmp_path / 'other.db'}")
    one_by_one, in_big_batches = replay(engine, 1), replay(other, 97)
    other.dispose()
    assert len(one_by_one) > 7  # several episodes per user (quiet gaps of over 30 min)
    assert one_by_one == in_big_batches


def test_export_writes_exactly_the_contract_keys(engine):
    harness = _record_only(engine)
    harness.run([event(1, score=85)])
    columns, records = alerts(engine)
    [record] = list(records)
    assert columns == ALERT_FIELDS == [
        "alert_id", "created_at", "severity", "codes", "user_id", "ring_id", "request_id",
        "regulation", "event_ids", "status", "title", "body"]
    assert list(record) == columns
    assert record["created_at"] == "2026-01-01T00:00:00.000000Z"
    assert record["ring_id"] is None and record["event_ids"] == ["ev-00001"]
    orjson.dumps(record)


def test_finding_helpers_give_the_alert_a_finding_starts():
    finding = Finding("regulation.dsar_overdue", "high", T0, "DSAR overdue", user_id="u",
                      request_id="q", regulation="GDPR")
    row = finding_to_alert(finding)
    assert row["alert_id"] == alert_id_for(finding)
    assert row["group_key"] == "regulation.dsar_overdue|q" and row["count"] == 1
    sink = FindingsRecorder()
    batch = Batch(events=[], now=T0, findings=[finding])
    sink.consume(batch)
    [stored] = batch.upserts["alerts"]
    assert stored["alert_id"] == row["alert_id"] and "deliveries" not in batch.upserts


def test_the_snapshot_round_trips_and_an_evicted_group_resolves():
    settings = AlertSettings(max_groups=2, group_wait_s=0)
    sink = AlertSink(settings, deliver=False)
    pipeline = Pipeline([Scripted()], sinks=[sink])
    pipeline.run([event(1, "a"), event(2, "b", ts=T0 + 1)], T0 + 1)
    copy = AlertSink(settings, deliver=False)
    copy.restore(sink.snapshot())
    assert copy.snapshot() == sink.snapshot()
    batch = pipeline.run([event(3, "c", ts=T0 + 2)], T0 + 2)
    assert {r["user_id"]: r["status"] for r in batch.upserts["alerts"]} == {
        "a": "resolved", "c": "open"}
    assert set(sink.groups) == {"geo.anonymizer|b", "geo.anonymizer|c"}


def test_a_live_clock_behind_the_sinks_own_clock_notifies_once_and_returns():
    """The agent restarted on state saved ahead of its wall clock (a replay of later
    events, or the clock set back): a group due long before the saved clock is
    notified once, not again for every repeat interval it missed, nor re-stepped one
    float increment at a time (which never ended)."""
    import threading

    settings = AlertSettings(group_wait_s=0, repeat_interval_s=3600, resolve_after_s=30 * DAY)
    first = AlertSink(settings, deliver=False)
    Pipeline([Scripted()], sinks=[first]).run([event(1, "a", score=90)], T0)
    state = orjson.loads(first.snapshot())
    state["clock"] = T0 + 10 * DAY  # saved by a run that had seen later events
    sink = AlertSink(settings, deliver=False)
    sink.restore(orjson.dumps(state))
    pipeline = Pipeline([Scripted()], sinks=[sink])
    done: list[Batch] = []
    worker = threading.Thread(target=lambda: done.append(
        pipeline.run([event(2, "b", ts=T0 + 60)], T0 + 60)), daemon=True)
    worker.start()
    worker.join(timeout=20)
    assert done, "the sink kept stepping a due group"
    group = sink.groups["geo.anonymizer|a"]
    assert group.notified_at == T0 + 10 * DAY  # once, at the sink's own clock
    assert group.due > T0 + 10 * DAY
