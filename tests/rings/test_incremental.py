"""Incremental ring detection against references: a pass from scratch at every
boundary, the same input batched differently, and ties computed by brute force."""

from __future__ import annotations

from collections.abc import Sequence
from itertools import combinations
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from ottwatch.events import Event
from ottwatch.pipeline import Batch
from ottwatch.rings import RingSettings, RingStage
from ottwatch.rings.graph import TIE_TIME_STEPS

from .helpers import START, event, members

# Small caps and windows, so that eviction, crowding, expiry and Louvain splits all
# happen within a few dozen events.
SMALL = {"window_days": 1.0, "ip_tie_window_s": 3600, "degree_cap": 5, "ip_degree_cap": 4,
         "ip_burst_users": 2, "min_ring_size": 3, "louvain_above": 5, "detect_interval_s": 600,
         "max_users": 9, "max_resources": 14, "max_resources_per_user": 3,
         "snapshot_interval_s": 0}
GAPS = (0, 1, 40, 700, 3000, 5000, 20_000, 90_000, -900)


class FromScratch(RingStage):
    """Every boundary runs a full pass over every group, whether or not anything
    changed: what the incremental passes must always agree with."""

    def _boundary(self, batch: Batch, now: float) -> None:
        self.detect(batch, now=now, full=True)


step = st.tuples(st.sampled_from(GAPS), st.integers(0, 11), st.integers(-1, 4),
                 st.integers(-1, 5), st.integers(-1, 3), st.booleans())


def stream(steps: Sequence[tuple[int, int, int, int, int, bool]]) -> list[Event]:
    events, ts = [], START
    for gap, user, device, ip, card, trial in steps:
        ts += gap
        fields: dict[str, Any] = {}
        if device >= 0:
            fields["device_id"] = f"dev-{device}"
        if ip >= 0:
            fields["ip_address"] = f"10.0.0.{ip}"
        if card >= 0:
            fields["payment_fingerprint"] = f"pm-card-000{card}"
        events.append(event(f"u{user:02d}", ts, "trial_start" if trial else "play", **fields))
    return events


def replay(stage: RingStage, events: list[Event], sizes: Sequence[int]) -> dict[str, Any]:
    """Everything the stage emits, batch by batch, in a form two runs can compare."""
    findings, rows, reasons = [], [], []
    start, turn = 0, 0
    while start < len(events):
        size = sizes[turn % len(sizes)]
        part = events[start:start + size]
        start, turn = start + size, turn + 1
        batch = Batch(events=part, now=max(e.ts for e in part))
        stage.process(batch)
        stage.tick(batch)
        findings += [(f.title, f.ring_id, f.severity, f.ts, f.detail) for f in batch.findings]
        rows += batch.upserts.get("rings", [])
        reasons += [[(r.code, r.weight, r.detail) for r in rs] for rs in batch.reasons]
    return {"findings": findings, "rows": rows, "reasons": reasons,
            "rings": {rid: sorted(known.members) for rid, known in stage.rings.items()}}


SAME = (0, 0, 0, 0, 0, False)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps=st.lists(step, min_size=1, max_size=90),
       sizes=st.lists(st.integers(1, 40), min_size=1, max_size=4))
# a trial on a resource already tied: the ring's trial count changes, no tie does
@example(steps=[SAME] * 4 + [(0, 1, 0, 0, 0, False), (0, 2, 0, 0, 0, False),
                             (700, 0, 0, 0, 0, False), (0, 0, 0, 0, 0, True),
                             (700, 0, 0, 0, 0, False)], sizes=[1])
# a ring split by Louvain loses members that were not touched themselves
@example(steps=[SAME] * 13 + [(0, 0, 0, 0, 2, False), (0, 1, 0, 0, 0, False),
                              (0, 2, 3, 0, 0, False), (0, 3, 0, 0, 0, False),
                              (0, 4, 3, 0, 1, False), (0, 5, 3, 0, 0, False),
                              (700, 0, 0, 0, 0, False), (700, 0, 0, 0, 0, False)], sizes=[1])
def test_incremental_passes_equal_passes_from_scratch_whatever_the_batching(
        steps: list, sizes: list[int]) -> None:
    events = stream(steps)
    reference = replay(FromScratch(RingSettings(**SMALL)), events, [len(events)])
    assert replay(RingStage(RingSettings(**SMALL)), events, [len(events)]) == reference
    assert replay(RingStage(RingSettings(**SMALL)), events, sizes) == reference


@pytest.mark.slow
@settings(max_examples=150, deadline=None)
@given(steps=st.lists(step, min_size=1, max_size=60), cut=st.integers(1, 59))
# A ring that lost a member before the cut: restored, it must not take it back.
@example(steps=[(0, 0, 0, 0, 0, False)] * 5 + [(0, 1, 0, 0, 1, False), (0, 3, 0, 0, 0, False),
                (0, 4, 0, 0, 0, False), (0, 5, 0, 0, 0, False), (700, 0, 0, 0, 0, False),
                (0, 2, 0, 0, 0, False), (700, 0, 0, 0, 0, False), (0, 0, 0, 0, 0, False)],
         cut=12)
