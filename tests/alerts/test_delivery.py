"""Sink + outbox + sender against a real HTTP receiver: routing, grouping, repeats,
silences, the storm limit, an outage and a restart."""

from __future__ import annotations

from collections import Counter

from ottwatch.alerts.channels import load_channels
from ottwatch.alerts.sender import AlertSender
from ottwatch.alerts.store import create_silence, expire_silence, prepare_sink, refresh_sink
from tests.alerts.conftest import PASSWORD, ROUTE_TAGS, T0, Harness, Receiver, event, settings_for


def test_severity_routes_medium_to_chat_and_critical_everywhere(engine, receiver: Receiver):
    harness = Harness(engine, settings_for(receiver, min_level="medium"))
    harness.run([event(1, "u-medium", score=50), event(2, "u-critical", score=95),
                 event(3, "u-low", score=10)])
    outcomes = harness.sender([T0]).send_due_once()

    assert outcomes and all(o.ok for o in outcomes)
    alerts = {a["user_id"]: a for a in harness.alerts()}
    assert set(alerts) == {"u-medium", "u-critical"}  # low is below min_level: no alert
    medium, critical = alerts["u-medium"]["alert_id"], alerts["u-critical"]["alert_id"]
    assert receiver.alert_ids("chat") == Counter({medium: 1, critical: 1})
    for tag in ("email", "sms", "pager"):
        assert receiver.alert_ids(tag) == Counter({critical: 1})


def test_high_goes_to_chat_and_email_and_low_findings_are_logged_only(engine, receiver):
    from ottwatch.pipeline import Finding

    harness = Harness(engine, settings_for(receiver))
    batch = harness.pipeline.run([event(1, score=65)], T0)
    batch.findings.append(Finding("model.drift", "low", T0, "Model drift is low"))
    harness.sink.consume(batch)  # a finding a later stage raised: recorded, never sent
    harness.commit(batch)
    harness.sender([T0]).send_due_once()

    assert receiver.paths() == {"chat", "email"}
    assert {a["codes"][0] for a in harness.alerts()} == {"geo.anonymizer", "model.drift"}


def test_one_hundred_events_of_one_group_make_one_notification_with_count(engine, receiver):
    harness = Harness(engine, settings_for(receiver, group_wait_s=30.0))
    events = [event(n, ts=T0 + n * 0.2, score=60 + n % 30) for n in range(100)]
    for start in range(0, 100, 10):  # ten batches inside group_wait
        harness.run(events[start:start + 10])
    assert harness.deliveries() == []  # still waiting for the group
    harness.tick(T0 + 31)  # group_wait counts from the first batch (now T0 + 1.8)
    assert harness.deliveries() == []
    harness.tick(T0 + 32)
    harness.sender([T0 + 32]).send_due_once()

    [alert] = harness.alerts()
    assert alert["count"] == 100 and alert["status"] == "open"
    assert len(alert["event_ids"]) == harness.settings.max_event_ids
    [chat] = receiver.received("chat")
    assert len(receiver.received("email")) == 1
    assert "100 events" in chat["message"]
    assert chat["title"] == "[CRITICAL] geo.anonymizer — user u-1"
    top = chat["message"].split("Top 5 events by score", 1)[1]
    assert top.count("ev-") >= 5 and "score 89" in top  # the worst ones, worst first
    assert f"ottwatch tui --alert {alert['alert_id']}" in chat["message"]


def test_group_interval_sends_updates_and_repeat_interval_reminds(engine, receiver):
    harness = Harness(engine, settings_for(receiver, group_wait_s=30.0,
                                           group_interval_s=300.0, repeat_interval_s=3600.0,
                                           resolve_after_s=86_400.0))
    harness.run([event(1)])
    harness.tick(T0 + 30)  # first notification
    harness.run([event(2, ts=T0 + 60), event(3, ts=T0 + 90)])
    harness.tick(T0 + 200)  # inside group_interval: nothing new goes out
    assert len([d for d in harness.deliveries() if d["channel"].startswith("chat")]) == 1
    harness.tick(T0 + 330)  # group_interval after the first: one update with count 3
    harness.tick(T0 + 330 + 1800)  # no new events, before repeat_interval: nothing
    harness.tick(T0 + 330 + 3600)  # repeat_interval: a reminder
    chat = [d for d in harness.deliveries() if d["channel"].startswith("chat")]
    assert [d["created_at"] - T0 for d in chat] == [30, 330, 3930]
    harness.sender([T0 + 4000]).send_due_once()
    [alert] = harness.alerts()
    # One alert id; the three due rows of a channel go out as one notification of the
    # alert's current state.
    assert receiver.alert_ids("chat") == Counter({alert["alert_id"]: 1})
    assert "3 events" in receiver.received("chat")[0]["message"]


