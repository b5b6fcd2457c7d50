"""Rings from the graph's strong ties: grouping, description and stable ids.

1. A ring is a connected group of at least `min_ring_size` users in the graph's
   `strong` projection (pairs whose ties reach `min_tie_strength`; see `graph`). A
   group bigger than `louvain_above` is split into Louvain communities (fixed seed,
   over the group's nodes and edges in sorted order, so the split depends on the group
   alone), so one weak bridge does not fuse two rings into a giant one.
2. A ring's risk (0..1) blends how strongly its members are tied (payment > device >
   IP, each weighted by the share of members it ties), its size, the share of members
   who used a shared resource for a trial or signup, and, when known, the members'
   mean assessment score.
3. Each member's network risk (0..1) is the mean of its degree centrality and its
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
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass

import networkx as nx
from networkx.algorithms.community import louvain_communities

from ottwatch.rings.graph import KIND_INDEX, Resource, RingGraph
from ottwatch.rings.settings import RingSettings

SIZE_SCALE = 10.0  # accounts; the size factor is 1 - exp(-size / SIZE_SCALE)
RISK_BLEND = {"ties": 0.5, "size": 0.3, "trials": 0.2}
MEMBER_SCORE_SHARE = 0.2  # of the risk, when members' scores are known


@dataclass(slots=True)
class Ring:
    members: list[str]  # sorted
    shared: list[Resource]  # strongest kind first, then most shared
    risk: float
    first_seen: float
    last_seen: float
    network: dict[str, float]  # member -> network risk 0..1
    trial_accounts: int


def split(graph: RingGraph, group: list[str], settings: RingSettings) -> Iterator[list[str]]:
    """The rings (sorted members) of one connected group of the strong graph."""
    if len(group) < settings.min_ring_size:
        return
    if len(group) <= settings.louvain_above:
        yield group
        return
    strong = graph.strong
    inside = set(group)
    edges = sorted((a, b, strong.adj[a][b]["weight"]) for a in group for b in strong.adj[a]
                   if a < b and b in inside)
    canonical = nx.Graph()
    canonical.add_nodes_from(group)
    canonical.add_weighted_edges_from(edges)
    communities = louvain_communities(canonical, weight="weight", seed=settings.louvain_seed)
    for community in sorted(sorted(c) for c in communities):
        if len(community) >= settings.min_ring_size:
            yield community


def rings_among(graph: RingGraph, settings: RingSettings,
                users: Iterable[str] | None = None) -> list[list[str]]:
    """Member lists of the rings in the groups holding any of `users` (default: every
    group), ordered by their smallest member."""
    found = [ring for group in graph.groups(users) for ring in split(graph, group, settings)]
    return sorted(found, key=lambda members: members[0])


def network_risk(graph: RingGraph, members: Sequence[str]) -> dict[str, float]:
    ring = graph.strong.subgraph(members)
    centrality = nx.degree_centrality(ring)
    clustering = nx.clustering(ring)
    return {m: round((centrality[m] + clustering[m]) / 2, 4) for m in members}


def ring_risk(size: int, coverage: Mapping[str, float], trial_share: float,
              member_score: float | None, settings: RingSettings) -> float:
    """`coverage`: kind -> share of members tied through a resource of that kind.
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


def describe(graph: RingGraph, members: list[str], settings: RingSettings,
             scores: Mapping[str, float]) -> Ring:
    """The ring these members form: what ties them, when, and how risky it is.
    `scores`: user -> mean assessment score (0..100) for the users it knows."""
    shared_uses = graph.shared_within(members)
    shared = sorted(shared_uses, key=lambda r: (KIND_INDEX[r[0]], -len(shared_uses[r]), r[1]))
    times = [ts for uses in shared_uses.values() for ts in uses.values()]
    covered: dict[str, set[str]] = {}
    trial_members = set()
    trials = graph.trials
    for resource, uses in shared_uses.items():
        covered.setdefault(resource[0], set()).update(uses)
        trial_members.update(m for m in uses if (m, resource) in trials)
    size = len(members)
    known = [scores[m] for m in members if m in scores]
    member_score = sum(known) / len(known) / 100.0 if known else None
    coverage = {kind: len(users) / size for kind, users in covered.items()}
    risk = ring_risk(size, coverage, len(trial_members) / size, member_score, settings)
    return Ring(members=members, shared=shared, risk=risk,
                first_seen=min(times, default=graph.clock),
                last_seen=max(times, default=graph.clock),
                network=network_risk(graph, members), trial_accounts=len(trial_members))


def find_rings(graph: RingGraph, settings: RingSettings,
               scores: Mapping[str, float] | None = None) -> list[Ring]:
    """Every ring in the graph now, ordered by their smallest member."""
    return [describe(graph, members, settings, scores if scores is not None else {})
            for members in rings_among(graph, settings)]


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
