"""JSON lines over TCP (loopback by default) and a Unix socket.

No client can starve the others: one peer holds at most `max_connections_per_peer`
slots; a connection that delivers no complete line for `idle_timeout_s`, or keeps a
line unfinished for `line_timeout_s`, is closed; so is one that sends a line over the
limit, bad lines over its peer's budget (whatever they start with: the verdict is
`parse_line`'s, and the loop reuses it), or bytes over its quota. Each refusal and cut
is counted in `stats` and logged with the peer and counts, never the data.
Backpressure is natural: when the batch queue is full the connection's reader waits
(that wait is not held against the client), and TCP's window pushes back on it.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
import stat
import time
from pathlib import Path

from agent.sources.base import Chunk, LineSplitter
from agent.sources.limits import (
    Clock,
    ConnectionGuard,
    Cut,
    PeerBook,
    Refusal,
    SocketLimits,
    SocketStats,
)
from agent.sources.peers import Peer, tcp_peer, unix_peer
from ottwatch.events import Event, Rejection, parse_line

log = logging.getLogger("ottwatch.source.socket")

READ_BYTES = 256 * 1024


class SocketSource:
    def __init__(
        self,
        *,
        tcp: str = "",
        unix: str = "",
        max_line: int,
        head: int,
        limits: SocketLimits | None = None,
        clock: Clock = time.monotonic,
    ) -> None:
        self.name = "sockets"
        self.tcp = tcp
        self.unix = unix
        self.max_line = max_line
        self.head = head
        self.limits = limits or SocketLimits.from_sources()
        self.clock = clock
        self.peers = PeerBook(self.limits, clock)
        self.stats: SocketStats = self.peers.stats
        self._ids = itertools.count(1)
        self._queue: asyncio.Queue[Chunk] | None = None
        self.tcp_port: int | None = None
        self.ready = asyncio.Event()

    async def run(self, queue: asyncio.Queue[Chunk], stop: asyncio.Event) -> None:
        self._queue = queue
        servers: list[asyncio.base_events.Server] = []
        if self.tcp:
            host, _, port = self.tcp.rpartition(":")
            server = await asyncio.start_server(
                self._serve, host.strip("[]") or "127.0.0.1", int(port), limit=READ_BYTES
            )
            self.tcp_port = server.sockets[0].getsockname()[1]
            log.info("listening on tcp %s:%s", host, self.tcp_port)
            servers.append(server)
        if self.unix:
            path = Path(self.unix)
            if path.exists() and stat.S_ISSOCK(path.stat().st_mode):
                path.unlink()
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            old = os.umask(0o177)
            try:
                server = await asyncio.start_unix_server(self._serve, str(path),
                                                         limit=READ_BYTES)
            finally:
                os.umask(old)
            log.info("listening on unix %s", path)
            servers.append(server)
        self.ready.set()
        try:
            await stop.wait()
        finally:
            for server in servers:
                server.close()
            for server in servers:
                await server.wait_closed()
            if self.unix:
                Path(self.unix).unlink(missing_ok=True)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        address = writer.get_extra_info("peername")
        if isinstance(address, tuple):
            peer, name = tcp_peer(address), f"tcp:{address[0]}:{address[1]}"
        else:
            peer, name = unix_peer(writer.get_extra_info("socket")), "unix:unix"
        name = f"{name}#{next(self._ids)}"
        refusal = self.peers.admit(peer.key)
        if refusal is not None:
            self._log_refusal(name, peer, refusal)
            writer.close()
            return
        try:
            with contextlib.suppress(ConnectionError):  # a client hanging up is its end
                await self._read(name, peer, reader)
        finally:
            self.peers.release(peer.key)
            writer.close()

    async def _read(self, name: str, peer: Peer, reader: asyncio.StreamReader) -> None:
        guard = ConnectionGuard(self.limits, self.clock)
        splitter = LineSplitter(self.max_line, self.head)
        while True:
            deadline, on_timeout = guard.deadline()
            try:
                async with asyncio.timeout(deadline - self.clock()):
                    data = await reader.read(READ_BYTES)
            except TimeoutError:
                self._cut(name, peer, guard, on_timeout)
                return
            chunk = Chunk(name, [])
            if not data:
                splitter.flush(chunk)
                cut = self._judge(peer, guard, chunk)
                await self._hand_on(chunk, guard)
                if cut is not None:
                    self._cut(name, peer, guard, cut)
                return
            if (cut := guard.received(len(data))) is not None:
                self._cut(name, peer, guard, cut)
                return
            splitter.feed(data, chunk)
            if _in_long_line(splitter):
                splitter.flush(chunk)  # keeps the head of the long line for the quarantine
            if chunk.too_long:
                first = chunk.too_long[0][0]
                chunk.lines = [line for line in chunk.lines if line[0] < first]
                chunk.too_long = chunk.too_long[:1]
            cut = self._judge(peer, guard, chunk) or (Cut.TOO_LONG if chunk.too_long else None)
            guard.delivered(len(chunk.lines), partial=bool(splitter.pending))
            await self._hand_on(chunk, guard)
            if cut is not None:
                self._cut(name, peer, guard, cut)
                return

    def _judge(self, peer: Peer, guard: ConnectionGuard, chunk: Chunk) -> Cut | None:
        """Parse each line (the loop reuses the verdicts); at the first bad line over
        the budget, drop it and every line after it and say so."""
        verdicts: list[Event | Rejection] = []
        for index, (offset, data) in enumerate(chunk.lines):
            verdict = parse_line(data, source=chunk.source, offset=offset,
                                 max_line_bytes=self.max_line)
            if isinstance(verdict, Rejection):
                cut = guard.bad_line(self.peers.take_bad_line(peer.key))
                if cut is not None:
                    del chunk.lines[index:]
                    chunk.verdicts = verdicts
                    return cut
            verdicts.append(verdict)
        chunk.verdicts = verdicts
        return None

    async def _hand_on(self, chunk: Chunk, guard: ConnectionGuard) -> None:
        assert self._queue is not None
        if not chunk.lines and not chunk.too_long:
            return
        waiting_since = self.clock()
        await self._queue.put(chunk)
        guard.paused(self.clock() - waiting_since)

    def _cut(self, name: str, peer: Peer, guard: ConnectionGuard, cut: Cut) -> None:
        self.stats.count_cut(cut)
        log.warning("%s: connection cut off (%s): %s; peer %s, %d lines, %d bad, %d bytes "
                    "in %.1f s", name, cut.value, self._explain(cut), peer.label, guard.lines,
                    guard.bad_lines, guard.bytes, self.clock() - guard.opened)

    def _explain(self, cut: Cut) -> str:
        limits = self.limits
        match cut:
            case Cut.IDLE:
                return f"no complete line for {limits.idle_timeout_s:g} s"
            case Cut.SLOW:
                return f"a line left unfinished for {limits.line_timeout_s:g} s"
            case Cut.BAD_LINES:
                return (f"bad lines over quota ({limits.bad_lines_per_minute} a minute per "
                        f"peer, {limits.bad_lines_per_connection} per connection)")
            case Cut.BYTES:
                return f"over {limits.bytes_per_minute} bytes a minute"
            case Cut.TOO_LONG:
                return f"line over {self.max_line} bytes"

    def _log_refusal(self, name: str, peer: Peer, refusal: Refusal) -> None:
        if refusal is Refusal.FULL:
            log.warning("%s: refused, %d connections already open; peer %s",
                        name, self.limits.max_connections, peer.label)
        else:
            log.warning("%s: refused, peer %s already holds %d connections (the limit a peer)",
                        name, peer.label, self.peers.connections(peer.key))


def _in_long_line(splitter: LineSplitter) -> bool:
    """The splitter is skipping the rest of a line over the limit (it then resumes
    at that line's start, not at its current offset)."""
    return splitter.resume_offset != splitter.offset