def test_an_episode_resolves_after_quiet_and_the_next_event_opens_a_new_alert(engine, receiver):
    harness = Harness(engine, settings_for(receiver, resolve_after_s=3600.0,
                                           group_interval_s=60.0))
    harness.run([event(1)])
    harness.tick(T0 + 3601)
    harness.run([event(2, ts=T0 + 4000)])
    first, second = harness.alerts()
    assert (first["status"], second["status"]) == ("resolved", "open")
    assert first["alert_id"] != second["alert_id"] and first["group_key"] == second["group_key"]
    assert first["updated_at"] == T0 + 3600


def test_silenced_alerts_are_recorded_not_sent_and_unsilence_sends_the_next(engine, receiver):
    harness = Harness(engine, settings_for(receiver))
    silence = create_silence(engine, {"user": "u-quiet"}, duration_s=3600, reason="known test",
                             actor="tester", now=T0 - 1)
    refresh_sink(harness.sink, engine, now=T0)
    harness.run([event(1, "u-quiet"), event(2, "u-loud")])
    harness.tick(T0 + 10)
    clock = [T0 + 10]
    harness.sender(clock).send_due_once()

    by_user = {a["user_id"]: a for a in harness.alerts()}
    assert by_user["u-quiet"]["status"] == "silenced" and by_user["u-loud"]["status"] == "open"
    assert set(receiver.alert_ids("chat")) == {by_user["u-loud"]["alert_id"]}

    expire_silence(engine, silence, actor="tester", now=T0 + 20)
    refresh_sink(harness.sink, engine, now=T0 + 20)
    harness.run([event(3, "u-quiet", ts=T0 + 30)])
    clock[0] = T0 + 30
    harness.sender(clock).send_due_once()
    quiet = next(a for a in harness.alerts() if a["user_id"] == "u-quiet")
    assert quiet["status"] == "open" and quiet["count"] == 2
    assert receiver.alert_ids("chat")[quiet["alert_id"]] == 1
    assert "2 events" in receiver.received("chat")[-1]["message"]


def test_a_silence_matches_any_label_with_globs_and_expires_by_time(engine, receiver):
    harness = Harness(engine, settings_for(receiver, min_level="medium"))
    create_silence(engine, {"code": "geo.*", "severity": "medium"}, duration_s=100,
                   reason="noisy geo", actor="tester", now=T0)
    refresh_sink(harness.sink, engine, now=T0)
    harness.run([event(1, "a", score=45), event(2, "b", score=45, code="auth.failure_burst"),
                 event(3, "c", score=70)])
    assert {a["user_id"]: a["status"] for a in harness.alerts()} == {
        "a": "silenced", "b": "open", "c": "open"}
    harness.tick(T0 + 101)  # the silence expired: `a` is notified now
    assert {a["user_id"]: a["status"] for a in harness.alerts()}["a"] == "open"
    chat_alerts = {d["alert_id"] for d in harness.deliveries() if d["channel"].startswith("chat")}
    assert len(chat_alerts) == 3


def test_acked_alerts_stop_notifying_until_they_get_worse(engine, receiver):
    from ottwatch.alerts.store import ack_alert

    harness = Harness(engine, settings_for(receiver, group_interval_s=60.0))
    harness.run([event(1, score=65)])
    [alert] = harness.alerts()
    ack_alert(engine, alert["alert_id"], actor="tester", now=T0 + 1)
    refresh_sink(harness.sink, engine, now=T0 + 1)
    harness.run([event(2, ts=T0 + 100, score=65)])  # as bad: recorded, not notified
    harness.tick(T0 + 4 * 3600 + 200)  # not even the repeat
    [alert] = harness.alerts()
    assert alert["status"] == "acked" and alert["count"] == 2
    assert len([d for d in harness.deliveries() if d["channel"].startswith("chat")]) == 1
    harness.run([event(3, ts=T0 + 4 * 3600 + 300, score=95)])  # worse: open and notified
    [alert] = harness.alerts()
    assert alert["status"] == "open" and alert["severity"] == "critical"
    assert {d["channel"].split("-")[0] for d in harness.deliveries()[-4:]} == set(ROUTE_TAGS)


def test_the_storm_limit_folds_the_rest_of_the_minute_into_one_digest(engine, receiver):
    harness = Harness(engine, settings_for(receiver, urls=receiver.entries(["chat"]),
                                           min_level="medium", storm_limit=3))
    harness.run([event(n, f"u-{n}", ts=T0 + n, score=45) for n in range(10)])
    states = Counter(d["state"] for d in harness.deliveries())
    assert states == Counter({"pending": 3, "digest": 7})
    clock = [T0 + 30]
    harness.sender(clock).send_due_once()
    assert len(receiver.received("chat")) == 3  # the digest waits for the minute's end
    clock[0] = T0 + 60
    harness.sender(clock).send_due_once()

    posts = receiver.received("chat")
    assert len(posts) == 4
    digest = posts[-1]
    assert digest["title"] == f"[MEDIUM] alerts.digest — 7 alerts held back on " \
                              f"{harness.channels[0].name}"
    ids = receiver.alert_ids("chat")
    assert len(ids) == 10 and set(ids.values()) == {1}
    assert {d["state"] for d in harness.deliveries()} == {"sent"}


