"""What a socket client may take: connection slots per peer, time to deliver a line,
bad lines and bytes. Pure bookkeeping on an injected monotonic clock; the socket
source asks and acts (refuses or cuts the connection)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, fields
from enum import Enum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ottwatch.config import SourcesConfig

Clock = Callable[[], float]

SECONDS_PER_MINUTE = 60.0


class Cut(Enum):
    """Why a connection was closed by us; the value is what the log line says."""

    IDLE = "idle"
    SLOW = "slow"
    BAD_LINES = "bad_lines"
    BYTES = "bytes"
    TOO_LONG = "too_long"


class Refusal(Enum):
    FULL = "full"
    PEER_LIMIT = "peer_limit"


@dataclass(frozen=True, slots=True)
class SocketLimits:
    """The `[sources]` keys of the same names; their defaults live in the config alone."""

    max_connections: int
    max_connections_per_peer: int
    idle_timeout_s: float
    line_timeout_s: float
    bad_lines_per_minute: int
    bad_lines_per_connection: int
    bytes_per_minute: int

    @classmethod
    def from_sources(cls, sources: SourcesConfig | None = None) -> SocketLimits:
        """The limits `sources` sets (None: the defaults)."""
        from ottwatch.config import SourcesConfig

        sources = sources if sources is not None else SourcesConfig()
        return cls(**{f.name: getattr(sources, f.name) for f in fields(cls)})

    @property
    def per_peer(self) -> int:
        return min(self.max_connections_per_peer, self.max_connections)


@dataclass(slots=True)
class SocketStats:
    """Counters the agent's heartbeat shows: one per way a client is refused or cut."""

    accepted: int = 0
    active: int = 0
    refused_full: int = 0
    refused_peer_limit: int = 0
    cut_idle: int = 0
    cut_slow: int = 0
    cut_bad_lines: int = 0
    cut_bytes: int = 0
    cut_too_long: int = 0

    def count_cut(self, reason: Cut) -> None:
        name = f"cut_{reason.value}"
        setattr(self, name, getattr(self, name) + 1)

    def count_refusal(self, reason: Refusal) -> None:
        name = f"refused_{reason.value}"
        setattr(self, name, getattr(self, name) + 1)

    def cut(self, reason: Cut) -> int:
        return getattr(self, f"cut_{reason.value}")

    def refused(self, reason: Refusal) -> int:
        return getattr(self, f"refused_{reason.value}")


class TokenBucket:
    """`per_minute` units a minute, refilled continuously; a full minute's worth may
    be spent at once."""

    def __init__(self, per_minute: int, clock: Clock) -> None:
        self.capacity = float(per_minute)
        self.rate = per_minute / SECONDS_PER_MINUTE
        self.clock = clock
        self.tokens = self.capacity
        self.updated = clock()

    def _refill(self) -> None:
        now = self.clock()
        self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
        self.updated = now

    def take(self, amount: float = 1.0) -> bool:
        self._refill()
        if self.tokens < amount:
            return False
        self.tokens -= amount
        return True

    @property
    def full(self) -> bool:
        self._refill()
        return self.tokens >= self.capacity


@dataclass(slots=True)
class _Peer:
    connections: int
    bad_lines: TokenBucket


@dataclass
class PeerBook:
    """Connection slots, overall and per peer, and each peer's bad-line budget, which
    its connections share: reconnecting does not buy a fresh budget."""

    limits: SocketLimits
    clock: Clock
    stats: SocketStats = field(default_factory=SocketStats)
    _peers: dict[str, _Peer] = field(default_factory=dict)

    def admit(self, peer: str) -> Refusal | None:
        if self.stats.active >= self.limits.max_connections:
            self.stats.count_refusal(Refusal.FULL)
            return Refusal.FULL
        state = self._peers.get(peer)
        if state is not None and state.connections >= self.limits.per_peer:
            self.stats.count_refusal(Refusal.PEER_LIMIT)
            return Refusal.PEER_LIMIT
        if state is None:
            self._forget_idle_peers()
            state = self._peers[peer] = _Peer(
                0, TokenBucket(self.limits.bad_lines_per_minute, self.clock))
        state.connections += 1
        self.stats.active += 1
        self.stats.accepted += 1
        return None

    def release(self, peer: str) -> None:
        state = self._peers[peer]
        state.connections -= 1
        self.stats.active -= 1
        if state.connections == 0 and state.bad_lines.full:
            del self._peers[peer]

    def take_bad_line(self, peer: str) -> bool:
        return self._peers[peer].bad_lines.take()

    def connections(self, peer: str) -> int:
        state = self._peers.get(peer)
        return state.connections if state else 0

    def _forget_idle_peers(self) -> None:
        """Peers without a connection whose budget has refilled carry no state."""
        if len(self._peers) < 4 * self.limits.max_connections:
            return
        for peer in [p for p, s in self._peers.items() if not s.connections and s.bad_lines.full]:
            del self._peers[peer]


class ConnectionGuard:
    """One connection's deadlines and quotas. The socket source reports what arrived;
    the guard says when to give up waiting and whether to cut."""

    def __init__(self, limits: SocketLimits, clock: Clock) -> None:
        self.limits = limits
        self.clock = clock
        self.opened = clock()
        self.last_line = self.opened
        self.partial_since: float | None = None
        self.lines = 0
        self.bad_lines = 0
        self.bytes = 0
        self._bytes = TokenBucket(limits.bytes_per_minute, clock)

    def deadline(self) -> tuple[float, Cut]:
        """When to cut if nothing more arrives, and what the cut is called then."""
        idle = self.last_line + self.limits.idle_timeout_s
        if self.partial_since is not None:
            slow = self.partial_since + self.limits.line_timeout_s
            if slow <= idle:
                return slow, Cut.SLOW
        return idle, Cut.IDLE

    def received(self, size: int) -> Cut | None:
        self.bytes += size
        return None if self._bytes.take(size) else Cut.BYTES

    def delivered(self, lines: int, *, partial: bool) -> None:
        """After a read: `lines` complete lines, and whether a line is left unfinished."""
        now = self.clock()
        if lines:
            self.lines += lines
            self.last_line = now
            self.partial_since = now if partial else None
        elif partial and self.partial_since is None:
            self.partial_since = now
        elif not partial:
            self.partial_since = None

    def bad_line(self, peer_budget_left: bool) -> Cut | None:
        self.bad_lines += 1
        if not peer_budget_left or self.bad_lines > self.limits.bad_lines_per_connection:
            return Cut.BAD_LINES
        return None

    def paused(self, seconds: float) -> None:
        """We stopped reading (our queue was full): that time is not the client's."""
        self.last_line += seconds
        if self.partial_since is not None:
            self.partial_since += seconds
