"""The ring stage: members of known fraud rings get `ring.member` on their events.

`process` feeds each event's device, card and IP uses to the graph, which keeps the
user–user ties up to date as they arrive, and looks each event's user up in the member
map. Detection passes run when event time crosses a multiple of `detect_interval_s`
(before the event that crossed it, so the result does not depend on the batching) and
only when something changed: a pass re-reads just the groups of users whose ties
changed, and keeps every other ring, its description and its row, as it was.

A pass that finds a new ring, or a ring bigger than it ever was, raises a `ring.member`
finding and upserts the ring's row; a ring whose row changed otherwise is upserted
quietly. State (graph, known rings, scores) is saved with the batch whenever rings
appear, grow or dissolve, and otherwise at most every `snapshot_interval_s`.

Members' mean assessment scores feed ring risk when a ring is described; `RingScoreSink`
collects them after scoring (the `ring.member` weight itself is left out so rings do
not feed on themselves).
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import orjson

from ottwatch.memory import collection_paused
from ottwatch.pipeline import Assessment, Batch, Finding
from ottwatch.rings.describe import (
    finding_detail,
    member_detail,
    severity_for,
    shared_entries,
)
from ottwatch.rings.detect import Ring, describe, founding_id, match_rings, split
from ottwatch.rings.graph import RingGraph
from ottwatch.rings.settings import RingSettings

log = logging.getLogger("ottwatch.rings")

CODE = "ring.member"
SNAPSHOT_VERSION = 2  # 1: the untimed user–resource graph, not read (rings rebuild)
SCORE_MEMORY = 50  # a user's mean score weighs its last ~50 assessments


@dataclass(slots=True)
class KnownRing:
    ring_id: str
    members: frozenset[str]
    peak: int  # the biggest size reported in a finding
    row: dict[str, Any]  # as last upserted
    weights: dict[str, float]  # member -> ring.member weight
    detail: str

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.ring_id, "peak": self.peak, "row": self.row,
                "members": sorted(self.members), "weights": self.weights,
                "detail": self.detail}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> KnownRing:
        # The row keeps every account ever tied in; the ring is its current members
        # (the accounts it has weights for, in snapshots that predate "members").
        members = data.get("members", data["weights"])
        return cls(ring_id=data["id"], members=frozenset(members),
                   peak=data["peak"], row=data["row"], weights=data["weights"],
                   detail=data["detail"])


class ScoreBook(Mapping[str, float]):
    """Each user's running mean assessment score (0..100), least recently seen evicted."""

    def __init__(self, max_users: int) -> None:
        self.max_users = max_users
        self.means: OrderedDict[str, list[float]] = OrderedDict()  # user -> [mean, count]

    def observe(self, assessments: Iterable[Assessment]) -> None:
        means = self.means
        for assessment in assessments:
            score = assessment.score
            if score:
                score = max(0.0, score - sum(r.weight for r in assessment.reasons
                                             if r.code == CODE))
            entry = means.get(assessment.user_id)
            if entry is None:
                while len(means) >= self.max_users:
                    means.popitem(last=False)
                means[assessment.user_id] = [score, 1.0]
                continue
            means.move_to_end(assessment.user_id)
            count = min(entry[1] + 1.0, SCORE_MEMORY)
            entry[0] += (score - entry[0]) / count
            entry[1] = count

    def __getitem__(self, user: str) -> float:
        return self.means[user][0]

    def __iter__(self) -> Iterator[str]:
        return iter(self.means)

    def __len__(self) -> int:
        return len(self.means)