def test_an_outage_then_errors_then_recovery_delivers_every_alert_once(engine, receiver):
    harness = Harness(engine, settings_for(receiver, retry_initial_s=10.0, retry_max_s=60.0))
    harness.run([event(n, f"u-{n}", ts=T0 + n) for n in range(5)])
    clock = [T0 + 5]
    sender = harness.sender(clock)

    receiver.refuse()
    assert not any(o.ok for o in sender.send_due_once())
    rows = harness.deliveries()
    assert {r["state"] for r in rows} == {"retrying"} and {r["attempts"] for r in rows} == {1}
    assert all(r["last_error"] and PASSWORD not in r["last_error"] for r in rows)
    assert all(T0 + 10 <= r["next_attempt_at"] <= T0 + 15 for r in rows)  # 10 s, jittered
    assert sender.send_due_once() == []  # nothing is due before its backoff

    receiver.status = 500
    receiver.listen()
    clock[0] = T0 + 16
    assert not any(o.ok for o in sender.send_due_once())
    rows = harness.deliveries()
    assert {r["attempts"] for r in rows} == {2} and receiver.refused_posts == len(rows)
    assert all("500" in r["last_error"] for r in rows)

    receiver.status = 200
    clock[0] = T0 + 16 + 20
    assert all(o.ok for o in sender.send_due_once())
    assert {r["state"] for r in harness.deliveries()} == {"sent"}
    alert_ids = {a["alert_id"] for a in harness.alerts()}
    for tag in ("chat", "email"):
        assert receiver.alert_ids(tag) == Counter({a: 1 for a in alert_ids})
    clock[0] += 3600
    assert sender.send_due_once() == []  # sent is sent: nothing twice
    # The sender's own count: each delivery retried twice, then sent, once.
    per_channel = Counter(r["channel"] for r in harness.deliveries())
    assert len(per_channel) == 2
    assert sender.tally == {(name, outcome): n * times for name, n in per_channel.items()
                            for outcome, times in (("retrying", 2), ("sent", 1))}


def test_a_delivery_fails_for_good_once_it_has_retried_until_expiry(engine, receiver):
    harness = Harness(engine, settings_for(receiver, urls=receiver.entries(["chat"]),
                                           delivery_expiry_s=100.0, retry_initial_s=30.0))
    harness.run([event(1)])
    receiver.refuse()
    clock = [T0 + 1]
    sender = harness.sender(clock)
    sender.send_due_once()
    clock[0] = T0 + 102
    sender.send_due_once()
    [row] = harness.deliveries()
    assert row["state"] == "failed" and row["attempts"] == 2
    assert sender.tally == {(row["channel"], "retrying"): 1, (row["channel"], "failed"): 1}
    clock[0] += 10_000
    assert sender.send_due_once() == []


def test_pending_deliveries_survive_a_restart_and_a_new_sender_sends_them(engine, receiver):
    settings = settings_for(receiver)
    first = Harness(engine, settings)
    first.run([event(n, f"u-{n}") for n in range(3)])
    assert {d["state"] for d in first.deliveries()} == {"pending"}

    # A new process: channels loaded again from the same settings, a new sender.
    sender = AlertSender(engine, settings, load_channels(settings), clock=lambda: T0 + 60)
    assert all(o.ok for o in sender.send_due_once())
    ids = {a["alert_id"] for a in first.alerts()}
    assert receiver.alert_ids("chat") == Counter({a: 1 for a in ids})
    assert {d["state"] for d in first.deliveries()} == {"sent"}


def test_a_restarted_sink_continues_its_episodes_and_its_outbox_ids(engine, receiver):
    from storage.queries import load_stage_states

    settings = settings_for(receiver, group_wait_s=30.0)
    first = Harness(engine, settings)
    first.run([event(1, "u-1")])
    first.tick(T0 + 30)  # notified; the pipeline saves snapshots at most every 30 s
    first.run([event(2, "u-2", ts=T0 + 40)])  # so these are only in the alert rows
    highest = max(d["id"] for d in first.deliveries())

    second = Harness(engine, settings)
    second.pipeline.restore(load_stage_states(engine))
    prepare_sink(second.sink, engine, now=T0 + 41)
    second.run([event(3, "u-1", ts=T0 + 50), event(4, "u-2", ts=T0 + 50)])
    second.tick(T0 + 400)

    alerts = {a["user_id"]: a for a in second.alerts()}
    assert len(second.alerts()) == 2
    assert alerts["u-1"]["count"] == 2 and alerts["u-2"]["count"] == 2
    new_ids = [d["id"] for d in second.deliveries() if d["id"] > highest]
    assert new_ids and len(second.deliveries()) == len({d["id"] for d in second.deliveries()})


