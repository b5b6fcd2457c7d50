"""The rotated generations beside a log file (NAME.1, NAME.1.gz, NAME-20261204.gz,
NAME.0 ...), in the order they were written, and which of them holds a checkpoint."""

from __future__ import annotations

import bz2
import gzip
import lzma
import os
import re
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from agent.sources import fingerprint
from ottwatch.vocabulary import SourcePosition

DECOMPRESSORS: dict[str, Callable[[BinaryIO], BinaryIO]] = {
    ".gz": lambda raw: gzip.GzipFile(fileobj=raw, mode="rb"),  # type: ignore[dict-item]
    ".bz2": lambda raw: bz2.BZ2File(raw, mode="rb"),  # type: ignore[dict-item]
    ".xz": lambda raw: lzma.LZMAFile(raw, mode="rb"),  # type: ignore[dict-item]
}
COMPRESSED = (*DECOMPRESSORS, ".zst", ".lz4", ".z")  # never tailed as live files
UNREADABLE = (EOFError, OSError, lzma.LZMAError, zlib.error)  # gzip.BadGzipFile is an OSError


@dataclass(frozen=True)
class Generation:
    path: Path
    stat: os.stat_result

    @property
    def compressed(self) -> bool:
        return self.path.suffix.lower() in DECOMPRESSORS

    @property
    def inode(self) -> int:
        return self.stat.st_ino


class Opened:
    """A generation open for reading, decompressed if need be. The descriptor is taken
    at once, so the file stays readable if rotation moves or deletes it meanwhile."""

    def __init__(self, generation: Generation, raw: BinaryIO) -> None:
        self.generation = generation
        self.raw = raw
        wrap = DECOMPRESSORS.get(generation.path.suffix.lower())
        self.stream: BinaryIO = wrap(raw) if wrap else raw

    def close(self) -> None:
        self.stream.close()
        self.raw.close()


def _names(path: Path) -> tuple[re.Pattern[str], re.Pattern[str]]:
    """(any rotation name, the numbered scheme NAME.N[.gz] with N as group 1)."""
    base, packed = re.escape(path.name), r"(?:\.(?:gz|bz2|xz))?"
    return (re.compile(base + r"[.-]\d[\d.-]*" + packed, re.IGNORECASE),
            re.compile(base + r"\.(\d+)" + packed, re.IGNORECASE))


def generations(path: Path) -> list[Generation]:
    """Rotated generations of `path`, oldest first: by number when every name is
    numbered (NAME.2.gz before NAME.1 before NAME.0), else by modification time.
    A compressed file whose plain twin is still there is being compressed: left out."""
    rotation, numbered = _names(path)
    found: list[Generation] = []
    try:
        entries = list(os.scandir(path.parent))
    except FileNotFoundError:
        return []
    names = {entry.name for entry in entries}
    for entry in entries:
        if not rotation.fullmatch(entry.name):
            continue
        candidate = Path(entry.path)
        if candidate.suffix.lower() in DECOMPRESSORS and candidate.stem in names:
            continue
        if candidate.suffix.lower() in COMPRESSED and candidate.suffix.lower() not in DECOMPRESSORS:
            continue
        try:
            found.append(Generation(candidate, candidate.stat()))
        except FileNotFoundError:
            continue
    numbers = [numbered.fullmatch(g.path.name) for g in found]
    if all(numbers):
        order = {g.path: -int(m.group(1)) for g, m in zip(found, numbers, strict=True) if m}
        return sorted(found, key=lambda g: (order[g.path], g.stat.st_mtime_ns))
    return sorted(found, key=lambda g: (g.stat.st_mtime_ns, g.path.name))


def open_generation(generation: Generation) -> Opened | None:
    """None when the file is gone, or the name now holds another file (rotated on)."""
    try:
        fd = os.open(generation.path, os.O_RDONLY)
    except FileNotFoundError:
        return None
    if os.fstat(fd).st_ino != generation.inode:
        os.close(fd)
        return None
    return Opened(generation, os.fdopen(fd, "rb", buffering=0))


def holds(generation: Generation, position: SourcePosition) -> bool:
    """Does this generation hold the bytes the checkpoint saw before its offset?"""
    if position.offset == fingerprint.EMPTY_OFFSET or position.fingerprint is None:
        return generation.inode == position.inode and not generation.compressed
    if not generation.compressed and generation.stat.st_size < position.offset:
        return False
    opened = open_generation(generation)
    if opened is None:
        return False
    try:
        found = fingerprint.of_stream(opened.stream, position.offset, position.fingerprint)
    except UNREADABLE:
        return False
    finally:
        opened.close()
    return found == position.fingerprint


def find_holder(found: list[Generation], position: SourcePosition, *,
                live_inode: int | None,
                check: Callable[[Generation, SourcePosition], bool] = holds) -> int | None:
    """Index in `found` of the newest generation holding the checkpoint; the live file
    (`live_inode`) is not a candidate. A same-inode plain file is tried first: cheap,
    and right whenever rotation only renamed the file."""
    candidates = [i for i in reversed(range(len(found))) if found[i].inode != live_inode]
    by_inode = [i for i in candidates
                if found[i].inode == position.inode and not found[i].compressed]
    for index in by_inode + [i for i in candidates if i not in by_inode]:
        if check(found[index], position):
            return index
    return None
