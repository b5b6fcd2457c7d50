"""The user–resource graph behind fraud rings, kept incrementally from each batch.

Nodes are users (the user id, a `str`) and resources (a `(kind, value)` tuple; kind
is `device`, `ip` or `payment`). An edge user–resource holds `t`, the latest event
time the user used the resource, and `trial` when one of those uses was a trial or
signup event.

Bounds, all in event time (clamped to the batch clock):
- an edge older than the window ties nobody; it is dropped at the next detection
  pass (or when its resource fills up), and users and resources unseen for a window
  are forgotten then;
- past their caps, the least recently seen users (resources) are evicted, a
  twentieth of the cap at a time; a user keeps at most `max_resources_per_user`
  edges (the oldest goes);
- a resource that more than `degree_cap` users share is *crowded*: its edges are
  dropped and it is only remembered by name until it goes unseen for a window, so a
  carrier NAT costs one entry however many users sit behind it.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable
from operator import itemgetter
from typing import Any, TypeVar

import networkx as nx

from ottwatch.events import Event
from ottwatch.rings.settings import KINDS, RingSettings

Resource = tuple[str, str]  # (kind, value)
KIND_INDEX = {kind: index for index, kind in enumerate(KINDS)}
EVICT_FRACTION = 20  # a full map evicts its least recently seen twentieth at once
_K = TypeVar("_K")




class RingGraph:
    def __init__(self, settings: RingSettings | None = None) -> None:
        self.settings = settings or RingSettings()
        self._reset()

    def _reset(self) -> None:
        self.graph: nx.Graph = nx.Graph()
        # networkx's own dict of dicts: reading it directly skips a view per lookup
        self._adj: dict[Any, dict[Any, dict[str, Any]]] = self.graph._adj
        self.users: dict[str, float] = {}  # user -> last seen
        self.resources: dict[Resource, float] = {}  # resource -> last seen
        self.crowded: set[Resource] = set()
        self.clock = float("-inf")  # latest event time seen
        self.new_ties = 0  # edges that tied a user to someone, since the counter was reset
        self.version = 0  # bumped on every change

    @property
    def cutoff(self) -> float:
        return self.clock - self.settings.window_s

    @property
    def edge_count(self) -> int:
        return self.graph.number_of_edges()

    # -- updates ------------------------------------------------------------------------
    def observe(self, events: Iterable[Event], now: float) -> None:
        """Add the batch's user–resource uses (event times clamped to `now`); uses older
        than the window are ignored."""
        trial_events = frozenset(self.settings.trial_events)
        window = self.settings.window_s
        users = self.users
        clock = self.clock
        cutoff = clock - window
        use = self._use
        for event in events:
            ts = event.ts if event.ts < now else now
            if ts > clock:
                clock = self.clock = ts
                cutoff = clock - window
            elif ts < cutoff:
                continue
            user = event.user_id
            last = users.get(user)
            if last is None:
                self._add_user(user, ts)
            elif ts > last:
                users[user] = ts
            trial = event.event_type in trial_events
            if event.device_id is not None:
                use(user, ("device", event.device_id), ts, trial)
            if event.ip_address is not None:
                use(user, ("ip", event.ip_address), ts, trial)
            if event.payment_fingerprint is not None:
                use(user, ("payment", event.payment_fingerprint), ts, trial)
        self.version += 1

    def _use(self, user: str, resource: Resource, ts: float, trial: bool) -> None:
        resources = self.resources
        last = resources.get(resource)
        if last is None:
            self._add_resource(resource, ts)
        elif ts > last:
            resources[resource] = ts
        if resource in self.crowded:
            return
        data = self._adj[user].get(resource)
        if data is None:
            self._add_edge(user, resource, ts, trial)
            return
        if ts > data["t"]:
            data["t"] = ts
        if trial:
            data["trial"] = True

    def _add_user(self, user: str, ts: float) -> None:
        if len(self.users) >= self.settings.max_users:
            for old in self._least_recent(self.users, self.settings.max_users):
                self._evict_user(old)
        self.users[user] = ts
        self.graph.add_node(user)

    def _add_resource(self, resource: Resource, ts: float) -> None:
        if len(self.resources) >= self.settings.max_resources:
            for old in self._least_recent(self.resources, self.settings.max_resources):
                self._forget_resource(old)
        self.resources[resource] = ts

    @staticmethod
    def _least_recent(seen: dict[_K, float], cap: int) -> list[_K]:
        """The least recently seen twentieth of a full map (evicted together, so an
        insert costs O(1) amortised)."""
        count = max(1, cap // EVICT_FRACTION)
        return [key for key, _ in heapq.nsmallest(count, seen.items(), key=itemgetter(1))]

    def _add_edge(self, user: str, resource: Resource, ts: float, trial: bool) -> None:
        graph = self.graph
        degree = len(graph.adj[resource]) if resource in graph else 0
        if degree >= self.settings.degree_cap:
            degree = self._prune(resource)
            if degree >= self.settings.degree_cap:
                self._crowd(resource)
                return
        if len(graph.adj[user]) >= self.settings.max_resources_per_user:
            self._drop_oldest_edge(user)
        if trial:
            graph.add_edge(user, resource, t=ts, trial=True)
        else:
            graph.add_edge(user, resource, t=ts)
        if degree:
            self.new_ties += 1

    def _crowd(self, resource: Resource) -> None:
        if resource in self.graph:
            self.graph.remove_node(resource)
        self.crowded.add(resource)
        self.new_ties += 1
        self.version += 1

    def _drop_oldest_edge(self, user: str) -> None:
        edges = self.graph.adj[user]
        oldest = min(edges, key=lambda resource: edges[resource]["t"])
        self.graph.remove_edge(user, oldest)
        if not self.graph.adj[oldest]:
            self._forget_resource(oldest)

    def _prune(self, resource: Resource) -> int:
        """Drop the resource's edges older than the window; its degree after."""
        cutoff = self.cutoff
        edges = self.graph.adj[resource]
        stale = [user for user, data in edges.items() if data["t"] < cutoff]
        for user in stale:
            self.graph.remove_edge(user, resource)
        if stale:
            self.version += 1
        return len(edges)

    def _evict_user(self, user: str) -> None:
        self.users.pop(user, None)
        if user not in self.graph:
            return
        linked = list(self.graph.adj[user])
        self.graph.remove_node(user)
        for resource in linked:
            if not self.graph.adj[resource]:
                self._forget_resource(resource)
        self.version += 1

    def _forget_resource(self, resource: Resource) -> None:
        self.resources.pop(resource, None)
        self.crowded.discard(resource)
        if resource in self.graph:
            self.graph.remove_node(resource)
        self.version += 1

    def expire(self) -> None:
        """Forget users and resources not seen within the window of the latest event."""
        cutoff = self.cutoff
        for user in [u for u, last in self.users.items() if last < cutoff]:
            self._evict_user(user)
        for resource in [r for r, last in self.resources.items() if last < cutoff]:
            self._forget_resource(resource)

    # -- reading ------------------------------------------------------------------------
    def ties(self) -> list[tuple[Resource, list[str]]]:
        """Each resource shared by two or more users within the window, with its users.
        Crowded resources have no edges, so they never appear. Prunes stale edges."""
        cutoff = self.cutoff
        shared: list[tuple[Resource, list[str]]] = []
        stale: list[Resource] = []
        for node, edges in self.graph.adjacency():
            if type(node) is not tuple or len(edges) < 2:
                continue
            fresh = [user for user, data in edges.items() if data["t"] >= cutoff]
            if len(fresh) < len(edges):
                stale.append(node)
            if len(fresh) >= 2:
                shared.append((node, fresh))
        for resource in stale:
            if not self._prune(resource):
                self._forget_resource(resource)
        return shared

    def resources_of(self, user: str) -> dict[Resource, dict[str, Any]]:
        """The user's resources and their edge data (empty for an unknown user)."""
        return dict(self.graph.adj[user]) if user in self.graph else {}

    # -- persistence --------------------------------------------------------------------
    def dump(self) -> dict[str, Any]:
        """A compact JSON-able state: ids once each, edges as a flat list of
        `user index, resource index, t, trial` quadruples."""
        user_index = {user: i for i, user in enumerate(self.users)}
        resource_index = {resource: i for i, resource in enumerate(self.resources)}
        edges: list[float] = []
        extend = edges.extend
        for node, linked in self.graph.adjacency():
            if type(node) is tuple:
                r_index = resource_index[node]
                for user, data in linked.items():
                    extend((user_index[user], r_index, data["t"], 1 if "trial" in data else 0))
        return {
            "clock": self.clock if self.clock != float("-inf") else None,
            "users": list(self.users),
            "user_seen": list(self.users.values()),
            "kinds": [KIND_INDEX[kind] for kind, _ in self.resources],
            "values": [value for _, value in self.resources],
            "resource_seen": list(self.resources.values()),
            "crowded": sorted(resource_index[resource] for resource in self.crowded),
            "edges": edges,
        }

    def load(self, state: dict[str, Any]) -> None:
        self._reset()
        self.clock = float("-inf") if state["clock"] is None else state["clock"]
        self.users = dict(zip(state["users"], state["user_seen"], strict=True))
        self.graph.add_nodes_from(self.users)
        resources = [(KINDS[k], v) for k, v in zip(state["kinds"], state["values"], strict=True)]
        self.resources = dict(zip(resources, state["resource_seen"], strict=True))
        self.crowded = {resources[i] for i in state["crowded"]}
        users = state["users"]
        edges = state["edges"]
        add_edge = self.graph.add_edge
        for i in range(0, len(edges), 4):
            if edges[i + 3]:
                add_edge(users[edges[i]], resources[edges[i + 1]], t=edges[i + 2], trial=True)
            else:
                add_edge(users[edges[i]], resources[edges[i + 1]], t=edges[i + 2])