def test_a_backlog_of_old_events_is_still_notified_on_wall_time(engine, receiver):
    """The agent catching up days of logs: event times are old, `now` is the wall."""
    harness = Harness(engine, settings_for(receiver, group_wait_s=30.0))
    wall = T0 + 10 * 86_400
    harness.run([event(1, "u-1", ts=T0 - 3600)], now=wall - 60)
    harness.run([event(2, "u-2", ts=T0)], now=wall)
    harness.tick(wall + 31)
    assert {a["user_id"]: a["status"] for a in harness.alerts()} == {"u-1": "open",
                                                                     "u-2": "open"}
    assert {d["alert_id"] for d in harness.deliveries()} == {a["alert_id"]
                                                             for a in harness.alerts()}
    harness.tick(wall + 86_400 + 60)  # a day of wall time later they resolve
    assert {a["status"] for a in harness.alerts()} == {"resolved"}


def test_overrides_route_by_code_regulation_or_segment_first_match_wins(engine, receiver):
    from ottwatch.alerts.settings import RouteOverride
    from ottwatch.pipeline import Batch, Finding

    overrides = [
        RouteOverride(name="dpo", code="regulation.*", regulation="GDPR", high=["dpo"]),
        RouteOverride(name="vip", segment="power", high=["pager"]),
        RouteOverride(name="late", code="regulation.*", high=["email"]),
    ]
    harness = Harness(engine, settings_for(
        receiver, urls=receiver.entries(["chat", "email", "pager", "dpo"]), overrides=overrides))
    harness.run([event(1, "u-power", score=65, segment="power"),
                 event(2, "u-normal", score=65, segment="normal")])
    batch = Batch(events=[], now=T0)
    batch.findings += [
        Finding("regulation.dsar_overdue", "high", T0, "DSAR q-1 missed", user_id="u-1",
                request_id="q-1", regulation="GDPR"),
        Finding("regulation.dsar_overdue", "high", T0, "DSAR q-2 missed", user_id="u-2",
                request_id="q-2", regulation="CCPA"),
    ]
    harness.sink.consume(batch)
    harness.commit(batch)
    harness.sender([T0]).send_due_once()

    ids = {a["request_id"] or a["user_id"]: a["alert_id"] for a in harness.alerts()}
    assert set(receiver.alert_ids("dpo")) == {ids["q-1"]}
    assert set(receiver.alert_ids("pager")) == {ids["u-power"]}
    assert set(receiver.alert_ids("email")) == {ids["q-2"], ids["u-normal"]}
    assert set(receiver.alert_ids("chat")) == {ids["u-normal"]}  # high: chat + email


def test_channels_come_from_an_apprise_yaml_config_file_too(engine, receiver, tmp_path):
    import pytest

    from ottwatch.alerts.channels import ChannelError
    from ottwatch.alerts.settings import AlertSettings

    config = tmp_path / "apprise.yml"
    config.write_text(f"version: 1\nurls:\n  - {receiver.url('pager')}:\n"
                      f"    - tag: pager, sms\n", encoding="utf-8")
    settings = AlertSettings(urls=[f"chat={receiver.url('chat')}"], config_file=str(config))
    [chat, pager] = load_channels(settings)
    assert chat.tags == {"chat"} and pager.tags == {"pager", "sms"}
    assert PASSWORD not in repr(pager) and PASSWORD not in pager.describe()
    with pytest.raises(ChannelError, match="no such file"):
        load_channels(AlertSettings(config_file=str(tmp_path / "missing.yml")))


def test_run_alerting_refreshes_silences_and_sends_until_stopped(engine, receiver):
    import asyncio
    import time

    from ottwatch.alerts.service import run_alerting

    harness = Harness(engine, settings_for(receiver, refresh_s=0.05, sender_poll_s=0.05))
    create_silence(engine, {"user": "u-quiet"}, duration_s=3600, reason="r", actor="t")

    async def scenario() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(run_alerting(engine, harness.sink, stop, send=True))
        deadline = time.monotonic() + 20
        while not harness.sink.silences and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        await asyncio.to_thread(harness.run, [event(1, "u-quiet", ts=time.time()),
                                              event(2, "u-loud", ts=time.time())])
        while not receiver.alert_ids("email") and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        stop.set()
        await asyncio.wait_for(task, 20)

    asyncio.run(scenario())
    by_user = {a["user_id"]: a for a in harness.alerts()}
    assert by_user["u-quiet"]["status"] == "silenced"
    assert set(receiver.alert_ids("email")) == {by_user["u-loud"]["alert_id"]}
