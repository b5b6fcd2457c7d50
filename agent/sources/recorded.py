"""Recorded logs for replay and bench: plain or gzip files (or `-` for stdin),
read once, in the order given, to their end."""

from __future__ import annotations

import asyncio
import gzip
import sys
from pathlib import Path
from typing import BinaryIO

from agent.sources.base import Chunk, LineSplitter

READ_BYTES = 256 << 10  # about one batch of lines


def open_recorded(path: str) -> BinaryIO:
    if path == "-":
        return sys.stdin.buffer
    with open(path, "rb") as probe:
        magic = probe.read(2)
    if magic == b"\x1f\x8b":
        return gzip.open(path, "rb")  # type: ignore[return-value]
    return open(path, "rb")


class RecordedSource:
    def __init__(self, paths: list[str], *, max_line: int, head: int) -> None:
        self.name = "recorded"
        self.paths = paths
        self.max_line = max_line
        self.head = head
        self.bytes_read = 0

    async def run(self, queue: asyncio.Queue[Chunk], stop: asyncio.Event) -> None:
        for path in self.paths:
            name = "stdin" if path == "-" else f"file:{Path(path).resolve()}"
            splitter = LineSplitter(self.max_line, self.head)
            handle = open_recorded(path)
            try:
                while not stop.is_set():
                    data = await asyncio.to_thread(handle.read, READ_BYTES) if path == "-" \
                        else handle.read(READ_BYTES)
                    if not data:
                        break
                    self.bytes_read += len(data)
                    chunk = Chunk(name, [])
                    splitter.feed(data, chunk)
                    await queue.put(chunk)
                chunk = Chunk(name, [])
                splitter.flush(chunk)
                await queue.put(chunk)
            finally:
                if path != "-":
                    handle.close()


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
