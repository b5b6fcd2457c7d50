from __future__ import annotations

import pytest
from scoring_helpers import DAY, NOON, make_event

from ottwatch.events import Event
from ottwatch.pipeline import Batch, Pipeline
from ottwatch.stages.segments import (
    SEGMENTS,
    SegmentSettings,
    SegmentStage,
    segment_counts,
    segment_stats,
)
from storage.tables import UserStateRow

USER_STATE_COLUMNS = {c.name for c in UserStateRow.__table__.columns}


def run(stage: SegmentStage, events: list[Event], weights: list[float] | None = None) -> Batch:
    batch = Batch(events=events, now=max((e.ts for e in events), default=NOON))
    for index, weight in enumerate(weights or []):
        if weight:
            batch.add(index, "test.reason", weight, "from an earlier stage")
    stage.process(batch)
    return batch


def one(stage: SegmentStage, event_id: str, ts: float, user: str = "u1",
        weight: float = 0.0, **fields: object) -> str:
    batch = run(stage, [make_event(event_id, user, ts, **fields)], [weight])
    return batch.columns["segment"][0]


def test_new_then_normal_then_dormant_then_normal_again() -> None:
    stage = SegmentStage()
    seen = [one(stage, f"d{day}", NOON + day * DAY) for day in range(35)]
    assert seen[:30] == ["new"] * 30  # under 30 days old, under 50 events
    assert seen[30:] == ["normal"] * 5
    back = NOON + 34 * DAY + 95 * DAY
    assert one(stage, "back", back) == "dormant"
    assert one(stage, "next", back + 3600) == "normal"
    state = stage.users["u1"]
    assert state.events_30d == 2  # the 30-day window restarted with the return
    assert state.first_seen == NOON and state.last_seen == back + 3600


def test_inactive_after_30_silent_days_but_not_yet_dormant() -> None:
    stage = SegmentStage()
    one(stage, "a", NOON)
    assert one(stage, "b", NOON + 31 * DAY) == "inactive"
    assert one(stage, "c", NOON + 31 * DAY + 60) == "normal"  # 31 days old: not new
    young = SegmentStage(SegmentSettings(new_age_days=60))
    one(young, "a", NOON)
    assert one(young, "b", NOON + 31 * DAY) == "inactive"  # silence wins over new
    assert one(young, "c", NOON + 31 * DAY + 60) == "new"


def test_new_ends_at_50_events() -> None:
    stage = SegmentStage()
    seen = [one(stage, f"e{i}", NOON + i) for i in range(51)]
    assert seen[48] == "new"
    assert seen[49] == "normal" and seen[50] == "normal"


def test_suspicious_after_five_violations_in_30_days() -> None:
    stage = SegmentStage()
    seen = [one(stage, f"v{i}", NOON + i * 3600, weight=60.0) for i in range(5)]
    assert seen == ["new"] * 4 + ["suspicious"]
    assert stage.users["u1"].violations_30d == 5


def test_weak_reasons_are_not_violations_and_min_weight_is_configurable() -> None:
    stage = SegmentStage()
    seen = [one(stage, f"w{i}", NOON + i, weight=49.9) for i in range(6)]
    assert "suspicious" not in seen and stage.users["u1"].violations_30d == 0
    strict = SegmentStage(SegmentSettings(violation_min_weight=40, suspicious_violations=2))
    assert [one(strict, f"s{i}", NOON + i, weight=45) for i in range(2)] == ["new", "suspicious"]


def test_violations_leave_the_window_after_30_days() -> None:
    stage = SegmentStage()
    for i in range(5):
        one(stage, f"v{i}", NOON + i, weight=80)
    assert one(stage, "later", NOON + 29 * DAY) == "suspicious"
    assert one(stage, "much-later", NOON + 30 * DAY + 10) == "normal"
    assert stage.users["u1"].violations_30d == 0
    assert stage.users["u1"].violations_total == 5


def test_power_user_needs_volume_age_and_a_clean_record() -> None:
    stage = SegmentStage()
    first = NOON - 200 * DAY
    one(stage, "first", first)
    start = NOON - 20 * DAY
    events = [make_event(f"p{i}", "u1", start + i * 1700) for i in range(1000)]
    batch = run(stage, events)
    assert batch.columns["segment"][-1] == "power"
    assert batch.columns["segment"][997] == "normal"  # 999 events in 30 days so far
    assert one(stage, "bad", start + 1000 * 1700, weight=90) == "normal"


def test_young_account_is_never_power() -> None:
    stage = SegmentStage()
    events = [make_event(f"p{i}", "u1", NOON + i * 60) for i in range(1200)]
    assert run(stage, events).columns["segment"][-1] == "normal"


def test_out_of_order_events_count_inside_the_window_only() -> None:
    stage = SegmentStage()
    one(stage, "now", NOON)
    one(stage, "earlier", NOON - 3 * DAY)
    one(stage, "ancient", NOON - 40 * DAY)
    state = stage.users["u1"]
    assert state.events_30d == 2 and state.events_total == 3
    assert state.first_seen == NOON - 40 * DAY and state.last_seen == NOON
    assert [d[0] for d in state.days] == sorted(d[0] for d in state.days)