class RingStage:
    name: ClassVar[str] = "rings"

    def __init__(self, settings: RingSettings | None = None) -> None:
        self.settings = settings or RingSettings()
        self.graph = RingGraph(self.settings)
        self.scores = ScoreBook(self.settings.max_users)
        self.rings: dict[str, KnownRing] = {}
        self.member_of: dict[str, KnownRing] = {}
        self.dirty = False
        self._now = float("-inf")
        self._detected_at = float("-inf")
        self._first_seen = float("-inf")
        self._saved_at = float("-inf")
        self._changed_since_save = False

    def members(self, ring_id: str) -> frozenset[str]:
        """Every account tied into the ring so far (none: no such ring yet)."""
        ring = self.rings.get(ring_id)
        return frozenset(ring.row.get("members") or ring.members) if ring else frozenset()

    @classmethod
    def from_config(cls, config: Any) -> RingStage:
        return cls(RingSettings.from_config(config))

    # -- the stage contract -------------------------------------------------------------
    def process(self, batch: Batch) -> None:
        """Observe the batch; a pass runs whenever event time crosses the next boundary
        (a multiple of `detect_interval_s`), before the event that crossed it, so rings,
        reasons and findings do not depend on how the input was batched."""
        self._now = batch.now
        events = batch.events
        if events and self._first_seen == float("-inf"):
            self._first_seen = events[0].ts
        start = 0
        due = self._next_due
        for index, event in enumerate(events):
            if event.ts >= due:
                self._observe(batch, start, index)
                start = index
                self._boundary(batch, event.ts)
                due = self._next_due
        self._observe(batch, start, len(events))

    def _observe(self, batch: Batch, start: int, stop: int) -> None:
        if start >= stop:
            return
        events = batch.events[start:stop]
        self.graph.observe(events, batch.now)
        member_of = self.member_of
        if member_of:
            for index, event in enumerate(events, start):
                ring = member_of.get(event.user_id)
                if ring is not None:
                    batch.add(index, CODE, ring.weights[event.user_id], ring.detail)

    def _boundary(self, batch: Batch, now: float, at: float | None = None) -> None:
        """A pass, if anything is pending, at `now`; the next boundary follows `at`
        (default `now`), a position in event time."""
        if self.graph.pending():
            self.detect(batch, now=now)
        self._detected_at = now if at is None else at

    @property
    def _next_due(self) -> float:
        last = self._detected_at if self._detected_at != float("-inf") else self._first_seen
        if last == float("-inf"):
            return float("inf")  # nothing seen yet: the first event sets the clock
        interval = self.settings.detect_interval_s
        return (last // interval + 1) * interval

    def tick(self, batch: Batch) -> None:
        """With no events (the agent idle on wall time), a due pass still runs."""
        self._now = batch.now
        if batch.now >= self._next_due:
            # Live, the clock may run ahead of the events (a backlog being read): the
            # boundaries stay in event time, so the events that follow still cross them.
            clock = self.graph.clock
            self._boundary(batch, batch.now, min(batch.now, clock) if clock > float("-inf")
                           else batch.now)
        if self._changed_since_save and batch.now - self._saved_at >= self.settings.snapshot_interval_s:
            self.dirty = True

    def snapshot(self) -> bytes:
        self._saved_at = self._now
        self._changed_since_save = False
        users = self.graph.users
        with collection_paused():
            return orjson.dumps({
                "v": SNAPSHOT_VERSION,
                "graph": self.graph.dump(),
                "rings": [ring.to_dict() for ring in self.rings.values()],
                "scores": {u: entry for u, entry in self.scores.means.items() if u in users},
                "detected_at": None if self._detected_at == float("-inf") else self._detected_at,
                "first_seen": None if self._first_seen == float("-inf") else self._first_seen,
            })

    def restore(self, data: bytes) -> None:
        with collection_paused():
            state = orjson.loads(data)
            if state.get("v") != SNAPSHOT_VERSION:
                log.warning("ring state version %r not understood; rings are found again "
                            "from the events that follow", state.get("v"))
                return
            self.graph.load(state["graph"])
        self.rings = {r.ring_id: r for r in map(KnownRing.from_dict, state["rings"])}
        self.member_of = {m: ring for ring in self.rings.values() for m in ring.members}
        self.scores.means = OrderedDict(state["scores"])
        for name in ("detected_at", "first_seen"):
            value = state.get(name)
            setattr(self, f"_{name}", float("-inf") if value is None else value)
        self._changed_since_save = False
        self.dirty = False

    # -- detection ----------------------------------------------------------------------
    def detect(self, batch: Batch, now: float | None = None, *, full: bool = False
               ) -> list[Ring]:
        """A pass at `now` (default the batch's time): expire old ties, then re-read the
        groups of the users whose ties changed since the last pass (`full`: every group,
        as a pass from scratch would), raise findings and upsert changed rows. Returns
        the rings it described."""
        now = batch.now if now is None else now
        graph = self.graph
        graph.expire()
        touched = graph.take_touched()
        groups = list(graph.groups(None if full else touched))
        found = sorted((ring for group in groups for ring in split(graph, group, self.settings)),
                       key=lambda members: members[0])
        previous = self.rings
        if full:
            affected = set(previous)
        else:  # every group that changed holds a touched user: the rings it may have held
            reach = touched.union(*groups)
            affected = {ring.ring_id for user in reach if (ring := self.member_of.get(user))}
        continued = match_rings({rid: previous[rid].members for rid in sorted(affected)}, found)
        current: dict[str, KnownRing] = {}
        rings = []
        taken = set(previous)
        for members, ring_id in zip(found, continued, strict=True):
            before = previous.get(ring_id) if ring_id is not None else None
            if ring_id is None:
                ring_id = founding_id(members, taken)
            taken.add(ring_id)
            ring = describe(graph, members, self.settings, self.scores)
            rings.append(ring)
            known = self._known(ring_id, ring, before)
            if before is None or known.peak > before.peak:
                batch.findings.append(self._finding(now, known, ring, before is None))
            if before is None or known.row != before.row:
                batch.upsert("rings", known.row)
            current[ring_id] = known
        # Rings appearing, growing or going are saved with this batch (their findings
        # must not repeat after a restart); other row changes wait for the interval.
        reshaped = current.keys() != affected or any(
            current[rid].peak != previous[rid].peak for rid in current)
        member_of = self.member_of
        for ring_id in affected:
            for member in previous[ring_id].members:
                if member_of.get(member) is previous[ring_id]:
                    del member_of[member]
            del previous[ring_id]
        for ring_id, known in current.items():
            previous[ring_id] = known
            for member in known.members:
                member_of[member] = known
        self._detected_at = now
        self._changed_since_save = True
        if reshaped:
            self.dirty = True
        return rings

    def _known(self, ring_id: str, ring: Ring, before: KnownRing | None) -> KnownRing:
        size = len(ring.members)
        # The row is the ring's record for forensics: every account ever tied into it,
        # not only those whose ties have not yet expired.
        members = sorted({*ring.members, *before.row["members"]}) if before else ring.members
        row = {
            "ring_id": ring_id, "size": len(members), "risk": ring.risk, "members": members,
            "shared": shared_entries(ring.shared),
            "first_seen": before.row["first_seen"] if before else ring.first_seen,
            "last_seen": max(ring.last_seen, before.row["last_seen"]) if before else ring.last_seen,
        }
        top = self.settings.member_weight * ring.risk
        weights = {m: round(top * (0.6 + 0.4 * ring.network[m]), 2) for m in ring.members}
        return KnownRing(ring_id=ring_id, members=frozenset(ring.members),
                         peak=max(size, before.peak if before else 0), row=row,
                         weights=weights, detail=member_detail(ring_id, size, ring.shared))

    @staticmethod
    def _finding(now: float, known: KnownRing, ring: Ring, new: bool) -> Finding:
        size = len(ring.members)
        title = (f"New fraud ring {known.ring_id} of {size} accounts" if new
                 else f"Ring {known.ring_id} grew to {size}")
        return Finding(code=CODE, severity=severity_for(ring.risk, ring.shared,
                                                         ring.trial_accounts),
                       ts=now, title=title,
                       detail=finding_detail(size, ring.risk, ring.shared, ring.members,
                                             ring.trial_accounts),
                       ring_id=known.ring_id)


class RingScoreSink:
    """Feeds scored assessments' means to the ring stage (register after the scorer)."""

    name: ClassVar[str] = "rings.scores"

    def __init__(self, stage: RingStage) -> None:
        self.stage = stage

    def consume(self, batch: Batch) -> None:
        if batch.assessments:
            self.stage.scores.observe(batch.assessments)
