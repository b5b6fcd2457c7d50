"""Rings on the realistic stream (60 days, 1,500 users: ISP pools, carrier NAT,
households sharing a TV, travellers, attackers): every planted farm is found whole, and
no ring is made of pool, NAT or household ties."""

from __future__ import annotations

import pytest

from fixtures.realistic import StreamSpec, Truth, realistic_lines
from ottwatch.events import Event, parse_line
from ottwatch.pipeline import Batch
from ottwatch.rings import RingStage

pytestmark = pytest.mark.slow


def rings_over(seed: int) -> tuple[dict[str, list[set[str]]], Truth]:
    """Every membership each ring had (its rows as upserted), and the stream's truth."""
    truth = Truth()
    events = [parse_line(line) for line in
              realistic_lines(StreamSpec(users=1500, days=60, seed=seed), truth)]
    assert all(isinstance(e, Event) for e in events)
    stage = RingStage()
    seen: dict[str, list[set[str]]] = {}
    for start in range(0, len(events), 2000):
        part = events[start:start + 2000]
        batch = Batch(events=part, now=part[-1].ts)  # type: ignore[arg-type]
        stage.process(batch)
        stage.tick(batch)
        for row in batch.upserts.get("rings", []):
            seen.setdefault(row["ring_id"], []).append(set(row["members"]))
    return seen, truth


def jaccard(a: set[str], b: set[str]) -> float:
    return len(a & b) / len(a | b)


@pytest.mark.parametrize("seed", [7, 11])
def test_every_farm_is_found_whole_and_every_ring_is_a_farm(seed: int) -> None:
    seen, truth = rings_over(seed)
    farms = [set(farm["users"]) for farm in truth.of_kind("account_farm")]
    assert len(farms) >= 5
    assert any(farm.get("later_members") for farm in truth.of_kind("account_farm"))
    for farm in farms:
        best = max(jaccard(farm, members) for history in seen.values() for members in history)
        assert best >= 0.8, sorted(farm)
    for ring_id, history in seen.items():
        for members in history:  # every shape the ring took is mostly one farm
            assert max(len(members & farm) for farm in farms) >= 0.8 * len(members), ring_id
