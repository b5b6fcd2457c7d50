"""Rings from the user–resource graph: a full pass, run off the per-event path.

1. Project to a user–user graph: a resource shared by `d` users (2 <= d <= degree_cap)
   adds `kind_weight * ln 3 / ln(1 + d)` to each pair of its users; pairs whose summed
   strength reaches `min_tie_strength` become edges.
2. Rings are the connected components of at least `min_ring_size` users; a component
   bigger than `louvain_above` is split into Louvain communities (fixed seed), so one
   weak bridge does not fuse two rings into a giant one.
3. A ring's risk (0..1) blends how strongly its members are tied (payment > device >
   IP, each weighted by the share of members it covers), its size, the share of
   members who used a shared resource for a trial or signup, and — when known — the
   members' mean assessment score.
4. Each member's network risk (0..1) is the mean of its degree centrality and its
   clustering coefficient inside the ring: a tight clique scores 1, a hanger-on less.

Ring ids are stable: a ring found in a pass continues the known ring it overlaps most
(at least half of the smaller of the two), greedily, largest overlaps first; so a ring
that grows, shrinks or absorbs another keeps its id. A ring that continues none gets
`R-` + the first 8 hex digits of SHA-256 over its sorted founding members (longer on a
collision), which the same input always reproduces.
"""

from __future__ import annotations

import hashlib
import math
from collections import Counter
from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass

import networkx as nx
from networkx.algorithms.community import louvain_communities

from ottwatch.rings.graph import KIND_INDEX, Resource, RingGraph
from ottwatch.rings.settings import RingSettings

LN3 = math.log(3.0)
SIZE_SCALE = 10.0  # accounts; the size factor is 1 - exp(-size / SIZE_SCALE)
RISK_BLEND = {"ties": 0.5, "size": 0.3, "trials": 0.2}
MEMBER_SCORE_SHARE = 0.2  # of the risk, when members' scores are known
EPSILON = 1e-9


@dataclass(slots=True)
class Ring:
    members: list[str]  # sorted
    shared: list[Resource]  # strongest kind first, then most shared
    risk: float
    first_seen: float
    last_seen: float
    network: dict[str, float]  # member -> network risk 0..1
    trial_accounts: int


def resource_weight(kind_weight: float, degree: int) -> float:
    return kind_weight * LN3 / math.log1p(degree)


def project(graph: RingGraph, settings: RingSettings) -> nx.Graph:
    """The user–user graph of ties at least `min_tie_strength` strong."""
    strengths: dict[tuple[str, str], float] = {}
    kind_weights = settings.kind_weights
    for (kind, _), users in graph.ties():
        weight = resource_weight(kind_weights[kind], len(users))
        if weight <= 0:
            continue
        users.sort()
        for i, first in enumerate(users):
            for second in users[i + 1:]:
                pair = (first, second)
                strengths[pair] = strengths.get(pair, 0.0) + weight
    floor = settings.min_tie_strength - EPSILON
    projection = nx.Graph()
    projection.add_weighted_edges_from(
        (a, b, strength) for (a, b), strength in strengths.items() if strength >= floor)
    return projection


def groups(projection: nx.Graph, settings: RingSettings) -> Iterator[list[str]]:
    """Member lists (sorted) of the rings in the projection."""
    for component in nx.connected_components(projection):
        if len(component) < settings.min_ring_size:
            continue
        if len(component) <= settings.louvain_above:
            yield sorted(component)
            continue
        communities = louvain_communities(projection.subgraph(component), weight="weight",
                                          seed=settings.louvain_seed)
        for community in communities:
            if len(community) >= settings.min_ring_size:
                yield sorted(community)


def network_risk(projection: nx.Graph, members: Sequence[str]) -> dict[str, float]:
    ring = projection.subgraph(members)
    centrality = nx.degree_centrality(ring)
    clustering = nx.clustering(ring)
    return {m: round((centrality[m] + clustering[m]) / 2, 4) for m in members}


