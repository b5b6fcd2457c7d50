"""The graph behind fraud rings, kept up to date one resource use at a time.

Resources are `(kind, value)` tuples: a `device`, a `payment` fingerprint or an `ip`
address. Two users are *tied* by a resource when both used it close together in event
time: within the window for a device or a card, within `ip_tie_window_s` for an IP
address. A tie's time is the earlier of the two users' latest uses and it lives a
window past that: the pair stays tied while both keep using the resource. A pair's strength is the sum of its ties' kind weights; pairs at
least `min_tie_strength` strong are the edges of `strong`, the user–user graph whose
connected groups are rings.

A use compares the user with the resource's other holders only, so an event costs the
same however big the graph or long the span: at most the resource's degree cap.

Shared infrastructure is *crowded*: a resource held by more users than its cap within
the window, or an IP address held by more than `ip_burst_users` within one tie window.
Its ties are dropped and it ties nobody until it goes unseen for a window, so a carrier
NAT costs one entry however many users sit behind it.

Bounds, in event time: ties expire through a heap, refreshed lazily (an entry is
re-read when it falls due); users and resources unseen for a window are forgotten,
least recently seen first; past `max_users` / `max_resources` the least recently seen
twentieth goes at once; a user keeps at most `max_resources_per_user` resources.

Every change to a pair's ties marks both users *touched*; a detection pass re-reads
only the groups of touched users. The state evolves with the order of the events alone,
never with how they were batched.
"""

from __future__ import annotations

import heapq
from collections import OrderedDict
from collections.abc import Iterable, Iterator
from itertools import combinations
from typing import Any

import networkx as nx

from ottwatch.events import Event
from ottwatch.rings.recency import mark_seen
from ottwatch.rings.settings import KINDS, RingSettings

Resource = tuple[str, str]  # (kind, value)
Pair = tuple[str, str]  # (user, user), in order
KIND_INDEX = {kind: index for index, kind in enumerate(KINDS)}
# A tie's time moves forward at most this often (a share of the window): how precisely
# a tie's expiry follows the pair's latest shared use.
TIE_TIME_STEPS = 720
EPSILON = 1e-9


def ordered(first: str, second: str) -> Pair:
    return (first, second) if first < second else (second, first)


