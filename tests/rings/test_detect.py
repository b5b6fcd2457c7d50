from __future__ import annotations

from ottwatch.rings import RingSettings, RingStage
from ottwatch.rings.describe import mask_payment
from ottwatch.rings.detect import find_rings, founding_id, match_rings, ring_risk

from .helpers import (
    DAY,
    NAT_IP,
    RING_DEVICE,
    RING_PAYMENT,
    START,
    background,
    event,
    members,
    nat_crowd,
    new_stage,
    ring,
    run,
)


def rows(batch) -> list[dict]:
    return batch.upserts.get("rings", [])


def test_eight_accounts_sharing_a_device_and_a_payment_method_are_one_ring() -> None:
    stage = new_stage()
    crew = members("crew", 8)
    batch = run(stage, [*background(300), *ring(crew)])

    assert len(stage.rings) == 1
    [row] = rows(batch)
    assert row["members"] == crew and row["size"] == 8
    assert {s["kind"] for s in row["shared"]} == {"device", "payment"}
    assert {"kind": "device", "value": RING_DEVICE} in row["shared"]
    assert {"kind": "payment", "value": "****1234"} in row["shared"]
    assert RING_PAYMENT not in str(row)
    assert row["risk"] >= 0.6
    [finding] = batch.findings
    assert finding.code == "ring.member" and finding.ring_id == row["ring_id"]
    assert finding.severity in ("high", "critical")
    assert finding.title == f"New fraud ring {row['ring_id']} of 8 accounts"
    assert row["ring_id"].startswith("R-")


def test_five_hundred_users_behind_one_carrier_nat_are_not_a_ring() -> None:
    stage = new_stage()
    batch = run(stage, nat_crowd(500))

    assert stage.rings == {} and batch.findings == [] and rows(batch) == []
    assert ("ip", NAT_IP) in stage.graph.crowded
    assert ("ip", NAT_IP) not in stage.graph.holders  # its 500 users are not kept
    assert stage.graph.ties == {}


def test_a_ring_behind_the_nat_is_found_without_the_crowd() -> None:
    stage = new_stage()
    crew = members("crew", 8)
    batch = run(stage, [*nat_crowd(500), *background(100), *ring(crew, START + 600, ip=NAT_IP)])

    [row] = rows(batch)
    assert row["members"] == crew
    assert {"kind": "ip", "value": NAT_IP} not in row["shared"]


def test_nat_ties_below_the_cap_glue_nobody() -> None:
    """Before the NAT passes the degree cap, its weight is too low to tie anyone."""
    stage = new_stage()
    batch = run(stage, nat_crowd(40))
    assert batch.findings == [] and stage.rings == {}


def test_trial_abuse_from_one_device_is_a_ring() -> None:
    stage = new_stage()
    abusers = members("trial", 12)
    trials = [event(user, START + n * 60, "trial_start", device_id="dev-emulator-1",
                    ip_address=f"198.51.100.{n}") for n, user in enumerate(abusers)]
    batch = run(stage, [*background(200), *trials])

    [row] = rows(batch)
    assert row["members"] == abusers
    assert row["shared"] == [{"kind": "device", "value": "dev-emulator-1"}]
    [finding] = batch.findings
    assert "12 of them started trials or signed up" in finding.detail
    assert finding.severity in ("high", "critical")


def test_promo_abuse_with_one_card_is_a_ring() -> None:
    stage = new_stage()
    signups = [event(user, START + n, "signup", payment_fingerprint="pm-promo-card-0042",
                     device_id=f"d-{user}") for n, user in enumerate(members("promo", 6))]
    batch = run(stage, signups)
    [row] = rows(batch)
    assert row["size"] == 6 and row["shared"] == [{"kind": "payment", "value": "****0042"}]


