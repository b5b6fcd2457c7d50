"""The label rules of the realistic oracle on tiny hand-made event lists: each rule's
positives, negatives and don't cares."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson

from fixtures.realistic.labels import label_lines
from fixtures.realistic.oracle_accounts import CITY_ACCURACY_KM
from fixtures.realistic.truth import Truth
from ottwatch.evaluation.labels import ScenarioLabels

T0 = datetime(2026, 9, 1, tzinfo=UTC).timestamp()
LOS_ANGELES, NEW_YORK, FRANKFURT, PARIS = "23.10.0.5", "23.20.0.5", "85.10.0.5", "90.20.0.5"
LA_RENTED = "23.10.230.9"
TOR = "192.0.2.10"
HOSTING = "85.10.200.20"


class Log:
    """Events in time order, with the incidents that tag them."""

    def __init__(self) -> None:
        self.lines: list[bytes] = []
        self.incidents: dict[str, dict[str, Any]] = {}

    def add(self, offset_s: float, user: str, kind: str, *, incident: str | None = None,
            **fields: Any) -> str:
        event_id = f"e-{len(self.lines):04d}"
        record = {"event_id": event_id, "user_id": user, "event_type": kind,
                  "timestamp": datetime.fromtimestamp(T0 + offset_s, UTC).isoformat(),
                  "region": "US-CA", "ip_address": LOS_ANGELES, "has_consent": True,
                  "subscription_plan": "premium", **fields}
        self.lines.append(orjson.dumps(record))
        if incident is not None:
            found = self.incidents[incident]
            found["event_ids"].append(event_id)
            found["start"] = found["start"] if found["start"] is not None else T0 + offset_s
            found["end"] = T0 + offset_s
        return event_id

    def incident(self, incident_id: str, kind: str, users: list[str], **details: Any) -> str:
        self.incidents[incident_id] = {"id": incident_id, "kind": kind, "users": users,
                                       "resources": {"device": [], "payment": [], "ip": []},
                                       "start": None, "end": None, "event_ids": [], **details}
        return incident_id

    def labels(self, benign: list[dict[str, Any]] | None = None) -> ScenarioLabels:
        truth = Truth(incidents=list(self.incidents.values()), benign=benign or [],
                      last_ts=T0 + 100 * 86_400)
        return label_lines(self.lines, truth)


def label(labels: ScenarioLabels, code: str, event_id: str) -> str:
    judged = labels.codes[code]
    if event_id in judged.positive:
        return "positive"
    if event_id in judged.dont_care:
        return "dont_care"
    assert event_id in judged.negatives(labels.events)
    return "negative"


def test_travel_is_judged_for_intruders_against_the_owners_last_trusted_sighting() -> None:
    log = Log()
    home = log.add(0, "u-1", "login")
    log.incident("i-1", "credential_stuffing", ["u-1"])
    failed = log.add(600, "u-1", "login", incident="i-1", ip_address=FRANKFURT,
                     error_code="AUTH_FAILED")
    tor = log.add(700, "u-1", "login", incident="i-1", ip_address=TOR)
    far = log.add(900, "u-1", "login", incident="i-1", ip_address=FRANKFURT)
    owner_back = log.add(1200, "u-1", "play", session_id="s-1")
    near = log.add(1300, "u-1", "login", incident="i-1", ip_address=LA_RENTED)
    days_later = log.add(5 * 86_400, "u-1", "login", incident="i-1", ip_address=FRANKFURT)
    labels = log.labels()
    assert [label(labels, "geo.impossible_travel", e)
            for e in (home, failed, tor, far, owner_back, near, days_later)] == [
        "negative", "dont_care", "dont_care", "positive", "negative", "negative", "negative"]


def test_an_owners_failed_login_is_not_a_trusted_sighting() -> None:
    log = Log()
    log.add(0, "u-1", "login", ip_address=FRANKFURT)
    log.add(3600, "u-1", "login", error_code="AUTH_FAILED")  # at home, mistyped
    log.incident("i-1", "account_takeover", ["u-1"])
    paris = log.add(7200, "u-1", "login", incident="i-1", ip_address=PARIS)
    labels = log.labels()
    # Judged against Frankfurt (two hours earlier, ~470 km): no travel; against Los
    # Angeles (the failed login) it would have been impossible.
    assert label(labels, "geo.impossible_travel", paris) == "negative"


def test_the_oracle_allows_the_accuracy_the_fixture_city_database_gives() -> None:
    from fixtures.geo import CITY_ACCURACY_KM as written  # needs the test-only mmdb writer

    assert CITY_ACCURACY_KM == written


def test_shared_plans_are_dont_care_for_travel_and_positive_beyond_the_limit() -> None:
    log = Log()
    log.incident("i-1", "plan_sharing", ["u-1"])
    log.incident("i-2", "plan_sharing", ["u-2"])
    log.add(0, "u-2", "play", session_id="s-8", subscription_plan="standard")
    within = log.add(60, "u-2", "play", incident="i-2", session_id="s-9",
                     ip_address=NEW_YORK, subscription_plan="standard")
    own = log.add(0, "u-1", "play", session_id="s-1", subscription_plan="basic")
    other = log.add(60, "u-1", "play", incident="i-1", session_id="s-2", ip_address=NEW_YORK,
                    subscription_plan="basic")
    during = log.add(120, "u-1", "pause", incident="i-1", session_id="s-2",
                     ip_address=NEW_YORK, subscription_plan="basic")
    log.add(180, "u-1", "stop", session_id="s-1", subscription_plan="basic")
    after = log.add(240, "u-1", "play", incident="i-1", session_id="s-3", ip_address=NEW_YORK,
                    subscription_plan="basic")
    labels = log.labels()
    assert label(labels, "geo.impossible_travel", other) == "dont_care"
    assert label(labels, "stream.concurrency_exceeded", own) == "negative"
    assert label(labels, "stream.concurrency_exceeded", within) == "dont_care"
    assert label(labels, "stream.concurrency_exceeded", other) == "positive"
    assert label(labels, "stream.concurrency_exceeded", during) == "dont_care"
    # s-2 is still open and the plan allows one stream: a third session is beyond it too
    assert label(labels, "stream.concurrency_exceeded", after) == "positive"


def test_an_unshared_account_over_its_limit_is_not_judged() -> None:
    log = Log()
    log.add(0, "u-1", "play", session_id="s-1", subscription_plan="basic")
    second = log.add(60, "u-1", "play", session_id="s-2", subscription_plan="basic")
    within = log.add(0, "u-2", "play", session_id="s-3", subscription_plan="standard")
    within_2 = log.add(60, "u-2", "play", session_id="s-4", subscription_plan="standard")
    labels = log.labels()
    assert label(labels, "stream.concurrency_exceeded", second) == "dont_care"
    assert label(labels, "stream.concurrency_exceeded", within) == "negative"
    assert label(labels, "stream.concurrency_exceeded", within_2) == "negative"


def test_failure_bursts_count_from_the_tenth_account_a_run_fails_on() -> None:
    log = Log()
    users = [f"u-{n}" for n in range(12)]
    log.incident("i-1", "credential_stuffing", users)
    tried = [*users[:5], users[0], *users[5:]]  # u-0 tried twice: ten attempts, nine accounts
    failed = [log.add(n * 5, user, "login", incident="i-1", ip_address=LA_RENTED,
                      error_code="AUTH_FAILED") for n, user in enumerate(tried)]
    worked = log.add(100, "u-3", "login", incident="i-1", ip_address=LA_RENTED)
    mistyped = log.add(200, "u-20", "login", error_code="AUTH_FAILED")
    labels = log.labels()
    assert [label(labels, "auth.failure_burst", e) for e in failed] == ["dont_care"] * 10 + [
        "positive"] * 3
    assert label(labels, "auth.failure_burst", worked) == "dont_care"
    assert label(labels, "auth.failure_burst", mistyped) == "negative"


def test_takeover_changes_are_positive_and_a_new_accounts_first_card_negative() -> None:
    log = Log()
    log.incident("i-1", "account_takeover", ["u-1"])
    login = log.add(0, "u-1", "login", incident="i-1", device_id="d-new")
    change = log.add(600, "u-1", "password_change", incident="i-1", device_id="d-new")
    card = log.add(900, "u-1", "payment_added", incident="i-1", device_id="d-new",
                   payment_fingerprint="pm-attacker")
    log.add(0, "u-2", "signup", device_id="d-2")
    first_card = log.add(300, "u-2", "payment_added", device_id="d-2",
                         payment_fingerprint="pm-own")
    labels = log.labels()
    assert [label(labels, "account.takeover_pattern", e)
            for e in (login, change, card, first_card)] == [
        "negative", "positive", "positive", "negative"]


def test_scrapers_spike_after_ten_minutes_and_injections_only_in_their_incident() -> None:
    log = Log()
    log.incident("i-1", "scraper", ["u-1"])
    early = log.add(0, "u-1", "search", incident="i-1", ip_address=HOSTING)
    late = log.add(601, "u-1", "access", incident="i-1", ip_address=HOSTING)
    log.incident("i-2", "injection", ["u-2"])
    probe = log.add(700, "u-2", "search", incident="i-2",
                    extra_metadata={"q": "' OR 1=1 --"})
    look_alike = log.add(800, "u-3", "search", extra_metadata={"q": "O'Brien"})
    labels = log.labels()
    assert label(labels, "velocity.access_spike", early) == "dont_care"
    assert label(labels, "velocity.access_spike", late) == "positive"
    assert label(labels, "velocity.access_spike", look_alike) == "negative"
    assert label(labels, "input.attack_pattern", probe) == "positive"
    assert label(labels, "input.attack_pattern", look_alike) == "negative"
    assert label(labels, "geo.anonymizer", late) == "positive"  # the hosting block
    # the scraper's hosting address is a data centre's: not judged for travel
    assert label(labels, "geo.impossible_travel", late) == "dont_care"


def test_addresses_anonymizers_and_claimed_regions() -> None:
    log = Log()
    tor = log.add(0, "u-1", "login", ip_address=TOR)
    mismatch = log.add(10, "u-2", "play", region="DE", ip_address=LOS_ANGELES)
    eu_claim = log.add(20, "u-3", "play", region="EU", ip_address=PARIS)
    private = log.add(30, "u-4", "play", ip_address="10.1.2.3")
    labels = log.labels()
    assert label(labels, "geo.anonymizer", tor) == "positive"
    assert label(labels, "geo.anonymizer", mismatch) == "negative"
    assert label(labels, "geo.claimed_region_mismatch", mismatch) == "positive"
    assert label(labels, "geo.claimed_region_mismatch", eu_claim) == "negative"
    assert label(labels, "geo.claimed_region_mismatch", tor) == "dont_care"
    assert label(labels, "geo.claimed_region_mismatch", private) == "dont_care"


def test_consent_is_missing_where_the_regulation_wants_opt_in() -> None:
    log = Log()
    eu = dict(region="FR", ip_address=PARIS)
    withdrawn = log.add(0, "u-1", "consent_withdrawn", has_consent=False, **eu)
    play = log.add(60, "u-1", "play", has_consent=False, session_id="s-1", **eu)
    seek = log.add(120, "u-1", "seek", has_consent=False, session_id="s-1", **eu)
    logout = log.add(180, "u-1", "logout", has_consent=False, **eu)
    consenting = log.add(60, "u-2", "play", session_id="s-2", **eu)
    california = log.add(60, "u-3", "play", has_consent=False, session_id="s-3")
    labels = log.labels()
    assert [label(labels, "consent.missing", e)
            for e in (withdrawn, play, seek, logout, consenting, california)] == [
        "negative", "positive", "positive", "negative", "negative", "negative"]


def test_a_fulfilment_after_the_deadline_is_overdue_and_one_before_is_not() -> None:
    log = Log()
    eu = dict(region="DE", ip_address=FRANKFURT)
    log.add(0, "u-1", "dsar_request", request_id="rq-1", **eu)
    late = log.add(40 * 86_400, "u-1", "dsar_fulfilled", request_id="rq-1", **eu)
    log.add(0, "u-2", "deletion_request", request_id="rq-2", **eu)
    on_time = log.add(5 * 86_400, "u-2", "deletion_completed", request_id="rq-2", **eu)
    labels = log.labels()
    assert label(labels, "regulation.dsar_overdue", late) == "positive"
    assert label(labels, "regulation.deletion_overdue", on_time) == "negative"
    requests = {r.request_id: r for r in labels.requests}
    assert requests["rq-1"].regulation == "GDPR" and requests["rq-1"].overdue(labels.end_ts)
    assert requests["rq-2"].on_time(labels.end_ts)


def test_farm_members_are_ring_members_once_five_hold_the_card() -> None:
    log = Log()
    members = [f"u-{n}" for n in range(7)]
    log.incident("i-1", "account_farm", members, card="pm-farm")
    signups = []
    for n, user in enumerate(members[:6]):
        signups.append(log.add(n * 600, user, "signup", incident="i-1", device_id="d-farm"))
        log.add(n * 600 + 60, user, "payment_added", incident="i-1", device_id="d-farm",
                payment_fingerprint="pm-farm")
    early_play = log.add(3700, "u-0", "play", incident="i-1", session_id="s-0")
    late_signup = log.add(90_000, "u-6", "signup", incident="i-1", device_id="d-farm")
    log.add(90_060, "u-6", "payment_added", incident="i-1", device_id="d-farm",
            payment_fingerprint="pm-farm")
    late_play = log.add(90_600, "u-6", "play", incident="i-1", session_id="s-6")
    family = log.add(100, "u-50", "play", device_id="d-farm", session_id="s-50")
    labels = log.labels()
    ring = "ring.member"
    assert label(labels, ring, signups[0]) == "dont_care"  # four carded: no ring yet
    assert label(labels, ring, early_play) == "positive"
    assert label(labels, ring, late_signup) == "dont_care"  # not carded itself yet
    assert label(labels, ring, late_play) == "positive"
    assert label(labels, ring, family) == "negative"


def test_benign_travellers_and_derived_incident_kinds() -> None:
    log = Log()
    trip = log.add(0, "u-9", "play", session_id="s-9")
    log.incident("i-1", "injection", ["u-1"], attacker_ip=TOR)
    log.add(600, "u-1", "search", incident="i-1", ip_address=TOR,
            extra_metadata={"q": "{{7*7}}"})
    labels = log.labels(benign=[{"kind": "traveller", "users": ["u-9"]}])
    assert labels.travellers == {trip} and trip in labels.benign
    kinds = sorted(t.kind for t in labels.targets)
    assert kinds == ["anonymizer", "injection"]
    target = next(t for t in labels.targets if t.kind == "injection")
    assert target.ips == {TOR} and target.users == {"u-1"}


def test_after_an_intruder_got_in_from_a_reachable_place_the_owners_return_is_dont_care() -> None:
    log = Log()
    log.add(0, "u-1", "login")  # Los Angeles
    log.incident("i-1", "account_takeover", ["u-1"])
    # twelve hours later from Frankfurt: the owner could have flown there
    far = log.add(12 * 3600, "u-1", "login", incident="i-1", ip_address=FRANKFURT)
    owner_back = log.add(13 * 3600, "u-1", "play", session_id="s-1")  # LA, an hour later
    next_day = log.add(40 * 3600, "u-1", "play", session_id="s-2")
    labels = log.labels()
    # The account was in Frankfurt and Los Angeles an hour apart: travel by the contract,
    # and which side is the owner cannot be known from the events.
    assert [label(labels, "geo.impossible_travel", e) for e in (far, owner_back, next_day)] \
        == ["negative", "dont_care", "negative"]
