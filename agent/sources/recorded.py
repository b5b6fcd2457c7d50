"""Recorded logs for replay and bench: plain or gzip files (or `-` for stdin),
read once, in the order given, to their end."""

from __future__ import annotations

import asyncio
import gzip
import io
import sys
from pathlib import Path
from typing import BinaryIO

from agent.sources.base import Chunk, LineSplitter
from agent.sources.time_seek import line_time, offset_before

READ_BYTES = 256 << 10  # about one batch of lines
DISORDER_S = 3600.0  # how far out of event-time order a recorded log may run


def open_recorded(path: str) -> BinaryIO:
    if path == "-":
        return sys.stdin.buffer
    with open(path, "rb") as probe:
        magic = probe.read(2)
    if magic == b"\x1f\x8b":
        return gzip.open(path, "rb")  # type: ignore[return-value]
    return open(path, "rb")


class RecordedSource:
    """`start_ts`: lines before it (less an hour for lines a little out of order) are
    skipped unread where the file can be bisected, unscored otherwise. `stop_ts`: from
    the first chunk that reaches it, lines at or after it are dropped (not scored), and
    reading stops at a line an hour past it."""

    def __init__(self, paths: list[str], *, max_line: int, head: int,
                 start_ts: float | None = None, stop_ts: float | None = None) -> None:
        self.name = "recorded"
        self.paths = paths
        self.max_line = max_line
        self.head = head
        self.bytes_read = 0
        self.start_ts = None if start_ts is None else start_ts - DISORDER_S
        self.stop_ts = stop_ts
        self.skipped_bytes = 0  # never read: before start_ts in a bisected file
        self.skipped_lines = 0  # read, not passed on: before start_ts in a stream

    async def run(self, queue: asyncio.Queue[Chunk], stop: asyncio.Event) -> None:
        for path in self.paths:
            name = "stdin" if path == "-" else f"file:{Path(path).resolve()}"
            handle = open_recorded(path)
            start = self._seek(path, handle)
            splitter = LineSplitter(self.max_line, self.head, offset=start)
            try:
                while not stop.is_set():
                    data = await asyncio.to_thread(handle.read, READ_BYTES) if path == "-" \
                        else handle.read(READ_BYTES)
                    if not data:
                        break
                    self.bytes_read += len(data)
                    chunk = Chunk(name, [])
                    splitter.feed(data, chunk)
                    if self._before_start(chunk):
                        self.skipped_lines += len(chunk.lines)
                        continue
                    done = self._cut_at_stop(chunk)
                    await queue.put(chunk)
                    if done:
                        return  # later lines and files are later still
                chunk = Chunk(name, [])
                splitter.flush(chunk)
                await queue.put(chunk)
            finally:
                if path != "-":
                    handle.close()


    def _seek(self, path: str, handle: BinaryIO) -> int:
        if self.start_ts is None or path == "-" or not isinstance(handle, io.BufferedReader):
            return 0
        size = Path(path).stat().st_size
        start = offset_before(handle, size, self.start_ts)
        handle.seek(start)
        self.skipped_bytes += start
        self.bytes_read += start
        return start

    def _before_start(self, chunk: Chunk) -> bool:
        if self.start_ts is None or not chunk.lines:
            return False
        last = line_time(chunk.lines[-1][1])
        return last is not None and last < self.start_ts

    def _cut_at_stop(self, chunk: Chunk) -> bool:
        """Drop the chunk's lines at or after `stop_ts`; True once a line is far enough
        past it that the rest of the input can be left unread."""
        if self.stop_ts is None or not chunk.lines:
            return False
        last = line_time(chunk.lines[-1][1])
        if last is not None and last < self.stop_ts:
            return False
        kept, done = [], False
        for offset, data in chunk.lines:
            ts = line_time(data)
            if ts is None or ts >= self.stop_ts:
                done = done or (ts is not None and ts >= self.stop_ts + DISORDER_S)
                continue
            kept.append((offset, data))
        chunk.lines = kept
        return done


def total_size(paths: list[str]) -> int | None:
    """Bytes to read, for a progress bar; None when unknown (stdin, gzip)."""
    total = 0
    for path in paths:
        if path == "-":
            return None
        with open(path, "rb") as probe:
            if probe.read(2) == b"\x1f\x8b":
                return None
        total += Path(path).stat().st_size
    return total