def ring_risk(size: int, coverage: Mapping[str, float], trial_share: float,
              member_score: float | None, settings: RingSettings) -> float:
    """`coverage`: kind -> share of members using a shared resource of that kind.
    `member_score`: members' mean assessment score, 0..1, or None when unknown."""
    untied = 1.0
    for kind, share in coverage.items():
        untied *= 1.0 - settings.kind_weights[kind] * share
    base = (RISK_BLEND["ties"] * (1.0 - untied)
            + RISK_BLEND["size"] * (1.0 - math.exp(-size / SIZE_SCALE))
            + RISK_BLEND["trials"] * trial_share)
    if member_score is not None:
        base = (1 - MEMBER_SCORE_SHARE) * base + MEMBER_SCORE_SHARE * member_score
    return round(min(1.0, max(0.0, base)), 4)


def describe(graph: RingGraph, projection: nx.Graph, members: list[str],
             settings: RingSettings, scores: Mapping[str, float]) -> Ring:
    """The ring these members form: what they share, when, and how risky it is.
    `scores`: user -> mean assessment score (0..100) for the users it knows."""
    uses: Counter[Resource] = Counter()
    edges = {member: graph.resources_of(member) for member in members}
    for linked in edges.values():
        uses.update(linked.keys())
    shared = sorted((r for r, n in uses.items() if n >= 2),
                    key=lambda r: (KIND_INDEX[r[0]], -uses[r], r[1]))
    shared_set = set(shared)
    times: list[float] = []
    covered: dict[str, set[str]] = {}
    trial_members = set()
    for member, linked in edges.items():
        for resource, data in linked.items():
            if resource in shared_set:
                times.append(data["t"])
                covered.setdefault(resource[0], set()).add(member)
                if data.get("trial"):
                    trial_members.add(member)
    size = len(members)
    known = [scores[m] for m in members if m in scores]
    member_score = sum(known) / len(known) / 100.0 if known else None
    coverage = {kind: len(users) / size for kind, users in covered.items()}
    risk = ring_risk(size, coverage, len(trial_members) / size, member_score, settings)
    return Ring(members=members, shared=shared, risk=risk,
                first_seen=min(times, default=graph.clock),
                last_seen=max(times, default=graph.clock),
                network=network_risk(projection, members), trial_accounts=len(trial_members))


def find_rings(graph: RingGraph, settings: RingSettings,
               scores: Mapping[str, float] | None = None) -> list[Ring]:
    """Every ring in the graph now, ordered by their smallest member."""
    projection = project(graph, settings)
    found = sorted(groups(projection, settings), key=lambda members: members[0])
    return [describe(graph, projection, members, settings, scores if scores is not None else {})
            for members in found]


# -- stable ids ---------------------------------------------------------------------------
def founding_id(members: Sequence[str], taken: Collection[str]) -> str:
    digest = hashlib.sha256("\x1f".join(sorted(members)).encode()).hexdigest()
    for length in (8, 12, 16, 64):
        ring_id = f"R-{digest[:length]}"
        if ring_id not in taken:
            return ring_id
    raise ValueError("ring id collision on a full SHA-256")


def match_rings(known: Mapping[str, Collection[str]], found: Sequence[Sequence[str]]
                ) -> list[str | None]:
    """For each found ring, the id of the known ring it continues, or None."""
    owner = {member: ring_id for ring_id, members in known.items() for member in members}
    candidates = []
    for index, members in enumerate(found):
        overlaps = Counter(owner[m] for m in members if m in owner)
        for ring_id, overlap in overlaps.items():
            if 2 * overlap >= min(len(known[ring_id]), len(members)):
                candidates.append((-overlap, ring_id, index))
    candidates.sort()
    matched: list[str | None] = [None] * len(found)
    used: set[str] = set()
    for _, ring_id, index in candidates:
        if matched[index] is None and ring_id not in used:
            matched[index] = ring_id
            used.add(ring_id)
    return matched
