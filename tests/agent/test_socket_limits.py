"""The socket limits' bookkeeping on a hand-driven clock: slots per peer, the
bad-line budget a peer's connections share, deadlines, and the config keys."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from agent.assembly import socket_limits
from agent.sources.limits import (
    ConnectionGuard,
    Cut,
    PeerBook,
    Refusal,
    SocketLimits,
    TokenBucket,
)
from ottwatch.config import SourcesConfig


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_token_bucket_spends_a_minute_at_once_then_refills_by_the_second() -> None:
    clock = FakeClock()
    bucket = TokenBucket(60, clock)
    assert all(bucket.take() for _ in range(60))
    assert not bucket.take()
    clock.now += 2.0
    assert bucket.take() and bucket.take() and not bucket.take()
    clock.now += 3600
    assert bucket.full


def test_one_peer_cannot_take_every_slot() -> None:
    book = PeerBook(SocketLimits(max_connections=6, max_connections_per_peer=4), FakeClock())
    assert [book.admit("tcp:10.0.0.1") for _ in range(5)] == [None] * 4 + [Refusal.PEER_LIMIT]
    assert book.admit("tcp:10.0.0.2") is None and book.admit("tcp:10.0.0.3") is None
    assert book.admit("tcp:10.0.0.4") is Refusal.FULL
    book.release("tcp:10.0.0.1")
    assert book.admit("tcp:10.0.0.1") is None
    stats = book.stats
    assert (stats.accepted, stats.active, stats.refused_peer_limit, stats.refused_full) == \
        (7, 6, 1, 1)


def test_the_per_peer_limit_is_at_most_the_overall_one() -> None:
    book = PeerBook(SocketLimits(max_connections=2, max_connections_per_peer=16), FakeClock())
    assert [book.admit("unix:uid=1") for _ in range(3)] == [None, None, Refusal.FULL]


def test_reconnecting_does_not_buy_a_fresh_bad_line_budget() -> None:
    clock = FakeClock()
    book = PeerBook(SocketLimits(bad_lines_per_minute=3), clock)
    book.admit("tcp:10.0.0.9")
    assert [book.take_bad_line("tcp:10.0.0.9") for _ in range(4)] == [True, True, True, False]
    book.release("tcp:10.0.0.9")
    book.admit("tcp:10.0.0.9")
    assert not book.take_bad_line("tcp:10.0.0.9")
    clock.now += 20.0  # 3 a minute: one more after 20 s
    assert book.take_bad_line("tcp:10.0.0.9") and not book.take_bad_line("tcp:10.0.0.9")


def test_peers_that_spent_budget_are_forgotten_once_it_has_refilled() -> None:
    clock = FakeClock()
    book = PeerBook(SocketLimits(max_connections=1, bad_lines_per_minute=1), clock)
    spent = ["tcp:a", "tcp:b", "tcp:c", "tcp:d"]
    for peer in spent:
        book.admit(peer)
        book.take_bad_line(peer)
        book.release(peer)
    assert sorted(book._peers) == spent  # noqa: SLF001 - a spent budget is remembered
    clock.now += 60
    book.admit("tcp:e")
    assert list(book._peers) == ["tcp:e"]  # noqa: SLF001
    book.release("tcp:e")
    assert book._peers == {}  # noqa: SLF001 - nothing spent, nothing kept


def test_deadlines_idle_then_slow_and_a_full_queue_is_not_the_clients_fault() -> None:
    clock = FakeClock()
    guard = ConnectionGuard(SocketLimits(idle_timeout_s=60, line_timeout_s=10), clock)
    assert guard.deadline() == (1060.0, Cut.IDLE)
    clock.now += 5
    guard.delivered(0, partial=True)
    assert guard.deadline() == (1015.0, Cut.SLOW)
    clock.now += 5
    guard.delivered(0, partial=True)  # more bytes of the same line: the clock runs on
    assert guard.deadline() == (1015.0, Cut.SLOW)
    guard.paused(4.0)
    assert guard.deadline() == (1019.0, Cut.SLOW)
    guard.delivered(3, partial=False)
    assert guard.deadline() == (1070.0, Cut.IDLE) and guard.lines == 3
    clock.now += 55
    guard.delivered(0, partial=True)  # the idle deadline comes first
    assert guard.deadline() == (1070.0, Cut.IDLE)


def test_bad_lines_over_the_connections_total_cut_it() -> None:
    guard = ConnectionGuard(SocketLimits(bad_lines_per_connection=2), FakeClock())
    assert guard.bad_line(True) is None and guard.bad_line(True) is None
    assert guard.bad_line(True) is Cut.BAD_LINES
    assert ConnectionGuard(SocketLimits(), FakeClock()).bad_line(False) is Cut.BAD_LINES


def test_bytes_over_the_quota_cut() -> None:
    clock = FakeClock()
    guard = ConnectionGuard(SocketLimits(bytes_per_minute=6000), clock)
    assert guard.received(5000) is None
    assert guard.received(2000) is Cut.BYTES
    clock.now += 30
    assert guard.received(2000) is None and guard.bytes == 9000


def test_sources_config_keys_reach_the_socket_limits() -> None:
    config = SourcesConfig(max_connections=10, max_connections_per_peer=3, idle_timeout_s=5,
                           line_timeout_s=1.5, bad_lines_per_minute=7,
                           bad_lines_per_connection=9, bytes_per_minute=2 * 1024 * 1024)
    assert socket_limits(config) == SocketLimits(10, 3, 5.0, 1.5, 7, 9, 2 * 1024 * 1024)
    assert socket_limits(SourcesConfig()) == SocketLimits()


@pytest.mark.parametrize("key, value", [
    ("max_connections_per_peer", 0), ("idle_timeout_s", 0), ("line_timeout_s", -1),
    ("bad_lines_per_minute", 0), ("bad_lines_per_connection", 0), ("bytes_per_minute", 1000),
    ("idle_timeout", 60),
])
def test_sources_config_rejects_out_of_bounds_and_unknown_keys(key: str, value: float) -> None:
    with pytest.raises(ValidationError):
        SourcesConfig.model_validate({key: value})
