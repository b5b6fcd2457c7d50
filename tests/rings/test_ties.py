"""What ties two accounts: a device or card within the window, an IP address only at
the same time; shared infrastructure ties nobody."""

from __future__ import annotations

from ottwatch.rings import RingSettings, RingStage

from .helpers import DAY, START, event, members, run

POOL_IP = "81.2.14.7"


def tied(stage: RingStage, first: str, second: str) -> set[tuple[str, str]]:
    pair = (first, second) if first < second else (second, first)
    return set(stage.graph.ties.get(pair, {}))


def test_an_ip_address_ties_users_only_when_they_use_it_at_the_same_time() -> None:
    stage = RingStage()
    run(stage, [event("a", START, ip_address=POOL_IP), event("b", START + 1800, ip_address=POOL_IP),
                event("c", START + 3 * DAY, ip_address=POOL_IP)])
    assert tied(stage, "a", "b") == {("ip", POOL_IP)}
    assert tied(stage, "a", "c") == tied(stage, "b", "c") == set()


def test_households_handed_one_pool_address_in_turn_are_never_a_ring() -> None:
    """An ISP's dynamic pool: every few days each household gets another address of a
    small pool, so over weeks every address serves many households, one at a time."""
    stage = RingStage()
    pool = [f"81.2.14.{n}" for n in range(4)]
    households = [members(f"home{h}", 3) for h in range(12)]
    events = []
    for day in range(40):
        for h, home in enumerate(households):
            address = pool[(h + day // 3) % len(pool)] if h % 3 == day % 3 else None
            if address is None:
                continue
            for n, user in enumerate(home):  # an evening together, on the shared TV
                events.append(event(user, START + day * DAY + h * 4000 + n * 60, "play",
                                    ip_address=address, device_id=f"tv-home{h}"))
    batch = run(stage, events)
    assert stage.rings == {} and batch.findings == []
    for home in households:
        assert stage.graph.strong.has_edge(home[0], home[1])  # the household is tied...
        others = {u for other in households if other is not home for u in other}
        assert not others & set(stage.graph.strong.adj[home[0]])  # ...to nobody else


def test_a_carrier_nat_address_used_by_many_at_once_ties_nobody() -> None:
    stage = RingStage()
    nat = "100.70.0.9"
    crowd = [event(f"phone-{n:02d}", START + n * 120, "play", ip_address=nat,
                   device_id=f"d-{n}") for n in range(30)]
    batch = run(stage, crowd)
    assert ("ip", nat) in stage.graph.crowded and stage.graph.ties == {}
    assert batch.findings == []


def test_an_ip_address_over_its_degree_cap_in_the_window_ties_nobody() -> None:
    stage = RingStage(RingSettings(ip_degree_cap=6))
    cafe = "90.20.3.3"
    visits = [event(f"guest-{n}", START + n * 5 * 3600, ip_address=cafe) for n in range(7)]
    run(stage, visits)
    assert ("ip", cafe) in stage.graph.crowded


def test_three_ip_addresses_shared_at_the_same_times_are_a_strong_tie_two_are_not() -> None:
    stage = RingStage()
    for day in range(3):
        address = f"10.0.0.{day + 1}"
        run(stage, [event("a", START + day * DAY, ip_address=address),
                    event("b", START + day * DAY + 60, ip_address=address)])
        assert tied(stage, "a", "b") and stage.graph.strong.has_edge("a", "b") == (day == 2)


def test_a_farm_that_grows_over_days_is_one_ring_under_one_id() -> None:
    """Accounts signing up on a shared device with one card: members added days later
    join the ring and carry ring.member from their next event."""
    stage = RingStage(RingSettings(detect_interval_s=60))
    farm = members("farm", 9)

    def signup(user: str, ts: float) -> list:
        return [event(user, ts, "signup", device_id="d-farm-1", ip_address="93.184.0.1"),
                event(user, ts + 30, "trial_start", device_id="d-farm-1"),
                event(user, ts + 90, "payment_added", device_id="d-farm-1",
                      payment_fingerprint="pm-farm-card-7781")]

    first = run(stage, [e for n, user in enumerate(farm[:5]) for e in signup(user, START + n * 900)])
    [found] = first.findings
    ring_id = found.ring_id
    later = [e for n, user in enumerate(farm[5:]) for e in signup(user, START + 4 * DAY + n * 600)]
    grown = run(stage, later)
    assert [f.title for f in grown.findings] == [f"Ring {ring_id} grew to {n}" for n in (6, 7, 8, 9)]
    assert sorted(stage.rings[ring_id].members) == farm

    next_events = run(stage, [event("farm-08", START + 5 * DAY, "play", device_id="d-own")],
                      detect=False)
    assert [r.code for r in next_events.reasons[0]] == ["ring.member"]


def test_a_backlog_read_live_finds_the_rings_a_replay_finds() -> None:
    """Live, the wall clock runs far ahead of old events: passes must still follow the
    events' own time, or a farm signing up in the backlog is never found."""
    from ottwatch.pipeline import Batch

    farm = members("farm", 8)
    events = [event(user, START + n * 900, "payment_added", device_id="d-farm",
                    payment_fingerprint="pm-farm-0001") for n, user in enumerate(farm)]
    events += [event(f"bg-{n}", START + 8 * 900 + n * 60, "play", device_id=f"d-{n}")
               for n in range(20)]

    def found(wall: float | None) -> list[list[str]]:
        stage = RingStage(RingSettings(detect_interval_s=60))
        for start in range(0, len(events), 4):
            part = events[start:start + 4]
            batch = Batch(events=part, now=wall if wall is not None else part[-1].ts)
            stage.process(batch)
            stage.tick(batch)
        return sorted(sorted(r.members) for r in stage.rings.values())

    assert found(wall=None) == [farm]
    assert found(wall=START + 30 * DAY) == [farm]
