"""What every source produces: chunks of complete lines with their offsets, and
the position to checkpoint once those lines are committed."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from ottwatch.vocabulary import SourcePosition

if TYPE_CHECKING:
    from ottwatch.events import Event, Rejection


@dataclass(slots=True)
class Chunk:
    source: str
    lines: list[tuple[int, bytes]]  # (byte offset of the line, line without newline)
    position: SourcePosition | None = None  # resume point once these lines are stored
    read_at: float = field(default_factory=time.perf_counter)
    too_long: list[tuple[int, bytes, int]] = field(default_factory=list)  # offset, head, length
    # parse_line's verdict per line, when the source already parsed them (sockets do,
    # to cut a client that sends bad lines); the loop then does not parse them again.
    verdicts: list[Event | Rejection] | None = None


class Source(Protocol):
    name: str

    async def run(self, queue: asyncio.Queue[Chunk], stop: asyncio.Event) -> None:
        """Put chunks on the queue until `stop` is set (or, for finite sources, EOF)."""


class LineSplitter:
    """Splits a byte stream into lines, tracking offsets; a line longer than
    `max_line` is not buffered whole: its head is kept and the rest skipped."""

    def __init__(self, max_line: int, head: int, offset: int = 0) -> None:
        self.max_line = max_line
        self.head = head
        self.offset = offset  # stream offset of the first byte in `pending`
        self.pending = b""
        self._skipping: tuple[int, bytes, int] | None = None  # offset, head, length so far

    def feed(self, data: bytes, chunk: Chunk) -> None:
        if self._skipping is not None:
            data = self._skip(data, chunk)
            if data is None:
                return
        buffer = self.pending + data if self.pending else data
        start = 0
        lines = chunk.lines
        while True:
            end = buffer.find(b"\n", start)
            if end < 0:
                break
            line = buffer[start:end]
            if len(line) > self.max_line:
                chunk.too_long.append((self.offset + start, line[: self.head], len(line)))
            elif line.strip():
                lines.append((self.offset + start, line.rstrip(b"\r")))
            start = end + 1
        rest = buffer[start:]
        self.offset += start
        if len(rest) > self.max_line:
            self._skipping = (self.offset, rest[: self.head], len(rest))
            self.offset += len(rest)
            self.pending = b""
        else:
            self.pending = rest

    def _skip(self, data: bytes, chunk: Chunk) -> bytes | None:
        offset, head, length = self._skipping  # type: ignore[misc]
        end = data.find(b"\n")
        if end < 0:
            self._skipping = (offset, head, length + len(data))
            self.offset += len(data)
            return None
        chunk.too_long.append((offset, head, length + end))
        self._skipping = None
        self.offset += end + 1
        return data[end + 1 :]

    @property
    def resume_offset(self) -> int:
        """Where to start again after a restart: the first byte not yet handed on."""
        return self._skipping[0] if self._skipping is not None else self.offset

    def flush(self, chunk: Chunk) -> None:
        """End of stream: a last line without a newline still counts."""
        if self._skipping is not None:
            chunk.too_long.append(self._skipping)
            self._skipping = None
        elif self.pending.strip():
            chunk.lines.append((self.offset, self.pending.rstrip(b"\r")))
        self.offset += len(self.pending)
        self.pending = b""