def test_a_ring_that_grows_keeps_its_id_and_reports_growth_once() -> None:
    stage = new_stage()
    crew = members("crew", 11)
    first = run(stage, [*background(50), *ring(crew[:8])])
    [founded] = first.findings
    ring_id = founded.ring_id

    grown = run(stage, ring(crew[8:], START + 3600))
    [finding] = grown.findings
    assert finding.ring_id == ring_id and finding.title == f"Ring {ring_id} grew to 11"
    assert rows(grown)[0]["members"] == crew and rows(grown)[0]["ring_id"] == ring_id
    assert rows(grown)[0]["first_seen"] == rows(first)[0]["first_seen"]

    again = run(stage, ring(crew, START + 7200))
    assert again.findings == []
    assert list(stage.rings) == [ring_id]


def test_a_ring_row_keeps_every_account_ever_in_it_when_old_ties_expire() -> None:
    stage = new_stage(window_days=30)
    crew = members("crew", 11)
    [founded] = run(stage, ring(crew[:8])).findings
    later = run(stage, ring(crew[4:], START + 31 * DAY))  # the first four's ties expired
    assert set(stage.rings[founded.ring_id].members) == set(crew[4:])
    [row] = rows(later)
    assert row["ring_id"] == founded.ring_id
    assert row["members"] == crew and row["size"] == 11


def test_members_later_events_carry_ring_member_reasons() -> None:
    stage = new_stage()
    crew = members("crew", 8)
    founding = run(stage, [*background(20), *ring(crew)])
    assert all(not reasons for reasons in founding.reasons)  # detection comes after process
    ring_id = founding.findings[0].ring_id

    later = [event("crew-03", START + 900, "play", ip_address="203.0.113.9"),
             event("bg-00001", START + 901, "play")]
    batch = run(stage, later, detect=False)
    [reason] = batch.reasons[0]
    assert reason.code == "ring.member"
    assert 0 < reason.weight <= 40
    assert reason.detail == (f"member of ring {ring_id} (8 accounts sharing device "
                             f"{RING_DEVICE}, payment ****1234)")
    assert batch.reasons[1] == []


def test_member_weight_is_configurable() -> None:
    stage = new_stage(member_weight=10)
    run(stage, ring(members("crew", 8)))
    batch = run(stage, [event("crew-00", START + 100)], detect=False)
    assert 0 < batch.reasons[0][0].weight <= 10


def test_passes_run_at_event_time_boundaries_whatever_the_batching() -> None:
    from ottwatch.pipeline import Batch

    crew = members("crew", 8)
    stream = [*background(30), *ring(crew[:5], START + 10),
              *[event(u, START + 70 + n, "play") for n, u in enumerate(crew[:5])],
              *ring(crew[5:], START + 130), *[event(crew[0], START + 200, "play")]]

    def replay(size: int) -> tuple[list[str], list[list[str]]]:
        stage = new_stage(detect_interval_s=60)
        titles, codes = [], []
        for start in range(0, len(stream), size):
            part = stream[start:start + size]
            batch = Batch(events=part, now=part[-1].ts)
            stage.process(batch)
            stage.tick(batch)
            titles += [f.title for f in batch.findings]
            codes += [[r.code for r in reasons] for reasons in batch.reasons]
        return titles, codes

    whole, by_three, one_by_one = replay(len(stream)), replay(3), replay(1)
    assert whole == by_three == one_by_one
    titles, codes = whole
    assert len(titles) == 2 and titles[0].startswith("New fraud ring")
    assert titles[1].endswith("grew to 8")
    plays = codes[65:70]  # the founders' plays after the first boundary (60 background)
    assert all(c == ["ring.member"] for c in plays)
    assert codes[-1] == ["ring.member"]


def test_an_idle_tick_runs_a_due_pass() -> None:
    from ottwatch.pipeline import Batch

    stage = new_stage(detect_interval_s=60)
    first = Batch(events=list(ring(members("crew", 8), START + 5)), now=START + 20)
    stage.process(first)
    stage.tick(first)
    assert first.findings == []  # the boundary (START + 60) has not come
    idle = Batch(events=[], now=START + 61)
    stage.tick(idle)
    assert len(idle.findings) == 1
    quiet = Batch(events=[], now=START + 500)
    stage.tick(quiet)
    assert quiet.findings == [] and quiet.upserts == {}  # nothing changed: no pass


