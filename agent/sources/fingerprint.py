"""What a checkpoint remembers of a file's content, to recognise the file on restart.

A fingerprint of offset N is two blake2b digests: of the file's first min(N, SPAN)
bytes and of the min(N, SPAN) bytes just before N. Both spans are fixed by N, so
any candidate (the live file, a rotated copy, a compressed generation) can be
fingerprinted at the same offset and compared; the head digest alone tells a
different file from the same file rewritten before the offset.
"""

from __future__ import annotations

import hashlib
import os
from typing import BinaryIO

SPAN = 4096
DIGEST = 16
EMPTY_OFFSET = 0  # a fingerprint of offset 0 covers nothing: it matches every file


def _digest(data: bytes) -> bytes:
    return hashlib.blake2b(len(data).to_bytes(8, "big") + data, digest_size=DIGEST).digest()


def combine(head: bytes, tail: bytes) -> bytes:
    return _digest(head) + _digest(tail)


def same_head(fingerprint: bytes, head: bytes) -> bool:
    return fingerprint[:DIGEST] == _digest(head)


def of_fd(fd: int, offset: int) -> bytes | None:
    """The fingerprint of an open plain file at `offset`; None when it is shorter."""
    span = min(SPAN, offset)
    head = os.pread(fd, span, 0)
    tail = os.pread(fd, span, offset - span)
    if len(head) != span or len(tail) != span:
        return None
    return combine(head, tail)


def of_stream(stream: BinaryIO, offset: int, expected: bytes | None = None) -> bytes | None:
    """The fingerprint of a seekable stream (a plain or decompressing file) at `offset`;
    None when it is shorter. With `expected`, a different head answers None at once,
    before decompressing up to the offset."""
    span = min(SPAN, offset)
    stream.seek(0)
    head = stream.read(span)
    if len(head) != span or (expected is not None and not same_head(expected, head)):
        return None
    stream.seek(offset - span)
    tail = stream.read(span)
    if len(tail) != span:
        return None
    return combine(head, tail)


class StreamWindow:
    """Fingerprints of points a little behind the read position of a stream read front
    to back (a rotated file, perhaps compressed, where pread is not available)."""

    def __init__(self, head: bytes, recent: bytes, end: int, keep: int) -> None:
        self.head = head  # the stream's first bytes, up to SPAN
        self.recent = recent  # the bytes just before `end`
        self.end = end
        self.keep = keep

    @classmethod
    def at(cls, stream: BinaryIO, offset: int, keep: int) -> StreamWindow:
        """Read what the window needs and leave `stream` positioned at `offset`."""
        stream.seek(0)
        head = stream.read(SPAN)
        start = max(0, offset - SPAN)
        stream.seek(start)
        recent = stream.read(offset - start)
        if len(recent) != offset - start:
            raise EOFError(f"shorter than offset {offset}")
        return cls(head, recent, offset, keep)

    def feed(self, data: bytes) -> None:
        known = len(self.head)
        if known < SPAN and self.end <= known < self.end + len(data):
            self.head += data[known - self.end : SPAN - self.end]
        self.recent = (self.recent + data)[-self.keep :]
        self.end += len(data)

    def fingerprint(self, offset: int) -> bytes | None:
        """None when `offset` lies further back than the window keeps."""
        span = min(SPAN, offset)
        back = self.end - offset
        if len(self.head) < span or back < 0 or back + span > len(self.recent):
            return None
        stop = len(self.recent) - back
        return combine(self.head[:span], self.recent[stop - span : stop])
