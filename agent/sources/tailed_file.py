"""Read one JSON-lines file through logrotate, a chunk at a time.

- rename+create: the old file is read to its end (and for a short grace period,
  for writers that reopen late) before the new one is read from its start;
  generations rotated away meanwhile without being seen (the agent lagged, or
  two rotations came within the grace period) are read in between, oldest first;
- copytruncate: the shrink (or a rewrite: the bytes before the read offset
  changed) is seen before reading on, the lines written since our last read are
  taken from the rotated copy when it is beside the file, then the file is read
  from its start;
- restart: the checkpoint names the inode and offset; if the file was rotated
  while the agent was down, the rest of the old inode is found beside it (and
  later generations after it); if it was copied and truncated, the rest is
  taken from the newest rotated copy.

Rotated files are read through a backlog, a chunk at a time, before the live
file, so memory stays bounded however much was rotated away.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

from agent.sources import fingerprint
from agent.sources.base import Chunk, LineSplitter
from agent.sources.fingerprint import SPAN, StreamWindow
from agent.sources.resume import plan_legacy, plan_resume
from agent.sources.rotation import (
    UNREADABLE,
    Generation,
    Opened,
    find_holder,
    generations,
    open_generation,
)
from ottwatch.vocabulary import SourcePosition

log = logging.getLogger("ottwatch.source.file")

READ_BYTES = 256 << 10  # about one batch of lines
FINGERPRINT = 64
ROTATE_GRACE_S = 1.0


def file_source_name(path: str | os.PathLike[str]) -> str:
    return f"file:{os.path.abspath(path)}"


@dataclass
class Rotated:
    """The unread rest of a rotated-away generation (perhaps compressed), read before
    the live file. Its checkpoints name it by inode, offset and fingerprint."""

    opened: Opened
    offset: int
    splitter: LineSplitter
    window: StreamWindow

    @property
    def name(self) -> str:
        return self.opened.generation.path.name


PLAN_ATTEMPTS = 5  # rotation renaming files while we open them: plan again


class TailedFile:
    def __init__(self, path: Path, max_line: int, head: int) -> None:
        self.path = path
        self.name = file_source_name(path)
        self.max_line = max_line
        self.head = head
        self.fd: int | None = None
        self.inode: int | None = None
        self.splitter = LineSplitter(max_line, head)
        self.fingerprint = b""  # the bytes just before splitter.offset, to see a rewrite
        self.live_position: SourcePosition | None = None  # the live file's, last computed
        # The live file's size when last looked at, with its fingerprint: a copytruncate
        # shows even before anything was read (while the backlog is read, say).
        self.seen: SourcePosition | None = None
        self.generations_when_empty: set[int] = set()  # inodes, while `seen` is at 0
        self.last_position: SourcePosition | None = None  # the last one past offset 0
        self.rotated_at: float | None = None
        self.backlog: list[Rotated] = []

    # -- opening ---------------------------------------------------------------
    def open(self, position: SourcePosition | None) -> bool:
        """Open the file, resuming from a checkpoint; rotated generations with lines not
        yet stored go to the backlog. False when the file is not there."""
        try:
            fd = os.open(self.path, os.O_RDONLY)
        except FileNotFoundError:
            return False
        st = os.fstat(fd)
        if position is None or (position.inode is None and position.fingerprint is None):
            self._adopt(fd, 0)
            return True
        self.last_position = position if position.offset else None
        for _attempt in range(PLAN_ATTEMPTS):
            found = generations(self.path)
            plan = (plan_resume(self.path, fd, st, position, found) if position.fingerprint
                    else plan_legacy(self.path, fd, st, position, found))
            if self._queue(plan.backlog):
                log.log(plan.level, "%s", plan.describe(self.path))
                break
        else:
            log.warning("%s: rotated files kept moving while being opened; reading the file "
                        "from 0 without them", self.path)
        self._adopt(fd, plan.live_offset)
        return True

    def _queue(self, steps: list[tuple[Generation, int]]) -> bool:
        """Open every generation of a plan; False (nothing queued) if one was moved or
        deleted meanwhile, so that the caller plans again."""
        queued: list[Rotated] = []
        for generation, offset in steps:
            opened = open_generation(generation)
            try:
                rotated = None if opened is None else self._rotated(opened, offset)
            except UNREADABLE:
                rotated = None
            if rotated is None:
                if opened is not None:
                    opened.close()
                for item in queued:
                    item.opened.close()
                return False
            queued.append(rotated)
        self.backlog += queued
        return True

    def _rotated(self, opened: Opened, offset: int) -> Rotated:
        window = StreamWindow.at(opened.stream, offset, SPAN + READ_BYTES + self.max_line)
        return Rotated(opened, offset, LineSplitter(self.max_line, self.head, offset), window)

    def _adopt(self, fd: int, offset: int) -> None:
        self.fd = fd
        self.inode = os.fstat(fd).st_ino
        os.lseek(fd, offset, os.SEEK_SET)
        self.splitter = LineSplitter(self.max_line, self.head, offset)
        self._remember_fingerprint()
        self.seen = None
        self._observe()

    def close(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None
        for rotated in self.backlog:
            rotated.opened.close()

    # -- reading ---------------------------------------------------------------
    def position(self) -> SourcePosition | None:
        """The checkpoint once what was handed on is stored (None: keep the last one).
        Offset 0 of a new file tells nothing about its content: the end of the file
        before it stands in."""
        if self.backlog:
            return self._settle(self._backlog_position(self.backlog[0]))
        return self._settle(self.live_position or SourcePosition(
            self.name, self.inode, self.splitter.resume_offset))

    def _settle(self, position: SourcePosition | None) -> SourcePosition | None:
        if position is None or position.offset:
            self.last_position = position or self.last_position
            return position
        return self.last_position or position

    def _backlog_position(self, rotated: Rotated) -> SourcePosition | None:
        offset = rotated.splitter.resume_offset
        digest = rotated.window.fingerprint(offset)
        if digest is None:
            return None  # inside a line too long for the window: keep the last checkpoint
        return SourcePosition(self.name, rotated.opened.generation.inode, offset, digest)

    def read_chunk(self) -> Chunk | None:
        """Up to READ_BYTES of new lines (the backlog first), or None at the end of
        the live file, or when it was truncated or rewritten under us (which
        `check_rotation` then handles)."""
        if self.backlog:
            return self._read_backlog()
        if self.fd is None or self._rewritten() or not self._observe():
            return None
        if self.backlog:  # copies of lines the file no longer has, found by looking
            return self._read_backlog()
        data = os.read(self.fd, READ_BYTES)
        if not data:
            return None
        chunk = Chunk(self.name, [])
        self.splitter.feed(data, chunk)
        self._remember_fingerprint()
        chunk.position = self.position()
        return chunk

    def _read_backlog(self) -> Chunk:
        if self.fd is not None and not self._observe():
            self._on_truncate()  # the live file, not read yet, was copied and truncated
        rotated = self.backlog[0]
        # its lines name the file they were read from; checkpoints keep this source's name
        chunk = Chunk(file_source_name(rotated.opened.generation.path), [])
        try:
            data = rotated.opened.stream.read(READ_BYTES)
        except UNREADABLE as exc:
            log.warning("%s: %s is unreadable from offset %d on (%s); going on without "
                        "its rest", self.path, rotated.name, rotated.splitter.offset,
                        type(exc).__name__)
            data = b""
        if data:
            rotated.window.feed(data)
            rotated.splitter.feed(data, chunk)
            chunk.position = self.position()
            return chunk
        rotated.splitter.flush(chunk)  # a rotated file is complete: a last partial line counts
        chunk.position = self._settle(self._backlog_position(rotated))
        rotated.opened.close()
        self.backlog.pop(0)
        return chunk

    def _remember_fingerprint(self) -> None:
        assert self.fd is not None
        end = self.splitter.offset
        self.fingerprint = os.pread(self.fd, min(end, FINGERPRINT), max(0, end - FINGERPRINT))
        resume = self.splitter.resume_offset
        digest = fingerprint.of_fd(self.fd, resume)
        if digest is not None:
            self.live_position = SourcePosition(self.name, self.inode, resume, digest)

    def _observe(self) -> bool:
        """Note how far the live file has grown; False when it no longer holds what was
        seen in it (truncated, or replaced in place)."""
        assert self.fd is not None
        size = os.fstat(self.fd).st_size
        if (seen := self.seen) is not None:
            if size == seen.offset:
                return True
            if size < seen.offset or fingerprint.of_fd(self.fd, seen.offset) != seen.fingerprint:
                return False
            if seen.offset == 0:
                self._queue_unseen_copies()
        self.seen = SourcePosition(self.name, self.inode, size, fingerprint.of_fd(self.fd, size))
        if size == 0:
            self.generations_when_empty = {g.inode for g in generations(self.path)}
        return True

    def _queue_unseen_copies(self) -> None:
        """The file grew from empty. Lines written, copied away and truncated before we
        looked leave no trace in it: a new uncompressed generation the file no longer
        holds is such a copy (compressed copies are not looked for)."""
        for _attempt in range(PLAN_ATTEMPTS):
            copies = [g for g in generations(self.path)
                      if g.inode not in self.generations_when_empty and g.inode != self.inode
                      and not g.compressed and g.stat.st_size and not self._live_holds(g)]
            if self._queue([(g, 0) for g in copies]):
                for copy in copies:
                    log.warning("%s: copied to %s and truncated before it was read; reading "
                                "the copy first", self.path, copy.path.name)
                return

    def _live_holds(self, generation: Generation) -> bool:
        """Does the live file start with all of `generation`'s content?"""
        assert self.fd is not None
        opened = open_generation(generation)
        if opened is None:
            return True  # gone or moved on: not a copy to read
        try:
            theirs = fingerprint.of_stream(opened.stream, generation.stat.st_size)
        except UNREADABLE:
            return True
        finally:
            opened.close()
        return theirs is not None and fingerprint.of_fd(
            self.fd, generation.stat.st_size) == theirs

    def _rewritten(self) -> bool:
        """Are the bytes just before our read offset no longer what we read there?"""
        if not self.fingerprint:
            return False
        assert self.fd is not None
        at = self.splitter.offset - len(self.fingerprint)
        return os.pread(self.fd, len(self.fingerprint), at) != self.fingerprint

    def check_rotation(self, now: float) -> list[Chunk]:
        """Called at end of file: handle truncation and rotation. Returns chunks to store."""
        if self.fd is None:
            self.open(None)
            return []
        size = os.fstat(self.fd).st_size
        consumed = self.splitter.offset + len(self.splitter.pending)
        if size < consumed or self._rewritten() or not self._observe():
            return self._on_truncate()
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return []  # renamed, not yet re-created: keep reading the old inode
        if st.st_ino == self.inode:
            self.rotated_at = None
            return []
        if self.rotated_at is None:
            self.rotated_at = now
            return []
        if now - self.rotated_at < ROTATE_GRACE_S:
            return []
        return self._follow_rename()

    def _follow_rename(self) -> list[Chunk]:
        assert self.fd is not None
        try:
            fd = os.open(self.path, os.O_RDONLY)
        except FileNotFoundError:
            return []  # moved away again: the next check sees what replaced it
        final = Chunk(self.name, [])
        self.splitter.flush(final)
        self._remember_fingerprint()
        old = self.live_position
        final.position = self._settle(old)
        log.info("%s: rotated (rename); now reading the new file", self.path)
        os.close(self.fd)
        self.rotated_at = None
        self._adopt(fd, 0)
        if old is not None:
            self._queue_later(old, "rotated away before it was read")
        return [final]

    def _queue_later(self, position: SourcePosition, why: str) -> None:
        """Queue the generations written after the one holding `position`."""
        for _attempt in range(PLAN_ATTEMPTS):
            found = generations(self.path)
            index = find_holder(found, position, live_inode=self.inode)
            later = [] if index is None else [
                g for g in found[index + 1:] if g.inode != self.inode]
            if self._queue([(g, 0) for g in later]):
                for generation in later:
                    log.warning("%s: %s was %s; reading it now", self.path,
                                generation.path.name, why)
                return

    def _on_truncate(self) -> list[Chunk]:
        assert self.fd is not None
        resume = self.splitter.resume_offset
        evidence = max((p for p in (self.live_position, self.seen) if p is not None),
                       key=lambda p: p.offset, default=None)
        queued = False
        if evidence is not None and evidence.offset:
            for _attempt in range(PLAN_ATTEMPTS):
                found = generations(self.path)
                index = find_holder(found, evidence, live_inode=self.inode)
                if index is None:
                    break
                if queued := self._queue([(found[index], resume)]):
                    log.info("%s: truncated (copytruncate); finishing from %s", self.path,
                             found[index].path.name)
                    break
        if not queued:
            log.warning("%s: truncated (shorter, or rewritten before our offset); reading from "
                        "the start", self.path)
        os.lseek(self.fd, 0, os.SEEK_SET)
        self.splitter = LineSplitter(self.max_line, self.head, 0)
        self.fingerprint = b""
        self.live_position = SourcePosition(self.name, self.inode, 0, fingerprint.of_fd(self.fd, 0))
        self.seen = None
        self._observe()
        if self.backlog:
            return []  # the backlog's chunks carry the positions
        return [Chunk(self.name, [], position=self.position())]

