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


def edges(stage: RingStage) -> set[tuple[str, tuple[str, str], float, bool]]:
    out = set()
    for a, b, data in stage.graph.graph.edges(data=True):
        user, resource = (a, b) if isinstance(a, str) else (b, a)
        out.add((user, resource, data["t"], data.get("trial", False)))
    return out


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
    assert edges(restored) == edges(stage) and edges(stage)

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
    assert len(state["graph"]["edges"]) == 4 * stage.graph.edge_count
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
    for node, edges in graph.graph.adjacency():
        if isinstance(node, tuple):
            assert len(edges) <= 5
        else:
            assert len(edges) <= 3
    assert set(graph.graph.nodes) == set(graph.users) | (set(graph.resources) - graph.crowded)


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
    batch = run(stage, [event("crew-00", START + 200, device_id="dev-crew-00-phone")])
    [after] = stage.rings.values()
    assert after.row["risk"] > before.row["risk"]
    assert rows_risk(batch) == after.row["risk"]


def rows_risk(batch) -> float:
    [row] = batch.upserts["rings"]
    return row["risk"]


def test_state_is_saved_when_rings_change_else_at_the_interval() -> None:
    from ottwatch.pipeline import Batch

    stage = new_stage(snapshot_interval_s=300, detect_interval_s=60)
    crew = members("crew", 8)
    arrived = Batch(events=list(ring(crew)), now=START + 10)
    stage.process(arrived)
    founded = Batch(events=[], now=START + 60)
    stage.tick(founded)
    assert founded.findings and stage.dirty
    stage.snapshot()
    stage.dirty = False

    active = Batch(events=[event("crew-00", START + 130, "play", device_id=RING_DEVICE)],
                   now=START + 130)
    stage.process(active)
    stage.tick(active)  # a pass ran (the row's last_seen moved) but no ring changed shape
    assert active.upserts["rings"] and not stage.dirty

    later = Batch(events=[event("crew-01", START + 400, "play")], now=START + 400)
    stage.process(later)
    stage.tick(later)
    assert stage.dirty