def test_a_restored_stage_carries_on_as_if_never_stopped(steps: list, cut: int) -> None:
    events = stream(steps)
    cut = min(cut, len(events))
    whole = replay(RingStage(RingSettings(**SMALL)), events, [1])

    first = RingStage(RingSettings(**SMALL))
    before = replay(first, events[:cut], [1])
    second = RingStage(RingSettings(**SMALL))
    second.restore(first.snapshot())
    after = replay(second, events[cut:], [1]) if cut < len(events) else before
    if cut < len(events):
        assert before["findings"] + after["findings"] == whole["findings"]
        assert before["reasons"] + after["reasons"] == whole["reasons"]
    assert after["rings"] == whole["rings"]


def brute_force_ties(events: list[Event], reach: dict[str, float], window: float
                     ) -> dict[tuple[str, str], dict[tuple[str, str], float]]:
    """For events in time order: each pair's resources and their best shared-use time
    (the earlier of two uses within reach of each other, the latest such), of the ties
    still within the window at the end."""
    uses: dict[tuple[str, str], list[tuple[str, float]]] = {}
    for e in events:
        for kind, value in (("device", e.device_id), ("ip", e.ip_address),
                            ("payment", e.payment_fingerprint)):
            if value is not None:
                uses.setdefault((kind, value), []).append((e.user_id, e.ts))
    clock = max(e.ts for e in events)
    ties: dict[tuple[str, str], dict[tuple[str, str], float]] = {}
    for resource, used in uses.items():
        for (u, tu), (v, tv) in combinations(used, 2):
            if u == v or abs(tu - tv) > reach[resource[0]]:
                continue
            pair = (u, v) if u < v else (v, u)
            best = ties.setdefault(pair, {})
            best[resource] = max(best.get(resource, float("-inf")), min(tu, tv))
    return {pair: {r: t for r, t in tied.items() if t >= clock - window}
            for pair, tied in ties.items() if any(t >= clock - window for t in tied.values())}


@settings(max_examples=200, deadline=None)
@given(steps=st.lists(step, min_size=2, max_size=80))
def test_ties_are_the_pairs_that_used_a_resource_close_together(steps: list) -> None:
    """Without caps or crowding, in time order: the graph's ties are exactly the brute
    force's, up to the resolution of a tie's time."""
    ordered = [s for s in steps if s[0] >= 0]
    if not ordered:
        return
    events = stream(ordered)
    roomy = {**SMALL, "max_users": 1000, "max_resources": 1000, "max_resources_per_user": 100,
             "degree_cap": 1000, "ip_degree_cap": 1000, "ip_burst_users": 1000}
    stage = RingStage(RingSettings(**roomy))
    stage.graph.observe(events, events[-1].ts)
    stage.graph.expire()
    window = stage.settings.window_s
    resolution = window / TIE_TIME_STEPS
    expected = brute_force_ties(events, {"ip": 3600.0, "device": window, "payment": window},
                                window)
    clock = stage.graph.clock
    found = stage.graph.ties
    for pair, tied in expected.items():
        for resource, best in tied.items():
            if best >= clock - window + resolution:  # well inside the window: kept
                assert resource in found.get(pair, {}), (pair, resource)
    for pair, tied in found.items():
        for resource, ts in tied.items():
            assert resource in expected.get(pair, {}), (pair, resource)
            assert expected[pair][resource] - resolution <= ts <= expected[pair][resource]


def crew_events(crew: int, users: Sequence[str], ts: float) -> list[Event]:
    return [event(user, ts + n, "purchase", device_id=f"dev-crew-{crew}",
                  payment_fingerprint=f"pm-crew-{crew:04d}", ip_address=f"10.9.{crew}.{n}")
            for n, user in enumerate(users)]


def test_a_pass_describes_only_the_rings_that_changed() -> None:
    stage = RingStage(RingSettings(detect_interval_s=60))
    crews = [members(f"crew{n:02d}", 6) for n in range(40)]
    founding = Batch(events=[e for n, crew in enumerate(crews)
                             for e in crew_events(n, crew, START + n * 10)],
                     now=START + 400)
    stage.process(founding)  # passes run at each minute of the founding
    stage.detect(founding)
    assert len(stage.rings) == 40

    quiet = Batch(events=[event("crew07-00", START + 500, "play")], now=START + 500)
    stage.process(quiet)
    assert not stage.graph.pending()  # no tie changed: the boundary costs nothing
    joined = Batch(events=crew_events(7, ["crew07-99"], START + 600), now=START + 600)
    stage.process(joined)
    assert [r.members[-1] for r in stage.detect(joined)] == ["crew07-99"]
    assert len(stage.rings) == 40