class RingGraph:
    def __init__(self, settings: RingSettings | None = None) -> None:
        self.settings = settings or RingSettings()
        settings = self.settings
        self._weights = settings.kind_weights
        self._window = settings.window_s
        self._ip_reach = min(settings.ip_tie_window_s, self._window)
        self._resolution = self._window / TIE_TIME_STEPS
        self._floor = settings.min_tie_strength - EPSILON
        self._trial_events = frozenset(settings.trial_events)
        self._reset()

    def _reset(self) -> None:
        self.clock = float("-inf")  # latest event time seen
        self.users: OrderedDict[str, float] = OrderedDict()  # user -> last seen
        self.resources: OrderedDict[Resource, float] = OrderedDict()  # resource -> last seen
        self.crowded: set[Resource] = set()
        # resource -> {user: latest use}; crowded resources have none
        self.holders: dict[Resource, dict[str, float]] = {}
        self.held: dict[str, set[Resource]] = {}  # user -> resources it holds
        self.trials: set[tuple[str, Resource]] = set()  # (user, resource) used for a trial
        self.ties: dict[Pair, dict[Resource, float]] = {}  # pair -> {resource: tie time}
        self.partners: dict[str, set[str]] = {}
        self.strong = nx.Graph()  # edges: pairs at least min_tie_strength strong
        self._expiry: list[tuple[float, Pair, Resource]] = []
        self.touched: set[str] = set()

    @property
    def cutoff(self) -> float:
        return self.clock - self._window

    # -- updates ------------------------------------------------------------------------
    def observe(self, events: Iterable[Event], now: float) -> None:
        """Add the events' uses of devices, cards and IPs (times clamped to `now`); uses
        older than the window are ignored."""
        trial_events = self._trial_events
        window = self._window
        clock = self.clock
        cutoff = clock - window
        see = self._see_user
        use = self._use
        for event in events:
            ts = event.ts if event.ts < now else now
            if ts > clock:
                clock = self.clock = ts
                cutoff = clock - window
            elif ts < cutoff:
                continue
            user = event.user_id
            see(user, ts)
            trial = event.event_type in trial_events
            if event.device_id is not None:
                use(user, ("device", event.device_id), ts, trial)
            if event.ip_address is not None:
                use(user, ("ip", event.ip_address), ts, trial)
            if event.payment_fingerprint is not None:
                use(user, ("payment", event.payment_fingerprint), ts, trial)

    def _see_user(self, user: str, ts: float) -> None:
        mark_seen(self.users, user, ts, self.settings.max_users, self._forget_user)

    def _use(self, user: str, resource: Resource, ts: float, trial: bool) -> None:
        mark_seen(self.resources, resource, ts, self.settings.max_resources,
                   self._forget_resource)
        if resource in self.crowded:
            return
        holders = self.holders.get(resource)
        if holders is None:
            self._hold(user, resource, ts, trial, {})
            return
        previous = holders.get(user)
        if previous is None:
            self._hold(user, resource, ts, trial, holders)
            if resource in self.crowded:
                return
        else:
            if ts > previous:
                holders[user] = ts
            if trial and (user, resource) not in self.trials:
                self.trials.add((user, resource))
                self.touched.add(user)  # its rings now count a trial account
            if len(holders) == 1:
                return
        reach = self._ip_reach if resource[0] == "ip" else self._window
        for other, used in holders.items():
            if other != user and -reach <= used - ts <= reach:
                self._tie(user, other, resource, used if used < ts else ts)

    def _hold(self, user: str, resource: Resource, ts: float, trial: bool,
              holders: dict[str, float]) -> None:
        """`user` starts holding `resource`, which crowds it if it is over its caps."""
        held = self.held.get(user)
        if held is None:
            held = self.held[user] = set()
        elif len(held) >= self.settings.max_resources_per_user:
            self._release(user, min(held, key=lambda r: (self.holders[r][user], r)))
        if not holders:
            self.holders[resource] = holders
        holders[user] = ts
        held.add(resource)
        if trial:
            self.trials.add((user, resource))
        if self._over_caps(resource, holders, ts):
            self._crowd(resource)

    def _over_caps(self, resource: Resource, holders: dict[str, float], ts: float) -> bool:
        settings = self.settings
        is_ip = resource[0] == "ip"
        cap = settings.ip_degree_cap if is_ip else settings.degree_cap
        if len(holders) > cap:
            cutoff = self.cutoff
            for user in [u for u, used in holders.items() if used < cutoff]:
                self._release(user, resource)
            if len(holders) > cap:
                return True
        if is_ip and len(holders) > settings.ip_burst_users:
            reach = self._ip_reach
            at_once = sum(1 for used in holders.values() if -reach <= used - ts <= reach)
            return at_once > settings.ip_burst_users
        return False

    def _ties_of(self, first: str, second: str) -> tuple[Pair, dict[Resource, float]]:
        """The pair's ties, created empty (the two become partners) if it has none."""
        pair = ordered(first, second)
        ties = self.ties.get(pair)
        if ties is None:
            ties = self.ties[pair] = {}
            self.partners.setdefault(first, set()).add(second)
            self.partners.setdefault(second, set()).add(first)
        return pair, ties

    def _strength(self, ties: dict[Resource, float]) -> float:
        weights = self._weights
        return sum(weights[kind] for kind, _ in ties)

    def _tie(self, first: str, second: str, resource: Resource, ts: float) -> None:
        pair, ties = self._ties_of(first, second)
        tied = ties.get(resource)
        if tied is None:
            ties[resource] = ts
            heapq.heappush(self._expiry, (ts + self._window, pair, resource))
            self._restrength(pair, ties)
        elif ts - tied >= self._resolution:
            ties[resource] = ts  # its heap entry is re-read when it falls due
            self.touched.update(pair)

    def _untie(self, pair: Pair, resource: Resource) -> None:
        ties = self.ties.get(pair)
        if ties is None or ties.pop(resource, None) is None:
            return
        if not ties:
            del self.ties[pair]
            first, second = pair
            self.partners[first].discard(second)
            self.partners[second].discard(first)
        self._restrength(pair, ties)

    def _restrength(self, pair: Pair, ties: dict[Resource, float]) -> None:
        strength = self._strength(ties)
        first, second = pair
        if strength >= self._floor:
            self.strong.add_edge(first, second, weight=strength)
        elif self.strong.has_edge(first, second):
            self.strong.remove_edge(first, second)
        self.touched.update(pair)

    def _release(self, user: str, resource: Resource) -> None:
        """`user` no longer holds `resource`: the ties it made through it go."""
        holders = self.holders.get(resource)
        if holders is None or holders.pop(user, None) is None:
            return
        self.held[user].discard(resource)
        self.trials.discard((user, resource))
        for other in holders:
            self._untie(ordered(user, other), resource)
        if not holders:
            del self.holders[resource]

    def _crowd(self, resource: Resource) -> None:
        holders = self.holders.pop(resource, {})
        for first, second in combinations(holders, 2):
            self._untie(ordered(first, second), resource)
        for user in holders:
            self.held[user].discard(resource)
            self.trials.discard((user, resource))
        self.crowded.add(resource)

    def _forget_user(self, user: str) -> None:
        self.users.pop(user, None)
        for resource in sorted(self.held.pop(user, ())):
            holders = self.holders[resource]
            del holders[user]
            self.trials.discard((user, resource))
            for other in holders:
                self._untie(ordered(user, other), resource)
            if not holders:
                del self.holders[resource]
        self.partners.pop(user, None)  # every tie went with the resources it was made by
        if user in self.strong:
            self.strong.remove_node(user)

    def _forget_resource(self, resource: Resource) -> None:
        self.resources.pop(resource, None)
        self.crowded.discard(resource)
        for user in sorted(self.holders.get(resource, ())):
            self._release(user, resource)

    def expire(self) -> None:
        """Drop ties, users and resources older than the window of the latest event."""
        cutoff = self.cutoff
        expiry = self._expiry
        while expiry and expiry[0][0] < self.clock:
            _, pair, resource = heapq.heappop(expiry)
            tied = self.ties.get(pair, {}).get(resource)
            if tied is None:
                continue
            if tied < cutoff:
                self._untie(pair, resource)
            else:
                heapq.heappush(expiry, (tied + self._window, pair, resource))
        users = self.users
        while users:
            user, last = next(iter(users.items()))
            if last >= cutoff:
                break
            self._forget_user(user)
        resources = self.resources
        while resources:
            resource, last = next(iter(resources.items()))
            if last >= cutoff:
                break
            self._forget_resource(resource)

    def pending(self) -> bool:
        """Whether a pass now would have anything to read: touched users or due expiries."""
        if self.touched:
            return True
        if self._expiry and self._expiry[0][0] < self.clock:
            return True
        cutoff = self.cutoff
        for seen in (self.users, self.resources):
            if seen and next(iter(seen.values())) < cutoff:
                return True
        return False

    def take_touched(self) -> set[str]:
        touched, self.touched = self.touched, set()
        return touched

    # -- reading ------------------------------------------------------------------------
    def groups(self, users: Iterable[str] | None = None) -> Iterator[list[str]]:
        """The connected groups (sorted members, two or more) of `strong` that hold any
        of `users` (default: all), each once, ordered by their first touched user."""
        strong = self.strong
        seen: set[str] = set()
        for user in sorted(strong if users is None else users):
            if user in seen or user not in strong or not strong.adj[user]:
                continue
            group = nx.node_connected_component(strong, user)
            seen |= group
            yield sorted(group)

    def shared_within(self, members: Iterable[str]) -> dict[Resource, dict[str, float]]:
        """The resources that tie members to each other: resource -> {member: tie time}
        (a member's latest tie through it)."""
        inside = set(members)
        shared: dict[Resource, dict[str, float]] = {}
        for member in sorted(inside):
            for other in self.partners.get(member, ()):
                if other not in inside:
                    continue
                for resource, tied in self.ties[ordered(member, other)].items():
                    times = shared.setdefault(resource, {})
                    if tied > times.get(member, float("-inf")):
                        times[member] = tied
        return shared

    # -- persistence --------------------------------------------------------------------
    def dump(self) -> dict[str, Any]:
        """A JSON-able state: users and resources once each (least recently seen first),
        holders and ties by index; the strong graph and the expiry heap are derived."""
        user_index = {user: i for i, user in enumerate(self.users)}
        resource_index = {resource: i for i, resource in enumerate(self.resources)}
        holders: list[float] = []
        for resource, held in self.holders.items():
            r_index = resource_index[resource]
            for user, used in held.items():
                holders.extend((r_index, user_index[user], used,
                                1 if (user, resource) in self.trials else 0))
        ties: list[float] = []
        for (first, second), tied in self.ties.items():
            for resource, ts in tied.items():
                ties.extend((user_index[first], user_index[second], resource_index[resource], ts))
        return {
            "clock": self.clock if self.clock != float("-inf") else None,
            "users": list(self.users),
            "user_seen": list(self.users.values()),
            "kinds": [KIND_INDEX[kind] for kind, _ in self.resources],
            "values": [value for _, value in self.resources],
            "resource_seen": list(self.resources.values()),
            "crowded": sorted(resource_index[resource] for resource in self.crowded),
            "holders": holders,
            "ties": ties,
            "touched": sorted(user_index[user] for user in self.touched if user in user_index),
        }

    def load(self, state: dict[str, Any]) -> None:
        self._reset()
        self.clock = float("-inf") if state["clock"] is None else state["clock"]
        users = state["users"]
        self.users = OrderedDict(zip(users, state["user_seen"], strict=True))
        resources = [(KINDS[k], v) for k, v in zip(state["kinds"], state["values"], strict=True)]
        self.resources = OrderedDict(zip(resources, state["resource_seen"], strict=True))
        self.crowded = {resources[i] for i in state["crowded"]}
        flat = state["holders"]
        for i in range(0, len(flat), 4):
            resource, user = resources[int(flat[i])], users[int(flat[i + 1])]
            self.holders.setdefault(resource, {})[user] = flat[i + 2]
            self.held.setdefault(user, set()).add(resource)
            if flat[i + 3]:
                self.trials.add((user, resource))
        flat = state["ties"]
        for i in range(0, len(flat), 4):
            _, ties = self._ties_of(users[int(flat[i])], users[int(flat[i + 1])])
            ties[resources[int(flat[i + 2])]] = flat[i + 3]
        for pair, ties in self.ties.items():
            strength = self._strength(ties)
            if strength >= self._floor:
                self.strong.add_edge(*pair, weight=strength)
            self._expiry.extend((ts + self._window, pair, r) for r, ts in ties.items())
        heapq.heapify(self._expiry)
        self.touched = {users[i] for i in state["touched"]}
