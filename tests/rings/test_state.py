from __future__ import annotations

import orjson

from ottwatch.pipeline import Pipeline
from ottwatch.rings import RingScoreSink, RingStage

from .helpers import (
    RING_DEVICE,
    START,
    background,
    event,
    members,
    nat_crowd,
    new_stage,
    ring,
    run,
)


def edges(stage: RingStage) -> set[tuple[str, str, float]]:
    """The strong user–user edges and their strengths."""
    return {(a, b, data["weight"]) for a, b, data in stage.graph.strong.edges(data=True)}


def uses(stage: RingStage) -> set[tuple[str, tuple[str, str], float, bool]]:
    graph = stage.graph
    return {(user, resource, ts, (user, resource) in graph.trials)
            for resource, holders in graph.holders.items() for user, ts in holders.items()}


def test_snapshot_and_restore_give_the_same_rings() -> None:
    stage = new_stage()
    crew = members("crew", 8)
    run(stage, [*background(100), *ring(crew), *nat_crowd(80)])
    data = stage.snapshot()

    restored = RingStage(stage.settings)
    restored.restore(data)
    assert restored.rings.keys() == stage.rings.keys()
    assert restored.graph.users == stage.graph.users
    assert restored.graph.resources == stage.graph.resources
    assert restored.graph.crowded == stage.graph.crowded
    assert restored.graph.ties == stage.graph.ties
    assert uses(restored) == uses(stage) and uses(stage)
    assert {frozenset(e[:2]) for e in edges(restored)} == {frozenset(e[:2]) for e in edges(stage)}
    assert edges(stage)

    again = run(restored, [event("crew-00", START + 500)])
    assert again.findings == []  # the ring is known: same id, no new finding
    assert again.reasons[0][0].code == "ring.member"
    [ring_id] = restored.rings
    assert again.reasons[0][0].detail.startswith(f"member of ring {ring_id} ")


def test_a_restored_ring_keeps_growing_under_its_id() -> None:
    stage = new_stage()
    crew = members("crew", 10)
    run(stage, ring(crew[:6]))
    [ring_id] = stage.rings
    restored = RingStage(stage.settings)
    restored.restore(stage.snapshot())
    batch = run(restored, ring(crew[6:], START + 60))
    assert [f.title for f in batch.findings] == [f"Ring {ring_id} grew to 10"]


def test_the_snapshot_is_compact_json() -> None:
    stage = new_stage()
    run(stage, [*background(1000), *ring(members("crew", 8))])
    data = stage.snapshot()
    state = orjson.loads(data)
    held = sum(len(holders) for holders in stage.graph.holders.values())
    assert len(state["graph"]["holders"]) == 4 * held
    assert len(state["graph"]["ties"]) == 4 * sum(map(len, stage.graph.ties.values()))
    assert len(data) < 200 * len(stage.graph.users)


def test_an_unknown_snapshot_version_starts_empty() -> None:
    stage = RingStage()
    stage.restore(orjson.dumps({"v": 999}))
    assert stage.rings == {} and not stage.graph.users


def test_state_is_bounded_past_every_cap() -> None:
    stage = new_stage(max_users=100, max_resources=150, max_resources_per_user=3, degree_cap=5)
    events = []
    for n in range(2000):
        user = f"u-{n:05d}"
        events += [event(user, START + n, device_id=f"d-{n % 700}", ip_address=f"10.0.{k}.{n % 9}")
                   for k in range(6)]
    events += nat_crowd(300, START + 3000)
    run(stage, events, START + 4000)

    graph = stage.graph
    assert len(graph.users) <= 100
    assert len(graph.resources) <= 150
    assert graph.crowded <= set(graph.resources)
    assert all(len(holders) <= 5 for holders in graph.holders.values())
    assert all(len(held) <= 3 for held in graph.held.values())
    assert set(graph.holders) <= set(graph.resources) - graph.crowded
    assert {u for holders in graph.holders.values() for u in holders} <= set(graph.users)
    assert set(graph.strong) <= set(graph.users)


def test_the_pipeline_saves_state_and_feeds_member_scores() -> None:
    stage = new_stage(snapshot_interval_s=0, detect_interval_s=60)
    pipeline = Pipeline([stage], sinks=[RingScoreSink(stage)], persist_every_s=0)
    crew = members("crew", 8)
    assert pipeline.run(list(ring(crew)), now=START + 10).findings == []
    first = pipeline.tick(START + 60)  # the boundary passes with the agent idle
    assert first.findings and first.upserts["rings"]
    [state] = first.upserts["stage_state"]
    assert state["name"] == "rings" and orjson.loads(state["state"])["rings"]

    later = pipeline.run([event("crew-01", START + 100, "purchase")], now=START + 100)
    [assessment] = later.assessments
    assert [r.code for r in assessment.reasons] == ["ring.member"]
    assert stage.scores["crew-01"] == 0.0  # its own ring.member weight is left out


def test_member_scores_feed_the_next_pass() -> None:
    from ottwatch.pipeline import Assessment, Batch

    stage = new_stage()
    crew = members("crew", 8)
    run(stage, ring(crew))
    [before] = stage.rings.values()
    scored = Batch(events=[], now=START + 100)
    scored.assessments = [Assessment(event_id=f"a-{m}", user_id=m, ts=START, timestamp="",
                                     score=90.0, level="critical", decision="block",
                                     threshold=50.0, reasons=[]) for m in crew]
    RingScoreSink(stage).consume(scored)
    # the ring is described again when it changes: a ninth account joins
    batch = run(stage, ring(["crew-08"], START + 200))
    [after] = stage.rings.values()
    assert after.row["risk"] > before.row["risk"]
    assert rows_risk(batch) == after.row["risk"]


def rows_risk(batch) -> float:
    [row] = batch.upserts["rings"]
    return row["risk"]


def test_state_is_saved_when_rings_change_else_at_the_interval() -> None:
    from ottwatch.pipeline import Batch

    stage = new_stage(snapshot_interval_s=3 * 3600, detect_interval_s=60)
    crew = members("crew", 8)
    arrived = Batch(events=list(ring(crew)), now=START + 10)
    stage.process(arrived)
    founded = Batch(events=[], now=START + 60)
    stage.tick(founded)
    assert founded.findings and stage.dirty
    stage.snapshot()
    stage.dirty = False

    # two members use the shared device two hours later: their tie is renewed, so a pass
    # runs (the row's last_seen moves) but no ring changes shape
    renewed = START + 7200
    active = Batch(events=[event(m, renewed + n, "play", device_id=RING_DEVICE)
                           for n, m in enumerate(crew[:2])], now=renewed + 70)
    stage.process(active)
    stage.tick(active)
    [row] = active.upserts["rings"]
    assert row["last_seen"] == renewed and not stage.dirty

    later = Batch(events=[event("crew-01", START + 3 * 3600 + 60, "play")],
                  now=START + 3 * 3600 + 60)
    stage.process(later)
    stage.tick(later)
    assert stage.dirty