def test_ties_expire_after_the_window() -> None:
    stage = new_stage(window_days=30)
    crew = members("crew", 8)
    run(stage, ring(crew))
    assert len(stage.rings) == 1
    later = run(stage, background(5, START + 31 * DAY))
    assert stage.rings == {} and later.findings == []
    assert not any(user.startswith("crew") for user in stage.graph.users)


def test_louvain_splits_two_rings_joined_by_a_bridge() -> None:
    stage = new_stage(louvain_above=40)
    left = [event(f"left-{n:02d}", START + n, device_id="dev-left", ip_address=f"10.1.0.{n}")
            for n in range(30)]
    right = [event(f"right-{n:02d}", START + n, device_id="dev-right", ip_address=f"10.2.0.{n}")
             for n in range(30)]
    bridge = [event("left-00", START + 99, payment_fingerprint="pm-bridge-0001"),
              event("right-00", START + 99, payment_fingerprint="pm-bridge-0001")]
    run(stage, [*left, *right, *bridge])
    found = sorted(sorted(r.members) for r in stage.rings.values())
    assert len(found) == 2
    assert all(len(group) == 30 for group in found)
    assert {m.split("-")[0] for m in found[0]} == {"left"}


def test_the_same_input_gives_the_same_ring_ids() -> None:
    def ids() -> list[str]:
        stage = new_stage()
        run(stage, [*background(50), *ring(members("crew", 8)), *nat_crowd(60)])
        return sorted(stage.rings)

    assert ids() == ids()


def test_members_scores_raise_ring_risk() -> None:
    settings = RingSettings()
    calm = ring_risk(8, {"device": 1.0}, 0.0, 0.0, settings)
    alarming = ring_risk(8, {"device": 1.0}, 0.0, 0.9, settings)
    unknown = ring_risk(8, {"device": 1.0}, 0.0, None, settings)
    assert calm < unknown < alarming <= 1.0


def test_stronger_kinds_make_riskier_rings() -> None:
    settings = RingSettings()
    ip = ring_risk(8, {"ip": 1.0}, 0.0, None, settings)
    device = ring_risk(8, {"device": 1.0}, 0.0, None, settings)
    payment = ring_risk(8, {"payment": 1.0}, 0.0, None, settings)
    assert ip < device < payment


def test_find_rings_reports_network_risk_per_member() -> None:
    stage = RingStage()
    star = [event("hub", START, device_id=f"d-{n}", payment_fingerprint=f"pm-{n}")
            for n in range(5)]
    star += [event(f"leaf-{n}", START + 1, device_id=f"d-{n}", payment_fingerprint=f"pm-{n}")
             for n in range(5)]
    stage.graph.observe(star, START + 10)
    [found] = find_rings(stage.graph, stage.settings)
    assert found.network["hub"] == 0.5  # central, but its neighbours are not tied together
    assert found.network["leaf-0"] < found.network["hub"]


def test_ids_continue_the_ring_with_the_biggest_overlap() -> None:
    known = {"R-old": frozenset({"a", "b", "c", "d", "e"}),
             "R-other": frozenset({"v", "w", "x", "y", "z"})}
    found = [["a", "b", "c", "d", "e", "f", "v"], ["p", "q", "r", "s", "t"], ["w", "x", "y"]]
    assert match_rings(known, found) == ["R-old", None, "R-other"]
    assert founding_id(["b", "a"], set()) == founding_id(["a", "b"], set())
    taken = {founding_id(["a", "b"], set())}
    assert founding_id(["a", "b"], taken) not in taken


def test_payment_masks_keep_at_most_the_last_four() -> None:
    assert mask_payment("pm-fp-9f8e7d6c5b4a1234") == "****1234"
    assert mask_payment("abc") == "****c"
    assert mask_payment("") == "****"


def test_a_ring_sharing_a_card_or_abusing_trials_is_high_one_sharing_a_device_by_risk() -> None:
    from ottwatch.rings.describe import severity_for

    card, device = ("payment", "pm-x"), ("device", "d-x")
    assert severity_for(0.45, [device]) == "medium"
    assert severity_for(0.45, [device, card]) == "high"
    assert severity_for(0.3, [device], trial_accounts=3) == "high"
    assert severity_for(0.85, [device]) == "critical"