def test_one_upsert_per_user_per_batch_with_every_user_state_column() -> None:
    stage = SegmentStage()
    events = [make_event("a1", "alice", NOON), make_event("b1", "bob", NOON + 1),
              make_event("a2", "alice", NOON + 2, event_type="consent_withdrawn"),
              make_event("a3", "alice", NOON + 3, has_consent=None)]
    batch = run(stage, events, [0, 0, 70, 0])
    rows = batch.upserts["user_state"]
    assert sorted(r["user_id"] for r in rows) == ["alice", "bob"]
    alice = next(r for r in rows if r["user_id"] == "alice")
    assert set(alice) == USER_STATE_COLUMNS - {"id"}
    assert alice["events_30d"] == 3 and alice["violations_30d"] == 1
    assert alice["consent"] is False and alice["last_seen"] == NOON + 3
    assert alice["state"]["events_total"] == 3
    assert batch.columns["segment"] == ["new", "new", "new", "new"]
    assert run(stage, []).upserts == {}


def test_consent_follows_the_latest_event() -> None:
    stage = SegmentStage()
    one(stage, "c1", NOON, has_consent=True)
    assert stage.users["u1"].consent is True
    one(stage, "c2", NOON + 1, event_type="consent_withdrawn")
    assert stage.users["u1"].consent is False
    one(stage, "c3", NOON + 2)
    assert stage.users["u1"].consent is False
    one(stage, "c4", NOON + 3, event_type="consent_granted")
    assert stage.users["u1"].consent is True


def test_user_map_is_lru_bounded() -> None:
    stage = SegmentStage(SegmentSettings(max_users=3))
    for i, user in enumerate(["a", "b", "c"]):
        one(stage, f"e{i}", NOON + i, user=user)
    one(stage, "a-again", NOON + 10, user="a")  # "a" is now the most recent
    one(stage, "d", NOON + 11, user="d")
    assert list(stage.users) == ["c", "a", "d"]
    assert stage.evicted == 1


def test_snapshot_restore_round_trip_continues_identically() -> None:
    settings = SegmentSettings(max_users=50)
    original = SegmentStage(settings)
    for i in range(300):
        one(original, f"e{i}", NOON + i * 7 * 3600, user=f"u{i % 7}", weight=60 if i % 11 == 0 else 0)
    copy = SegmentStage(settings)
    copy.restore(original.snapshot())
    assert list(copy.users) == list(original.users)
    for uid, state in original.users.items():
        assert copy.users[uid].to_list(uid) == state.to_list(uid)
        assert copy.users[uid].events_30d == state.events_30d
        assert copy.users[uid].violations_30d == state.violations_30d
    later = NOON + 400 * 7 * 3600
    for i in range(40):
        ts = later + i * 5 * DAY
        assert one(copy, f"x{i}", ts, user=f"u{i % 7}", weight=60 if i % 3 == 0 else 0) == \
            one(original, f"x{i}", ts, user=f"u{i % 7}", weight=60 if i % 3 == 0 else 0)
    assert copy.counts() == original.counts()


def test_restore_rejects_another_version() -> None:
    import zlib

    import orjson

    with pytest.raises(ValueError, match="version"):
        SegmentStage().restore(zlib.compress(orjson.dumps({"v": 99, "users": []})))


def test_snapshots_are_throttled_and_persisted_by_the_pipeline() -> None:
    stage = SegmentStage(SegmentSettings(snapshot_interval_s=60, row_every_s=0))
    pipeline = Pipeline([stage], persist_every_s=0)
    first = pipeline.run([make_event("a", ts=NOON)], NOON)
    assert [r["name"] for r in first.upserts["stage_state"]] == ["segments"]
    assert not stage.dirty
    soon = pipeline.run([make_event("b", ts=NOON + 10)], NOON + 10)
    assert "stage_state" not in soon.upserts and "user_state" in soon.upserts
    idle = pipeline.tick(NOON + 61)
    assert [r["name"] for r in idle.upserts["stage_state"]] == ["segments"]
    restored = SegmentStage()
    restored.restore(idle.upserts["stage_state"][0]["state"])
    assert restored.users["u1"].events_total == 2
    assert "stage_state" not in pipeline.tick(NOON + 500).upserts  # nothing new to save


def test_user_rows_are_written_on_change_or_at_most_every_interval() -> None:
    stage = SegmentStage(SegmentSettings(row_every_s=300))
    written = []
    for offset in (0, 10, 20, 400, 410):
        batch = Batch(events=[make_event(f"e{offset}", ts=NOON + offset)], now=NOON + offset)
        stage.process(batch)
        written.append(len(batch.upserts.get("user_state", [])))
    assert written == [1, 0, 0, 1, 0]
    withdrawn = make_event("w", ts=NOON + 420, event_type="consent_withdrawn", has_consent=False)
    batch = Batch(events=[withdrawn], now=NOON + 420)
    stage.process(batch)
    assert batch.upserts["user_state"][0]["consent"] is False  # a change is written at once


def test_segment_counts_and_stats() -> None:
    stage = SegmentStage()
    one(stage, "a", NOON, user="a")
    for i in range(5):
        one(stage, f"b{i}", NOON + i, user="b", weight=90)
    assert stage.counts() == {**dict.fromkeys(SEGMENTS, 0), "new": 1, "suspicious": 1}
    assert list(segment_counts(["odd", "new"])) == [*SEGMENTS, "odd"]
    stats = segment_stats({"new": 3, "power": 1})
    assert [s.segment for s in stats] == list(SEGMENTS)
    assert {s.segment: s.share for s in stats if s.users} == {"new": 0.75, "power": 0.25}
    assert all(s.share == 0 for s in segment_stats({}))
