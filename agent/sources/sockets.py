"""JSON lines over TCP (loopback by default) and a Unix socket.

Each connection has a line limit; a client that sends a longer line, or keeps
sending lines that are not JSON objects, is cut off with a logged reason while
the others go on. Backpressure is natural: when the batch queue is full the
connection's reader waits, and TCP's window pushes back on the client.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import stat
from pathlib import Path

from agent.sources.base import Chunk

log = logging.getLogger("ottwatch.source.socket")

LINES_PER_CHUNK = 1000
GARBAGE_RUN_LIMIT = 20


class SocketSource:
    def __init__(
        self,
        *,
        tcp: str = "",
        unix: str = "",
        max_line: int,
        head: int,
        max_connections: int = 64,
    ) -> None:
        self.name = "sockets"
        self.tcp = tcp
        self.unix = unix
        self.max_line = max_line
        self.head = head
        self.slots = asyncio.Semaphore(max_connections)
        self.max_connections = max_connections
        self.active = 0
        self.cut_off: list[tuple[str, str]] = []  # (peer, reason), for tests and status
        self._ids = itertools.count(1)
        self._queue: asyncio.Queue[Chunk] | None = None
        self.tcp_port: int | None = None
        self.ready = asyncio.Event()

    async def run(self, queue: asyncio.Queue[Chunk], stop: asyncio.Event) -> None:
        self._queue = queue
        servers: list[asyncio.base_events.Server] = []
        limit = self.max_line + 1
        if self.tcp:
            host, _, port = self.tcp.rpartition(":")
            server = await asyncio.start_server(
                self._serve, host.strip("[]") or "127.0.0.1", int(port), limit=limit
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
                server = await asyncio.start_unix_server(self._serve, str(path), limit=limit)
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
        peer = writer.get_extra_info("peername") or "unix"
        name = f"{'tcp' if isinstance(peer, tuple) else 'unix'}:{self._describe(peer)}#{next(self._ids)}"
        if self.slots.locked():
            log.warning("%s: refused, %d connections already open", name, self.max_connections)
            writer.close()
            return
        async with self.slots:
            self.active += 1
            try:
                await self._read(name, reader)
            except (ConnectionError, asyncio.IncompleteReadError):
                pass
            finally:
                self.active -= 1
                writer.close()

    @staticmethod
    def _describe(peer: object) -> str:
        if isinstance(peer, tuple):
            return f"{peer[0]}:{peer[1]}"
        return str(peer) or "unix"

    async def _read(self, name: str, reader: asyncio.StreamReader) -> None:
        assert self._queue is not None
        offset = 0
        garbage_run = 0
        while True:
            chunk = Chunk(name, [])
            while len(chunk.lines) < LINES_PER_CHUNK:
                try:
                    line = await reader.readuntil(b"\n")
                except asyncio.LimitOverrunError:
                    head = bytes(reader._buffer[: self.head])  # noqa: SLF001 - the head is all we keep
                    chunk.too_long.append((offset, head, self.max_line + 1))
                    await self._queue.put(chunk)
                    self._cut(name, f"line over {self.max_line} bytes")
                    return
                except asyncio.IncompleteReadError as exc:
                    if exc.partial.strip():
                        chunk.lines.append((offset, exc.partial.rstrip(b"\r\n")))
                    await self._queue.put(chunk)
                    return
                body = line.rstrip(b"\r\n")
                if body.strip():
                    chunk.lines.append((offset, body))
                    garbage_run = 0 if body.lstrip()[:1] == b"{" else garbage_run + 1
                offset += len(line)
                if garbage_run >= GARBAGE_RUN_LIMIT:
                    await self._queue.put(chunk)
                    self._cut(name, f"{GARBAGE_RUN_LIMIT} lines in a row that are not JSON objects")
                    return
                if not reader._buffer:  # noqa: SLF001 - hand on what has arrived so far
                    break
            if chunk.lines:
                await self._queue.put(chunk)

    def _cut(self, name: str, reason: str) -> None:
        self.cut_off.append((name, reason))
        log.warning("%s: connection cut off: %s", name, reason)
